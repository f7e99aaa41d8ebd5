//! ACME accounts: a public key (JWK, and its RFC 7638 thumbprint, unique per
//! directory), a status and contact URLs.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, FromRow};

use crate::store::{JsonList, Time, json_list, ts};

#[derive(Clone, Debug, FromRow)]
pub struct AccountRow {
    pub id: i64,
    pub directory_id: i64,
    pub thumbprint: String,
    /// The account key as canonical JSON.
    pub jwk: String,
    /// `valid`, `deactivated` or `revoked`.
    pub status: String,
    #[sqlx(try_from = "JsonList<String>")]
    pub contact: Vec<String>,
    pub eab_kid: Option<String>,
    /// The service account it issues as (from its EAB key); `None`: the directory's.
    pub service_account_id: Option<i64>,
    #[sqlx(try_from = "Time")]
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "Time")]
    pub updated_at: DateTime<Utc>,
}

macro_rules! columns {
    () => {
        "id, directory_id, thumbprint, jwk, status, contact, eab_kid, \
     service_account_id, created_at, updated_at"
    };
}

pub struct NewAccount<'a> {
    pub directory_id: i64,
    pub thumbprint: &'a str,
    pub jwk: &'a str,
    pub contact: &'a [String],
    pub eab_kid: Option<&'a str>,
    pub service_account_id: Option<i64>,
}

pub async fn insert(
    c: &mut AnyConnection,
    a: &NewAccount<'_>,
    now: DateTime<Utc>,
) -> Result<AccountRow, sqlx::Error> {
    let sql = concat!(
        "INSERT INTO acme_accounts (directory_id, thumbprint, jwk, status, contact, eab_kid, \
         service_account_id, created_at, updated_at) \
         VALUES ($1, $2, $3, 'valid', $4, $5, $6, $7, $7) RETURNING ",
        columns!()
    );
    sqlx::query_as(sql)
        .bind(a.directory_id)
        .bind(a.thumbprint)
        .bind(a.jwk)
        .bind(json_list(a.contact))
        .bind(a.eab_kid)
        .bind(a.service_account_id)
        .bind(ts(now))
        .fetch_one(c)
        .await
}

pub async fn get(c: &mut AnyConnection, id: i64) -> Result<Option<AccountRow>, sqlx::Error> {
    let sql = concat!("SELECT ", columns!(), " FROM acme_accounts WHERE id = $1");
    sqlx::query_as(sql).bind(id).fetch_optional(c).await
}

pub async fn by_thumbprint(
    c: &mut AnyConnection,
    directory_id: i64,
    thumbprint: &str,
) -> Result<Option<AccountRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM acme_accounts WHERE directory_id = $1 AND thumbprint = $2"
    );
    sqlx::query_as(sql)
        .bind(directory_id)
        .bind(thumbprint)
        .fetch_optional(c)
        .await
}

/// Sets contact and status; only a `valid` account changes.
pub async fn update(
    c: &mut AnyConnection,
    id: i64,
    contact: &[String],
    status: &str,
    now: DateTime<Utc>,
) -> Result<Option<AccountRow>, sqlx::Error> {
    let sql = concat!(
        "UPDATE acme_accounts SET contact = $1, status = $2, updated_at = $3 \
         WHERE id = $4 AND status = 'valid' RETURNING ",
        columns!()
    );
    sqlx::query_as(sql)
        .bind(json_list(contact))
        .bind(status)
        .bind(ts(now))
        .bind(id)
        .fetch_optional(c)
        .await
}

/// Replaces the key of a valid account (key rollover); a key in use by
/// another account of the directory is a unique violation.
pub async fn change_key(
    c: &mut AnyConnection,
    id: i64,
    thumbprint: &str,
    jwk: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE acme_accounts SET thumbprint = $1, jwk = $2, updated_at = $3 \
         WHERE id = $4 AND status = 'valid'",
    )
    .bind(thumbprint)
    .bind(jwk)
    .bind(ts(now))
    .bind(id)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}
