//! Refresh tokens, the access-token blocklist, and deployment-wide flags.

use sqlx::AnyConnection;

/// Stores a refresh token (its digest) in `family_id`: a fresh one at login, the
/// family of the token it replaces at a refresh.
pub async fn insert_refresh(
    c: &mut AnyConnection,
    user_id: i64,
    digest: &str,
    family_id: &str,
    expires_at: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (user_id, token_digest, family_id, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user_id)
    .bind(digest)
    .bind(family_id)
    .bind(expires_at)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// Consumes a live refresh token in one statement and returns its user and family:
/// of two concurrent uses exactly one gets a row back.
pub async fn consume_refresh(
    c: &mut AnyConnection,
    digest: &str,
    now: &str,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE refresh_tokens SET revoked_at = $1, rotated_at = $1 \
         WHERE token_digest = $2 AND revoked_at IS NULL AND expires_at > $1 \
         RETURNING user_id, family_id",
    )
    .bind(now)
    .bind(digest)
    .fetch_optional(c)
    .await
}

/// The user and family of a refresh token that was already used up by a refresh:
/// presenting it again is a replay.
pub async fn rotated_refresh(
    c: &mut AnyConnection,
    digest: &str,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT user_id, family_id FROM refresh_tokens \
         WHERE token_digest = $1 AND rotated_at IS NOT NULL",
    )
    .bind(digest)
    .fetch_optional(c)
    .await
}

/// Revokes every live refresh token of a family; returns how many were live.
pub async fn revoke_family(
    c: &mut AnyConnection,
    family_id: &str,
    now: &str,
) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(family_id)
    .execute(c)
    .await?;
    Ok(r.rows_affected())
}

/// The owner of a refresh token, live or not.
pub async fn refresh_owner(
    c: &mut AnyConnection,
    digest: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT user_id FROM refresh_tokens WHERE token_digest = $1")
        .bind(digest)
        .fetch_optional(c)
        .await
}

pub async fn revoke_refresh(
    c: &mut AnyConnection,
    digest: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE token_digest = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(digest)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn revoke_all_refresh(
    c: &mut AnyConnection,
    user_id: i64,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn blocklist(
    c: &mut AnyConnection,
    jti: &str,
    expires_at: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO token_blocklist (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
        .bind(jti)
        .bind(expires_at)
        .execute(c)
        .await?;
    Ok(())
}

/// Deletes expired blocklist entries and refresh tokens; returns rows removed.
pub async fn purge_expired(c: &mut AnyConnection, now: &str) -> Result<u64, sqlx::Error> {
    let a = sqlx::query("DELETE FROM token_blocklist WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *c)
        .await?;
    let b = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *c)
        .await?;
    Ok(a.rows_affected() + b.rows_affected())
}

/// Records a one-time fact; false when it was already recorded (by anyone).
pub async fn claim_flag(
    c: &mut AnyConnection,
    key: &str,
    value: &str,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO app_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
    )
    .bind(key)
    .bind(value)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Forgets a recorded fact (no-op when absent).
pub async fn clear_flag(c: &mut AnyConnection, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM app_state WHERE key = $1")
        .bind(key)
        .execute(c)
        .await?;
    Ok(())
}

/// True when the fact is recorded.
pub async fn has_flag(c: &mut AnyConnection, key: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT value FROM app_state WHERE key = $1")
        .bind(key)
        .fetch_optional(c)
        .await?;
    Ok(row.is_some())
}
