//! Service accounts, their tokens and issuance policies.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, FromRow};

use super::{Flag, JsonList, OptTime, Time, bind_capabilities, json_list, ts};
use crate::capabilities::Capabilities;

/// A stored service account.
#[derive(Clone, Debug, FromRow)]
pub struct ServiceAccount {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub organization_id: Option<i64>,
    #[sqlx(flatten)]
    pub caps: Capabilities,
    #[sqlx(try_from = "OptTime")]
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_by_user_id: Option<i64>,
    #[sqlx(try_from = "Time")]
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "Time")]
    pub updated_at: DateTime<Utc>,
}

macro_rules! sa_columns {
    () => {
        concat!(
            "id, name, description, organization_id, ",
            capability_columns!(),
            ", disabled_at, created_by_user_id, created_at, updated_at"
        )
    };
}

pub async fn insert(
    c: &mut AnyConnection,
    name: &str,
    description: Option<&str>,
    org: Option<i64>,
    caps: Capabilities,
    created_by: Option<i64>,
    now: &str,
) -> Result<ServiceAccount, sqlx::Error> {
    let sql = concat!(
        "INSERT INTO service_accounts (name, description, organization_id, ",
        capability_columns!(),
        ", created_by_user_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING ",
        sa_columns!()
    );
    let q = sqlx::query_as(sql).bind(name).bind(description).bind(org);
    bind_capabilities(q, caps)
        .bind(created_by)
        .bind(now)
        .fetch_one(c)
        .await
}

pub async fn get(c: &mut AnyConnection, id: i64) -> Result<Option<ServiceAccount>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        sa_columns!(),
        " FROM service_accounts WHERE id = $1"
    );
    sqlx::query_as(sql).bind(id).fetch_optional(c).await
}

pub async fn list(
    c: &mut AnyConnection,
    org: Option<i64>,
    all: bool,
    skip: i64,
    limit: i64,
) -> Result<Vec<ServiceAccount>, sqlx::Error> {
    if all {
        let sql = concat!(
            "SELECT ",
            sa_columns!(),
            " FROM service_accounts ORDER BY name, id LIMIT $1 OFFSET $2"
        );
        return sqlx::query_as(sql)
            .bind(limit)
            .bind(skip)
            .fetch_all(c)
            .await;
    }
    let sql = concat!(
        "SELECT ",
        sa_columns!(),
        " FROM service_accounts WHERE organization_id = $1 ORDER BY name, id LIMIT $2 OFFSET $3"
    );
    sqlx::query_as(sql)
        .bind(org)
        .bind(limit)
        .bind(skip)
        .fetch_all(c)
        .await
}

pub async fn name_taken(
    c: &mut AnyConnection,
    org: Option<i64>,
    name: &str,
    except_id: i64,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM service_accounts WHERE COALESCE(organization_id, 0) = COALESCE($1, 0) AND name = $2 AND id <> $3",
    )
    .bind(org)
    .bind(name)
    .bind(except_id)
    .fetch_one(c)
    .await?;
    Ok(n > 0)
}

pub async fn update(
    c: &mut AnyConnection,
    a: &ServiceAccount,
) -> Result<ServiceAccount, sqlx::Error> {
    let sql = concat!(
        "UPDATE service_accounts SET name = $1, description = $2, can_create_ca = $3, can_create_cert = $4, \
         can_revoke_cert = $5, can_export_private_key = $6, can_delete_ca = $7, disabled_at = $8, updated_at = $9 \
         WHERE id = $10 RETURNING ",
        sa_columns!()
    );
    let q = sqlx::query_as(sql).bind(&a.name).bind(&a.description);
    bind_capabilities(q, a.caps)
        .bind(a.disabled_at.map(ts))
        .bind(ts(a.updated_at))
        .bind(a.id)
        .fetch_one(c)
        .await
}

pub async fn delete(c: &mut AnyConnection, id: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM service_accounts WHERE id = $1")
        .bind(id)
        .execute(c)
        .await?
        .rows_affected())
}

#[derive(Clone, Debug, FromRow)]
pub struct TokenRow {
    pub id: i64,
    pub service_account_id: i64,
    pub public_id: String,
    pub secret_digest: String,
    pub name: Option<String>,
    #[sqlx(try_from = "OptTime")]
    pub expires_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "OptTime")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "OptTime")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "Time")]
    pub created_at: DateTime<Utc>,
}

macro_rules! token_columns {
    () => {
        "id, service_account_id, public_id, secret_digest, name, expires_at, revoked_at, last_used_at, created_at"
    };
}

pub async fn insert_token(
    c: &mut AnyConnection,
    account: i64,
    public_id: &str,
    digest: &str,
    name: Option<&str>,
    expires_at: Option<&str>,
    now: &str,
) -> Result<TokenRow, sqlx::Error> {
    let sql = concat!(
        "INSERT INTO service_account_tokens (service_account_id, public_id, secret_digest, name, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
        token_columns!()
    );
    sqlx::query_as(sql)
        .bind(account)
        .bind(public_id)
        .bind(digest)
        .bind(name)
        .bind(expires_at)
        .bind(now)
        .fetch_one(c)
        .await
}

pub async fn token_by_public_id(
    c: &mut AnyConnection,
    public_id: &str,
) -> Result<Option<TokenRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        token_columns!(),
        " FROM service_account_tokens WHERE public_id = $1"
    );
    sqlx::query_as(sql).bind(public_id).fetch_optional(c).await
}

pub async fn tokens(c: &mut AnyConnection, account: i64) -> Result<Vec<TokenRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        token_columns!(),
        " FROM service_account_tokens WHERE service_account_id = $1 ORDER BY id"
    );
    sqlx::query_as(sql).bind(account).fetch_all(c).await
}

/// Revokes a token of an account; true when it existed and was live.
pub async fn revoke_token(
    c: &mut AnyConnection,
    account: i64,
    token: i64,
    now: &str,
) -> Result<Option<bool>, sqlx::Error> {
    let exists: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM service_account_tokens WHERE id = $1 AND service_account_id = $2",
    )
    .bind(token)
    .bind(account)
    .fetch_one(&mut *c)
    .await?;
    if exists == 0 {
        return Ok(None);
    }
    let r = sqlx::query(
        "UPDATE service_account_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(token)
    .execute(c)
    .await?;
    Ok(Some(r.rows_affected() == 1))
}

/// Records use, at most once a minute per token (keeps reads from becoming writes).
pub async fn touch_token(
    c: &mut AnyConnection,
    token: i64,
    now: &str,
    stale_before: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE service_account_tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(now)
    .bind(token)
    .bind(stale_before)
    .execute(c)
    .await?;
    Ok(())
}

/// A stored policy.
#[derive(Clone, Debug, FromRow)]
pub struct PolicyRow {
    pub id: i64,
    pub service_account_id: i64,
    #[sqlx(flatten)]
    pub values: PolicyValues,
    #[sqlx(try_from = "Time")]
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "Time")]
    pub updated_at: DateTime<Utc>,
}

/// A policy's constraints (its lists are JSON text in the database).
#[derive(Clone, Debug, Default, FromRow)]
pub struct PolicyValues {
    #[sqlx(try_from = "JsonList<String>")]
    pub cn_patterns: Vec<String>,
    #[sqlx(try_from = "JsonList<String>")]
    pub san_dns_patterns: Vec<String>,
    #[sqlx(try_from = "JsonList<String>")]
    pub san_ip_cidrs: Vec<String>,
    #[sqlx(try_from = "JsonList<String>")]
    pub san_email_domains: Vec<String>,
    #[sqlx(try_from = "JsonList<i64>")]
    pub allowed_ca_ids: Vec<i64>,
    #[sqlx(try_from = "JsonList<String>")]
    pub allowed_certificate_types: Vec<String>,
    pub max_validity_days: Option<i64>,
    #[sqlx(try_from = "Flag")]
    pub allow_wildcards: bool,
}

macro_rules! policy_columns {
    () => {
        "id, service_account_id, cn_patterns, san_dns_patterns, san_ip_cidrs, san_email_domains, \
         allowed_ca_ids, allowed_certificate_types, max_validity_days, allow_wildcards, created_at, updated_at"
    };
}

pub async fn policy(c: &mut AnyConnection, account: i64) -> Result<Option<PolicyRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        policy_columns!(),
        " FROM service_account_policies WHERE service_account_id = $1"
    );
    sqlx::query_as(sql).bind(account).fetch_optional(c).await
}

/// Creates the account's policy or replaces its constraints, keeping its id and
/// creation time.
pub async fn put_policy(
    c: &mut AnyConnection,
    account: i64,
    p: &PolicyValues,
    now: &str,
) -> Result<PolicyRow, sqlx::Error> {
    let sql = concat!(
        "INSERT INTO service_account_policies (service_account_id, cn_patterns, san_dns_patterns, san_ip_cidrs, \
         san_email_domains, allowed_ca_ids, allowed_certificate_types, max_validity_days, allow_wildcards, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
         ON CONFLICT (service_account_id) DO UPDATE SET cn_patterns = excluded.cn_patterns, \
         san_dns_patterns = excluded.san_dns_patterns, san_ip_cidrs = excluded.san_ip_cidrs, \
         san_email_domains = excluded.san_email_domains, allowed_ca_ids = excluded.allowed_ca_ids, \
         allowed_certificate_types = excluded.allowed_certificate_types, \
         max_validity_days = excluded.max_validity_days, allow_wildcards = excluded.allow_wildcards, \
         updated_at = excluded.updated_at \
         RETURNING ",
        policy_columns!()
    );
    sqlx::query_as(sql)
        .bind(account)
        .bind(json_list(&p.cn_patterns))
        .bind(json_list(&p.san_dns_patterns))
        .bind(json_list(&p.san_ip_cidrs))
        .bind(json_list(&p.san_email_domains))
        .bind(json_list(&p.allowed_ca_ids))
        .bind(json_list(&p.allowed_certificate_types))
        .bind(p.max_validity_days)
        .bind(p.allow_wildcards)
        .bind(now)
        .fetch_one(c)
        .await
}

pub async fn delete_policy(c: &mut AnyConnection, account: i64) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM service_account_policies WHERE service_account_id = $1")
            .bind(account)
            .execute(c)
            .await?
            .rows_affected(),
    )
}
