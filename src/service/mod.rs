//! Use cases: each function takes the shared state, the caller and its input,
//! authorizes, and writes its change together with its audit entry.

pub mod audit;
pub mod caller_slots;
pub mod cas;
pub mod certs;
pub mod commit;
pub mod crl;
pub mod export;
pub mod keypool;
pub mod orgs;
pub mod public;
pub mod service_accounts;
pub mod sessions;
pub mod signing;
pub mod users;

use futures_util::stream::BoxStream;

use crate::error::Error;

/// Rows per database read when a list is streamed whole (no `limit`): a
/// read-pool connection is held for one window, never while the client reads.
pub const LIST_WINDOW: i64 = 500;

/// A list streamed whole, row by row.
pub type RowStream<T> = BoxStream<'static, Result<T, Error>>;

/// Clamps pagination parameters, refusing nonsense with 422.
pub fn page(
    skip: Option<i64>,
    limit: Option<i64>,
    default_limit: i64,
    max_limit: i64,
) -> Result<(i64, i64), Error> {
    let skip = at_least("skip", skip, 0)?.unwrap_or(0);
    let limit = limit.unwrap_or(default_limit);
    if !(1..=max_limit).contains(&limit) {
        return Err(Error::Validation(vec![query_error(
            "limit",
            &format!("Input should be between 1 and {max_limit}"),
        )]));
    }
    Ok((skip, limit))
}

/// A query parameter that must be at least `min` when given (skip, cursors).
pub fn at_least(field: &str, value: Option<i64>, min: i64) -> Result<Option<i64>, Error> {
    match value {
        Some(v) if v < min => Err(Error::Validation(vec![query_error(
            field,
            &format!("Input should be greater than or equal to {min}"),
        )])),
        other => Ok(other),
    }
}

/// A query-string field error in FastAPI's 422 shape.
pub fn query_error(field: &str, msg: &str) -> crate::error::FieldError {
    crate::error::FieldError {
        loc: vec!["query".into(), field.into()],
        msg: msg.into(),
        kind: "value_error".into(),
    }
}
