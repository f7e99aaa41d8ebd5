//! `/auth`: token, refresh, logout, invalidate.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Router, response::IntoResponse};
use serde::Deserialize;

use super::extract::{Form, Json, UserCaller};
use crate::error::Result;
use crate::service::AppState;
use crate::service::sessions;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginForm {
    username: String,
    password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RefreshBody {
    refresh_token: String,
}

#[utoipa::path(post, path = "/auth/token", tag = "auth", request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, body = crate::service::sessions::TokenPair), (status = 429, description = "Too many attempts", body = crate::api::errors::ErrorBody), (status = 401, description = "Not authenticated", body = crate::api::errors::ErrorBody), (status = 422, description = "Validation error", body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<LoginForm>,
) -> Result<impl IntoResponse> {
    let pair = sessions::login(&state, peer.ip(), &form.username, &form.password).await?;
    Ok(axum::Json(pair))
}

#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshBody, responses((status = 200, body = crate::service::sessions::TokenPair), (status = 401, description = "Not authenticated", body = crate::api::errors::ErrorBody), (status = 422, description = "Validation error", body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshBody>,
) -> Result<impl IntoResponse> {
    Ok(axum::Json(
        sessions::refresh(&state, &body.refresh_token).await?,
    ))
}

#[utoipa::path(post, path = "/auth/logout", tag = "auth", request_body = RefreshBody, security(("bearer" = [])), responses((status = 204, description = "Logged out"), (status = 403, description = "Refresh token of another user", body = crate::api::errors::ErrorBody), (status = 401, description = "Not authenticated", body = crate::api::errors::ErrorBody), (status = 422, description = "Validation error", body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Json(body): Json<RefreshBody>,
) -> Result<StatusCode> {
    sessions::logout(&state, &caller, &body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/auth/invalidate", tag = "auth", security(("bearer" = [])), responses((status = 204, description = "Every session ended"), (status = 401, description = "Not authenticated", body = crate::api::errors::ErrorBody), (status = 422, description = "Validation error", body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn invalidate(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
) -> Result<StatusCode> {
    sessions::invalidate(&state, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/token", post(token))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
        .route("/auth/invalidate", post(invalidate))
}
