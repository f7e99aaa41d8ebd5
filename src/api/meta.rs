//! Routes outside the API prefix: welcome, liveness, readiness, API docs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::config::Settings;
use crate::service::AppState;

async fn root(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "message": format!("Welcome to {}", state.settings.project_name),
        "version": env!("CARGO_PKG_VERSION"),
        "api": state.settings.api_prefix,
    }))
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if state.db.ping().await {
        (StatusCode::OK, Json(json!({"status": "ready"})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "detail": "database unreachable"})),
        )
    }
}

pub fn router(settings: &Settings) -> Router<AppState> {
    let r = Router::new()
        .route("/", get(root))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if settings.enable_docs {
        r.merge(crate::api::openapi::router(settings))
    } else {
        r
    }
}
