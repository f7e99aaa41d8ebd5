//! Spent ACME nonces. A nonce is checked by its MAC; it is spent by inserting
//! it here, which succeeds once across every server sharing the database.

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

use crate::store::ts;

/// Spends `nonce`: true the first time, false if it was spent before.
pub async fn spend(
    c: &mut AnyConnection,
    nonce: &str,
    expires_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO acme_used_nonces (nonce, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(nonce)
    .bind(ts(expires_at))
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets nonces that have expired anyway (their MAC check refuses them).
pub async fn prune(c: &mut AnyConnection, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM acme_used_nonces WHERE expires_at < $1")
            .bind(ts(now))
            .execute(c)
            .await?
            .rows_affected(),
    )
}
