//! A CA as the API shows it, and the reads: one, a page, all (streamed), its
//! chain and children, its key; and the check that it may still sign.

use futures_util::{StreamExt, TryStreamExt, stream};
use serde::Serialize;

use crate::auth::Principal;
use crate::auth::authz::{self, Action, Owner};
use crate::error::{Error, Result};
use crate::service::issuers::ca_key_pem;
use crate::service::{AppState, RowStream};
use crate::store::{self, cas::CaRow};

/// A CA as the API shows it; `private_key` only where the contract returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaOut {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub subject_dn: String,
    pub key_algorithm: String,
    pub key_size: i64,
    pub valid_days: i64,
    pub certificate: String,
    pub serial_number: String,
    pub not_before: String,
    pub not_after: String,
    pub organization_id: Option<i64>,
    pub created_by_user_id: Option<i64>,
    pub created_by_service_account_id: Option<i64>,
    pub parent_ca_id: Option<i64>,
    pub path_length: Option<i64>,
    pub allow_leaf_certs: bool,
    pub crl_base_url: Option<String>,
    pub is_root: bool,
    pub created_at: String,
    pub updated_at: String,
    /// When its issuer revoked it (`POST /cas/{id}/revoke`); null otherwise.
    pub revoked_at: Option<String>,
    pub revocation_reason: Option<String>,
    /// RFC 5280 CRLReason code, when one was given or named.
    pub revocation_reason_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// True while the CA waits for its certificate (`PUT /cas/{id}/certificate`):
    /// `certificate` and `serial_number` are empty and it signs nothing.
    pub pending: bool,
    /// A CSR for the CA's key (PEM): always on a pending CA, and in the answers of the
    /// CSR routes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csr: Option<String>,
    /// The certificates above the CA when its issuer is outside FastPKI (PEM, issuer
    /// first), as given at import or installation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_chain: Option<String>,
}

impl From<CaRow> for CaOut {
    fn from(r: CaRow) -> Self {
        CaOut {
            id: r.id,
            name: r.name,
            description: r.description,
            subject_dn: display_subject(&r.subject_dn, &r.certificate),
            key_algorithm: r.key_algorithm,
            key_size: r.key_size,
            valid_days: r.valid_days,
            certificate: r.certificate,
            serial_number: r.serial_number,
            not_before: store::ts(r.not_before),
            not_after: store::ts(r.not_after),
            organization_id: r.organization_id,
            created_by_user_id: r.created_by_user_id,
            created_by_service_account_id: r.created_by_service_account_id,
            parent_ca_id: r.parent_ca_id,
            path_length: r.path_length,
            allow_leaf_certs: r.allow_leaf_certs,
            crl_base_url: r.crl_base_url,
            is_root: r.is_root,
            created_at: store::ts(r.created_at),
            updated_at: store::ts(r.updated_at),
            revoked_at: r.revoked_at.map(store::ts),
            revocation_reason: r.revocation_reason,
            revocation_reason_code: r.revocation_reason_code,
            private_key: None,
            pending: r.pending_csr.is_some(),
            csr: r.pending_csr,
            external_chain: r.external_chain,
        }
    }
}

/// The subject as RFC 4514 writes it. Rows stored before values were escaped show
/// escaped too; but a string that is exactly what the CA's certificate prints was written
/// from it (an imported CA) and is shown as it is: a multi-valued RDN (`OU=a+CN=b`) must
/// not come out as one value with a plus sign in it.
fn display_subject(stored: &str, certificate: &str) -> String {
    match pki::normalize_stored_dn(stored) {
        std::borrow::Cow::Borrowed(s) => s.to_string(),
        std::borrow::Cow::Owned(normalized) => match pki::inspect_cert(certificate.as_bytes()) {
            Ok(info) if info.subject == stored => info.subject,
            _ => normalized,
        },
    }
}

/// Who owns a CA, for authorization.
pub fn owner(ca: &CaRow) -> Owner {
    Owner::of(
        ca.organization_id,
        ca.created_by_user_id,
        ca.created_by_service_account_id,
    )
}

pub(super) fn denied() -> Error {
    Error::Forbidden("Insufficient permissions".into())
}

/// Loads a CA or 404.
pub async fn load(state: &AppState, id: i64) -> Result<CaRow> {
    let mut c = state.db.read().await?;
    store::cas::get(&mut c, id)
        .await?
        .ok_or_else(|| Error::NotFound("CA not found".into()))
}

/// Loads a CA the caller may act on, or 404/403.
pub async fn load_for(
    state: &AppState,
    caller: &Principal,
    id: i64,
    action: Action,
) -> Result<CaRow> {
    let ca = load(state, id).await?;
    if !authz::allows(&caller.authz_subject(), &owner(&ca), action) {
        return Err(denied());
    }
    Ok(ca)
}

/// The refusal for a CA without its certificate yet.
pub(super) fn pending(ca: &CaRow) -> Error {
    Error::Conflict(format!(
        "CA '{}' is pending: it has no certificate yet (install one with PUT /cas/{}/certificate)",
        ca.name, ca.id
    ))
}

/// Refuses to sign with a CA that is pending (no certificate yet), revoked or
/// under a revoked CA: whatever it signed would not verify, and a revoked CA
/// signs nothing more.
pub async fn ensure_can_issue(state: &AppState, ca: &CaRow) -> Result<()> {
    if ca.is_pending() {
        return Err(pending(ca));
    }
    let revoked = if ca.revoked_at.is_some() {
        Some((ca.id, ca.name.clone()))
    } else if ca.parent_ca_id.is_some() {
        let mut c = state.db.read().await?;
        store::cas::revoked_in_chain(&mut c, ca.id).await?
    } else {
        None
    };
    match revoked {
        None => Ok(()),
        Some((id, _)) if id == ca.id => Err(Error::BadRequest(format!(
            "CA '{}' is revoked and cannot issue certificates or CAs",
            ca.name
        ))),
        Some((_, name)) => Err(Error::BadRequest(format!(
            "CA '{}' cannot issue certificates or CAs: its issuer '{name}' is revoked",
            ca.name
        ))),
    }
}

/// A page of the CAs the caller may list.
pub async fn list(
    state: &AppState,
    caller: &Principal,
    skip: i64,
    limit: i64,
) -> Result<Vec<CaOut>> {
    let mut c = state.db.read().await?;
    let rows = store::cas::list(
        &mut c,
        caller.organization_id(),
        caller.is_superuser(),
        0,
        skip,
        limit,
    )
    .await?;
    Ok(rows.into_iter().map(CaOut::from).collect())
}

/// Every CA the caller may list, in id order after `skip` rows: FastPKI
/// 0.4's list, streamed. A non-superuser without an organization sees none.
pub fn list_all(state: &AppState, caller: &Principal, skip: i64) -> RowStream<CaOut> {
    let all = caller.is_superuser();
    let org = caller.organization_id();
    if !all && org.is_none() {
        return stream::empty().boxed();
    }
    store::cas::stream(state.db.clone(), org, all, skip, state.list_window)
        .map_ok(CaOut::from)
        .map_err(Error::from)
        .boxed()
}

pub async fn get(state: &AppState, caller: &Principal, id: i64) -> Result<CaOut> {
    Ok(load_for(state, caller, id, Action::Read).await?.into())
}

/// The CA with its decrypted private key; audited.
pub async fn private_key(state: &AppState, caller: &Principal, id: i64) -> Result<CaOut> {
    let ca = load_for(state, caller, id, Action::ExportPrivateKey).await?;
    let key = ca_key_pem(state, &ca)?;
    audit_export(state, caller, &ca).await?;
    let mut out = CaOut::from(ca);
    out.private_key = Some(key);
    Ok(out)
}

/// Records a CA key export.
pub async fn audit_export(state: &AppState, caller: &Principal, ca: &CaRow) -> Result<()> {
    let mut tx = state.db.begin().await?;
    let mut entry = caller.audit_on("ca_export_private_key", "ca", ca.id, ca.organization_id);
    entry.detail = Some(format!("Exported the private key of CA '{}'", ca.name));
    store::audit::insert(&mut tx, &entry, &store::now_ts()).await?;
    tx.commit().await?;
    Ok(())
}

/// This CA, then each issuer up to the root.
pub async fn chain_rows(state: &AppState, start: CaRow) -> Result<Vec<CaRow>> {
    let mut c = state.db.read().await?;
    let mut chain = vec![start];
    while let Some(parent_id) = chain.last().and_then(|ca| ca.parent_ca_id) {
        if chain.len() > 64 || chain.iter().any(|ca| ca.id == parent_id) {
            return Err(Error::Internal(anyhow::anyhow!(
                "CA chain loops or is too deep at CA {parent_id}"
            )));
        }
        match store::cas::get(&mut c, parent_id).await? {
            Some(p) => chain.push(p),
            None => break,
        }
    }
    Ok(chain)
}

pub async fn chain(state: &AppState, caller: &Principal, id: i64) -> Result<Vec<CaOut>> {
    let ca = load_for(state, caller, id, Action::Read).await?;
    Ok(chain_rows(state, ca)
        .await?
        .into_iter()
        .map(CaOut::from)
        .collect())
}

pub async fn children(state: &AppState, caller: &Principal, id: i64) -> Result<Vec<CaOut>> {
    load_for(state, caller, id, Action::Read).await?;
    let mut c = state.db.read().await?;
    let subject = caller.authz_subject();
    Ok(store::cas::children(&mut c, id)
        .await?
        .into_iter()
        .filter(|child| authz::allows(&subject, &owner(child), Action::Read))
        .map(CaOut::from)
        .collect())
}
