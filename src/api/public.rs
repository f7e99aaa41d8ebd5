//! Public PKI routes at the root: `/crl/{slug}[.pem]`, `/ca/{slug}.crt|.pem`.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use axum::extract::rejection::PathRejection;

use crate::error::{Error, Result};
use crate::service::public;
use crate::state::AppState;

type Path = axum::extract::Path<String>;

/// The `{file}` segment. One that is not UTF-8 (`%c0%ae`) names no CA: 404,
/// like any unknown slug, not the 422 of a malformed id.
fn segment(path: Result<Path, PathRejection>) -> Result<String> {
    path.map(|p| p.0)
        .map_err(|_| Error::NotFound("Not Found".into()))
}

fn file(body: impl IntoResponse, content_type: &'static str, max_age: u32) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    resp
}

#[utoipa::path(get, path = "/crl/{file}", tag = "public", params(("file" = String, Path, description = "`{slug}` (DER) or `{slug}.pem`")),
    responses((status = 200, description = "The CA's CRL", content_type = "application/pkix-crl"), (status = 404, body = crate::openapi::ErrorBody)))]
pub(crate) async fn crl(
    State(state): State<AppState>,
    path: Result<Path, PathRejection>,
) -> Result<Response> {
    let name = segment(path)?;
    // CRLs change on revocation: short caching.
    match name.strip_suffix(".pem") {
        Some(slug) => {
            let der = public::crl_der(&state, slug).await?;
            Ok(file(
                pki::crl_der_to_pem(&der),
                "application/x-pem-file",
                60,
            ))
        }
        None => Ok(file(
            public::crl_der(&state, &name).await?,
            "application/pkix-crl",
            60,
        )),
    }
}

#[utoipa::path(get, path = "/ca/{file}", tag = "public", params(("file" = String, Path, description = "`{slug}.crt` (DER) or `{slug}.pem`")),
    responses((status = 200, description = "The CA certificate", content_type = "application/pkix-cert"), (status = 404, body = crate::openapi::ErrorBody)))]
pub(crate) async fn ca_certificate(
    State(state): State<AppState>,
    path: Result<Path, PathRejection>,
) -> Result<Response> {
    let name = segment(path)?;
    if let Some(slug) = name.strip_suffix(".pem") {
        let ca = public::ca_by_slug(&state, slug).await?;
        return Ok(file(ca.certificate, "application/x-pem-file", 3600));
    }
    let slug = name
        .strip_suffix(".crt")
        .ok_or_else(|| Error::NotFound("Not Found".into()))?;
    let ca = public::ca_by_slug(&state, slug).await?;
    let der = pki::cert_pem_to_der(&ca.certificate)?;
    Ok(file(der, "application/pkix-cert", 3600))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/crl/{file}", get(crl))
        .route("/ca/{file}", get(ca_certificate))
}
