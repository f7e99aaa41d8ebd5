//! ACME authorizations: an account's proof of control of one identifier,
//! shared by its orders while it lives.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, FromRow};

use crate::store::{Flag, Time, ts};

#[derive(Clone, Debug, FromRow)]
pub struct AuthorizationRow {
    pub id: i64,
    pub account_id: i64,
    pub identifier_type: String,
    /// Without the `*.` of a wildcard.
    pub identifier_value: String,
    #[sqlx(try_from = "Flag")]
    pub wildcard: bool,
    /// `pending`, `valid`, `invalid`, `deactivated` or `revoked` as last written.
    pub status: String,
    #[sqlx(try_from = "Time")]
    pub expires_at: DateTime<Utc>,
    #[sqlx(try_from = "Time")]
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "Time")]
    pub updated_at: DateTime<Utc>,
}

macro_rules! columns {
    () => {
        "id, account_id, identifier_type, identifier_value, wildcard, status, \
     expires_at, created_at, updated_at"
    };
}

pub async fn insert(
    c: &mut AnyConnection,
    account_id: i64,
    identifier_type: &str,
    identifier_value: &str,
    wildcard: bool,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<AuthorizationRow, sqlx::Error> {
    let sql = concat!(
        "INSERT INTO acme_authorizations (account_id, identifier_type, identifier_value, wildcard, \
         status, expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', $5, $6, $6) \
         RETURNING ",
        columns!()
    );
    sqlx::query_as(sql)
        .bind(account_id)
        .bind(identifier_type)
        .bind(identifier_value)
        .bind(wildcard)
        .bind(ts(expires_at))
        .bind(ts(now))
        .fetch_one(c)
        .await
}

pub async fn get(c: &mut AnyConnection, id: i64) -> Result<Option<AuthorizationRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM acme_authorizations WHERE id = $1"
    );
    sqlx::query_as(sql).bind(id).fetch_optional(c).await
}

/// The authorizations of an order, in the order of its identifiers (one read for the
/// order's view, however many names it has).
pub async fn of_order(
    c: &mut AnyConnection,
    order_id: i64,
) -> Result<Vec<AuthorizationRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM acme_authorizations JOIN acme_order_authorizations \
         ON acme_order_authorizations.authorization_id = acme_authorizations.id \
         WHERE acme_order_authorizations.order_id = $1 ORDER BY acme_order_authorizations.position"
    );
    sqlx::query_as(sql).bind(order_id).fetch_all(c).await
}

/// A live authorization of the account for this identifier that a new order
/// may reuse: valid or pending, not expiring before `until`; valid first.
pub async fn reusable(
    c: &mut AnyConnection,
    account_id: i64,
    identifier_type: &str,
    identifier_value: &str,
    wildcard: bool,
    until: DateTime<Utc>,
) -> Result<Option<AuthorizationRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM acme_authorizations WHERE account_id = $1 AND identifier_type = $2 \
         AND identifier_value = $3 AND wildcard = $4 AND status IN ('valid', 'pending') \
         AND expires_at > $5 ORDER BY CASE status WHEN 'valid' THEN 0 ELSE 1 END, id DESC LIMIT 1"
    );
    sqlx::query_as(sql)
        .bind(account_id)
        .bind(identifier_type)
        .bind(identifier_value)
        .bind(wildcard)
        .bind(ts(until))
        .fetch_optional(c)
        .await
}

/// Whether the account holds a valid, unexpired authorization for this identifier.
pub async fn holds_valid(
    c: &mut AnyConnection,
    account_id: i64,
    identifier_type: &str,
    identifier_value: &str,
    wildcard: bool,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM acme_authorizations WHERE account_id = $1 AND identifier_type = $2 \
         AND identifier_value = $3 AND wildcard = $4 AND status = 'valid' AND expires_at > $5",
    )
    .bind(account_id)
    .bind(identifier_type)
    .bind(identifier_value)
    .bind(wildcard)
    .bind(ts(now))
    .fetch_one(c)
    .await?;
    Ok(n > 0)
}

/// Moves an authorization from `from` to `to`; a valid one is given its new
/// lifetime. False when it was not in `from` any more.
pub async fn transition(
    c: &mut AnyConnection,
    id: i64,
    from: &str,
    to: &str,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE acme_authorizations SET status = $1, expires_at = COALESCE($2, expires_at), \
         updated_at = $3 WHERE id = $4 AND status = $5",
    )
    .bind(to)
    .bind(expires_at.map(ts))
    .bind(ts(now))
    .bind(id)
    .bind(from)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}
