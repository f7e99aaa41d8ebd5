//! External account binding keys of a directory (RFC 8555 §7.3.4): the HMAC
//! key is stored sealed like private keys; a key binds one account, once.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, FromRow};

use crate::store::{OptTime, Time, ts};

/// A stored EAB key. `hmac_key` is as stored (sealed when a key is set).
#[derive(Clone, Debug, FromRow)]
pub struct EabKeyRow {
    pub id: i64,
    pub kid: String,
    pub directory_id: i64,
    pub service_account_id: Option<i64>,
    pub hmac_key: String,
    pub account_id: Option<i64>,
    #[sqlx(try_from = "OptTime")]
    pub bound_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "OptTime")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "Time")]
    pub created_at: DateTime<Utc>,
}

macro_rules! columns {
    () => {
        "id, kid, directory_id, service_account_id, hmac_key, account_id, \
     bound_at, revoked_at, created_at"
    };
}

pub async fn insert(
    c: &mut AnyConnection,
    kid: &str,
    directory_id: i64,
    service_account_id: Option<i64>,
    sealed_hmac_key: &str,
    now: DateTime<Utc>,
) -> Result<EabKeyRow, sqlx::Error> {
    let sql = concat!(
        "INSERT INTO acme_eab_keys (kid, directory_id, service_account_id, hmac_key, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING ",
        columns!()
    );
    sqlx::query_as(sql)
        .bind(kid)
        .bind(directory_id)
        .bind(service_account_id)
        .bind(sealed_hmac_key)
        .bind(ts(now))
        .fetch_one(c)
        .await
}

/// The key `kid` of directory `directory_id`.
pub async fn get(
    c: &mut AnyConnection,
    directory_id: i64,
    kid: &str,
) -> Result<Option<EabKeyRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM acme_eab_keys WHERE directory_id = $1 AND kid = $2"
    );
    sqlx::query_as(sql)
        .bind(directory_id)
        .bind(kid)
        .fetch_optional(c)
        .await
}

pub async fn list(
    c: &mut AnyConnection,
    directory_id: i64,
    skip: i64,
    limit: i64,
) -> Result<Vec<EabKeyRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM acme_eab_keys WHERE directory_id = $1 ORDER BY id LIMIT $2 OFFSET $3"
    );
    sqlx::query_as(sql)
        .bind(directory_id)
        .bind(limit)
        .bind(skip)
        .fetch_all(c)
        .await
}

/// Binds an unused, unrevoked key to `account_id`; false when it was already
/// bound or revoked (so two registrations racing for one key bind one account).
pub async fn bind(
    c: &mut AnyConnection,
    id: i64,
    account_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE acme_eab_keys SET account_id = $1, bound_at = $2 \
         WHERE id = $3 AND account_id IS NULL AND revoked_at IS NULL",
    )
    .bind(account_id)
    .bind(ts(now))
    .bind(id)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes a key; the account it bound (if any) is the caller's to deactivate.
pub async fn revoke(
    c: &mut AnyConnection,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<EabKeyRow>, sqlx::Error> {
    let sql = concat!(
        "UPDATE acme_eab_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING ",
        columns!()
    );
    sqlx::query_as(sql)
        .bind(ts(now))
        .bind(id)
        .fetch_optional(c)
        .await
}

/// Revokes a key not yet revoked; None when it was (or is missing), so that
/// only the first revocation is acted on and audited.
pub async fn revoke_active(
    c: &mut AnyConnection,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<EabKeyRow>, sqlx::Error> {
    let sql = concat!(
        "UPDATE acme_eab_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING ",
        columns!()
    );
    sqlx::query_as(sql)
        .bind(ts(now))
        .bind(id)
        .fetch_optional(c)
        .await
}

/// Deactivates the ACME account a revoked key bound (RFC 8555 §7.1.6 status).
pub async fn deactivate_account(
    c: &mut AnyConnection,
    account_id: i64,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE acme_accounts SET status = 'deactivated', updated_at = $2 WHERE id = $1",
    )
    .bind(account_id)
    .bind(ts(now))
    .execute(c)
    .await?
    .rows_affected())
}

/// Every stored HMAC key, for `rotate-key` and the start's sealing: (id, stored).
pub async fn all_hmac_keys(c: &mut AnyConnection) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, hmac_key FROM acme_eab_keys ORDER BY id")
        .fetch_all(c)
        .await
}

pub async fn set_hmac_key(c: &mut AnyConnection, id: i64, stored: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE acme_eab_keys SET hmac_key = $1 WHERE id = $2")
        .bind(stored)
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}
