//! Who is calling: passwords, JWTs, refresh tokens, and the `Principal` a
//! bearer token turns into.

pub mod jwt;
pub mod password;
pub mod ratelimit;
pub mod tokens;

use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{self, users::Capabilities, users::User};

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

/// An authenticated caller.
#[derive(Clone, Debug)]
pub enum Principal {
    User { user: User, token: jwt::Claims },
}

impl Principal {
    pub fn role(&self) -> Role {
        match self {
            Principal::User { user, .. } => Role::parse(&user.role).unwrap_or(Role::User),
        }
    }

    pub fn is_superuser(&self) -> bool {
        self.role() == Role::Superuser
    }

    pub fn organization_id(&self) -> Option<i64> {
        match self {
            Principal::User { user, .. } => user.organization_id,
        }
    }

    pub fn capabilities(&self) -> Capabilities {
        match self {
            Principal::User { user, .. } => user.capabilities(),
        }
    }

    /// The human user behind the call.
    pub fn user(&self) -> &User {
        match self {
            Principal::User { user, .. } => user,
        }
    }

    /// The caller as the authorization function sees it.
    pub fn authz_subject(&self) -> crate::authz::Subject {
        crate::authz::Subject {
            role: self.role(),
            organization_id: self.organization_id(),
            capabilities: self.capabilities(),
            creator: match self {
                Principal::User { user, .. } => crate::authz::Creator::User(user.id),
            },
        }
    }

    /// `(created_by_user_id, created_by_service_account_id)` for what this caller creates.
    pub fn creator_ids(&self) -> (Option<i64>, Option<i64>) {
        match self {
            Principal::User { user, .. } => (Some(user.id), None),
        }
    }

    /// The caller as an audit entry records it.
    pub fn audit_entry(&self, action: &'static str) -> store::audit::NewAuditEntry {
        let user = self.user();
        store::audit::NewAuditEntry {
            action,
            user_id: Some(user.id),
            username: Some(user.username.clone()),
            organization_id: user.organization_id,
            ..Default::default()
        }
    }
}

fn invalid_credentials() -> Error {
    Error::Unauthorized("Could not validate credentials".into())
}

/// Turns a bearer token into a principal, or 401.
pub async fn authenticate(state: &AppState, bearer: &str) -> Result<Principal> {
    let claims = state.jwt.verify(bearer).ok_or_else(invalid_credentials)?;
    let mut conn = state.db.read().await?;
    if store::sessions::is_blocklisted(&mut conn, &claims.jti).await? {
        return Err(invalid_credentials());
    }
    let user = store::users::get(&mut conn, claims.id)
        .await?
        .ok_or_else(invalid_credentials)?;
    if user.username != claims.sub {
        return Err(invalid_credentials());
    }
    let cutoff = user
        .tokens_invalidated_at
        .as_deref()
        .and_then(store::parse_ts);
    if cutoff.is_some_and(|c| claims.issued_at_micros() < c.timestamp_micros()) {
        return Err(invalid_credentials());
    }
    Ok(Principal::User {
        user,
        token: claims,
    })
}
