//! `/auth`: token, refresh, logout, invalidate.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Router, response::IntoResponse};
use serde::Deserialize;

use super::extract::{Caller, Form, Json};
use crate::error::Result;
use crate::service::sessions;
use crate::state::AppState;

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

async fn token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<LoginForm>,
) -> Result<impl IntoResponse> {
    let pair = sessions::login(&state, peer.ip(), &form.username, &form.password).await?;
    Ok(axum::Json(pair))
}

async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshBody>,
) -> Result<impl IntoResponse> {
    Ok(axum::Json(
        sessions::refresh(&state, &body.refresh_token).await?,
    ))
}

async fn logout(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(body): Json<RefreshBody>,
) -> Result<StatusCode> {
    sessions::logout(&state, &caller, &body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn invalidate(State(state): State<AppState>, Caller(caller): Caller) -> Result<StatusCode> {
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
