//! Deliveries: one event to one receiver (`target`: `webhook:<id>` or
//! `url:<url>` of WEBHOOK_URLS), unique per event and target so that making
//! them twice (two servers, a restart) makes them once. A server leases a due
//! delivery before sending it (`lease_until`, counted as an attempt), so that
//! of several servers one sends it; every outcome is written only while the
//! lease is still the one taken.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, FromRow};

use crate::store::{OptTime, Time, ts};

#[derive(Clone, Debug, FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub event_id: String,
    pub target: String,
    pub webhook_id: Option<i64>,
    pub status: String,
    pub attempts: i64,
    #[sqlx(try_from = "Time")]
    pub next_attempt_at: DateTime<Utc>,
    #[sqlx(try_from = "OptTime")]
    pub lease_until: Option<DateTime<Utc>>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    #[sqlx(try_from = "OptTime")]
    pub delivered_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "Time")]
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "Time")]
    pub updated_at: DateTime<Utc>,
}

/// A delivery with what its event says (the listing and the sender read both).
#[derive(Clone, Debug, FromRow)]
pub struct DeliveryWithEvent {
    #[sqlx(flatten)]
    pub delivery: DeliveryRow,
    pub event_type: String,
    pub payload: String,
}

macro_rules! columns {
    () => {
        "d.id, d.event_id, d.target, d.webhook_id, d.status, d.attempts, d.next_attempt_at, d.lease_until, \
         d.last_status_code, d.last_error, d.delivered_at, d.created_at, d.updated_at"
    };
}

/// A delivery to make.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    pub event_id: String,
    pub target: String,
    pub webhook_id: Option<i64>,
}

/// Rows per INSERT statement.
const CHUNK: usize = 200;

/// Makes deliveries, due at once; one that exists already is left as it is.
pub async fn insert_many(
    c: &mut AnyConnection,
    deliveries: &[NewDelivery],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for chunk in deliveries.chunks(CHUNK) {
        let values =
            crate::store::values_rows("(?, ?, ?, 'pending', 0, $1, $1, $1)", chunk.len(), 2);
        let sql = format!(
            "INSERT INTO webhook_deliveries (event_id, target, webhook_id, status, attempts, \
             next_attempt_at, created_at, updated_at) VALUES {values} \
             ON CONFLICT (event_id, target) DO NOTHING"
        );
        // Built from constants and numbered placeholders only: every value is bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ts(now));
        for d in chunk {
            q = q.bind(&d.event_id).bind(&d.target).bind(d.webhook_id);
        }
        q.execute(&mut *c).await?;
    }
    Ok(())
}

/// Pending deliveries due at `now` and not leased (or whose lease lapsed), oldest due first.
pub async fn due(
    c: &mut AnyConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
         AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_attempt_at, id LIMIT $2",
    )
    .bind(ts(now))
    .bind(limit)
    .fetch_all(c)
    .await
}

/// Takes up to `limit` due deliveries until `until`, counting an attempt
/// for each, in one statement; returns their ids. Of several servers taking
/// at once, each delivery goes to one: the condition is checked again on
/// the row itself once another server's lease of it has committed
/// (PostgreSQL), and SQLite has one writer.
pub async fn lease_due(
    c: &mut AnyConnection,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE webhook_deliveries SET lease_until = $1, attempts = attempts + 1, updated_at = $2 \
         WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $2 \
         AND (lease_until IS NULL OR lease_until < $2) ORDER BY next_attempt_at, id LIMIT $3) \
         AND status = 'pending' AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until < $2) \
         RETURNING id",
    )
    .bind(ts(until))
    .bind(ts(now))
    .bind(limit)
    .fetch_all(c)
    .await
}

/// A delivery with its event's type and body.
pub async fn get_with_event(
    c: &mut AnyConnection,
    id: i64,
) -> Result<Option<DeliveryWithEvent>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        ", e.type AS event_type, e.payload FROM webhook_deliveries d \
         JOIN webhook_events e ON e.id = d.event_id WHERE d.id = $1"
    );
    sqlx::query_as(sql).bind(id).fetch_optional(c).await
}

/// How an attempt ended.
pub enum Outcome<'a> {
    /// A 2xx answer.
    Delivered { status_code: i64 },
    /// Another try at `at`.
    Retry {
        status_code: Option<i64>,
        error: &'a str,
        at: DateTime<Utc>,
    },
    /// No more tries.
    Failed {
        status_code: Option<i64>,
        error: &'a str,
    },
}

/// Writes an attempt's outcome, if the lease taken (`lease`) is still the
/// delivery's; false when it is not (it lapsed and another server took it).
pub async fn finish(
    c: &mut AnyConnection,
    id: i64,
    lease: DateTime<Utc>,
    outcome: Outcome<'_>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let (status, code, error, next, delivered) = match outcome {
        Outcome::Delivered { status_code } => {
            ("delivered", Some(status_code), None, None, Some(ts(now)))
        }
        Outcome::Retry {
            status_code,
            error,
            at,
        } => ("pending", status_code, Some(error), Some(ts(at)), None),
        Outcome::Failed { status_code, error } => ("failed", status_code, Some(error), None, None),
    };
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, last_status_code = $2, last_error = $3, \
         next_attempt_at = COALESCE($4, next_attempt_at), delivered_at = $5, lease_until = NULL, \
         updated_at = $6 WHERE id = $7 AND status = 'pending' AND lease_until = $8",
    )
    .bind(status)
    .bind(code)
    .bind(error)
    .bind(next)
    .bind(delivered)
    .bind(ts(now))
    .bind(id)
    .bind(ts(lease))
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A page of a webhook's deliveries, newest first.
pub async fn of_webhook(
    c: &mut AnyConnection,
    webhook_id: i64,
    skip: i64,
    limit: i64,
) -> Result<Vec<DeliveryWithEvent>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        ", e.type AS event_type, e.payload FROM webhook_deliveries d \
         JOIN webhook_events e ON e.id = d.event_id WHERE d.webhook_id = $1 \
         ORDER BY d.id DESC LIMIT $2 OFFSET $3"
    );
    sqlx::query_as(sql)
        .bind(webhook_id)
        .bind(limit)
        .bind(skip)
        .fetch_all(c)
        .await
}

/// Deliveries not yet delivered nor failed, on every server.
pub async fn count_pending(c: &mut AnyConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'")
        .fetch_one(c)
        .await
}
