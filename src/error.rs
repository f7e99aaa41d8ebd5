//! The one error type of the service layer, and the one place it becomes an
//! HTTP status and a `{"detail": ...}` body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

/// One field that failed validation, in FastAPI's 422 shape.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Where: `"body"`, `"query"` or `"path"`, then field names and list indexes.
    #[schema(value_type = Vec<LocItem>)]
    pub loc: Vec<Value>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl FieldError {
    /// A body field error: `loc = ["body", field]`.
    pub fn body(field: &str, msg: impl Into<String>) -> Self {
        FieldError {
            loc: vec![json!("body"), json!(field)],
            msg: msg.into(),
            kind: "value_error".into(),
        }
    }
}

/// One step of a `loc`: a field name or a list index (for the OpenAPI document).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum LocItem {
    Name(String),
    Index(u64),
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    Unavailable(String),
    /// A structured `{"detail": {"code": ...}}` error with its status.
    #[error("{1}")]
    Coded(StatusCode, Value),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Internal(anyhow::Error::new(e).context("database error"))
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Internal(anyhow::Error::new(e).context("background task failed"))
    }
}

impl Error {
    pub fn validation(field: &str, msg: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::body(field, msg)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Coded(s, _) => *s,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            Error::Validation(errors) => json!(errors),
            Error::Coded(_, v) => v.clone(),
            Error::Internal(e) => {
                // The cause goes to the log (never secrets: errors carry no key material), not the client.
                tracing::error!(error = format!("{e:#}"), "internal error");
                json!("Internal server error")
            }
            other => json!(other.to_string()),
        };
        let mut resp = (status, axum::Json(json!({ "detail": detail }))).into_response();
        match &self {
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
            _ => {}
        }
        resp
    }
}

impl From<pki::PkiError> for Error {
    fn from(e: pki::PkiError) -> Self {
        match e {
            pki::PkiError::Crypto(_) | pki::PkiError::KeyMismatch => {
                Error::Internal(anyhow::Error::new(e).context("PKI operation failed"))
            }
            other => Error::BadRequest(other.to_string()),
        }
    }
}
