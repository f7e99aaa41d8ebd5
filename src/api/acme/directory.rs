//! `GET /acme/{name}/directory` and `HEAD|GET /acme/{name}/new-nonce`
//! (RFC 8555 §7.1.1, §7.2). The nonce itself is added to every answer by
//! `context::acme_headers`.

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::context::{Acme, json_reply};
use super::resources;

pub async fn directory(acme: Acme) -> Response {
    json_reply(
        StatusCode::OK,
        &resources::directory(&acme.urls, &acme.dir),
        None,
        &[],
    )
}

/// 200 to HEAD, 204 to GET (RFC 8555 §7.2), for a directory that exists.
pub async fn new_nonce(_: Acme, method: Method) -> Response {
    if method == Method::HEAD {
        StatusCode::OK.into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}
