//! Audit log: append-only; no statement here updates or deletes an entry.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, FromRow};

use super::{Time, ts};

/// A stored entry.
#[derive(Clone, Debug, FromRow)]
pub struct AuditEntry {
    pub id: i64,
    #[sqlx(try_from = "Time")]
    pub created_at: DateTime<Utc>,
    pub action: String,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub organization_id: Option<i64>,
    pub resource_type: Option<String>,
    pub resource_id: Option<i64>,
    pub detail: Option<String>,
    pub service_account_id: Option<i64>,
    pub service_account_name: Option<String>,
}

/// Every action an entry may name: FastPKI's `AuditAction` enum (the first 20),
/// then ours. The audit list accepts only these as a filter.
pub const ACTIONS: [&str; 41] = [
    "ca_create",
    "ca_update",
    "ca_delete",
    "ca_export_private_key",
    "cert_create",
    "cert_revoke",
    "cert_export_private_key",
    "login_success",
    "login_failure",
    "user_create",
    "user_update",
    "org_create",
    "org_delete",
    "org_add_user",
    "org_remove_user",
    "service_account_create",
    "service_account_update",
    "service_account_delete",
    "service_account_token_create",
    "service_account_token_revoke",
    "ca_revoke",
    "refresh_token_reuse",
    "user_delete",
    "org_update",
    "service_account_policy_set",
    "service_account_policy_clear",
    "acme_directory_create",
    "acme_directory_update",
    "acme_directory_delete",
    "acme_eab_create",
    "acme_eab_revoke",
    "acme_account_create",
    "acme_account_update",
    "acme_account_deactivate",
    "acme_account_key_change",
    "ca_import",
    "ca_csr",
    "ca_certificate_install",
    "webhook_create",
    "webhook_delete",
    "webhook_rotate_secret",
];

/// What a new entry says; the id and time are assigned on insert.
#[derive(Clone, Debug, Default)]
pub struct NewAuditEntry {
    pub action: &'static str,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub organization_id: Option<i64>,
    pub resource_type: Option<&'static str>,
    pub resource_id: Option<i64>,
    pub detail: Option<String>,
    pub service_account_id: Option<i64>,
    pub service_account_name: Option<String>,
}

pub async fn insert(
    c: &mut AnyConnection,
    e: &NewAuditEntry,
    now: &str,
) -> Result<(), sqlx::Error> {
    insert_many(c, std::slice::from_ref(e), now).await
}

/// Appends entries in one statement.
pub async fn insert_many(
    c: &mut AnyConnection,
    entries: &[NewAuditEntry],
    now: &str,
) -> Result<(), sqlx::Error> {
    debug_assert!(
        entries.iter().all(|e| ACTIONS.contains(&e.action)),
        "an audit action missing from ACTIONS"
    );
    let sql = format!(
        "INSERT INTO audit_logs (created_at, action, user_id, username, organization_id, resource_type, \
         resource_id, detail, service_account_id, service_account_name) VALUES {}",
        super::values_rows("($1, ?, ?, ?, ?, ?, ?, ?, ?, ?)", entries.len(), 2)
    );
    // Built from constants and numbered placeholders only: no input in the text.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
    for e in entries {
        q = q
            .bind(e.action)
            .bind(e.user_id)
            .bind(&e.username)
            .bind(e.organization_id)
            .bind(e.resource_type)
            .bind(e.resource_id)
            .bind(&e.detail)
            .bind(e.service_account_id)
            .bind(&e.service_account_name);
    }
    q.execute(c).await?;
    Ok(())
}

/// Query filters; `organization_id` is the caller's scope (None = all).
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub organization_id: Option<i64>,
    pub action: Option<String>,
    pub user_id: Option<i64>,
    pub resource_type: Option<String>,
    pub resource_id: Option<i64>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Keyset cursor: only entries older than this id (the list is newest first).
    pub before_id: Option<i64>,
    pub skip: i64,
    pub limit: i64,
}

/// Newest first. Filters are bound, never spliced into the SQL text.
pub async fn query(c: &mut AnyConnection, f: &AuditFilter) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let mut sql = String::from(
        "SELECT id, created_at, action, user_id, username, organization_id, resource_type, resource_id, \
         detail, service_account_id, service_account_name FROM audit_logs WHERE 1 = 1",
    );
    let mut n = 0;
    let mut next = |col: &str, op: &str, sql: &mut String| {
        n += 1;
        sql.push_str(&format!(" AND {col} {op} ${n}"));
    };
    if f.organization_id.is_some() {
        next("organization_id", "=", &mut sql);
    }
    if f.action.is_some() {
        next("action", "=", &mut sql);
    }
    if f.user_id.is_some() {
        next("user_id", "=", &mut sql);
    }
    if f.resource_type.is_some() {
        next("resource_type", "=", &mut sql);
    }
    if f.resource_id.is_some() {
        next("resource_id", "=", &mut sql);
    }
    if f.since.is_some() {
        next("created_at", ">=", &mut sql);
    }
    if f.until.is_some() {
        next("created_at", "<=", &mut sql);
    }
    if f.before_id.is_some() {
        next("id", "<", &mut sql);
    }
    sql.push_str(&format!(
        " ORDER BY id DESC LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    ));
    let mut q = sqlx::query_as::<_, AuditEntry>(sqlx::AssertSqlSafe(sql));
    if let Some(v) = f.organization_id {
        q = q.bind(v);
    }
    if let Some(v) = &f.action {
        q = q.bind(v);
    }
    if let Some(v) = f.user_id {
        q = q.bind(v);
    }
    if let Some(v) = &f.resource_type {
        q = q.bind(v);
    }
    if let Some(v) = f.resource_id {
        q = q.bind(v);
    }
    if let Some(v) = f.since {
        q = q.bind(ts(v));
    }
    if let Some(v) = f.until {
        q = q.bind(ts(v));
    }
    if let Some(v) = f.before_id {
        q = q.bind(v);
    }
    q.bind(f.limit).bind(f.skip).fetch_all(c).await
}
