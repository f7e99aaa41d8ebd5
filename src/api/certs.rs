//! `/certificates`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::extract::{BaseUrl, Caller, Json, JsonOrDefault, Path, Query};
use super::{json_stream, paging};
use crate::error::FieldError;
use crate::error::{Error, Result};
use crate::service::AppState;
use crate::service::{certs, certs::CertOut};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CertQuery {
    /// The issuing CA.
    ca_id: Option<i64>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only the certificates of this CA.
    ca_id: Option<i64>,
    /// Only certificates of this status: `valid` (neither revoked nor
    /// expired), `revoked`, or `expired` (past `not_after`, not revoked).
    #[param(inline)]
    status: Option<certs::CertStatus>,
    /// Only certificates not yet expired whose `not_after` is at most this
    /// many days from now, revoked ones included unless `status=valid`.
    /// Read on an index of `not_after`.
    #[param(minimum = 1, maximum = 36500)]
    expiring_within_days: Option<i64>,
    /// Keyset cursor: only certificates with a greater id (the last id of the
    /// previous page). Costs the same at any depth; the `Link` header's
    /// `rel="next"` URL carries it.
    #[param(minimum = 0)]
    after_id: Option<i64>,
    /// Rows to step over (after the cursor, if any); O(skip), prefer `after_id`.
    #[param(minimum = 0)]
    skip: Option<i64>,
    /// Rows per page. Without it, every certificate in scope comes back in one
    /// answer, as FastPKI 0.4 returns them (streamed, in id order, no `Link`).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

#[utoipa::path(post, path = "/certificates/", tag = "certificates", params(CertQuery), request_body = certs::CertCreate, security(("bearer" = [])),
    responses((status = 201, body = CertOut), (status = 400, body = crate::api::errors::ErrorBody), (status = 401, body = crate::api::errors::ErrorBody),
        (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 409, description = "The CA is pending: it has no certificate yet", body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    BaseUrl(base): BaseUrl,
    Query(q): Query<CertQuery>,
    Json(body): Json<certs::CertCreate>,
) -> Result<(StatusCode, axum::Json<CertOut>)> {
    let ca_id = q
        .ca_id
        .ok_or_else(|| Error::Validation(vec![FieldError::query("ca_id", "Field required")]))?;
    Ok((
        StatusCode::CREATED,
        axum::Json(certs::create(&state, &caller, ca_id, body, &base).await?),
    ))
}

#[utoipa::path(post, path = "/certificates/sign-csr", tag = "certificates", request_body = certs::SignCsr, security(("bearer" = [])),
    responses((status = 201, body = CertOut), (status = 400, body = crate::api::errors::ErrorBody), (status = 401, body = crate::api::errors::ErrorBody),
        (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 409, description = "The CA is pending: it has no certificate yet", body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn sign_csr(
    State(state): State<AppState>,
    Caller(caller): Caller,
    BaseUrl(base): BaseUrl,
    Json(body): Json<certs::SignCsr>,
) -> Result<(StatusCode, axum::Json<CertOut>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(certs::sign_csr(&state, &caller, body, &base).await?),
    ))
}

#[utoipa::path(get, path = "/certificates/", tag = "certificates", params(ListQuery), security(("bearer" = [])),
    responses((status = 200, description = "The page; without `limit`, every certificate in scope (a chunked body, aborted if the database fails mid-way)", body = Vec<CertOut>,
            headers(("link" = String, description = "`<URL>; rel=\"next\"` when a page asked with `limit` is full: the next page by cursor"))),
        (status = 401, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    BaseUrl(base): BaseUrl,
    Query(q): Query<ListQuery>,
) -> Result<Response> {
    let filter = certs::ListFilter {
        ca_id: q.ca_id,
        status: q.status,
        expiring_within_days: q.expiring_within_days,
    }
    .check()?;
    // The last id of the previous page; 0 from the start.
    let after_id = paging::at_least("after_id", q.after_id, 0)?.unwrap_or(0);
    let Some(limit) = q.limit else {
        let skip = paging::at_least("skip", q.skip, 0)?.unwrap_or(0);
        return json_stream::json_array(certs::list_all(&state, &caller, filter, after_id, skip))
            .await;
    };
    let (skip, limit) = paging::page(q.skip, Some(limit), 100, 1000)?;
    let page = certs::list(&state, &caller, filter, after_id, skip, limit).await?;
    let next = paging::Next {
        path: "/certificates/",
        cursor: "after_id",
        limit,
        filters: [
            filter.ca_id.map(|ca| ("ca_id", ca.to_string())),
            filter.status.map(|s| ("status", s.as_str().to_string())),
            filter
                .expiring_within_days
                .map(|d| ("expiring_within_days", d.to_string())),
        ]
        .into_iter()
        .flatten()
        .collect(),
    };
    let headers = paging::next_page(&state, &base, next, &page, |c| c.id);
    Ok((headers, axum::Json(page)).into_response())
}

#[utoipa::path(get, path = "/certificates/{id}", tag = "certificates", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = CertOut), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn read(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<CertOut>> {
    Ok(axum::Json(certs::get(&state, &caller, id).await?))
}

#[utoipa::path(get, path = "/certificates/{id}/private-key", tag = "certificates", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = CertOut), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn private_key(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<CertOut>> {
    Ok(axum::Json(certs::private_key(&state, &caller, id).await?.0))
}

#[utoipa::path(post, path = "/certificates/{id}/revoke", tag = "certificates", params(("id" = i64, Path)), request_body = Option<crate::service::revocation::Revoke>, security(("bearer" = [])),
    responses((status = 200, body = CertOut), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody),
        (status = 409, description = "Already revoked", body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    JsonOrDefault(body): JsonOrDefault<crate::service::revocation::Revoke>,
) -> Result<axum::Json<CertOut>> {
    Ok(axum::Json(certs::revoke(&state, &caller, id, body).await?))
}

#[utoipa::path(post, path = "/certificates/{id}/renew", tag = "certificates", params(("id" = i64, Path)), request_body = Option<certs::Renew>, security(("bearer" = [])),
    responses((status = 201, body = CertOut), (status = 400, description = "csr_required_for_csr_origin_cert, csr_not_allowed_for_server_key_cert, policy_violation", body = crate::api::errors::ErrorBody),
        (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn renew(
    State(state): State<AppState>,
    Caller(caller): Caller,
    BaseUrl(base): BaseUrl,
    Path(id): Path<i64>,
    JsonOrDefault(body): JsonOrDefault<certs::Renew>,
) -> Result<(StatusCode, axum::Json<CertOut>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(certs::renew(&state, &caller, id, body, &base).await?),
    ))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/certificates", get(list).post(create))
        .route("/certificates/sign-csr", post(sign_csr))
        .route("/certificates/{id}", get(read))
        .route("/certificates/{id}/private-key", get(private_key))
        .route("/certificates/{id}/revoke", post(revoke))
        .route("/certificates/{id}/renew", post(renew))
}
