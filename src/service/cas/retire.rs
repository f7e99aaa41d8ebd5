//! The end of a CA: revoked by its parent, or deleted (its certificates
//! revoked, a tombstone left for its CRL).

use chrono::Utc;

use crate::auth::Principal;
use crate::auth::authz::{self, Action};
use crate::error::{Error, Result};
use crate::service::webhooks::{EventType, events};
use crate::service::{AppState, crl};
use crate::store::{self};

use super::view::{CaOut, denied, load, load_for, owner, pending};

/// `POST /cas/{id}/revoke`: `revoke_cert` on the issuing (parent) CA. The
/// CA's serial goes into the parent's CRL, re-signed in the same transaction;
/// exactly one concurrent call wins.
pub async fn revoke(
    state: &AppState,
    caller: &Principal,
    id: i64,
    input: crate::service::revocation::Revoke,
) -> Result<CaOut> {
    let ca = load(state, id).await?;
    let subject = caller.authz_subject();
    let Some(parent_id) = ca.parent_ca_id else {
        // A root is its own issuer: say why only to those who may act on it.
        if !authz::allows(&subject, &owner(&ca), Action::RevokeCert) {
            return Err(denied());
        }
        if ca.is_pending() {
            return Err(pending(&ca));
        }
        if !ca.is_root {
            return Err(Error::BadRequest(format!(
                "CA '{}' was signed by a CA outside FastPKI: only that issuer can revoke it. \
                 Ask it to, or delete the CA",
                ca.name
            )));
        }
        return Err(Error::BadRequest(format!(
            "CA '{}' is a root CA: no issuer can revoke it. Remove it from trust stores, or delete it",
            ca.name
        )));
    };
    let parent = load(state, parent_id).await?;
    if !authz::allows(&subject, &owner(&parent), Action::RevokeCert) {
        return Err(denied());
    }
    let (reason, code) = crate::service::revocation::revocation_reason(&input)?;
    let now = store::now_ts();
    let mut tx = state.db.begin().await?;
    if !store::cas::revoke(&mut tx, id, &now, reason.as_deref(), code).await? {
        return Err(Error::Conflict("CA is already revoked".into()));
    }
    crl::rebuild(state, &mut tx, &parent).await?;
    let mut entry = caller.audit_on(
        "ca_revoke",
        "ca",
        id,
        ca.organization_id.or(parent.organization_id),
    );
    entry.detail = Some(format!(
        "Revoked CA '{}' (serial {}) in the CRL of '{}'{}",
        ca.name,
        ca.serial_number,
        parent.name,
        crate::service::revocation::reason_suffix(reason.as_deref())
    ));
    store::audit::insert(&mut tx, &entry, &now).await?;
    let row = store::cas::get(&mut tx, id)
        .await?
        .ok_or_else(|| Error::NotFound("CA not found".into()))?;
    tx.commit().await?;
    state.crls.forget(&parent.id);
    Ok(row.into())
}

/// `DELETE /cas/{id}`: refused while the CA has child CAs. Otherwise its
/// certificates still valid are revoked (cessationOfOperation), the CA, its key
/// and its certificates go, and a tombstone
/// keeps its certificate, its own revocation (for the parent's CRL) and a
/// final CRL valid until the CA certificate expires, served at its public URLs.
pub async fn delete(state: &AppState, caller: &Principal, id: i64) -> Result<()> {
    let ca = load_for(state, caller, id, Action::DeleteCa).await?;
    let mut tx = state.db.begin().await?;
    if store::cas::count_children(&mut tx, id).await? > 0 {
        return Err(Error::Conflict(
            "CA has child CAs: delete them first".into(),
        ));
    }
    let now = Utc::now();
    let now_s = store::ts(now);
    if ca.is_pending() {
        // It never had a certificate: nothing it signed to revoke, nothing to publish.
        store::cas::delete(&mut tx, id).await?;
        let mut entry = caller.audit_on("ca_delete", "ca", id, ca.organization_id);
        entry.detail = Some(format!(
            "Deleted pending CA '{}' and its key (it had no certificate)",
            ca.name
        ));
        store::audit::insert(&mut tx, &entry, &now_s).await?;
        tx.commit().await?;
        state.issuers.forget(&id);
        return Ok(());
    }
    // Deleting retires the CA (FastPKI deletes it with its certificates): what
    // it issued and is still valid is revoked first, so that its final CRL
    // says so, instead of the certificates becoming "unknown".
    let retired_rows = store::certs::revoke_live_of_issuer(&mut tx, id, &now_s).await?;
    let retired = retired_rows.len();
    // The final CRL: valid as long as anything the CA signed can be.
    let ca_end = ca.not_after;
    let next = ca_end.max(now + chrono::Duration::days(state.settings.crl_validity_days));
    let crl = crl::sign_next(state, &mut tx, &ca, now, next).await?;
    store::cas::insert_tombstone(
        &mut tx,
        &ca,
        &store::cas::FinalCrl {
            number: crl.number,
            der: &crl.der,
            this_update: &now_s,
            next_update: &store::ts(next),
        },
        &now_s,
    )
    .await?;
    let removed = store::certs::delete_dead_of_issuer(&mut tx, id, &now_s).await?;
    store::cas::delete(&mut tx, id).await.map_err(|e| {
        if store::is_foreign_key_violation(&e) {
            Error::Conflict("CA gained child CAs or certificates meanwhile: try again".into())
        } else {
            e.into()
        }
    })?;
    let mut entry = caller.audit_on("ca_delete", "ca", id, ca.organization_id);
    entry.detail = Some(format!(
        "Deleted CA '{}' and its {removed} certificate(s), {retired} of them revoked (cessationOfOperation); its certificate and final CRL (number {}) stay published",
        ca.name, crl.number
    ));
    store::audit::insert(&mut tx, &entry, &now_s).await?;
    let recorded = state
        .webhooks
        .outbox
        .record(
            &mut tx,
            EventType::CertificateRevoked,
            &retired_rows,
            |r| r.organization_id,
            |r| events::revoked(r, &entry, now),
        )
        .await?;
    tx.commit().await?;
    if recorded > 0 {
        state.webhooks.outbox.notify();
    }
    let mut by_type = std::collections::BTreeMap::<String, u64>::new();
    for row in retired_rows {
        *by_type.entry(row.certificate_type).or_default() += 1;
    }
    for (t, n) in by_type {
        state.metrics.revoked(id, &t, n);
    }
    state.crls.forget(&id);
    state.issuers.forget(&id);
    state.public.forget_where(|ca| ca.ca_id == id);
    Ok(())
}
