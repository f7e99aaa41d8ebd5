//! Paging: `skip`/`limit` and cursors checked in FastAPI's 422 shape, and the
//! `Link: <URL>; rel="next"` header of lists read by keyset cursor.

use axum::http::{HeaderMap, HeaderValue, header};

use serde::Deserialize;

use crate::error::{Error, FieldError};
use crate::service::AppState;

/// `?skip=&limit=` of an offset-paged list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    #[param(minimum = 0)]
    pub skip: Option<i64>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// How to ask for the page after this one.
pub struct Next<'a> {
    /// The route under the API prefix, e.g. `/certificates/`.
    pub path: &'a str,
    /// The cursor parameter: it takes the id of the page's last row.
    pub cursor: &'a str,
    pub limit: i64,
    /// The request's filters, repeated in the link.
    pub filters: Vec<(&'a str, String)>,
}

/// The `Link` header to the next page when `page` is full; none after a
/// short page, which is the last.
pub fn next_page<T>(
    state: &AppState,
    base: &str,
    next: Next<'_>,
    page: &[T],
    id: impl Fn(&T) -> i64,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let last = match page.last() {
        Some(last) if page.len() as i64 >= next.limit => id(last),
        _ => return headers,
    };
    let mut query = vec![
        (next.cursor, last.to_string()),
        ("limit", next.limit.to_string()),
    ];
    query.extend(next.filters);
    let query = serde_urlencoded::to_string(&query).unwrap_or_default();
    let link = format!(
        "<{base}{}{}?{query}>; rel=\"next\"",
        state.settings.api_prefix, next.path
    );
    if let Ok(v) = HeaderValue::from_str(&link) {
        headers.insert(header::LINK, v);
    }
    headers
}

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
        return Err(Error::Validation(vec![FieldError::query(
            "limit",
            format!("Input should be between 1 and {max_limit}"),
        )]));
    }
    Ok((skip, limit))
}

/// A query parameter that must be at least `min` when given (skip, cursors).
pub fn at_least(field: &str, value: Option<i64>, min: i64) -> Result<Option<i64>, Error> {
    match value {
        Some(v) if v < min => Err(Error::Validation(vec![FieldError::query(
            field,
            format!("Input should be greater than or equal to {min}"),
        )])),
        other => Ok(other),
    }
}
