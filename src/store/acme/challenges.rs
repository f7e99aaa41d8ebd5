//! ACME challenges. A `processing` challenge waits for a validator: any
//! server takes it by a lease (so it is validated once) and tries again at
//! `next_attempt_at` within a bounded number of attempts.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, FromRow};

use crate::store::{OptTime, Time, ts};

#[derive(Clone, Debug, FromRow)]
pub struct ChallengeRow {
    pub id: i64,
    pub authorization_id: i64,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub token: String,
    /// `pending`, `processing`, `valid` or `invalid`.
    pub status: String,
    #[sqlx(try_from = "OptTime")]
    pub validated_at: Option<DateTime<Utc>>,
    /// A problem document (JSON) once invalid.
    pub error: Option<String>,
    pub attempts: i64,
    #[sqlx(try_from = "OptTime")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "Time")]
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "Time")]
    pub updated_at: DateTime<Utc>,
}

macro_rules! columns {
    () => {
        "id, authorization_id, type, token, status, validated_at, error, attempts, \
     next_attempt_at, created_at, updated_at"
    };
}

pub async fn insert(
    c: &mut AnyConnection,
    authorization_id: i64,
    kind: &str,
    token: &str,
    now: DateTime<Utc>,
) -> Result<ChallengeRow, sqlx::Error> {
    let sql = concat!(
        "INSERT INTO acme_challenges (authorization_id, type, token, status, created_at, updated_at) \
         VALUES ($1, $2, $3, 'pending', $4, $4) RETURNING ",
        columns!()
    );
    sqlx::query_as(sql)
        .bind(authorization_id)
        .bind(kind)
        .bind(token)
        .bind(ts(now))
        .fetch_one(c)
        .await
}

pub async fn get(c: &mut AnyConnection, id: i64) -> Result<Option<ChallengeRow>, sqlx::Error> {
    let sql = concat!("SELECT ", columns!(), " FROM acme_challenges WHERE id = $1");
    sqlx::query_as(sql).bind(id).fetch_optional(c).await
}

pub async fn of_authorization(
    c: &mut AnyConnection,
    authorization_id: i64,
) -> Result<Vec<ChallengeRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM acme_challenges WHERE authorization_id = $1 ORDER BY id"
    );
    sqlx::query_as(sql)
        .bind(authorization_id)
        .fetch_all(c)
        .await
}

/// A pending challenge starts processing, due at once; false if it was not pending.
pub async fn start(
    c: &mut AnyConnection,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE acme_challenges SET status = 'processing', next_attempt_at = $1, updated_at = $1 \
         WHERE id = $2 AND status = 'pending'",
    )
    .bind(ts(now))
    .bind(id)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Processing challenges due by `now` and not leased by a live validator.
pub async fn due(
    c: &mut AnyConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM acme_challenges WHERE status = 'processing' AND next_attempt_at <= $1 \
         AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_attempt_at LIMIT $2",
    )
    .bind(ts(now))
    .bind(limit)
    .fetch_all(c)
    .await
}

/// Takes a due challenge for one attempt until `lease_until`; false when
/// another validator holds it.
pub async fn lease(
    c: &mut AnyConnection,
    id: i64,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE acme_challenges SET lease_until = $1, attempts = attempts + 1 \
         WHERE id = $2 AND status = 'processing' AND (lease_until IS NULL OR lease_until < $3)",
    )
    .bind(ts(lease_until))
    .bind(id)
    .bind(ts(now))
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// An attempt failed and another is allowed: due again at `next_attempt_at`.
pub async fn retry_at(
    c: &mut AnyConnection,
    id: i64,
    next_attempt_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE acme_challenges SET next_attempt_at = $1, lease_until = NULL, updated_at = $2 \
         WHERE id = $3 AND status = 'processing'",
    )
    .bind(ts(next_attempt_at))
    .bind(ts(now))
    .bind(id)
    .execute(c)
    .await?;
    Ok(())
}

/// The end of a processing challenge: `valid`, or `invalid` with its problem.
pub async fn finish(
    c: &mut AnyConnection,
    id: i64,
    valid: bool,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE acme_challenges SET status = $1, error = $2, \
         validated_at = CASE WHEN $3 THEN $4 ELSE validated_at END, \
         next_attempt_at = NULL, lease_until = NULL, updated_at = $4 \
         WHERE id = $5 AND status = 'processing'",
    )
    .bind(if valid { "valid" } else { "invalid" })
    .bind(error)
    .bind(valid)
    .bind(ts(now))
    .bind(id)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}
