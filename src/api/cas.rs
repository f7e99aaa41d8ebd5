//! `/cas`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

use super::extract::{BaseUrl, Caller, Json, JsonOrDefault, Path, Query};
use super::{json_stream, paging};
use crate::error::Result;
use crate::service::AppState;
use crate::service::{cas, cas::CaOut};

#[utoipa::path(post, path = "/cas/", tag = "cas", request_body = cas::CaCreate, security(("bearer" = [])),
    responses((status = 201, body = CaOut), (status = 400, body = crate::api::errors::ErrorBody), (status = 401, body = crate::api::errors::ErrorBody),
        (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 409, description = "The CA is pending: it has no certificate yet", body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    BaseUrl(base): BaseUrl,
    Json(body): Json<cas::CaCreate>,
) -> Result<(StatusCode, axum::Json<CaOut>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(cas::create(&state, &caller, body, &base).await?),
    ))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Rows to step over.
    #[param(minimum = 0)]
    skip: Option<i64>,
    /// Rows per page. Without it, every CA in scope comes back in one answer,
    /// as FastPKI 0.4 returns them (streamed, in id order).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/cas/", tag = "cas", params(ListQuery), security(("bearer" = [])),
    responses((status = 200, description = "The page; without `limit`, every CA in scope (a chunked body, aborted if the database fails mid-way)", body = Vec<CaOut>),
        (status = 401, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(p): Query<ListQuery>,
) -> Result<Response> {
    let Some(limit) = p.limit else {
        let skip = paging::at_least("skip", p.skip, 0)?.unwrap_or(0);
        return json_stream::json_array(cas::list_all(&state, &caller, skip)).await;
    };
    let (skip, limit) = paging::page(p.skip, Some(limit), 100, 1000)?;
    Ok(axum::Json(cas::list(&state, &caller, skip, limit).await?).into_response())
}

#[utoipa::path(get, path = "/cas/{id}", tag = "cas", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = CaOut), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn read(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<CaOut>> {
    Ok(axum::Json(cas::get(&state, &caller, id).await?))
}

#[utoipa::path(get, path = "/cas/{id}/private-key", tag = "cas", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = CaOut), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn private_key(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<CaOut>> {
    Ok(axum::Json(cas::private_key(&state, &caller, id).await?))
}

#[utoipa::path(get, path = "/cas/{id}/chain", tag = "cas", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<CaOut>), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn chain(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<Vec<CaOut>>> {
    Ok(axum::Json(cas::chain(&state, &caller, id).await?))
}

#[utoipa::path(get, path = "/cas/{id}/children", tag = "cas", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<CaOut>), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn children(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<Vec<CaOut>>> {
    Ok(axum::Json(cas::children(&state, &caller, id).await?))
}

#[utoipa::path(patch, path = "/cas/{id}", tag = "cas", params(("id" = i64, Path)), request_body = cas::CaUpdate, security(("bearer" = [])),
    responses((status = 200, body = CaOut), (status = 400, body = crate::api::errors::ErrorBody), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Json(body): Json<cas::CaUpdate>,
) -> Result<axum::Json<CaOut>> {
    Ok(axum::Json(cas::update(&state, &caller, id, body).await?))
}

#[utoipa::path(post, path = "/cas/{id}/revoke", tag = "cas", params(("id" = i64, Path)), request_body = Option<crate::service::revocation::Revoke>, security(("bearer" = [])),
    responses((status = 200, body = CaOut), (status = 400, description = "A root CA", body = crate::api::errors::ErrorBody), (status = 401, body = crate::api::errors::ErrorBody),
        (status = 403, description = "No revoke_cert on the parent CA", body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody),
        (status = 409, description = "Already revoked", body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    JsonOrDefault(body): JsonOrDefault<crate::service::revocation::Revoke>,
) -> Result<axum::Json<CaOut>> {
    Ok(axum::Json(cas::revoke(&state, &caller, id, body).await?))
}

#[utoipa::path(delete, path = "/cas/{id}", tag = "cas", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 204, description = "Deleted with its certificates; its certificate and final CRL stay published"), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody),
        (status = 409, description = "It has child CAs, or certificates neither revoked nor expired", body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    cas::delete(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/cas/import", tag = "cas", request_body = cas::CaImport, security(("bearer" = [])),
    responses((status = 201, description = "The imported CA (without its key)", body = CaOut),
        (status = 400, description = "A certificate or key that cannot be read or used: not a CA, key and certificate do not match, does not chain to its issuer, wrong passphrase...", body = crate::api::errors::ErrorBody),
        (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, description = "Parent CA not found", body = crate::api::errors::ErrorBody),
        (status = 409, description = "The certificate is already a CA here", body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn import(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(body): Json<cas::CaImport>,
) -> Result<(StatusCode, axum::Json<CaOut>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(cas::import(&state, &caller, body).await?),
    ))
}

#[utoipa::path(post, path = "/cas/csr", tag = "cas", request_body = cas::CaCsrNew, security(("bearer" = [])),
    responses((status = 201, description = "The pending CA, with `csr`: have it signed, then `PUT /cas/{id}/certificate`", body = CaOut),
        (status = 400, body = crate::api::errors::ErrorBody), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody),
        (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn create_pending(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(body): Json<cas::CaCsrNew>,
) -> Result<(StatusCode, axum::Json<CaOut>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(cas::create_pending(&state, &caller, body).await?),
    ))
}

#[utoipa::path(post, path = "/cas/{id}/csr", tag = "cas", params(("id" = i64, Path)), request_body = Option<cas::CaCsr>, security(("bearer" = [])),
    responses((status = 200, description = "The CA, with `csr` for its own key", body = CaOut),
        (status = 201, description = "`new_key`: the new pending CA, with `csr`", body = CaOut),
        (status = 400, body = crate::api::errors::ErrorBody), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody),
        (status = 404, body = crate::api::errors::ErrorBody), (status = 409, description = "`new_key` on a pending CA", body = crate::api::errors::ErrorBody),
        (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn csr(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    JsonOrDefault(body): JsonOrDefault<cas::CaCsr>,
) -> Result<(StatusCode, axum::Json<CaOut>)> {
    let status = if body.new_key {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(cas::csr(&state, &caller, id, body).await?),
    ))
}

#[utoipa::path(put, path = "/cas/{id}/certificate", tag = "cas", params(("id" = i64, Path)), request_body = cas::CaCertificateInstall, security(("bearer" = [])),
    responses((status = 200, description = "The CA with its new certificate", body = CaOut),
        (status = 400, description = "Not a CA certificate for this CA's key (and, on an active CA, its subject), or it does not chain to its issuer", body = crate::api::errors::ErrorBody),
        (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody),
        (status = 409, description = "The CA changed meanwhile", body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn install(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Json(body): Json<cas::CaCertificateInstall>,
) -> Result<axum::Json<CaOut>> {
    Ok(axum::Json(cas::install(&state, &caller, id, body).await?))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cas", get(list).post(create))
        .route("/cas/{id}", get(read).patch(update).delete(delete))
        .route("/cas/{id}/private-key", get(private_key))
        .route("/cas/{id}/chain", get(chain))
        .route("/cas/{id}/children", get(children))
        .route("/cas/{id}/revoke", post(revoke))
        .route("/cas/import", post(import))
        .route("/cas/csr", post(create_pending))
        .route("/cas/{id}/csr", post(csr))
        .route("/cas/{id}/certificate", put(install))
}
