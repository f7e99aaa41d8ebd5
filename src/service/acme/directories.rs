//! ACME directories: create, read, update, delete. A directory ties one CA
//! to one service account of the CA's organization; managed by the admins of
//! that organization and by superusers (plain users and service-account
//! tokens get 403, as does an admin of another organization, as for CAs).

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::directory_rules::{
    CHALLENGE_TYPES, account_of, check_challenges, check_name, check_type, manager, manages,
    usable_ca,
};
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::service::AppState;
use crate::service::certs::CertType;
use crate::store;
use crate::store::acme::directories::{self as dir_store, DirectoryFields, DirectoryRow};

fn yes() -> bool {
    true
}

fn all_challenges() -> Vec<String> {
    CHALLENGE_TYPES.iter().map(|s| s.to_string()).collect()
}

fn server() -> CertType {
    CertType::Server
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = AcmeDirectoryCreate)]
pub struct DirectoryCreate {
    /// 1 to 63 of `a-z`, `0-9` and `-`; unique. The directory is served at `/acme/{name}/directory`.
    pub name: String,
    pub ca_id: i64,
    /// The service account every certificate of the directory is issued as.
    pub service_account_id: i64,
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub require_eab: bool,
    #[serde(default = "all_challenges")]
    #[schema(default = json!(["http-01", "dns-01", "tls-alpn-01"]))]
    pub challenge_types: Vec<String>,
    /// `server`, `client` or `dual_purpose`.
    #[serde(default = "server")]
    pub certificate_type: CertType,
}

/// A partial change: only the fields given change.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = AcmeDirectoryUpdate)]
pub struct DirectoryUpdate {
    pub name: Option<String>,
    pub ca_id: Option<i64>,
    pub service_account_id: Option<i64>,
    pub require_eab: Option<bool>,
    pub challenge_types: Option<Vec<String>>,
    pub certificate_type: Option<CertType>,
}

/// A directory as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AcmeDirectory)]
pub struct DirectoryOut {
    pub id: i64,
    pub name: String,
    pub ca_id: i64,
    pub organization_id: Option<i64>,
    pub service_account_id: i64,
    pub require_eab: bool,
    pub challenge_types: Vec<String>,
    pub certificate_type: String,
    /// `{base}/acme/{name}/directory`, what ACME clients are given.
    pub url: String,
    pub created_at: String,
    pub updated_at: String,
}

impl DirectoryOut {
    pub fn new(r: DirectoryRow, base_url: &str) -> Self {
        DirectoryOut {
            url: directory_url(base_url, &r.name),
            id: r.id,
            name: r.name,
            ca_id: r.ca_id,
            organization_id: r.organization_id,
            service_account_id: r.service_account_id,
            require_eab: r.require_eab,
            challenge_types: r.challenge_types,
            certificate_type: r.certificate_type,
            created_at: store::ts(r.created_at),
            updated_at: store::ts(r.updated_at),
        }
    }
}

/// The URL of the directory object of directory `name`.
pub fn directory_url(base_url: &str, name: &str) -> String {
    format!("{}/acme/{name}/directory", base_url.trim_end_matches('/'))
}

/// Loads a directory the caller manages: 404 when missing, 403 when another
/// organization's.
pub(super) async fn load(state: &AppState, caller: &Principal, id: i64) -> Result<DirectoryRow> {
    manager(caller)?;
    let mut c = state.db.read().await?;
    let row = dir_store::get(&mut c, id)
        .await?
        .ok_or_else(|| Error::NotFound("ACME directory not found".into()))?;
    manages(caller, row.organization_id)?;
    Ok(row)
}

fn taken() -> Error {
    Error::BadRequest("An ACME directory with this name already exists".into())
}

fn write_error(e: sqlx::Error) -> Error {
    if store::is_unique_violation(&e) {
        taken()
    } else if store::is_foreign_key_violation(&e) {
        Error::BadRequest("The CA or the service account no longer exists".into())
    } else {
        e.into()
    }
}

pub(super) fn audit(
    caller: &Principal,
    action: &'static str,
    d: &DirectoryRow,
    detail: String,
) -> store::audit::NewAuditEntry {
    let mut e = caller.audit_on(action, "acme_directory", d.id, d.organization_id);
    e.detail = Some(detail);
    e
}

pub async fn create(
    state: &AppState,
    caller: &Principal,
    input: DirectoryCreate,
    base_url: &str,
) -> Result<DirectoryOut> {
    manager(caller)?;
    check_name(&input.name)?;
    check_challenges(&input.challenge_types)?;
    check_type(input.certificate_type)?;
    let ca = usable_ca(state, caller, input.ca_id).await?;
    account_of(state, input.service_account_id, ca.organization_id).await?;
    let fields = DirectoryFields {
        name: &input.name,
        ca_id: ca.id,
        organization_id: ca.organization_id,
        service_account_id: input.service_account_id,
        require_eab: input.require_eab,
        challenge_types: &input.challenge_types,
        certificate_type: input.certificate_type.as_str(),
    };
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    if dir_store::by_name(&mut tx, &input.name).await?.is_some() {
        return Err(taken());
    }
    let row = dir_store::insert(&mut tx, &fields, now)
        .await
        .map_err(write_error)?;
    let entry = audit(
        caller,
        "acme_directory_create",
        &row,
        format!("Created ACME directory '{}' on CA '{}'", row.name, ca.name),
    );
    store::audit::insert(&mut tx, &entry, &store::ts(now)).await?;
    tx.commit().await?;
    Ok(DirectoryOut::new(row, base_url))
}

/// A page of the directories the caller manages: all for a superuser, its
/// organization's for an admin.
pub async fn list(
    state: &AppState,
    caller: &Principal,
    skip: i64,
    limit: i64,
    base_url: &str,
) -> Result<Vec<DirectoryOut>> {
    manager(caller)?;
    let org = if caller.is_superuser() {
        None
    } else {
        caller.organization_id()
    };
    let mut c = state.db.read().await?;
    let rows = dir_store::list(&mut c, org, skip, limit).await?;
    Ok(rows
        .into_iter()
        .map(|r| DirectoryOut::new(r, base_url))
        .collect())
}

pub async fn get(
    state: &AppState,
    caller: &Principal,
    id: i64,
    base_url: &str,
) -> Result<DirectoryOut> {
    Ok(DirectoryOut::new(load(state, caller, id).await?, base_url))
}

pub async fn update(
    state: &AppState,
    caller: &Principal,
    id: i64,
    input: DirectoryUpdate,
    base_url: &str,
) -> Result<DirectoryOut> {
    let mut d = load(state, caller, id).await?;
    let mut changed = Vec::new();
    if let Some(name) = input.name {
        check_name(&name)?;
        d.name = name;
        changed.push("name");
    }
    if let Some(types) = input.challenge_types {
        check_challenges(&types)?;
        d.challenge_types = types;
        changed.push("challenge_types");
    }
    if let Some(t) = input.certificate_type {
        check_type(t)?;
        d.certificate_type = t.as_str().to_string();
        changed.push("certificate_type");
    }
    if let Some(ca_id) = input.ca_id {
        let ca = usable_ca(state, caller, ca_id).await?;
        d.ca_id = ca.id;
        d.organization_id = ca.organization_id;
        changed.push("ca_id");
    }
    if let Some(sa) = input.service_account_id {
        d.service_account_id = sa;
        changed.push("service_account_id");
    }
    if input.ca_id.is_some() || input.service_account_id.is_some() {
        account_of(state, d.service_account_id, d.organization_id).await?;
    }
    if let Some(r) = input.require_eab {
        d.require_eab = r;
        changed.push("require_eab");
    }
    let fields = DirectoryFields {
        name: &d.name,
        ca_id: d.ca_id,
        organization_id: d.organization_id,
        service_account_id: d.service_account_id,
        require_eab: d.require_eab,
        challenge_types: &d.challenge_types,
        certificate_type: &d.certificate_type,
    };
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    if dir_store::by_name(&mut tx, &d.name)
        .await?
        .is_some_and(|other| other.id != id)
    {
        return Err(taken());
    }
    let row = dir_store::update(&mut tx, id, &fields, now)
        .await
        .map_err(write_error)?
        .ok_or_else(|| Error::NotFound("ACME directory not found".into()))?;
    let entry = audit(
        caller,
        "acme_directory_update",
        &row,
        format!(
            "Updated ACME directory '{}': {}",
            row.name,
            changed.join(", ")
        ),
    );
    store::audit::insert(&mut tx, &entry, &store::ts(now)).await?;
    tx.commit().await?;
    Ok(DirectoryOut::new(row, base_url))
}

/// Deletes a directory with its EAB keys and ACME accounts (and so their
/// orders): its clients stop working. The certificates it issued stay.
pub async fn delete(state: &AppState, caller: &Principal, id: i64) -> Result<()> {
    let d = load(state, caller, id).await?;
    let mut tx = state.db.begin().await?;
    if dir_store::delete(&mut tx, id).await? == 0 {
        return Err(Error::NotFound("ACME directory not found".into()));
    }
    let entry = audit(
        caller,
        "acme_directory_delete",
        &d,
        format!("Deleted ACME directory '{}'", d.name),
    );
    store::audit::insert(&mut tx, &entry, &store::now_ts()).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            directory_url("https://pki.example.com/", "prod"),
            "https://pki.example.com/acme/prod/directory"
        );
    }
}
