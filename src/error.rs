//! The one error type of the service layer. `api::errors` turns it into an
//! HTTP status and a `{"detail": ...}` body, in one place.

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

    /// A query-string error: `loc = ["query", field]`.
    pub fn query(field: &str, msg: impl Into<String>) -> Self {
        FieldError {
            loc: vec![json!("query"), json!(field)],
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
    /// A structured 400 `{"detail": {"code": ...}}`.
    #[error("{0}")]
    BadRequestCoded(Value),
    /// A structured 403 `{"detail": {"code": ...}}`.
    #[error("{0}")]
    ForbiddenCoded(Value),
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
