//! The three roles a user can have.

/// The three roles, strongest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Superuser,
    Admin,
    User,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "superuser" => Some(Role::Superuser),
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Superuser => "superuser",
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
}
