//! ACME directories: one CA issuing as one service account, under `/acme/{name}/`.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, FromRow};

use crate::store::{Flag, JsonList, Time, json_list, ts};

/// A stored directory.
#[derive(Clone, Debug, FromRow)]
pub struct DirectoryRow {
    pub id: i64,
    pub name: String,
    pub ca_id: i64,
    pub organization_id: Option<i64>,
    pub service_account_id: i64,
    #[sqlx(try_from = "Flag")]
    pub require_eab: bool,
    #[sqlx(try_from = "JsonList<String>")]
    pub challenge_types: Vec<String>,
    pub certificate_type: String,
    #[sqlx(try_from = "Time")]
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "Time")]
    pub updated_at: DateTime<Utc>,
}

/// What a directory is made of, for insert and update.
pub struct DirectoryFields<'a> {
    pub name: &'a str,
    pub ca_id: i64,
    pub organization_id: Option<i64>,
    pub service_account_id: i64,
    pub require_eab: bool,
    pub challenge_types: &'a [String],
    pub certificate_type: &'a str,
}

macro_rules! columns {
    () => {
        "id, name, ca_id, organization_id, service_account_id, require_eab, \
     challenge_types, certificate_type, created_at, updated_at"
    };
}

pub async fn insert(
    c: &mut AnyConnection,
    f: &DirectoryFields<'_>,
    now: DateTime<Utc>,
) -> Result<DirectoryRow, sqlx::Error> {
    let sql = concat!(
        "INSERT INTO acme_directories (name, ca_id, organization_id, service_account_id, require_eab, \
         challenge_types, certificate_type, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING ",
        columns!()
    );
    sqlx::query_as(sql)
        .bind(f.name)
        .bind(f.ca_id)
        .bind(f.organization_id)
        .bind(f.service_account_id)
        .bind(f.require_eab)
        .bind(json_list(f.challenge_types))
        .bind(f.certificate_type)
        .bind(ts(now))
        .fetch_one(c)
        .await
}

pub async fn update(
    c: &mut AnyConnection,
    id: i64,
    f: &DirectoryFields<'_>,
    now: DateTime<Utc>,
) -> Result<Option<DirectoryRow>, sqlx::Error> {
    let sql = concat!(
        "UPDATE acme_directories SET name = $1, ca_id = $2, organization_id = $3, service_account_id = $4, \
         require_eab = $5, challenge_types = $6, certificate_type = $7, updated_at = $8 \
         WHERE id = $9 RETURNING ",
        columns!()
    );
    sqlx::query_as(sql)
        .bind(f.name)
        .bind(f.ca_id)
        .bind(f.organization_id)
        .bind(f.service_account_id)
        .bind(f.require_eab)
        .bind(json_list(f.challenge_types))
        .bind(f.certificate_type)
        .bind(ts(now))
        .bind(id)
        .fetch_optional(c)
        .await
}

pub async fn get(c: &mut AnyConnection, id: i64) -> Result<Option<DirectoryRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM acme_directories WHERE id = $1"
    );
    sqlx::query_as(sql).bind(id).fetch_optional(c).await
}

pub async fn by_name(
    c: &mut AnyConnection,
    name: &str,
) -> Result<Option<DirectoryRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM acme_directories WHERE name = $1"
    );
    sqlx::query_as(sql).bind(name).fetch_optional(c).await
}

/// One page of directories: all of them (`org` is `None`) or one organization's.
pub async fn list(
    c: &mut AnyConnection,
    org: Option<i64>,
    skip: i64,
    limit: i64,
) -> Result<Vec<DirectoryRow>, sqlx::Error> {
    match org {
        None => {
            let sql = concat!(
                "SELECT ",
                columns!(),
                " FROM acme_directories ORDER BY id LIMIT $1 OFFSET $2"
            );
            sqlx::query_as(sql)
                .bind(limit)
                .bind(skip)
                .fetch_all(c)
                .await
        }
        Some(org) => {
            let sql = concat!(
                "SELECT ",
                columns!(),
                " FROM acme_directories WHERE organization_id = $1 \
                 ORDER BY id LIMIT $2 OFFSET $3"
            );
            sqlx::query_as(sql)
                .bind(org)
                .bind(limit)
                .bind(skip)
                .fetch_all(c)
                .await
        }
    }
}

pub async fn delete(c: &mut AnyConnection, id: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM acme_directories WHERE id = $1")
        .bind(id)
        .execute(c)
        .await?
        .rows_affected())
}
