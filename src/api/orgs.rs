//! `/organizations`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};

use super::extract::{Json, Path, Query, UserCaller};
use super::paging::{self, Page};
use crate::error::Result;
use crate::service::AppState;
use crate::service::orgs::{self, OrgOut};
use crate::service::users::UserOut;

#[utoipa::path(post, path = "/organizations/", tag = "organizations", request_body = crate::service::orgs::OrgCreate, security(("bearer" = [])), responses((status = 201, body = OrgOut), (status = 400, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 401, description = "Not authenticated", body = crate::api::errors::ErrorBody), (status = 422, description = "Validation error", body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Json(body): Json<orgs::OrgCreate>,
) -> Result<(StatusCode, axum::Json<OrgOut>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(orgs::create(&state, &caller, body).await?),
    ))
}

#[utoipa::path(get, path = "/organizations/", tag = "organizations", params(Page), security(("bearer" = [])), responses((status = 200, body = Vec<OrgOut>), (status = 401, description = "Not authenticated", body = crate::api::errors::ErrorBody), (status = 422, description = "Validation error", body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Query(p): Query<Page>,
) -> Result<axum::Json<Vec<OrgOut>>> {
    let (skip, limit) = paging::page(p.skip, p.limit, 100, 1000)?;
    Ok(axum::Json(orgs::list(&state, &caller, skip, limit).await?))
}

#[utoipa::path(get, path = "/organizations/{id}", tag = "organizations", params(("id" = i64, Path, description = "Identifier")), security(("bearer" = [])), responses((status = 200, body = OrgOut), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 401, description = "Not authenticated", body = crate::api::errors::ErrorBody), (status = 422, description = "Validation error", body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn read(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path(id): Path<i64>,
) -> Result<axum::Json<OrgOut>> {
    Ok(axum::Json(orgs::get(&state, &caller, id).await?))
}

#[utoipa::path(put, path = "/organizations/{id}", tag = "organizations", params(("id" = i64, Path, description = "Identifier")), request_body = crate::service::orgs::OrgUpdate, security(("bearer" = [])), responses((status = 200, body = OrgOut), (status = 400, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 401, description = "Not authenticated", body = crate::api::errors::ErrorBody), (status = 422, description = "Validation error", body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path(id): Path<i64>,
    Json(body): Json<orgs::OrgUpdate>,
) -> Result<axum::Json<OrgOut>> {
    Ok(axum::Json(orgs::update(&state, &caller, id, body).await?))
}

#[utoipa::path(delete, path = "/organizations/{id}", tag = "organizations", params(("id" = i64, Path, description = "Identifier")), security(("bearer" = [])), responses((status = 204, description = "Deleted"), (status = 400, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 401, description = "Not authenticated", body = crate::api::errors::ErrorBody), (status = 422, description = "Validation error", body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    orgs::delete(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/organizations/{id}/users/{user_id}", tag = "organizations", params(("id" = i64, Path, description = "Identifier"), ("user_id" = i64, Path, description = "User id")), security(("bearer" = [])), responses((status = 200, body = UserOut), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 401, description = "Not authenticated", body = crate::api::errors::ErrorBody), (status = 422, description = "Validation error", body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn add_user(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path((id, user_id)): Path<(i64, i64)>,
) -> Result<axum::Json<UserOut>> {
    Ok(axum::Json(
        orgs::add_user(&state, &caller, id, user_id).await?,
    ))
}

#[utoipa::path(delete, path = "/organizations/{id}/users/{user_id}", tag = "organizations", params(("id" = i64, Path, description = "Identifier"), ("user_id" = i64, Path, description = "User id")), security(("bearer" = [])), responses((status = 200, body = UserOut), (status = 400, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 401, description = "Not authenticated", body = crate::api::errors::ErrorBody), (status = 422, description = "Validation error", body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn remove_user(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path((id, user_id)): Path<(i64, i64)>,
) -> Result<axum::Json<UserOut>> {
    Ok(axum::Json(
        orgs::remove_user(&state, &caller, id, user_id).await?,
    ))
}

#[utoipa::path(get, path = "/organizations/{id}/users", tag = "organizations", params(("id" = i64, Path, description = "Identifier"), Page), security(("bearer" = [])), responses((status = 200, body = Vec<UserOut>), (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 401, description = "Not authenticated", body = crate::api::errors::ErrorBody), (status = 422, description = "Validation error", body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn members(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path(id): Path<i64>,
    Query(p): Query<Page>,
) -> Result<axum::Json<Vec<UserOut>>> {
    let (skip, limit) = paging::page(p.skip, p.limit, 100, 1000)?;
    Ok(axum::Json(
        orgs::users(&state, &caller, id, skip, limit).await?,
    ))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/organizations", get(list).post(create))
        .route("/organizations/{id}", get(read).put(update).delete(delete))
        .route("/organizations/{id}/users", get(members))
        .route(
            "/organizations/{id}/users/{user_id}",
            post(add_user).delete(remove_user),
        )
}
