//! `/users`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use super::extract::{Json, MaybeUserCaller, Path, Query, UserCaller};
use super::paging::{self, Page};
use crate::error::Result;
use crate::service::AppState;
use crate::service::users::{self, UserOut};

/// Without a token for the very first user, or when open registration is on.
#[utoipa::path(post, path = "/users/", tag = "users", request_body = crate::service::users::UserCreate, security((), ("bearer" = [])), responses((status = 201, body = UserOut), (status = 400, description = "Duplicate", body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 401, description = "Not authenticated", body = crate::api::errors::ErrorBody), (status = 422, description = "Validation error", body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    MaybeUserCaller(caller): MaybeUserCaller,
    Json(body): Json<users::UserCreate>,
) -> Result<(StatusCode, axum::Json<UserOut>)> {
    let user = users::create(&state, caller.as_ref(), body).await?;
    Ok((StatusCode::CREATED, axum::Json(user)))
}

#[utoipa::path(get, path = "/users/", tag = "users", params(Page), security(("bearer" = [])), responses((status = 200, body = Vec<UserOut>), (status = 403, body = crate::api::errors::ErrorBody), (status = 401, description = "Not authenticated", body = crate::api::errors::ErrorBody), (status = 422, description = "Validation error", body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Query(p): Query<Page>,
) -> Result<axum::Json<Vec<UserOut>>> {
    let (skip, limit) = paging::page(p.skip, p.limit, 100, 1000)?;
    Ok(axum::Json(users::list(&state, &caller, skip, limit).await?))
}

#[utoipa::path(get, path = "/users/me", tag = "users", security(("bearer" = [])), responses((status = 200, body = UserOut), (status = 401, description = "Not authenticated", body = crate::api::errors::ErrorBody), (status = 422, description = "Validation error", body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn me(UserCaller(caller): UserCaller) -> Result<axum::Json<UserOut>> {
    Ok(axum::Json(users::me(&caller)?))
}

#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = i64, Path, description = "Identifier")), security(("bearer" = [])), responses((status = 200, body = UserOut), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 401, description = "Not authenticated", body = crate::api::errors::ErrorBody), (status = 422, description = "Validation error", body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn read(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path(id): Path<i64>,
) -> Result<axum::Json<UserOut>> {
    Ok(axum::Json(users::get(&state, &caller, id).await?))
}

#[utoipa::path(patch, path = "/users/{id}", tag = "users", params(("id" = i64, Path, description = "Identifier")), request_body = crate::service::users::UserUpdate, security(("bearer" = [])), responses((status = 200, body = UserOut), (status = 400, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 401, description = "Not authenticated", body = crate::api::errors::ErrorBody), (status = 422, description = "Validation error", body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path(id): Path<i64>,
    Json(body): Json<users::UserUpdate>,
) -> Result<axum::Json<UserOut>> {
    Ok(axum::Json(users::update(&state, &caller, id, body).await?))
}

#[utoipa::path(delete, path = "/users/{id}", tag = "users", params(("id" = i64, Path, description = "Identifier")), security(("bearer" = [])), responses((status = 204, description = "Deleted"), (status = 400, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 401, description = "Not authenticated", body = crate::api::errors::ErrorBody), (status = 422, description = "Validation error", body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    users::delete(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list).post(create))
        .route("/users/me", get(me))
        .route("/users/{id}", get(read).patch(update).delete(delete))
}
