//! A certificate as the API shows it, and the reads: one, a page, or every
//! certificate in the caller's scope, streamed.

use std::net::IpAddr;

use chrono::Utc;
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};

use crate::auth::Principal;
use crate::auth::authz::{self, Action, Owner};
use crate::error::{Error, Result};
use crate::service::{AppState, RowStream};
use crate::store::{self, certs::CertRow};

/// A certificate as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CertOut {
    pub id: i64,
    pub common_name: String,
    pub subject_dn: String,
    pub certificate_type: String,
    pub key_algorithm: String,
    pub key_size: i64,
    pub valid_days: i64,
    /// `valid`, `revoked` or `expired`.
    pub status: String,
    pub certificate: String,
    pub serial_number: String,
    pub not_before: String,
    pub not_after: String,
    pub revoked_at: Option<String>,
    pub revocation_reason: Option<String>,
    pub revocation_reason_code: Option<i64>,
    pub issuer_id: i64,
    pub organization_id: Option<i64>,
    pub created_by_user_id: Option<i64>,
    pub created_by_service_account_id: Option<i64>,
    pub renewed_from_id: Option<i64>,
    pub renewed_to_ids: Vec<i64>,
    pub san_dns_names: Vec<String>,
    #[schema(value_type = Vec<String>)]
    pub san_ip_addresses: Vec<IpAddr>,
    pub san_email_addresses: Vec<String>,
    /// `server` (the key was made here) or `csr`.
    pub key_origin: String,
    pub created_at: String,
    pub updated_at: String,
    /// Present on creation (null when not kept) and on the private-key route.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub private_key: Option<Option<String>>,
}

/// `valid`, or `expired` once `not_after` has passed; `revoked` stays.
fn effective_status(row: &CertRow) -> String {
    if row.status == "valid" && row.not_after <= Utc::now() {
        "expired".into()
    } else {
        row.status.clone()
    }
}

impl CertOut {
    pub fn from_row(r: CertRow, renewed_to_ids: Vec<i64>) -> Self {
        CertOut {
            status: effective_status(&r),
            id: r.id,
            common_name: r.common_name,
            // Rows stored before values were RFC 4514-escaped show escaped too.
            subject_dn: pki::normalize_stored_dn(&r.subject_dn).into_owned(),
            certificate_type: r.certificate_type,
            key_algorithm: r.key_algorithm,
            key_size: r.key_size,
            valid_days: r.valid_days,
            certificate: r.certificate,
            serial_number: r.serial_number,
            not_before: store::ts(r.not_before),
            not_after: store::ts(r.not_after),
            revoked_at: r.revoked_at.map(store::ts),
            revocation_reason: r.revocation_reason,
            revocation_reason_code: r.revocation_reason_code,
            issuer_id: r.issuer_id,
            organization_id: r.organization_id,
            created_by_user_id: r.created_by_user_id,
            created_by_service_account_id: r.created_by_service_account_id,
            renewed_from_id: r.renewed_from_id,
            renewed_to_ids,
            san_dns_names: r.san_dns_names,
            san_ip_addresses: r.san_ip_addresses,
            san_email_addresses: r.san_email_addresses,
            key_origin: r.key_origin,
            created_at: store::ts(r.created_at),
            updated_at: store::ts(r.updated_at),
            private_key: None,
        }
    }
}

/// Who owns a certificate, for authorization.
pub fn owner(c: &CertRow) -> Owner {
    Owner::of(
        c.organization_id,
        c.created_by_user_id,
        c.created_by_service_account_id,
    )
}

/// Loads a certificate the caller may act on, or 404/403.
pub async fn load_for(
    state: &AppState,
    caller: &Principal,
    id: i64,
    action: Action,
) -> Result<CertRow> {
    let row = {
        let mut c = state.db.read().await?;
        store::certs::get(&mut c, id).await?.ok_or_else(not_found)?
    };
    authorize(caller, &row, action)?;
    Ok(row)
}

fn not_found() -> Error {
    Error::NotFound("Certificate not found".into())
}

fn authorize(caller: &Principal, row: &CertRow, action: Action) -> Result<()> {
    if !authz::allows(&caller.authz_subject(), &owner(row), action) {
        return Err(Error::Forbidden("Insufficient permissions".into()));
    }
    Ok(())
}

pub(super) async fn with_lineage(state: &AppState, row: CertRow) -> Result<CertOut> {
    let mut c = state.db.read().await?;
    let to = store::certs::renewed_to(&mut c, row.id).await?;
    Ok(CertOut::from_row(row, to))
}

/// A status the list can select: `expired` is a `valid` row past its `not_after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CertStatus {
    /// Neither revoked nor expired.
    Valid,
    Revoked,
    /// Not revoked, past its `not_after`.
    Expired,
}

impl CertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CertStatus::Valid => "valid",
            CertStatus::Revoked => "revoked",
            CertStatus::Expired => "expired",
        }
    }
}

/// What a certificate list selects within the caller's scope.
#[derive(Clone, Copy, Debug, Default)]
pub struct ListFilter {
    /// Only this CA's certificates.
    pub ca_id: Option<i64>,
    pub status: Option<CertStatus>,
    /// Only certificates not yet expired whose `not_after` is at most this
    /// many days from now (revoked ones too, unless `status` is `valid`).
    pub expiring_within_days: Option<i64>,
}

/// The longest `expiring_within_days`: the longest validity a certificate can have.
pub const MAX_EXPIRING_WITHIN_DAYS: i64 = 36500;

impl ListFilter {
    /// 422 for a filter that selects nothing sensible.
    pub fn check(self) -> Result<Self> {
        check_ca_filter(self.ca_id)?;
        if let Some(days) = self.expiring_within_days
            && !(1..=MAX_EXPIRING_WITHIN_DAYS).contains(&days)
        {
            return Err(Error::Validation(vec![crate::error::FieldError::query(
                "expiring_within_days",
                format!("Input should be between 1 and {MAX_EXPIRING_WITHIN_DAYS}"),
            )]));
        }
        Ok(self)
    }

    /// The store's filter for `caller`, judged at `now`.
    fn scoped(
        self,
        caller: &Principal,
        now: chrono::DateTime<Utc>,
        after_id: i64,
        skip: i64,
        limit: i64,
    ) -> store::certs::CertFilter {
        use store::certs::StatusFilter;
        store::certs::CertFilter {
            all_organizations: caller.is_superuser(),
            organization_id: caller.organization_id(),
            issuer_id: self.ca_id,
            status: self.status.map(|s| match s {
                CertStatus::Valid => StatusFilter::Valid,
                CertStatus::Revoked => StatusFilter::Revoked,
                CertStatus::Expired => StatusFilter::Expired,
            }),
            expires_by: self
                .expiring_within_days
                .map(|d| store::ts(now + chrono::Duration::days(d))),
            now: store::ts(now),
            after_id,
            skip,
            limit,
        }
    }
}

/// Scoped list of the certificates `filter` selects.
pub async fn list(
    state: &AppState,
    caller: &Principal,
    filter: ListFilter,
    after_id: i64,
    skip: i64,
    limit: i64,
) -> Result<Vec<CertOut>> {
    let filter = filter.scoped(caller, Utc::now(), after_id, skip, limit);
    let mut c = state.db.read().await?;
    let rows = store::certs::list(&mut c, &filter).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut lineage = store::certs::renewed_to_many(&mut c, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let to = lineage.remove(&r.id).unwrap_or_default();
            CertOut::from_row(r, to)
        })
        .collect())
}

/// Every certificate the caller may list that `filter` selects, in id
/// order after `after_id` and `skip` rows: FastPKI 0.4's list without a limit,
/// streamed. A non-superuser without an organization sees none. Status and
/// expiry are judged at the time the list starts.
pub fn list_all(
    state: &AppState,
    caller: &Principal,
    filter: ListFilter,
    after_id: i64,
    skip: i64,
) -> RowStream<CertOut> {
    if !caller.is_superuser() && caller.organization_id().is_none() {
        return stream::empty().boxed();
    }
    let filter = filter.scoped(caller, Utc::now(), after_id, skip, state.list_window);
    store::certs::stream(state.db.clone(), filter, state.list_window)
        .map_ok(|(row, renewed_to)| CertOut::from_row(row, renewed_to))
        .map_err(Error::from)
        .boxed()
}

/// Loads a certificate and its renewals' ids (one round trip), if the caller may act on it.
pub(super) async fn load_with_renewals_for(
    state: &AppState,
    caller: &Principal,
    id: i64,
    action: Action,
) -> Result<(CertRow, Vec<i64>)> {
    let (row, renewed_to) = {
        let mut c = state.db.read().await?;
        store::certs::get_with_renewals(&mut c, id)
            .await?
            .ok_or_else(not_found)?
    };
    authorize(caller, &row, action)?;
    Ok((row, renewed_to))
}

pub async fn get(state: &AppState, caller: &Principal, id: i64) -> Result<CertOut> {
    let (row, renewed_to) = load_with_renewals_for(state, caller, id, Action::Read).await?;
    Ok(CertOut::from_row(row, renewed_to))
}

/// `ca_id` query filter: positive integer.
pub fn check_ca_filter(ca_id: Option<i64>) -> Result<Option<i64>> {
    match ca_id {
        Some(id) if id < 1 => Err(Error::Validation(vec![crate::error::FieldError::query(
            "ca_id",
            "ca_id must be a positive integer",
        )])),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: &str, not_after: chrono::DateTime<Utc>) -> CertRow {
        CertRow {
            id: 1,
            common_name: "x".into(),
            subject_dn: "CN=x".into(),
            certificate_type: "server".into(),
            key_algorithm: "ed25519".into(),
            key_size: 256,
            valid_days: 1,
            status: status.into(),
            certificate: String::new(),
            key_stored: store::certs::KeyStored(false),
            key_origin: "server".into(),
            serial_number: "01".into(),
            not_before: not_after - chrono::Duration::days(1),
            not_after,
            san_dns_names: vec![],
            san_ip_addresses: vec![],
            san_email_addresses: vec![],
            revoked_at: None,
            revocation_reason: None,
            revocation_reason_code: None,
            issuer_id: 1,
            organization_id: None,
            created_by_user_id: None,
            created_by_service_account_id: None,
            renewed_from_id: None,
            created_at: not_after,
            updated_at: not_after,
        }
    }

    #[test]
    fn status_reads_expired_once_not_after_passes() {
        let past = Utc::now() - chrono::Duration::seconds(1);
        let future = Utc::now() + chrono::Duration::days(1);
        assert_eq!(effective_status(&row("valid", past)), "expired");
        assert_eq!(effective_status(&row("valid", future)), "valid");
        assert_eq!(effective_status(&row("revoked", past)), "revoked");
    }
}
