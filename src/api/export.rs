//! `/export`: PEM files with `Content-Disposition: attachment`.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::extract::{Caller, Path};
use crate::error::Result;
use crate::service::AppState;
use crate::service::export::{self, PemFile};

fn download(file: PemFile) -> Response {
    let mut resp = file.body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-pem-file"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", file.filename)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

macro_rules! export_route {
    ($name:ident, $path:literal, $service:path, $what:literal $(, $extra:tt)*) => {
        #[utoipa::path(get, path = $path, tag = "export", params(("id" = i64, Path)), security(("bearer" = [])),
            responses((status = 200, description = $what, content_type = "application/x-pem-file", body = String),
                (status = 401, body = crate::api::errors::ErrorBody), (status = 403, body = crate::api::errors::ErrorBody),
                (status = 404, body = crate::api::errors::ErrorBody), (status = 422, body = crate::api::errors::ValidationErrorBody)
                $(, $extra)*))]
        pub(crate) async fn $name(State(state): State<AppState>, Caller(caller): Caller, Path(id): Path<i64>) -> Result<Response> {
            Ok(download($service(&state, &caller, id).await?))
        }
    };
}

export_route!(
    ca_certificate,
    "/export/ca/{id}/certificate",
    export::ca_certificate,
    "The CA certificate",
    (
        status = 409,
        description = "The CA is pending: it has no certificate yet",
        body = crate::api::errors::ErrorBody
    )
);
export_route!(
    ca_private_key,
    "/export/ca/{id}/private-key",
    export::ca_private_key,
    "The CA private key (audited)"
);
export_route!(
    certificate,
    "/export/certificate/{id}",
    export::certificate,
    "The certificate"
);
export_route!(
    certificate_private_key,
    "/export/certificate/{id}/private-key",
    export::certificate_private_key,
    "The certificate's private key (audited)"
);
export_route!(
    certificate_chain,
    "/export/certificate/{id}/chain",
    export::certificate_chain,
    "The certificate, then each CA up to the root"
);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/export/ca/{id}/certificate", get(ca_certificate))
        .route("/export/ca/{id}/private-key", get(ca_private_key))
        .route("/export/certificate/{id}", get(certificate))
        .route(
            "/export/certificate/{id}/private-key",
            get(certificate_private_key),
        )
        .route("/export/certificate/{id}/chain", get(certificate_chain))
}
