//! Who may do what to a CA or certificate: one pure function, checked in the
//! order the API contract gives, and its table of tests.

use super::role::Role;
use crate::capabilities::Capabilities;

/// An action on a CA or certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Read,
    CreateCa,
    CreateCert,
    RevokeCert,
    ExportPrivateKey,
    DeleteCa,
}

/// The caller, as far as authorization cares.
#[derive(Clone, Copy, Debug)]
pub struct Subject {
    pub role: Role,
    pub organization_id: Option<i64>,
    pub capabilities: Capabilities,
    /// The creator identity to compare with a resource's creator.
    pub creator: Creator,
}

/// Who created a resource: a user or a service account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Creator {
    User(i64),
    ServiceAccount(i64),
}

/// The resource's owner, as recorded on the row.
#[derive(Clone, Copy, Debug)]
pub struct Owner {
    pub organization_id: Option<i64>,
    pub creator: Option<Creator>,
}

impl Owner {
    /// From a row's organization and creator columns (a user or a service account).
    pub fn of(
        organization_id: Option<i64>,
        created_by_user: Option<i64>,
        created_by_service_account: Option<i64>,
    ) -> Owner {
        let creator = match (created_by_user, created_by_service_account) {
            (Some(u), _) => Some(Creator::User(u)),
            (None, Some(s)) => Some(Creator::ServiceAccount(s)),
            _ => None,
        };
        Owner {
            organization_id,
            creator,
        }
    }
}

/// 1 superuser; 2 creator, while still in the resource's organization; 3 no
/// organization: no; 4 other organization: no; 5 admin of it; 6 read in it;
/// 7 the capability flag.
pub fn allows(subject: &Subject, owner: &Owner, action: Action) -> bool {
    if subject.role == Role::Superuser {
        return true;
    }
    // A creator moved to another organization keeps nothing of the old one.
    if owner.creator == Some(subject.creator) && owner.organization_id == subject.organization_id {
        return true;
    }
    let Some(org) = owner.organization_id else {
        return false;
    };
    if subject.organization_id != Some(org) {
        return false;
    }
    if subject.role == Role::Admin || action == Action::Read {
        return true;
    }
    let c = subject.capabilities;
    match action {
        Action::Read => true,
        Action::CreateCa => c.can_create_ca,
        Action::CreateCert => c.can_create_cert,
        Action::RevokeCert => c.can_revoke_cert,
        Action::ExportPrivateKey => c.can_export_private_key,
        Action::DeleteCa => c.can_delete_ca,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Action; 6] = [
        Action::Read,
        Action::CreateCa,
        Action::CreateCert,
        Action::RevokeCert,
        Action::ExportPrivateKey,
        Action::DeleteCa,
    ];

    fn subject(role: Role, org: Option<i64>, caps: Capabilities, id: i64) -> Subject {
        Subject {
            role,
            organization_id: org,
            capabilities: caps,
            creator: Creator::User(id),
        }
    }

    fn owned(org: Option<i64>, creator: i64) -> Owner {
        Owner {
            organization_id: org,
            creator: Some(Creator::User(creator)),
        }
    }

    #[test]
    fn owners_read_from_rows() {
        let creator = |u, s| Owner::of(Some(1), u, s).creator;
        assert_eq!(creator(Some(7), None), Some(Creator::User(7)));
        assert_eq!(creator(None, Some(9)), Some(Creator::ServiceAccount(9)));
        // A row names one creator; were it to name both, the user is the creator.
        assert_eq!(creator(Some(7), Some(9)), Some(Creator::User(7)));
        assert_eq!(creator(None, None), None);
        assert_eq!(Owner::of(Some(3), None, None).organization_id, Some(3));
    }

    #[test]
    fn the_matrix() {
        let none = Capabilities::default();
        let all = Capabilities {
            can_create_ca: true,
            can_create_cert: true,
            can_revoke_cert: true,
            can_export_private_key: true,
            can_delete_ca: true,
        };
        let in_org1 = owned(Some(1), 99);
        let orgless = owned(None, 99);
        // (subject, owner, expected for each of ALL)
        let cases: Vec<(Subject, Owner, [bool; 6])> = vec![
            (subject(Role::Superuser, None, none, 1), orgless, [true; 6]),
            (
                subject(Role::Superuser, Some(2), none, 1),
                in_org1,
                [true; 6],
            ),
            (subject(Role::User, None, none, 99), orgless, [true; 6]),
            (subject(Role::User, Some(1), none, 99), in_org1, [true; 6]),
            // The creator, moved to another organization or out of every one.
            (subject(Role::User, Some(2), all, 99), in_org1, [false; 6]),
            (subject(Role::User, None, all, 99), in_org1, [false; 6]),
            (subject(Role::User, Some(1), all, 99), orgless, [false; 6]),
            (subject(Role::Admin, Some(1), none, 1), orgless, [false; 6]),
            (subject(Role::Admin, Some(2), all, 1), in_org1, [false; 6]),
            (subject(Role::User, None, all, 1), in_org1, [false; 6]),
            (subject(Role::Admin, Some(1), none, 1), in_org1, [true; 6]),
            (
                subject(Role::User, Some(1), none, 1),
                in_org1,
                [true, false, false, false, false, false],
            ),
            (subject(Role::User, Some(1), all, 1), in_org1, [true; 6]),
        ];
        for (s, o, expected) in cases {
            for (action, want) in ALL.iter().zip(expected) {
                assert_eq!(allows(&s, &o, *action), want, "{s:?} {o:?} {action:?}");
            }
        }
    }

    #[test]
    fn each_flag_grants_exactly_its_action() {
        let owner = owned(Some(1), 99);
        type Grant = fn(&mut Capabilities);
        let flags: [(Action, Grant); 5] = [
            (Action::CreateCa, |c| c.can_create_ca = true),
            (Action::CreateCert, |c| c.can_create_cert = true),
            (Action::RevokeCert, |c| c.can_revoke_cert = true),
            (Action::ExportPrivateKey, |c| {
                c.can_export_private_key = true
            }),
            (Action::DeleteCa, |c| c.can_delete_ca = true),
        ];
        for (granted, set) in flags {
            let mut caps = Capabilities::default();
            set(&mut caps);
            let s = subject(Role::User, Some(1), caps, 1);
            for action in ALL {
                assert_eq!(
                    allows(&s, &owner, action),
                    action == granted || action == Action::Read,
                    "{granted:?} {action:?}"
                );
            }
        }
    }

    #[test]
    fn service_account_creator_is_not_a_user_with_the_same_id() {
        let owner = Owner {
            organization_id: None,
            creator: Some(Creator::ServiceAccount(5)),
        };
        let user5 = subject(Role::User, None, Capabilities::default(), 5);
        assert!(!allows(&user5, &owner, Action::Read));
        let sa5 = Subject {
            creator: Creator::ServiceAccount(5),
            ..user5
        };
        assert!(allows(&sa5, &owner, Action::Read));
    }
}
