//! Revoking a certificate: the reason (RFC 5280), the row, the audit entry
//! and the re-signed CRL, in one transaction.

use serde::Deserialize;

use crate::auth::Principal;
use crate::auth::authz::Action;
use crate::error::{Error, Result};
use crate::service::{AppState, cas, crl};
use crate::store;

use super::view::{CertOut, load_for, with_lineage};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct Revoke {
    #[serde(default)]
    pub reason: Option<String>,
    /// RFC 5280 CRLReason code (0-6, 9, 10).
    #[serde(default)]
    pub reason_code: Option<i64>,
}

/// Reason text and code: the code given, or the one the text names (RFC 5280).
pub fn revocation_reason(input: &Revoke) -> Result<(Option<String>, Option<i64>)> {
    let text = input
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if text.is_some_and(|t| t.chars().count() > 512) {
        return Err(Error::validation(
            "reason",
            "reason must be at most 512 characters",
        ));
    }
    let code = match input.reason_code {
        Some(c) if matches!(c, 0..=6 | 9 | 10) => Some(c),
        Some(_) => {
            return Err(Error::Validation(vec![crate::error::FieldError::body(
                "reason_code",
                "reason_code must be an RFC 5280 CRLReason: 0-6, 9 or 10 (8, removeFromCRL, only exists in delta CRLs)",
            )]));
        }
        None => text
            .and_then(pki::reason_code_from_text)
            .filter(|c| *c != 8)
            .map(i64::from),
    };
    let text = text.map(str::to_string).or_else(|| {
        code.and_then(|c| pki::reason_code_name(c as u8))
            .map(str::to_string)
    });
    Ok((text, code))
}

/// `POST /certificates/{id}/revoke`: exactly one concurrent call wins; the CRL is re-signed in the same transaction.
pub async fn revoke(
    state: &AppState,
    caller: &Principal,
    id: i64,
    input: Revoke,
) -> Result<CertOut> {
    let row = load_for(state, caller, id, Action::RevokeCert).await?;
    let (reason, code) = revocation_reason(&input)?;
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
        reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    ));
    store::audit::insert(&mut tx, &entry, &now).await?;
    let row = store::certs::get(&mut tx, id)
        .await?
        .ok_or_else(|| Error::NotFound("Certificate not found".into()))?;
    tx.commit().await?;
    state.crls.forget(&ca.id);
    with_lineage(state, row).await
}
