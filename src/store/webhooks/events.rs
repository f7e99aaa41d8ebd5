//! The outbox of webhook events. An event is inserted in the transaction of
//! the change it reports (only when some receiver takes it: the caller asks
//! `endpoints::organizations_taking` first), and at most once per fact
//! (`dedupe_key`, unique): several servers, or one started again, cannot
//! record a fact twice. The worker later makes its deliveries and marks it
//! dispatched.

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

/// Records events, in the caller's transaction; a fact already recorded
/// (its `dedupe_key`) is skipped. Returns how many were written.
pub async fn insert(c: &mut AnyConnection, events: &[NewEvent]) -> Result<u64, sqlx::Error> {
    let mut written = 0;
    for chunk in events.chunks(CHUNK) {
        let values = crate::store::values_rows("(?, ?, ?, ?, ?, ?)", chunk.len(), 1);
        let sql = format!(
            "INSERT INTO webhook_events (id, type, organization_id, payload, dedupe_key, created_at) \
             VALUES {values} ON CONFLICT (dedupe_key) DO NOTHING"
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
