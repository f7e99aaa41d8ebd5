//! `GET /acme/{name}/directory` and `HEAD|GET /acme/{name}/new-nonce`
//! (RFC 8555 §7.1.1, §7.2). The nonce itself is added to every answer by
//! `context::acme_headers`.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::context::{Acme, json_reply};
use super::resources;
use crate::api::extract::BaseUrl;
use crate::service::AppState;

pub async fn directory(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(name): Path<String>,
    uri: Uri,
) -> Response {
    match Acme::open(state, &base, &name, &uri).await {
        Ok(acme) => json_reply(
            StatusCode::OK,
            &resources::directory(&acme.urls, &acme.dir),
            None,
            &[],
        ),
        Err(p) => p.into_response(),
    }
}

/// 200 to HEAD, 204 to GET (RFC 8555 §7.2), for a directory that exists.
pub async fn new_nonce(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(name): Path<String>,
    method: Method,
    uri: Uri,
) -> Response {
    match Acme::open(state, &base, &name, &uri).await {
        Ok(_) if method == Method::HEAD => StatusCode::OK.into_response(),
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(p) => p.into_response(),
    }
}
