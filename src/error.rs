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
    /// The database cannot be reached now (down, restarting, unreachable, or
    /// no connection free within `DATABASE_POOL_TIMEOUT_SECONDS`): 503 with
    /// `Retry-After`. The cause is for the log only.
    #[error("The database is unavailable; retry shortly")]
    DatabaseUnavailable(anyhow::Error),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

/// The `Retry-After` of an answer while the database is unavailable, in seconds.
pub const DATABASE_RETRY_AFTER_SECS: u64 = 5;

/// True when a database error says the database cannot be reached now,
/// rather than that a statement failed: the pool found no working connection
/// in time, or the connection broke (I/O, TLS), or PostgreSQL refused or
/// ended it (SQLSTATE class 08, connection exception; 57P01-57P03, shutting
/// down or starting up; 53300, too many connections).
pub fn database_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if database_unreachable(&e) {
            Error::DatabaseUnavailable(anyhow::Error::new(e))
        } else {
            Error::Internal(anyhow::Error::new(e).context("database error"))
        }
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

    /// An internal error caused by an unreachable database (a database error
    /// wrapped on its way up) becomes `DatabaseUnavailable`; others stay as they are.
    pub fn classified(self) -> Self {
        match self {
            Error::Internal(e)
                if e.chain().any(|c| {
                    c.downcast_ref::<sqlx::Error>()
                        .is_some_and(database_unreachable)
                }) =>
            {
                Error::DatabaseUnavailable(e)
            }
            other => other,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_503_material_and_a_failed_statement_is_not() {
        let refused = || {
            sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "refused",
            ))
        };
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            refused(),
        ] {
            assert!(database_unreachable(&e), "{e}");
            assert!(matches!(Error::from(e), Error::DatabaseUnavailable(_)));
        }
        for e in [
            sqlx::Error::RowNotFound,
            sqlx::Error::Protocol("odd".into()),
            sqlx::Error::ColumnNotFound("x".into()),
        ] {
            assert!(!database_unreachable(&e), "{e}");
            assert!(matches!(Error::from(e), Error::Internal(_)));
        }
        // Wrapped on its way up, it is still recognized.
        let wrapped = Error::Internal(anyhow::Error::new(refused()).context("loading a CA"));
        assert!(matches!(
            wrapped.classified(),
            Error::DatabaseUnavailable(_)
        ));
        let other = Error::Internal(anyhow::anyhow!("something else"));
        assert!(matches!(other.classified(), Error::Internal(_)));
    }
}
