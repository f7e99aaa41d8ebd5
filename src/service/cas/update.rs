//! Moving a CA (and, with `cascade`, what hangs below it) into an organization.

use serde::Deserialize;

use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::service::AppState;
use crate::store::{self};

use super::view::{CaOut, denied};

/// `PATCH /cas/{id}`: FastPKI's `CAAssignOrganization`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CaUpdate {
    /// The organization the CA moves into (required).
    pub organization_id: i64,
    /// Also adopt organization-less descendant CAs (or those already in the
    /// organization) and the organization-less certificates of every CA adopted.
    #[serde(default)]
    pub cascade: bool,
}

/// Superuser: move a CA into an organization, as FastPKI's
/// `assign_organization` does. The CA named is always moved, whatever its
/// organization was. With `cascade`, its descendants that have no organization
/// (or already have this one) follow, level after level, and so do the
/// organization-less certificates of every CA moved; a descendant of another
/// organization is left alone with everything below it. Without `cascade`,
/// certificates keep their organization.
pub async fn update(
    state: &AppState,
    caller: &Principal,
    id: i64,
    input: CaUpdate,
) -> Result<CaOut> {
    if !caller.is_superuser() {
        return Err(denied());
    }
    let org_id = input.organization_id;
    let mut tx = state.db.begin().await?;
    // FastPKI checks the organization before the CA: both unknown is a 400.
    let Some(org) = store::orgs::get(&mut tx, org_id).await? else {
        return Err(Error::BadRequest(format!(
            "Organization with ID {org_id} not found"
        )));
    };
    let Some(ca) = store::cas::get(&mut tx, id).await? else {
        return Err(Error::NotFound(format!(
            "Certificate Authority with ID {id} not found"
        )));
    };
    let now = store::now_ts();
    let mut moved = vec![ca.id];
    let mut queue = if input.cascade { vec![ca.id] } else { vec![] };
    while let Some(parent) = queue.pop() {
        for child in store::cas::children(&mut tx, parent).await? {
            let adoptable = child.organization_id.is_none_or(|o| o == org_id);
            if adoptable && !moved.contains(&child.id) {
                moved.push(child.id);
                queue.push(child.id);
            }
        }
    }
    let mut adopted_certs = 0;
    for &ca_id in &moved {
        store::cas::set_organization(&mut tx, ca_id, org_id, &now).await?;
        if input.cascade {
            adopted_certs += store::certs::adopt_of_issuer(&mut tx, ca_id, org_id, &now).await?;
        }
    }
    let previous = match ca.organization_id {
        None => "unassigned".to_string(),
        Some(o) => format!("organization {o}"),
    };
    let mut entry = caller.audit_on("ca_update", "ca", id, Some(org_id));
    entry.detail = Some(format!(
        "Assigned CA '{}' to organization '{}' (previously {previous}; {} CA(s), {adopted_certs} certificate(s) updated)",
        ca.name,
        org.name,
        moved.len()
    ));
    store::audit::insert(&mut tx, &entry, &now).await?;
    let row = store::cas::get(&mut tx, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("Certificate Authority with ID {id} not found")))?;
    tx.commit().await?;
    Ok(row.into())
}
