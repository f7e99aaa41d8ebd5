//! The outbox of webhook events. An event is inserted in the transaction of
//! the change it reports, only when some receiver would take it, and at most
//! once per fact (`dedupe_key`, unique): several servers, or one started
//! again, cannot record a fact twice. The worker later makes its deliveries
//! and marks it dispatched.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, FromRow};

use crate::store::{Time, ts};

/// An event to record. `payload` is the whole JSON body sent to receivers.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub id: String,
    pub event_type: &'static str,
    pub organization_id: Option<i64>,
    pub payload: String,
    pub dedupe_key: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, FromRow)]
pub struct EventRow {
    pub id: String,
    #[sqlx(rename = "type")]
    pub event_type: String,
    pub organization_id: Option<i64>,
    pub payload: String,
    #[sqlx(try_from = "Time")]
    pub created_at: DateTime<Utc>,
}

/// Rows per INSERT statement (6 values each: far below both databases' limits).
const CHUNK: usize = 200;

/// Records the events some receiver takes: every one when `everyone` (the
/// deployment has `WEBHOOK_URLS`), otherwise those of an organization with a
/// webhook for their type. The check runs inside the caller's transaction, so
/// it sees the webhooks as they are when the change commits, on every server,
/// with no cache to keep coherent. A fact already recorded is skipped.
/// Returns how many events were written.
pub async fn insert_for_receivers(
    c: &mut AnyConnection,
    events: &[NewEvent],
    everyone: bool,
) -> Result<u64, sqlx::Error> {
    let mut written = 0;
    for chunk in events.chunks(CHUNK) {
        let values = crate::store::values_rows("(?, ?, ?, ?, ?, ?)", chunk.len(), 1);
        // The VALUES list is named `v`, its columns column1..column6 on both
        // databases. SQLite needs a WHERE on an INSERT ... SELECT with ON
        // CONFLICT (it would read ON as a join's otherwise).
        let filter = if everyone {
            "1 = 1"
        } else {
            "EXISTS (SELECT 1 FROM webhooks w WHERE w.organization_id = v.column3 \
             AND w.events LIKE '%\"' || v.column2 || '\"%')"
        };
        let sql = format!(
            "INSERT INTO webhook_events (id, type, organization_id, payload, dedupe_key, created_at) \
             SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6 \
             FROM (VALUES {values}) AS v WHERE {filter} ON CONFLICT (dedupe_key) DO NOTHING"
        );
        // Built from constants and numbered placeholders only: every value is bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for e in chunk {
            q = q
                .bind(&e.id)
                .bind(e.event_type)
                .bind(e.organization_id)
                .bind(&e.payload)
                .bind(&e.dedupe_key)
                .bind(ts(e.created_at));
        }
        written += q.execute(&mut *c).await?.rows_affected();
    }
    Ok(written)
}

/// The oldest events whose deliveries are not made yet.
pub async fn undispatched(c: &mut AnyConnection, limit: i64) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, type, organization_id, payload, created_at FROM webhook_events \
         WHERE dispatched_at IS NULL ORDER BY created_at, id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(c)
    .await
}

/// Marks events dispatched: their deliveries exist.
pub async fn mark_dispatched(
    c: &mut AnyConnection,
    ids: &[String],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for chunk in ids.chunks(CHUNK) {
        let placeholders: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
        // Only numbered placeholders are spliced in; the values are bound.
        let sql = format!(
            "UPDATE webhook_events SET dispatched_at = $1 WHERE dispatched_at IS NULL AND id IN ({})",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ts(now));
        for id in chunk {
            q = q.bind(id);
        }
        q.execute(&mut *c).await?;
    }
    Ok(())
}

/// Deletes up to `limit` events created before `before` whose deliveries are
/// all finished (their delivery rows go with them); returns how many.
pub async fn prune(
    c: &mut AnyConnection,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM webhook_events WHERE id IN (SELECT e.id FROM webhook_events e \
         WHERE e.created_at < $1 AND e.dispatched_at IS NOT NULL AND NOT EXISTS \
         (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.status = 'pending') \
         ORDER BY e.created_at LIMIT $2)",
    )
    .bind(ts(before))
    .bind(limit)
    .execute(c)
    .await?;
    Ok(done.rows_affected())
}
