//! Our side of an import from another CA (`fastpki import fastpki`): rows
//! written with the ids chosen by the importer (the source's where free),
//! the look-ups that recognize rows already imported, the import markers, and
//! the PostgreSQL identity sequences moved past the ids written.

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

use super::{json_list, ts};
use crate::capabilities::Capabilities;
use crate::config::Backend;

/// The tables an import writes rows with chosen ids into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    Organizations,
    Users,
    ServiceAccounts,
    Tokens,
    Policies,
    Cas,
    Certificates,
    Audit,
    RefreshTokens,
}

impl Table {
    pub const ALL: [Table; 9] = [
        Table::Organizations,
        Table::Users,
        Table::ServiceAccounts,
        Table::Tokens,
        Table::Policies,
        Table::Cas,
        Table::Certificates,
        Table::Audit,
        Table::RefreshTokens,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Organizations => "organizations",
            Table::Users => "users",
            Table::ServiceAccounts => "service_accounts",
            Table::Tokens => "service_account_tokens",
            Table::Policies => "service_account_policies",
            Table::Cas => "certificate_authorities",
            Table::Certificates => "certificates",
            Table::Audit => "audit_logs",
            Table::RefreshTokens => "refresh_tokens",
        }
    }
}

/// True when the database holds nothing an import could collide with.
pub async fn is_empty(c: &mut AnyConnection) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM organizations) + (SELECT COUNT(*) FROM users) \
         + (SELECT COUNT(*) FROM certificate_authorities) + (SELECT COUNT(*) FROM ca_tombstones) \
         + (SELECT COUNT(*) FROM certificates) + (SELECT COUNT(*) FROM service_accounts) \
         + (SELECT COUNT(*) FROM audit_logs)",
    )
    .fetch_one(c)
    .await?;
    Ok(n == 0)
}

/// The highest id in use (0 when empty); for CAs, deleted CAs' ids count too.
pub async fn max_id(c: &mut AnyConnection, t: Table) -> Result<i64, sqlx::Error> {
    let sql = match t {
        Table::Cas => "SELECT CASE WHEN a > b THEN a ELSE b END FROM \
                       (SELECT COALESCE(MAX(id), 0) AS a FROM certificate_authorities) x, \
                       (SELECT COALESCE(MAX(id), 0) AS b FROM ca_tombstones) y"
            .to_string(),
        _ => format!("SELECT COALESCE(MAX(id), 0) FROM {}", t.name()),
    };
    // Built from constants only: no input in the text.
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(c)
        .await
}

/// True when `id` is in use (for CAs, also by a deleted CA: never reused).
pub async fn id_taken(c: &mut AnyConnection, t: Table, id: i64) -> Result<bool, sqlx::Error> {
    let sql = match t {
        Table::Cas => "SELECT (SELECT COUNT(*) FROM certificate_authorities WHERE id = $1) \
                       + (SELECT COUNT(*) FROM ca_tombstones WHERE id = $1)"
            .to_string(),
        _ => format!("SELECT COUNT(*) FROM {} WHERE id = $1", t.name()),
    };
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_one(c)
        .await?;
    Ok(n > 0)
}

/// On PostgreSQL, moves each identity sequence past the highest id written,
/// never back (SQLite's AUTOINCREMENT follows explicit ids by itself).
pub async fn advance_sequences(c: &mut AnyConnection, backend: Backend) -> Result<(), sqlx::Error> {
    if backend != Backend::Postgres {
        return Ok(());
    }
    for t in Table::ALL {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence('{t}', 'id'), GREATEST(m, \
             COALESCE(pg_sequence_last_value(CAST(pg_get_serial_sequence('{t}', 'id') AS regclass)), 1))) \
             FROM (SELECT MAX(id) AS m FROM {t}) x WHERE m IS NOT NULL",
            t = t.name()
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}

/// A value of `app_state` (import markers).
pub async fn state_value(c: &mut AnyConnection, key: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM app_state WHERE key = $1")
        .bind(key)
        .fetch_optional(c)
        .await
}

/// Records or replaces a value of `app_state`.
pub async fn put_state_value(
    c: &mut AnyConnection,
    key: &str,
    value: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO app_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(c)
    .await?;
    Ok(())
}

/// The id of the organization named `name`.
pub async fn org_by_name(c: &mut AnyConnection, name: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM organizations WHERE name = $1")
        .bind(name)
        .fetch_optional(c)
        .await
}

pub async fn insert_org(
    c: &mut AnyConnection,
    id: i64,
    name: &str,
    description: Option<&str>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO organizations (id, name, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(name)
    .bind(description)
    .bind(ts(created_at))
    .bind(ts(updated_at))
    .execute(c)
    .await?;
    Ok(())
}

/// The user holding `username` or `email`: (id, username, email).
pub async fn user_by_name_or_email(
    c: &mut AnyConnection,
    username: &str,
    email: &str,
) -> Result<Vec<(i64, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, username, email FROM users WHERE username = $1 OR email = $2 ORDER BY id",
    )
    .bind(username)
    .bind(email)
    .fetch_all(c)
    .await
}

/// A user as imported: the password hash is kept as is.
pub struct ImportedUser<'a> {
    pub id: i64,
    pub username: &'a str,
    pub email: &'a str,
    pub hashed_password: &'a str,
    pub role: &'a str,
    pub is_active: bool,
    pub organization_id: Option<i64>,
    pub caps: Capabilities,
    pub tokens_invalidated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn insert_user(c: &mut AnyConnection, u: &ImportedUser<'_>) -> Result<(), sqlx::Error> {
    let sql = concat!(
        "INSERT INTO users (id, username, email, hashed_password, role, is_active, organization_id, ",
        capability_columns!(),
        ", tokens_invalidated_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    );
    let mut q = sqlx::query(sql)
        .bind(u.id)
        .bind(u.username)
        .bind(u.email)
        .bind(u.hashed_password)
        .bind(u.role)
        .bind(u.is_active)
        .bind(u.organization_id);
    for v in u.caps.values() {
        q = q.bind(v);
    }
    q.bind(u.tokens_invalidated_at.map(ts))
        .bind(ts(u.created_at))
        .bind(ts(u.updated_at))
        .execute(c)
        .await?;
    Ok(())
}

/// The service account named `name` in `org`: (id, created_at as stored).
pub async fn service_account_by_name(
    c: &mut AnyConnection,
    org: Option<i64>,
    name: &str,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, created_at FROM service_accounts WHERE COALESCE(organization_id, 0) = COALESCE($1, 0) AND name = $2",
    )
    .bind(org)
    .bind(name)
    .fetch_optional(c)
    .await
}

pub struct ImportedServiceAccount<'a> {
    pub id: i64,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub organization_id: Option<i64>,
    pub caps: Capabilities,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_by_user_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn insert_service_account(
    c: &mut AnyConnection,
    s: &ImportedServiceAccount<'_>,
) -> Result<(), sqlx::Error> {
    let sql = concat!(
        "INSERT INTO service_accounts (id, name, description, organization_id, ",
        capability_columns!(),
        ", disabled_at, created_by_user_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    );
    let mut q = sqlx::query(sql)
        .bind(s.id)
        .bind(s.name)
        .bind(s.description)
        .bind(s.organization_id);
    for v in s.caps.values() {
        q = q.bind(v);
    }
    q.bind(s.disabled_at.map(ts))
        .bind(s.created_by_user_id)
        .bind(ts(s.created_at))
        .bind(ts(s.updated_at))
        .execute(c)
        .await?;
    Ok(())
}

/// The digest stored for a token's public id, if the id is taken.
pub async fn token_digest(
    c: &mut AnyConnection,
    public_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT secret_digest FROM service_account_tokens WHERE public_id = $1")
        .bind(public_id)
        .fetch_optional(c)
        .await
}

pub struct ImportedToken<'a> {
    pub id: i64,
    pub service_account_id: i64,
    pub public_id: &'a str,
    pub secret_digest: &'a str,
    pub name: Option<&'a str>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_token(c: &mut AnyConnection, t: &ImportedToken<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO service_account_tokens (id, service_account_id, public_id, secret_digest, name, expires_at, \
         revoked_at, last_used_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(t.id)
    .bind(t.service_account_id)
    .bind(t.public_id)
    .bind(t.secret_digest)
    .bind(t.name)
    .bind(t.expires_at.map(ts))
    .bind(t.revoked_at.map(ts))
    .bind(t.last_used_at.map(ts))
    .bind(ts(t.created_at))
    .execute(c)
    .await?;
    Ok(())
}

pub async fn has_policy(c: &mut AnyConnection, account: i64) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM service_account_policies WHERE service_account_id = $1",
    )
    .bind(account)
    .fetch_one(c)
    .await?;
    Ok(n > 0)
}

pub struct ImportedPolicy<'a> {
    pub id: i64,
    pub service_account_id: i64,
    pub values: &'a super::service_accounts::PolicyValues,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn insert_policy(
    c: &mut AnyConnection,
    p: &ImportedPolicy<'_>,
) -> Result<(), sqlx::Error> {
    let v = p.values;
    sqlx::query(
        "INSERT INTO service_account_policies (id, service_account_id, cn_patterns, san_dns_patterns, san_ip_cidrs, \
         san_email_domains, allowed_ca_ids, allowed_certificate_types, max_validity_days, allow_wildcards, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(p.id)
    .bind(p.service_account_id)
    .bind(json_list(&v.cn_patterns))
    .bind(json_list(&v.san_dns_patterns))
    .bind(json_list(&v.san_ip_cidrs))
    .bind(json_list(&v.san_email_domains))
    .bind(json_list(&v.allowed_ca_ids))
    .bind(json_list(&v.allowed_certificate_types))
    .bind(v.max_validity_days)
    .bind(v.allow_wildcards)
    .bind(ts(p.created_at))
    .bind(ts(p.updated_at))
    .execute(c)
    .await?;
    Ok(())
}

/// The CA whose certificate is exactly `certificate` (PEM as stored).
pub async fn ca_by_certificate(
    c: &mut AnyConnection,
    certificate: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM certificate_authorities WHERE certificate = $1 ORDER BY id LIMIT 1",
    )
    .bind(certificate)
    .fetch_optional(c)
    .await
}

/// The certificate of CA `issuer_id` with this serial, as stored.
pub async fn cert_by_serial(
    c: &mut AnyConnection,
    issuer_id: i64,
    serial: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM certificates WHERE issuer_id = $1 AND serial_number = $2")
        .bind(issuer_id)
        .bind(serial)
        .fetch_optional(c)
        .await
}

pub struct ImportedCert<'a> {
    pub id: i64,
    pub common_name: &'a str,
    pub subject_dn: &'a str,
    pub certificate_type: &'a str,
    pub key_algorithm: &'a str,
    pub key_size: i64,
    pub valid_days: i64,
    pub status: &'a str,
    pub certificate: &'a str,
    pub private_key: Option<&'a str>,
    pub key_origin: &'a str,
    pub serial_number: &'a str,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub san_dns_names: &'a [String],
    pub san_ip_addresses: &'a [std::net::IpAddr],
    pub san_email_addresses: &'a [String],
    pub revoked_at: Option<DateTime<Utc>>,
    pub revocation_reason: Option<&'a str>,
    pub revocation_reason_code: Option<i64>,
    pub issuer_id: i64,
    pub organization_id: Option<i64>,
    pub created_by_user_id: Option<i64>,
    pub created_by_service_account_id: Option<i64>,
    pub renewed_from_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn insert_cert(c: &mut AnyConnection, n: &ImportedCert<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO certificates (id, common_name, subject_dn, certificate_type, key_algorithm, key_size, valid_days, \
         status, certificate, private_key, key_origin, serial_number, not_before, not_after, san_dns_names, \
         san_ip_addresses, san_email_addresses, revoked_at, revocation_reason, revocation_reason_code, issuer_id, \
         organization_id, created_by_user_id, created_by_service_account_id, renewed_from_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, \
         $22, $23, $24, $25, $26, $27)",
    )
    .bind(n.id)
    .bind(n.common_name)
    .bind(n.subject_dn)
    .bind(n.certificate_type)
    .bind(n.key_algorithm)
    .bind(n.key_size)
    .bind(n.valid_days)
    .bind(n.status)
    .bind(n.certificate)
    .bind(n.private_key)
    .bind(n.key_origin)
    .bind(n.serial_number)
    .bind(ts(n.not_before))
    .bind(ts(n.not_after))
    .bind(json_list(n.san_dns_names))
    .bind(json_list(n.san_ip_addresses))
    .bind(json_list(n.san_email_addresses))
    .bind(n.revoked_at.map(ts))
    .bind(n.revocation_reason)
    .bind(n.revocation_reason_code)
    .bind(n.issuer_id)
    .bind(n.organization_id)
    .bind(n.created_by_user_id)
    .bind(n.created_by_service_account_id)
    .bind(n.renewed_from_id)
    .bind(ts(n.created_at))
    .bind(ts(n.updated_at))
    .execute(c)
    .await?;
    Ok(())
}

/// Links a certificate to the one it renewed (written after both exist).
pub async fn set_renewed_from(
    c: &mut AnyConnection,
    id: i64,
    from: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE certificates SET renewed_from_id = $1 WHERE id = $2")
        .bind(from)
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

/// An audit entry with its original time and actor.
pub struct ImportedAudit<'a> {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub action: &'a str,
    pub user_id: Option<i64>,
    pub username: Option<&'a str>,
    pub organization_id: Option<i64>,
    pub resource_type: Option<&'a str>,
    pub resource_id: Option<i64>,
    pub detail: Option<&'a str>,
    pub service_account_id: Option<i64>,
    pub service_account_name: Option<&'a str>,
}

pub async fn insert_audit(c: &mut AnyConnection, e: &ImportedAudit<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_logs (id, created_at, action, user_id, username, organization_id, resource_type, \
         resource_id, detail, service_account_id, service_account_name) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(e.id)
    .bind(ts(e.created_at))
    .bind(e.action)
    .bind(e.user_id)
    .bind(e.username)
    .bind(e.organization_id)
    .bind(e.resource_type)
    .bind(e.resource_id)
    .bind(e.detail)
    .bind(e.service_account_id)
    .bind(e.service_account_name)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn refresh_exists(c: &mut AnyConnection, digest: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens WHERE token_digest = $1")
        .bind(digest)
        .fetch_one(c)
        .await?;
    Ok(n > 0)
}

/// A live refresh token, a family of its own.
pub async fn insert_refresh(
    c: &mut AnyConnection,
    id: i64,
    user_id: i64,
    digest: &str,
    family_id: &str,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, user_id, token_digest, family_id, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(user_id)
    .bind(digest)
    .bind(family_id)
    .bind(ts(expires_at))
    .bind(ts(created_at))
    .execute(c)
    .await?;
    Ok(())
}

/// Blocklists an access token's id; false when it already was.
pub async fn insert_blocklisted(
    c: &mut AnyConnection,
    jti: &str,
    expires_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("INSERT INTO token_blocklist (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
        .bind(jti)
        .bind(ts(expires_at))
        .execute(c)
        .await?;
    Ok(r.rows_affected() == 1)
}
