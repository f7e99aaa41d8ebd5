//! An authenticated caller, and what authorization and the audit log see of it.

use super::authz::{Creator, Subject};
use super::jwt;
use super::role::Role;
use crate::capabilities::Capabilities;
use crate::error::{Error, Result};
use crate::store::{self, service_accounts::ServiceAccount, users::User};

/// An authenticated caller: a user with a JWT, or a service account with its token.
#[derive(Clone, Debug)]
pub enum Principal {
    User {
        user: User,
        token: jwt::Claims,
    },
    ServiceAccount {
        account: ServiceAccount,
        token_id: i64,
    },
}

impl Principal {
    /// A service account acts as a `user`-role member of its organization.
    pub fn role(&self) -> Role {
        match self {
            Principal::User { user, .. } => Role::parse(&user.role).unwrap_or(Role::User),
            Principal::ServiceAccount { .. } => Role::User,
        }
    }

    pub fn is_superuser(&self) -> bool {
        self.role() == Role::Superuser
    }

    pub fn organization_id(&self) -> Option<i64> {
        match self {
            Principal::User { user, .. } => user.organization_id,
            Principal::ServiceAccount { account, .. } => account.organization_id,
        }
    }

    pub fn capabilities(&self) -> Capabilities {
        match self {
            Principal::User { user, .. } => user.caps,
            Principal::ServiceAccount { account, .. } => account.caps,
        }
    }

    /// The human user behind the call, if it is one.
    pub fn user(&self) -> Option<&User> {
        match self {
            Principal::User { user, .. } => Some(user),
            Principal::ServiceAccount { .. } => None,
        }
    }

    /// The human user behind the call, or 403 for a service account.
    pub fn require_user(&self) -> Result<&User> {
        self.user().ok_or_else(|| {
            Error::Forbidden("This route is for users; service-account tokens cannot use it".into())
        })
    }

    /// True when the caller is the user `id`.
    pub fn is_user(&self, id: i64) -> bool {
        self.user().is_some_and(|u| u.id == id)
    }

    /// The caller as the authorization function sees it.
    pub fn authz_subject(&self) -> Subject {
        Subject {
            role: self.role(),
            organization_id: self.organization_id(),
            capabilities: self.capabilities(),
            creator: match self {
                Principal::User { user, .. } => Creator::User(user.id),
                Principal::ServiceAccount { account, .. } => Creator::ServiceAccount(account.id),
            },
        }
    }

    /// `(created_by_user_id, created_by_service_account_id)` for what this caller creates.
    pub fn creator_ids(&self) -> (Option<i64>, Option<i64>) {
        match self {
            Principal::User { user, .. } => (Some(user.id), None),
            Principal::ServiceAccount { account, .. } => (None, Some(account.id)),
        }
    }

    /// An entry about a resource, filed under the resource's organization (or
    /// the caller's when the resource has none), so that admins see what
    /// superusers do to their organization's CAs and certificates.
    pub fn audit_on(
        &self,
        action: &'static str,
        resource_type: &'static str,
        resource_id: i64,
        resource_org: Option<i64>,
    ) -> store::audit::NewAuditEntry {
        let mut e = self.audit_entry(action);
        e.organization_id = resource_org.or(e.organization_id);
        e.resource_type = Some(resource_type);
        e.resource_id = Some(resource_id);
        e
    }

    /// The caller as an audit entry records it.
    pub fn audit_entry(&self, action: &'static str) -> store::audit::NewAuditEntry {
        match self {
            Principal::User { user, .. } => store::audit::NewAuditEntry {
                action,
                user_id: Some(user.id),
                username: Some(user.username.clone()),
                organization_id: user.organization_id,
                ..Default::default()
            },
            Principal::ServiceAccount { account, .. } => store::audit::NewAuditEntry {
                action,
                organization_id: account.organization_id,
                service_account_id: Some(account.id),
                service_account_name: Some(account.name.clone()),
                ..Default::default()
            },
        }
    }
}
