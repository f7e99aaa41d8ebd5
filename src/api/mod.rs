//! HTTP: routers, middleware (security headers, CORS, body limits, request
//! ids, panics as 500 JSON) and the few routes that are not API resources.

pub mod acme;
pub(crate) mod acme_directories;
pub(crate) mod audit;
pub mod auth;
pub(crate) mod cas;
pub(crate) mod certs;
pub mod errors;
pub(crate) mod export;
pub mod extract;
mod json_stream;
mod meta;
mod metrics;
pub mod openapi;
pub(crate) mod orgs;
mod paging;
pub(crate) mod public;
pub(crate) mod service_accounts;
pub(crate) mod users;
pub(crate) mod webhooks;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::Layer;
use tower::util::{MapRequest, MapRequestLayer};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::Error;
use crate::service::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The router behind the trailing-slash rewrite.
pub type App = MapRequest<Router, fn(Request<Body>) -> Request<Body>>;

/// The whole application, ready to serve. Trailing slashes are trimmed before
/// routing, so `/users/` and `/users` are the same route.
pub fn app(state: AppState) -> App {
    MapRequestLayer::new(trim_trailing_slash as fn(Request<Body>) -> Request<Body>)
        .layer(router(state))
}

/// `/users/` -> `/users`, except under `/docs/` where Swagger UI needs its slash.
fn trim_trailing_slash(mut req: Request<Body>) -> Request<Body> {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') && !path.starts_with("/docs") {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let new = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        if let Ok(pq) = new.parse::<axum::http::uri::PathAndQuery>() {
            let mut parts = req.uri().clone().into_parts();
            parts.path_and_query = Some(pq);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

fn router(state: AppState) -> Router {
    let settings = state.settings.clone();
    let metrics = state.metrics.clone();
    let api = Router::new()
        .merge(auth::router())
        .merge(users::router())
        .merge(orgs::router())
        .merge(webhooks::router())
        .merge(audit::router())
        .merge(cas::router())
        .merge(certs::router())
        .merge(export::router())
        .merge(service_accounts::router())
        .merge(acme_directories::router());
    let mut app = Router::new()
        .nest(&settings.api_prefix, api)
        .merge(meta::router(&settings))
        .merge(metrics::router())
        .merge(public::router())
        .merge(acme::router(state.clone()))
        .fallback(|| async { Error::NotFound("Not Found".into()) })
        .method_not_allowed_fallback(|| async {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                axum::Json(serde_json::json!({"detail": "Method Not Allowed"})),
            )
        })
        .with_state(state);

    if let Some(cors) = cors_layer(&settings.cors_origins) {
        app = app.layer(cors);
    }
    app.layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(120)))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            Error::Internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .layer(axum::middleware::map_response(security_headers))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                // The path only: query strings may carry secrets in some clients.
                tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path())
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        // Outermost, so that it sees every answer (timeouts and panics too).
        // Router::layer wraps each route, after routing: the template is known.
        .layer(axum::middleware::from_fn_with_state(metrics, metrics::track))
}

/// The security headers every response carries.
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=63072000; includeSubDomains"),
    );
    // Public CRL and CA downloads set their own, cacheable, value.
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let base = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        // Scripts in the browser follow list pages by this header.
        .expose_headers([header::LINK])
        .max_age(Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        tracing::warn!(
            "BACKEND_CORS_ORIGINS allows any origin ('*'): browsers on any site may call this API"
        );
        return Some(base.allow_origin(AllowOrigin::any()));
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(base.allow_origin(list).allow_credentials(true))
}
