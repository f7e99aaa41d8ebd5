//! `/audit-logs/`.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

use super::extract::{Caller, Query};
use crate::error::{Error, Result};
use crate::service::{self, audit, query_error};
use crate::state::AppState;
use crate::store::{self, audit::AuditEntry, audit::AuditFilter};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    action: Option<String>,
    user_id: Option<i64>,
    resource_type: Option<String>,
    resource_id: Option<i64>,
    since: Option<String>,
    until: Option<String>,
    #[param(minimum = 0)]
    skip: Option<i64>,
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// ISO-8601 with or without offset (naive means UTC), or a bare date.
fn parse_time(field: &str, s: &str) -> Result<String> {
    let t = DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map(|n| n.and_utc()))
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").map(|n| n.and_utc()))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        })
        .map_err(|_| {
            Error::Validation(vec![query_error(field, "Input should be a valid datetime")])
        })?;
    Ok(store::ts(t))
}

#[utoipa::path(get, path = "/audit-logs/", tag = "audit", params(AuditQuery), security(("bearer" = [])), responses((status = 200, body = Vec<AuditEntry>), (status = 403, body = crate::openapi::ErrorBody), (status = 401, description = "Not authenticated", body = crate::openapi::ErrorBody), (status = 422, description = "Validation error", body = crate::openapi::ValidationErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<AuditQuery>,
) -> Result<axum::Json<Vec<AuditEntry>>> {
    let (skip, limit) = service::page(q.skip, q.limit, 100, 1000)?;
    let filter = AuditFilter {
        organization_id: None,
        action: q.action,
        user_id: q.user_id,
        resource_type: q.resource_type,
        resource_id: q.resource_id,
        since: q
            .since
            .as_deref()
            .map(|s| parse_time("since", s))
            .transpose()?,
        until: q
            .until
            .as_deref()
            .map(|s| parse_time("until", s))
            .transpose()?,
        skip,
        limit,
    };
    Ok(axum::Json(audit::query(&state, &caller, filter).await?))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/audit-logs", get(list))
}
