//! Routes outside the API prefix: welcome, liveness, readiness, API docs.

use std::time::Duration;

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

/// How long readiness waits for the database: less than a probe's usual
/// timeout, so that an unreachable database answers 503 rather than nothing.
const READY_WITHIN: Duration = Duration::from_secs(2);

/// Liveness: the process serves HTTP. It never reads the database, so that
/// an orchestrator does not restart servers while the database is down.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the database answers a trivial query within [`READY_WITHIN`].
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let ready = tokio::time::timeout(READY_WITHIN, state.db.ping())
        .await
        .unwrap_or(false);
    if ready {
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
