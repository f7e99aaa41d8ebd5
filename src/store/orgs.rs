//! Organizations table.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, FromRow};

use super::Time;

/// A stored organization.
#[derive(Clone, Debug, FromRow)]
pub struct Organization {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    #[sqlx(try_from = "Time")]
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "Time")]
    pub updated_at: DateTime<Utc>,
}

macro_rules! org_columns {
    () => {
        "id, name, description, created_at, updated_at"
    };
}

pub async fn insert(
    c: &mut AnyConnection,
    name: &str,
    description: Option<&str>,
    now: &str,
) -> Result<Organization, sqlx::Error> {
    let sql = concat!(
        "INSERT INTO organizations (name, description, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING ",
        org_columns!(),
        ""
    );
    sqlx::query_as(sql)
        .bind(name)
        .bind(description)
        .bind(now)
        .fetch_one(c)
        .await
}

pub async fn get(c: &mut AnyConnection, id: i64) -> Result<Option<Organization>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        org_columns!(),
        " FROM organizations WHERE id = $1"
    );
    sqlx::query_as(sql).bind(id).fetch_optional(c).await
}

pub async fn name_taken(
    c: &mut AnyConnection,
    name: &str,
    except_id: i64,
) -> Result<bool, sqlx::Error> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM organizations WHERE name = $1 AND id <> $2")
            .bind(name)
            .bind(except_id)
            .fetch_one(c)
            .await?;
    Ok(n > 0)
}

pub async fn list(
    c: &mut AnyConnection,
    skip: i64,
    limit: i64,
) -> Result<Vec<Organization>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        org_columns!(),
        " FROM organizations ORDER BY id LIMIT $1 OFFSET $2"
    );
    sqlx::query_as(sql)
        .bind(limit)
        .bind(skip)
        .fetch_all(c)
        .await
}

pub async fn update(
    c: &mut AnyConnection,
    id: i64,
    name: &str,
    description: Option<&str>,
    now: &str,
) -> Result<Organization, sqlx::Error> {
    let sql = concat!(
        "UPDATE organizations SET name = $1, description = $2, updated_at = $3 WHERE id = $4 RETURNING ",
        org_columns!(),
        ""
    );
    sqlx::query_as(sql)
        .bind(name)
        .bind(description)
        .bind(now)
        .bind(id)
        .fetch_one(c)
        .await
}

pub async fn delete(c: &mut AnyConnection, id: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM organizations WHERE id = $1")
        .bind(id)
        .execute(c)
        .await?
        .rows_affected())
}
