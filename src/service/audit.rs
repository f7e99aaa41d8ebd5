//! Reading the audit log: superusers see everything, admins their organization.

use crate::auth::{Principal, Role};
use crate::error::{Error, Result};
use crate::service::AppState;
use crate::store::{self, audit::AuditEntry, audit::AuditFilter};

/// Refuses an `action` filter that names no action (422, as FastAPI's enum does).
pub fn check_action(action: &str) -> Result<()> {
    if store::audit::ACTIONS.contains(&action) {
        return Ok(());
    }
    let (last, rest) = store::audit::ACTIONS.split_last().unwrap_or((&"", &[]));
    let quoted: Vec<String> = rest.iter().map(|a| format!("'{a}'")).collect();
    Err(Error::Validation(vec![crate::error::FieldError {
        loc: vec!["query".into(), "action".into()],
        msg: format!("Input should be {} or '{last}'", quoted.join(", ")),
        kind: "enum".into(),
    }]))
}

pub async fn query(
    state: &AppState,
    caller: &Principal,
    mut filter: AuditFilter,
) -> Result<Vec<AuditEntry>> {
    match caller.role() {
        Role::Superuser => {}
        Role::Admin => match caller.organization_id() {
            Some(org) => filter.organization_id = Some(org),
            // An admin without an organization sees no organization's data.
            None => return Ok(vec![]),
        },
        Role::User => {
            return Err(Error::Forbidden(
                "The user doesn't have sufficient privileges".into(),
            ));
        }
    }
    let mut c = state.db.read().await?;
    Ok(store::audit::query(&mut c, &filter).await?)
}
