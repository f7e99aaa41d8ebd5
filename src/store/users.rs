//! Users table.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, FromRow};

use super::{Flag, OptTime, Time, bind_capabilities, ts};
use crate::capabilities::Capabilities;

/// A stored user.
#[derive(Clone, Debug, FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub hashed_password: String,
    pub role: String,
    #[sqlx(try_from = "Flag")]
    pub is_active: bool,
    pub organization_id: Option<i64>,
    #[sqlx(flatten)]
    pub caps: Capabilities,
    #[sqlx(try_from = "OptTime")]
    pub tokens_invalidated_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "Time")]
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "Time")]
    pub updated_at: DateTime<Utc>,
}

macro_rules! user_columns {
    () => {
        concat!(
            "id, username, email, hashed_password, role, is_active, organization_id, ",
            capability_columns!(),
            ", tokens_invalidated_at, created_at, updated_at"
        )
    };
}

/// Fields of a new user.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub hashed_password: &'a str,
    pub role: &'a str,
    pub organization_id: Option<i64>,
    pub caps: Capabilities,
}

pub async fn insert(
    c: &mut AnyConnection,
    u: &NewUser<'_>,
    now: &str,
) -> Result<User, sqlx::Error> {
    let sql = concat!(
        "INSERT INTO users (username, email, hashed_password, role, is_active, organization_id, ",
        capability_columns!(),
        ", created_at, updated_at) VALUES ($1, $2, $3, $4, TRUE, $5, $6, $7, $8, $9, $10, $11, $11) \
         RETURNING ",
        user_columns!(),
        ""
    );
    let q = sqlx::query_as(sql)
        .bind(u.username)
        .bind(u.email)
        .bind(u.hashed_password)
        .bind(u.role)
        .bind(u.organization_id);
    bind_capabilities(q, u.caps).bind(now).fetch_one(c).await
}

pub async fn get(c: &mut AnyConnection, id: i64) -> Result<Option<User>, sqlx::Error> {
    let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
    sqlx::query_as(sql).bind(id).fetch_optional(c).await
}

/// The user an access token names, unless the token (`jti`) is blocklisted:
/// one query for what every authenticated request checks.
pub async fn get_for_token(
    c: &mut AnyConnection,
    id: i64,
    jti: &str,
) -> Result<Option<User>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM token_blocklist WHERE jti = $2)"
    );
    sqlx::query_as(sql)
        .bind(id)
        .bind(jti)
        .fetch_optional(c)
        .await
}

pub async fn get_by_username(
    c: &mut AnyConnection,
    username: &str,
) -> Result<Option<User>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE username = $1"
    );
    sqlx::query_as(sql).bind(username).fetch_optional(c).await
}

pub async fn exists_username(c: &mut AnyConnection, username: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(c)
        .await?;
    Ok(n > 0)
}

pub async fn exists_email(
    c: &mut AnyConnection,
    email: &str,
    except_id: i64,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email = $1 AND id <> $2")
        .bind(email)
        .bind(except_id)
        .fetch_one(c)
        .await?;
    Ok(n > 0)
}

pub async fn list(c: &mut AnyConnection, skip: i64, limit: i64) -> Result<Vec<User>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        user_columns!(),
        " FROM users ORDER BY id LIMIT $1 OFFSET $2"
    );
    sqlx::query_as(sql)
        .bind(limit)
        .bind(skip)
        .fetch_all(c)
        .await
}

pub async fn list_by_org(
    c: &mut AnyConnection,
    org_id: i64,
    skip: i64,
    limit: i64,
) -> Result<Vec<User>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE organization_id = $1 ORDER BY id LIMIT $2 OFFSET $3"
    );
    sqlx::query_as(sql)
        .bind(org_id)
        .bind(limit)
        .bind(skip)
        .fetch_all(c)
        .await
}

pub async fn count_in_org(c: &mut AnyConnection, org_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE organization_id = $1")
        .bind(org_id)
        .fetch_one(c)
        .await
}

/// Writes every mutable field of `u` (the caller has applied the change).
pub async fn update(c: &mut AnyConnection, u: &User) -> Result<User, sqlx::Error> {
    let sql = concat!(
        "UPDATE users SET email = $1, hashed_password = $2, role = $3, is_active = $4, organization_id = $5, \
         can_create_ca = $6, can_create_cert = $7, can_revoke_cert = $8, can_export_private_key = $9, \
         can_delete_ca = $10, tokens_invalidated_at = $11, updated_at = $12 WHERE id = $13 RETURNING ",
        user_columns!(),
        ""
    );
    let q = sqlx::query_as(sql)
        .bind(&u.email)
        .bind(&u.hashed_password)
        .bind(&u.role)
        .bind(u.is_active)
        .bind(u.organization_id);
    bind_capabilities(q, u.caps)
        .bind(u.tokens_invalidated_at.map(ts))
        .bind(ts(u.updated_at))
        .bind(u.id)
        .fetch_one(c)
        .await
}

pub async fn set_tokens_invalidated_at(
    c: &mut AnyConnection,
    id: i64,
    at: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET tokens_invalidated_at = $1 WHERE id = $2")
        .bind(at)
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

pub async fn delete(c: &mut AnyConnection, id: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(c)
        .await?
        .rows_affected())
}
