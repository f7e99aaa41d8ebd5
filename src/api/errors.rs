//! The one place an [`Error`] becomes an HTTP status and a `{"detail": ...}`
//! body, and the OpenAPI shapes of those bodies.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use utoipa::ToSchema;

use crate::error::{DATABASE_RETRY_AFTER_SECS, Error, FieldError};

/// `{"detail": "..."}` (or a structured `{"detail": {"code": ...}}`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    detail: serde_json::Value,
}

/// 422: `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ValidationErrorBody {
    detail: Vec<FieldError>,
}

/// The status an error answers with.
pub fn status(e: &Error) -> StatusCode {
    match e {
        Error::BadRequest(_) | Error::BadRequestCoded(_) => StatusCode::BAD_REQUEST,
        Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) | Error::ForbiddenCoded(_) => StatusCode::FORBIDDEN,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Unavailable(_) | Error::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let this = self.classified();
        let status = status(&this);
        let detail = match &this {
            Error::Validation(errors) => json!(errors),
            Error::BadRequestCoded(v) | Error::ForbiddenCoded(v) => v.clone(),
            Error::Internal(e) => {
                // The cause goes to the log (never secrets: errors carry no key material), not the client.
                tracing::error!(error = format!("{e:#}"), "internal error");
                json!("Internal server error")
            }
            Error::DatabaseUnavailable(e) => {
                tracing::warn!(error = format!("{e:#}"), "database unavailable");
                json!(this.to_string())
            }
            other => json!(other.to_string()),
        };
        let mut resp = (status, axum::Json(json!({ "detail": detail }))).into_response();
        match &this {
            Error::Unauthorized(_) => {
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Error::TooManyRequests {
                retry_after_secs, ..
            } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            Error::DatabaseUnavailable(_) => {
                resp.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(DATABASE_RETRY_AFTER_SECS),
                );
            }
            _ => {}
        }
        resp
    }
}
