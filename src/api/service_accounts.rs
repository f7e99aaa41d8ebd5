//! `/service-accounts`: accounts, tokens, issuance policy.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete as delete_route, get};

use super::extract::{Json, JsonOrDefault, Path, Query, UserCaller};
use super::paging::{self, Page};
use crate::error::Result;
use crate::service::AppState;
use crate::service::policy::Policy;
use crate::service::service_accounts::{self as sa, PolicyOut, ServiceAccountOut, TokenOut};

#[utoipa::path(post, path = "/service-accounts/", tag = "service-accounts", request_body = sa::AccountCreate, security(("bearer" = [])),
    responses((status = 201, body = ServiceAccountOut), (status = 400, body = crate::api::errors::ErrorBody), (status = 401, body = crate::api::errors::ErrorBody),
        (status = 403, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Json(body): Json<sa::AccountCreate>,
) -> Result<(StatusCode, axum::Json<ServiceAccountOut>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(sa::create(&state, &caller, body).await?),
    ))
}

#[utoipa::path(get, path = "/service-accounts/", tag = "service-accounts", params(Page), security(("bearer" = [])),
    responses((status = 200, body = Vec<ServiceAccountOut>), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Query(p): Query<Page>,
) -> Result<axum::Json<Vec<ServiceAccountOut>>> {
    let (skip, limit) = paging::page(p.skip, p.limit, 100, 1000)?;
    Ok(axum::Json(sa::list(&state, &caller, skip, limit).await?))
}

#[utoipa::path(get, path = "/service-accounts/{id}", tag = "service-accounts", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = ServiceAccountOut), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn read(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path(id): Path<i64>,
) -> Result<axum::Json<ServiceAccountOut>> {
    Ok(axum::Json(sa::get(&state, &caller, id).await?))
}

#[utoipa::path(patch, path = "/service-accounts/{id}", tag = "service-accounts", params(("id" = i64, Path)), request_body = sa::AccountUpdate, security(("bearer" = [])),
    responses((status = 200, body = ServiceAccountOut), (status = 400, body = crate::api::errors::ErrorBody), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path(id): Path<i64>,
    Json(body): Json<sa::AccountUpdate>,
) -> Result<axum::Json<ServiceAccountOut>> {
    Ok(axum::Json(sa::update(&state, &caller, id, body).await?))
}

#[utoipa::path(delete, path = "/service-accounts/{id}", tag = "service-accounts", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 204, description = "Deleted with its tokens"), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    sa::delete(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/service-accounts/{id}/tokens", tag = "service-accounts", params(("id" = i64, Path)), request_body = Option<sa::TokenCreate>, security(("bearer" = [])),
    responses((status = 201, body = TokenOut, description = "The token text appears this once"), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn create_token(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path(id): Path<i64>,
    JsonOrDefault(body): JsonOrDefault<sa::TokenCreate>,
) -> Result<(StatusCode, axum::Json<TokenOut>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(sa::create_token(&state, &caller, id, body).await?),
    ))
}

#[utoipa::path(get, path = "/service-accounts/{id}/tokens", tag = "service-accounts", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<TokenOut>), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn tokens(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path(id): Path<i64>,
) -> Result<axum::Json<Vec<TokenOut>>> {
    Ok(axum::Json(sa::tokens(&state, &caller, id).await?))
}

#[utoipa::path(delete, path = "/service-accounts/{id}/tokens/{token_id}", tag = "service-accounts", params(("id" = i64, Path), ("token_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 204, description = "Revoked"), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path((id, token_id)): Path<(i64, i64)>,
) -> Result<StatusCode> {
    sa::revoke_token(&state, &caller, id, token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/service-accounts/{id}/policy", tag = "service-accounts", params(("id" = i64, Path)), request_body = Policy, security(("bearer" = [])),
    responses((status = 200, body = PolicyOut), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn put_policy(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path(id): Path<i64>,
    Json(body): Json<Policy>,
) -> Result<axum::Json<PolicyOut>> {
    Ok(axum::Json(sa::put_policy(&state, &caller, id, body).await?))
}

#[utoipa::path(get, path = "/service-accounts/{id}/policy", tag = "service-accounts", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = PolicyOut), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn get_policy(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path(id): Path<i64>,
) -> Result<axum::Json<PolicyOut>> {
    Ok(axum::Json(sa::get_policy(&state, &caller, id).await?))
}

#[utoipa::path(delete, path = "/service-accounts/{id}/policy", tag = "service-accounts", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 204, description = "Cleared: the account may issue nothing"), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn delete_policy(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    sa::delete_policy(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/service-accounts", get(list).post(create))
        .route(
            "/service-accounts/{id}",
            get(read).patch(update).delete(delete),
        )
        .route(
            "/service-accounts/{id}/tokens",
            get(tokens).post(create_token),
        )
        .route(
            "/service-accounts/{id}/tokens/{token_id}",
            delete_route(revoke_token),
        )
        .route(
            "/service-accounts/{id}/policy",
            get(get_policy).put(put_policy).delete(delete_policy),
        )
}
