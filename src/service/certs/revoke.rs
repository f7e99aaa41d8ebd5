//! Revoking a certificate: the reason (RFC 5280), the row, the audit entry,
//! the re-signed CRL and the `certificate.revoked` webhook event, in one
//! transaction.

use crate::auth::Principal;
use crate::auth::authz::Action;
use crate::error::{Error, Result};
use crate::service::webhooks::{EventType, events};
use crate::service::{AppState, cas, crl};
use crate::store;

use crate::service::revocation::{Revoke, reason_suffix, revocation_reason};

use super::view::{CertOut, load_for, with_lineage};

/// `POST /certificates/{id}/revoke`: exactly one concurrent call wins; the CRL is re-signed in the same transaction.
pub async fn revoke(
    state: &AppState,
    caller: &Principal,
    id: i64,
    input: Revoke,
) -> Result<CertOut> {
    let row = load_for(state, caller, id, Action::RevokeCert).await?;
    revoke_row(state, caller, row, &input).await
}

/// Revokes a certificate whose revocation the caller was found to be
/// allowed (by the API's authorization, or ACME's proof of the account or
/// the certificate key); the audit entry names `caller`.
pub async fn revoke_row(
    state: &AppState,
    caller: &Principal,
    row: store::certs::CertRow,
    input: &Revoke,
) -> Result<CertOut> {
    let id = row.id;
    let (reason, code) = revocation_reason(input)?;
    let ca = cas::load(state, row.issuer_id).await?;
    let now = store::now_ts();
    let mut tx = state.db.begin().await?;
    if !store::certs::revoke(&mut tx, id, &now, reason.as_deref(), code).await? {
        return Err(Error::Conflict("Certificate is already revoked".into()));
    }
    crl::rebuild(state, &mut tx, &ca).await?;
    let mut entry = caller.audit_on(
        "cert_revoke",
        "certificate",
        id,
        row.organization_id.or(ca.organization_id),
    );
    entry.detail = Some(format!(
        "Revoked certificate '{}' (serial {}){}",
        row.common_name,
        row.serial_number,
        reason_suffix(reason.as_deref())
    ));
    store::audit::insert(&mut tx, &entry, &now).await?;
    let row = store::certs::get(&mut tx, id)
        .await?
        .ok_or_else(|| Error::NotFound("Certificate not found".into()))?;
    let now = chrono::Utc::now();
    let recorded = state
        .webhooks
        .outbox
        .record(
            &mut tx,
            EventType::CertificateRevoked,
            std::slice::from_ref(&row),
            |r| r.organization_id,
            |r| events::revoked(r, &entry, now),
        )
        .await?;
    tx.commit().await?;
    if recorded > 0 {
        state.webhooks.outbox.notify();
    }
    state.metrics.revoked(ca.id, &row.certificate_type, 1);
    state.crls.forget(&ca.id);
    with_lineage(state, row).await
}
