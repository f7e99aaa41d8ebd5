//! The `Link: <URL>; rel="next"` header of lists read by keyset cursor.

use axum::http::{HeaderMap, HeaderValue, header};

use crate::state::AppState;

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
