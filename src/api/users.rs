//! `/users`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;

use super::extract::{Caller, Json, MaybeCaller, Path, Query};
use crate::error::Result;
use crate::service::{self, users};
use crate::state::AppState;
use crate::store::users::User;

#[derive(Deserialize)]
pub struct Page {
    pub skip: Option<i64>,
    pub limit: Option<i64>,
}

async fn create(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Json(body): Json<users::UserCreate>,
) -> Result<(StatusCode, axum::Json<User>)> {
    let user = users::create(&state, caller.as_ref(), body).await?;
    Ok((StatusCode::CREATED, axum::Json(user)))
}

async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(p): Query<Page>,
) -> Result<axum::Json<Vec<User>>> {
    let (skip, limit) = service::page(p.skip, p.limit, 100, 1000)?;
    Ok(axum::Json(users::list(&state, &caller, skip, limit).await?))
}

async fn me(Caller(caller): Caller) -> axum::Json<User> {
    axum::Json(caller.user().clone())
}

async fn read(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<User>> {
    Ok(axum::Json(users::get(&state, &caller, id).await?))
}

async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    Json(body): Json<users::UserUpdate>,
) -> Result<axum::Json<User>> {
    Ok(axum::Json(users::update(&state, &caller, id, body).await?))
}

async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
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
