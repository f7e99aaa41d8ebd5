//! ACME orders and the authorizations each needs (in the order's order).
//! `identifiers` and `error` are JSON the ACME service writes and reads.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, FromRow};

use crate::store::{OptTime, Time, ts};

#[derive(Clone, Debug, FromRow)]
pub struct OrderRow {
    pub id: i64,
    pub account_id: i64,
    /// `pending`, `ready`, `processing`, `valid` or `invalid` as last written.
    pub status: String,
    /// JSON list of `{"type", "value"}`.
    pub identifiers: String,
    #[sqlx(try_from = "OptTime")]
    pub not_before: Option<DateTime<Utc>>,
    #[sqlx(try_from = "OptTime")]
    pub not_after: Option<DateTime<Utc>>,
    #[sqlx(try_from = "Time")]
    pub expires_at: DateTime<Utc>,
    /// A problem document (JSON), once the order is invalid.
    pub error: Option<String>,
    pub certificate_id: Option<i64>,
    pub replaces: Option<String>,
    #[sqlx(try_from = "Time")]
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "Time")]
    pub updated_at: DateTime<Utc>,
}

macro_rules! columns {
    () => {
        "id, account_id, status, identifiers, not_before, not_after, expires_at, \
     error, certificate_id, replaces, created_at, updated_at"
    };
}

pub struct NewOrder<'a> {
    pub account_id: i64,
    pub identifiers: &'a str,
    pub not_before: Option<DateTime<Utc>>,
    pub not_after: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub replaces: Option<&'a str>,
}

pub async fn insert(
    c: &mut AnyConnection,
    o: &NewOrder<'_>,
    now: DateTime<Utc>,
) -> Result<OrderRow, sqlx::Error> {
    let sql = concat!(
        "INSERT INTO acme_orders (account_id, status, identifiers, not_before, not_after, expires_at, \
         replaces, created_at, updated_at) VALUES ($1, 'pending', $2, $3, $4, $5, $6, $7, $7) \
         RETURNING ",
        columns!()
    );
    sqlx::query_as(sql)
        .bind(o.account_id)
        .bind(o.identifiers)
        .bind(o.not_before.map(ts))
        .bind(o.not_after.map(ts))
        .bind(ts(o.expires_at))
        .bind(o.replaces)
        .bind(ts(now))
        .fetch_one(c)
        .await
}

pub async fn link(
    c: &mut AnyConnection,
    order_id: i64,
    authorization_id: i64,
    position: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO acme_order_authorizations (order_id, authorization_id, position) VALUES ($1, $2, $3)",
    )
    .bind(order_id)
    .bind(authorization_id)
    .bind(position)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn get(c: &mut AnyConnection, id: i64) -> Result<Option<OrderRow>, sqlx::Error> {
    let sql = concat!("SELECT ", columns!(), " FROM acme_orders WHERE id = $1");
    sqlx::query_as(sql).bind(id).fetch_optional(c).await
}

/// One page of an account's order ids, newest first, after `before` (keyset).
pub async fn ids_of_account(
    c: &mut AnyConnection,
    account_id: i64,
    before: i64,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM acme_orders WHERE account_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(account_id)
    .bind(before)
    .bind(limit)
    .fetch_all(c)
    .await
}

/// Moves an order from `from` to `to` (with an error for `invalid`); false
/// when it was not in `from` any more (another request moved it first).
pub async fn transition(
    c: &mut AnyConnection,
    id: i64,
    from: &str,
    to: &str,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE acme_orders SET status = $1, error = COALESCE($2, error), updated_at = $3 \
         WHERE id = $4 AND status = $5",
    )
    .bind(to)
    .bind(error)
    .bind(ts(now))
    .bind(id)
    .bind(from)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A `processing` order becomes `valid` with its certificate.
pub async fn complete(
    c: &mut AnyConnection,
    id: i64,
    certificate_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE acme_orders SET status = 'valid', certificate_id = $1, updated_at = $2 \
         WHERE id = $3 AND status = 'processing'",
    )
    .bind(certificate_id)
    .bind(ts(now))
    .bind(id)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The order that issued a certificate, if ACME issued it.
pub async fn by_certificate(
    c: &mut AnyConnection,
    certificate_id: i64,
) -> Result<Option<OrderRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM acme_orders WHERE certificate_id = $1"
    );
    sqlx::query_as(sql)
        .bind(certificate_id)
        .fetch_optional(c)
        .await
}
