//! `/organizations/{id}/webhooks`: an organization's webhook receivers, their
//! secrets and their recent deliveries (`service::webhooks::manage`).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};

use super::extract::{Json, Path, Query, UserCaller};
use super::paging::{self, Page};
use crate::error::Result;
use crate::service::AppState;
use crate::service::webhooks::manage::{self, DeliveryOut, WebhookCreated, WebhookOut};

#[utoipa::path(post, path = "/organizations/{id}/webhooks", tag = "webhooks", params(("id" = i64, Path, description = "Organization id")),
    request_body = manage::WebhookCreate, security(("bearer" = [])),
    responses((status = 201, body = WebhookCreated, description = "The secret appears this once"), (status = 400, body = crate::api::errors::ErrorBody),
        (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody),
        (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path(id): Path<i64>,
    Json(body): Json<manage::WebhookCreate>,
) -> Result<(StatusCode, axum::Json<WebhookCreated>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(manage::create(&state, &caller, id, body).await?),
    ))
}

#[utoipa::path(get, path = "/organizations/{id}/webhooks", tag = "webhooks", params(("id" = i64, Path, description = "Organization id"), Page),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<WebhookOut>), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody),
        (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path(id): Path<i64>,
    Query(p): Query<Page>,
) -> Result<axum::Json<Vec<WebhookOut>>> {
    let (skip, limit) = paging::page(p.skip, p.limit, 100, 1000)?;
    Ok(axum::Json(
        manage::list(&state, &caller, id, skip, limit).await?,
    ))
}

#[utoipa::path(get, path = "/organizations/{id}/webhooks/{webhook_id}", tag = "webhooks",
    params(("id" = i64, Path, description = "Organization id"), ("webhook_id" = i64, Path, description = "Webhook id")), security(("bearer" = [])),
    responses((status = 200, body = WebhookOut), (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody),
        (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn read(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path((id, webhook_id)): Path<(i64, i64)>,
) -> Result<axum::Json<WebhookOut>> {
    Ok(axum::Json(
        manage::get(&state, &caller, id, webhook_id).await?,
    ))
}

#[utoipa::path(delete, path = "/organizations/{id}/webhooks/{webhook_id}", tag = "webhooks",
    params(("id" = i64, Path, description = "Organization id"), ("webhook_id" = i64, Path, description = "Webhook id")), security(("bearer" = [])),
    responses((status = 204, description = "Deleted with its deliveries, pending ones too"), (status = 401, body = crate::api::errors::ErrorBody),
        (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path((id, webhook_id)): Path<(i64, i64)>,
) -> Result<StatusCode> {
    manage::delete(&state, &caller, id, webhook_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/organizations/{id}/webhooks/{webhook_id}/rotate-secret", tag = "webhooks",
    params(("id" = i64, Path, description = "Organization id"), ("webhook_id" = i64, Path, description = "Webhook id")), security(("bearer" = [])),
    responses((status = 200, body = WebhookCreated, description = "The new secret appears this once"), (status = 401, body = crate::api::errors::ErrorBody),
        (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn rotate_secret(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path((id, webhook_id)): Path<(i64, i64)>,
) -> Result<axum::Json<WebhookCreated>> {
    Ok(axum::Json(
        manage::rotate_secret(&state, &caller, id, webhook_id).await?,
    ))
}

#[utoipa::path(get, path = "/organizations/{id}/webhooks/{webhook_id}/deliveries", tag = "webhooks",
    params(("id" = i64, Path, description = "Organization id"), ("webhook_id" = i64, Path, description = "Webhook id"), Page), security(("bearer" = [])),
    responses((status = 200, body = Vec<DeliveryOut>, description = "Newest first"), (status = 401, body = crate::api::errors::ErrorBody),
        (status = 403, body = crate::api::errors::ErrorBody), (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)))]
pub(crate) async fn deliveries(
    State(state): State<AppState>,
    UserCaller(caller): UserCaller,
    Path((id, webhook_id)): Path<(i64, i64)>,
    Query(p): Query<Page>,
) -> Result<axum::Json<Vec<DeliveryOut>>> {
    let (skip, limit) = paging::page(p.skip, p.limit, 100, 1000)?;
    Ok(axum::Json(
        manage::deliveries(&state, &caller, id, webhook_id, skip, limit).await?,
    ))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/organizations/{id}/webhooks", get(list).post(create))
        .route(
            "/organizations/{id}/webhooks/{webhook_id}",
            get(read).delete(delete),
        )
        .route(
            "/organizations/{id}/webhooks/{webhook_id}/rotate-secret",
            post(rotate_secret),
        )
        .route(
            "/organizations/{id}/webhooks/{webhook_id}/deliveries",
            get(deliveries),
        )
}
