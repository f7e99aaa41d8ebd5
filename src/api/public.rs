//! Public PKI routes at the root: `/crl/{slug}[.pem]`, `/ca/{slug}.crt|.pem`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use axum::extract::rejection::PathRejection;

use crate::error::{Error, Result};
use crate::service::AppState;
use crate::service::public;

type Path = axum::extract::Path<String>;

/// The `{file}` segment. One that is not UTF-8 (`%c0%ae`) names no CA: 404,
/// like any unknown slug, not the 422 of a malformed id.
fn segment(path: Result<Path, PathRejection>) -> Result<String> {
    path.map(|p| p.0)
        .map_err(|_| Error::NotFound("Not Found".into()))
}

/// A public file with its caching headers, or 304 when the client already has it.
fn file(
    headers: &HeaderMap,
    body: Bytes,
    content_type: &'static str,
    max_age: u32,
    etag: &str,
) -> Response {
    let unchanged = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == etag
        });
    let mut resp = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut resp = body.into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        resp
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    resp
}

#[utoipa::path(get, path = "/crl/{file}", tag = "public", params(("file" = String, Path, description = "`{slug}` (DER) or `{slug}.pem`")),
    responses((status = 200, description = "The CA's CRL", content_type = "application/pkix-crl"), (status = 304, description = "Not modified (`If-None-Match` matched the ETag)"), (status = 404, body = crate::api::errors::ErrorBody)))]
pub(crate) async fn crl(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path, PathRejection>,
) -> Result<Response> {
    let name = segment(path)?;
    // CRLs change on revocation: short caching.
    Ok(match name.strip_suffix(".pem") {
        Some(slug) => {
            let crl = public::crl(&state, slug).await?;
            file(&headers, crl.pem(), "application/x-pem-file", 60, &crl.etag)
        }
        None => {
            let crl = public::crl(&state, &name).await?;
            file(
                &headers,
                crl.der.clone(),
                "application/pkix-crl",
                60,
                &crl.etag,
            )
        }
    })
}

#[utoipa::path(get, path = "/ca/{file}", tag = "public", params(("file" = String, Path, description = "`{slug}.crt` (DER) or `{slug}.pem`")),
    responses((status = 200, description = "The CA certificate", content_type = "application/pkix-cert"), (status = 304, description = "Not modified (`If-None-Match` matched the ETag)"), (status = 404, body = crate::api::errors::ErrorBody)))]
pub(crate) async fn ca_certificate(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path, PathRejection>,
) -> Result<Response> {
    let name = segment(path)?;
    if let Some(slug) = name.strip_suffix(".pem") {
        let ca = public::ca_by_slug(&state, slug).await?;
        let pem = ca.pem.clone();
        return Ok(file(
            &headers,
            pem,
            "application/x-pem-file",
            3600,
            &ca.etag,
        ));
    }
    let slug = name
        .strip_suffix(".crt")
        .ok_or_else(|| Error::NotFound("Not Found".into()))?;
    let ca = public::ca_by_slug(&state, slug).await?;
    let der = ca.der.clone();
    Ok(file(&headers, der, "application/pkix-cert", 3600, &ca.etag))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/crl/{file}", get(crl))
        .route("/ca/{file}", get(ca_certificate))
}
