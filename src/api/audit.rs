//! `/audit-logs/`.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use serde::Deserialize;

use super::extract::{BaseUrl, Query, UserCaller};
use super::paging;
use crate::error::Result;
use crate::service::AppState;
use crate::service::audit::{self, AuditEntryOut};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    action: Option<String>,
    user_id: Option<i64>,
    resource_type: Option<String>,
    resource_id: Option<i64>,
    since: Option<String>,
    until: Option<String>,
    /// Keyset cursor: only entries older than this id (the last id of the
    /// previous page). Costs the same at any depth; the `Link` header's
    /// `rel="next"` URL carries it.
    #[param(minimum = 1)]
    before_id: Option<i64>,
    /// Rows to step over (after the cursor, if any); O(skip), prefer `before_id`.
    #[param(minimum = 0)]
    skip: Option<i64>,
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/audit-logs/", tag = "audit", params(AuditQuery), security(("bearer" = [])), responses((status = 200, body = Vec<AuditEntryOut>,
    headers(("link" = String, description = "`<URL>; rel=\"next\"` when the page is full: the next page by cursor"))), (status = 403, body = crate::api::errors::ErrorBody), (status = 401, description = "Not authenticated", body = crate::api::errors::ErrorBody), (status = 422, description = "Validation error", body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    BaseUrl(base): BaseUrl,
    Query(q): Query<AuditQuery>,
) -> Result<(HeaderMap, axum::Json<Vec<AuditEntryOut>>)> {
    if let Some(action) = &q.action {
        audit::check_action(action)?;
    }
    let (skip, limit) = paging::page(q.skip, q.limit, 100, 1000)?;
    let before_id = paging::at_least("before_id", q.before_id, 1)?;
    let query = audit::LogQuery {
        action: q.action.as_deref(),
        user_id: q.user_id,
        resource_type: q.resource_type.as_deref(),
        resource_id: q.resource_id,
        since: q.since.as_deref(),
        until: q.until.as_deref(),
        before_id,
        skip,
        limit,
    };
    let page = audit::query(&state, &caller, query).await?;
    let filters = [
        ("action", q.action),
        ("user_id", q.user_id.map(|v| v.to_string())),
        ("resource_type", q.resource_type),
        ("resource_id", q.resource_id.map(|v| v.to_string())),
        ("since", q.since),
        ("until", q.until),
    ];
    let next = paging::Next {
        path: "/audit-logs/",
        cursor: "before_id",
        limit,
        filters: filters
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect(),
    };
    let headers = paging::next_page(&state, &base, next, &page, |e| e.id);
    Ok((headers, axum::Json(page)))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/audit-logs", get(list))
}
