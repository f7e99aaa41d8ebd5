//! Reading the audit log: superusers see everything, admins their organization.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;

use crate::auth::{Principal, Role};
use crate::error::{Error, FieldError, Result};
use crate::service::AppState;
use crate::store::{self, audit::AuditEntry, audit::AuditFilter};

/// An audit entry as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AuditEntry)]
pub struct AuditEntryOut {
    pub id: i64,
    pub created_at: String,
    pub action: String,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub organization_id: Option<i64>,
    pub resource_type: Option<String>,
    pub resource_id: Option<i64>,
    pub detail: Option<String>,
    pub service_account_id: Option<i64>,
    pub service_account_name: Option<String>,
}

impl From<AuditEntry> for AuditEntryOut {
    fn from(e: AuditEntry) -> Self {
        AuditEntryOut {
            id: e.id,
            created_at: store::ts(e.created_at),
            action: e.action,
            user_id: e.user_id,
            username: e.username,
            organization_id: e.organization_id,
            resource_type: e.resource_type,
            resource_id: e.resource_id,
            detail: e.detail,
            service_account_id: e.service_account_id,
            service_account_name: e.service_account_name,
        }
    }
}

/// What a caller asks of the log, as the query string gives it: each filter
/// optional, times as text (ISO-8601, see [`parse_time`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct LogQuery<'a> {
    pub action: Option<&'a str>,
    pub user_id: Option<i64>,
    pub resource_type: Option<&'a str>,
    pub resource_id: Option<i64>,
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    /// Keyset cursor: only entries older than this id (the list is newest first).
    pub before_id: Option<i64>,
    pub skip: i64,
    pub limit: i64,
}

/// Refuses an `action` filter that names no action (422, as FastAPI's enum does).
pub fn check_action(action: &str) -> Result<()> {
    if store::audit::ACTIONS.contains(&action) {
        return Ok(());
    }
    let (last, rest) = store::audit::ACTIONS.split_last().unwrap_or((&"", &[]));
    let quoted: Vec<String> = rest.iter().map(|a| format!("'{a}'")).collect();
    Err(Error::Validation(vec![FieldError {
        loc: vec!["query".into(), "action".into()],
        msg: format!("Input should be {} or '{last}'", quoted.join(", ")),
        kind: "enum".into(),
    }]))
}

/// ISO-8601 with or without offset (naive means UTC), or a bare date; a bad
/// value is a 422 on the query parameter `field`.
fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map(|n| n.and_utc()))
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").map(|n| n.and_utc()))
        .or_else(|_| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        })
        .map_err(|_| {
            Error::Validation(vec![FieldError::query(
                field,
                "Input should be a valid datetime",
            )])
        })
}

pub async fn query(
    state: &AppState,
    caller: &Principal,
    q: LogQuery<'_>,
) -> Result<Vec<AuditEntryOut>> {
    let mut filter = AuditFilter {
        organization_id: None,
        action: q.action.map(str::to_owned),
        user_id: q.user_id,
        resource_type: q.resource_type.map(str::to_owned),
        resource_id: q.resource_id,
        since: q.since.map(|s| parse_time("since", s)).transpose()?,
        until: q.until.map(|s| parse_time("until", s)).transpose()?,
        before_id: q.before_id,
        skip: q.skip,
        limit: q.limit,
    };
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
    let entries = store::audit::query(&mut c, &filter).await?;
    Ok(entries.into_iter().map(AuditEntryOut::from).collect())
}
