//! `GET /metrics` (Prometheus text format; behind `METRICS_TOKEN` when set)
//! and the middleware that counts and times every request by route template.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};
use crate::service::AppState;
use crate::service::metrics::{self, Metrics};

/// The `route` label of every request that matched no route: one label,
/// whatever the path, so that scanners cannot grow the series.
pub const UNMATCHED: &str = "unmatched";

/// Counts and times a request under its route template (`/api/v1/certificates/{id}`).
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let resp = next.run(req).await;
    metrics.http_request(
        method,
        route.as_deref().unwrap_or(UNMATCHED),
        resp.status().as_u16(),
        started.elapsed(),
    );
    resp
}

/// The standard methods by name; anything else is `other`.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    if let Some(token) = &state.settings.metrics_token
        && !bearer_matches(&headers, token)
    {
        return Err(Error::Unauthorized("Not authenticated".into()));
    }
    let text = metrics::scrape(&state).await;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

/// `Authorization: Bearer <token>`, compared in constant time (digests of
/// equal length, so that not even the token's length shows in the timing).
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        })
        .map(|(_, t)| t.trim())
        .unwrap_or("");
    let digest = |s: &str| aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.as_bytes());
    digest(given).as_ref().ct_eq(digest(token).as_ref()).into()
}

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let token = "a-metrics-token-0123456789";
        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            bearer_matches(&h, token)
        };
        assert!(with(&format!("Bearer {token}")));
        assert!(with(&format!("bearer {token}")));
        assert!(!with(&format!("Basic {token}")));
        assert!(!with(&format!("Bearer {token}x")));
        assert!(!with("Bearer a-metrics-token-012345678"));
        assert!(!with("Bearer "));
        assert!(!bearer_matches(&HeaderMap::new(), token));
    }

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
