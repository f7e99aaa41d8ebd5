//! `/acme-directories`: the admin API of ACME directories and their external
//! account binding keys. The ACME protocol itself is `api/acme/`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete as delete_route, get};

use super::extract::{BaseUrl, Json, JsonOrDefault, Path, Query, UserCaller};
use super::paging::{self, Page};
use crate::error::Result;
use crate::service::AppState;
use crate::service::acme::directories::{self as dirs, DirectoryOut};
use crate::service::acme::eab_keys::{self as eab, EabKeyCreated, EabKeyOut};

#[utoipa::path(post, path = "/acme-directories/", tag = "acme-directories", request_body = dirs::DirectoryCreate, security(("bearer" = [])),
    responses((status = 201, body = DirectoryOut), (status = 400, body = crate::api::errors::ErrorBody), (status = 401, body = crate::api::errors::ErrorBody),
        (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 409, description = "The CA is pending: it has no certificate yet", body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    BaseUrl(base): BaseUrl,
    Json(body): Json<dirs::DirectoryCreate>,
) -> Result<(StatusCode, axum::Json<DirectoryOut>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(dirs::create(&state, &caller, body, &base).await?),
    ))
}

#[utoipa::path(get, path = "/acme-directories/", tag = "acme-directories", params(Page), security(("bearer" = [])),
    responses((status = 200, body = Vec<DirectoryOut>), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    BaseUrl(base): BaseUrl,
    Query(p): Query<Page>,
) -> Result<axum::Json<Vec<DirectoryOut>>> {
    let (skip, limit) = paging::page(p.skip, p.limit, 100, 1000)?;
    Ok(axum::Json(
        dirs::list(&state, &caller, skip, limit, &base).await?,
    ))
}

#[utoipa::path(get, path = "/acme-directories/{id}", tag = "acme-directories", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = DirectoryOut), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn read(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    BaseUrl(base): BaseUrl,
    Path(id): Path<i64>,
) -> Result<axum::Json<DirectoryOut>> {
    Ok(axum::Json(dirs::get(&state, &caller, id, &base).await?))
}

#[utoipa::path(patch, path = "/acme-directories/{id}", tag = "acme-directories", params(("id" = i64, Path)), request_body = dirs::DirectoryUpdate, security(("bearer" = [])),
    responses((status = 200, body = DirectoryOut), (status = 400, body = crate::api::errors::ErrorBody), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 409, description = "The CA is pending: it has no certificate yet", body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    BaseUrl(base): BaseUrl,
    Path(id): Path<i64>,
    Json(body): Json<dirs::DirectoryUpdate>,
) -> Result<axum::Json<DirectoryOut>> {
    Ok(axum::Json(
        dirs::update(&state, &caller, id, body, &base).await?,
    ))
}

#[utoipa::path(delete, path = "/acme-directories/{id}", tag = "acme-directories", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 204, description = "Deleted with its EAB keys and ACME accounts"), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    dirs::delete(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/acme-directories/{id}/eab-keys", tag = "acme-directories", params(("id" = i64, Path)), request_body = Option<eab::EabKeyCreate>, security(("bearer" = [])),
    responses((status = 201, body = EabKeyCreated, description = "The HMAC key appears this once"), (status = 400, body = crate::api::errors::ErrorBody), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn create_eab_key(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    BaseUrl(base): BaseUrl,
    Path(id): Path<i64>,
    JsonOrDefault(body): JsonOrDefault<eab::EabKeyCreate>,
) -> Result<(StatusCode, axum::Json<EabKeyCreated>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(eab::create(&state, &caller, id, body, &base).await?),
    ))
}

#[utoipa::path(get, path = "/acme-directories/{id}/eab-keys", tag = "acme-directories", params(("id" = i64, Path), Page), security(("bearer" = [])),
    responses((status = 200, body = Vec<EabKeyOut>), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn eab_keys(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path(id): Path<i64>,
    Query(p): Query<Page>,
) -> Result<axum::Json<Vec<EabKeyOut>>> {
    let (skip, limit) = paging::page(p.skip, p.limit, 100, 1000)?;
    Ok(axum::Json(
        eab::list(&state, &caller, id, skip, limit).await?,
    ))
}

#[utoipa::path(delete, path = "/acme-directories/{id}/eab-keys/{kid}", tag = "acme-directories", params(("id" = i64, Path), ("kid" = String, Path)), security(("bearer" = [])),
    responses((status = 204, description = "Revoked; the account it bound is deactivated"), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn revoke_eab_key(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path((id, kid)): Path<(i64, String)>,
) -> Result<StatusCode> {
    eab::revoke(&state, &caller, id, &kid).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/acme-directories", get(list).post(create))
        .route(
            "/acme-directories/{id}",
            get(read).patch(update).delete(delete),
        )
        .route(
            "/acme-directories/{id}/eab-keys",
            get(eab_keys).post(create_eab_key),
        )
        .route(
            "/acme-directories/{id}/eab-keys/{kid}",
            delete_route(revoke_eab_key),
        )
}
