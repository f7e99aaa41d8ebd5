//! Reading a FastPKI 0.4 database (the Python server's own schema, as its
//! Alembic migrations or `create_all` leave it), on SQLite or PostgreSQL, for
//! `fastpki import fastpki`. Read-only: a SQLite file is opened `mode=ro`,
//! and everything is read in one read-only transaction (one snapshot).
//!
//! One SQL text for both: every column the `Any` driver cannot decode on
//! PostgreSQL (timestamptz, the native enum types, JSON) is cast to text;
//! so are booleans to integers (sqlx's `Any` reads neither PostgreSQL's BOOLEAN
//! nor a SQLite column declared BOOLEAN otherwise).

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::any::{AnyPoolOptions, AnyTypeInfo, AnyValueRef};
use sqlx::error::BoxDynError;
use sqlx::{Any, Decode, FromRow, Type, ValueRef};

use super::{Flag, Tx};
use crate::config::{Backend, normalize_database_url, redact_url};

/// A time column of the source: `2026-12-06 09:39:44.532000` (SQLite, naive
/// UTC) or `2026-12-06 09:39:44.532+00` (PostgreSQL timestamptz as text).
#[derive(Clone, Copy, Debug)]
pub struct SrcTime(pub DateTime<Utc>);

/// A nullable time column of the source.
#[derive(Clone, Copy, Debug)]
pub struct OptSrcTime(pub Option<DateTime<Utc>>);

macro_rules! text_type {
    ($ty:ty) => {
        impl Type<Any> for $ty {
            fn type_info() -> AnyTypeInfo {
                <str as Type<Any>>::type_info()
            }

            fn compatible(ty: &AnyTypeInfo) -> bool {
                <str as Type<Any>>::compatible(ty)
            }
        }
    };
}
text_type!(SrcTime);
text_type!(OptSrcTime);

impl<'r> Decode<'r, Any> for SrcTime {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Any>>::decode(value)?;
        parse_time(text)
            .map(SrcTime)
            .ok_or_else(|| format!("not a FastPKI time: {text:?}").into())
    }
}

impl<'r> Decode<'r, Any> for OptSrcTime {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.is_null() {
            return Ok(OptSrcTime(None));
        }
        Ok(OptSrcTime(Some(SrcTime::decode(value)?.0)))
    }
}

impl From<SrcTime> for DateTime<Utc> {
    fn from(t: SrcTime) -> Self {
        t.0
    }
}

impl From<OptSrcTime> for Option<DateTime<Utc>> {
    fn from(t: OptSrcTime) -> Self {
        t.0
    }
}

/// A time as SQLAlchemy writes it to SQLite (naive, UTC by FastPKI's
/// convention) or as PostgreSQL prints a timestamptz (`+00`, `+05:30`, `Z`),
/// with a space or a `T` between date and time.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim().replacen(' ', "T", 1);
    if let Some(rest) = t.strip_suffix('Z') {
        return NaiveDateTime::parse_from_str(rest, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|n| n.and_utc());
    }
    // An offset starts at the last sign after the time's first digit.
    let time_start = t.find('T').map(|i| i + 1)?;
    match t[time_start..].rfind(['+', '-']).map(|i| i + time_start) {
        Some(at) => {
            let (local, offset) = t.split_at(at);
            let digits: String = offset[1..].chars().filter(|c| *c != ':').collect();
            let digits = match digits.len() {
                2 => format!("{digits}00"),
                4 => digits,
                _ => return None,
            };
            let with = format!("{local}{}{digits}", &offset[..1]);
            DateTime::parse_from_str(&with, "%Y-%m-%dT%H:%M:%S%.f%z")
                .ok()
                .map(|d| d.with_timezone(&Utc))
        }
        None => NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|n| n.and_utc()),
    }
}

#[derive(Clone, Debug, FromRow)]
pub struct SrcOrg {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    #[sqlx(try_from = "SrcTime")]
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "SrcTime")]
    pub updated_at: DateTime<Utc>,
}

/// The five capability flags, in `Capabilities::NAMES` order.
#[derive(Clone, Copy, Debug, FromRow)]
pub struct SrcCaps {
    #[sqlx(try_from = "Flag")]
    pub can_create_ca: bool,
    #[sqlx(try_from = "Flag")]
    pub can_create_cert: bool,
    #[sqlx(try_from = "Flag")]
    pub can_revoke_cert: bool,
    #[sqlx(try_from = "Flag")]
    pub can_export_private_key: bool,
    #[sqlx(try_from = "Flag")]
    pub can_delete_ca: bool,
}

impl SrcCaps {
    pub fn values(&self) -> [bool; 5] {
        [
            self.can_create_ca,
            self.can_create_cert,
            self.can_revoke_cert,
            self.can_export_private_key,
            self.can_delete_ca,
        ]
    }
}

#[derive(Clone, Debug, FromRow)]
pub struct SrcUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub hashed_password: String,
    /// `SUPERUSER`, `ADMIN` or `USER` (the enum's names).
    pub role: String,
    #[sqlx(try_from = "Flag")]
    pub is_active: bool,
    #[sqlx(flatten)]
    pub caps: SrcCaps,
    #[sqlx(try_from = "OptSrcTime")]
    pub tokens_invalidated_at: Option<DateTime<Utc>>,
    pub organization_id: Option<i64>,
    #[sqlx(try_from = "SrcTime")]
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "SrcTime")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, FromRow)]
pub struct SrcServiceAccount {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    #[sqlx(try_from = "OptSrcTime")]
    pub disabled_at: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    pub caps: SrcCaps,
    pub organization_id: Option<i64>,
    pub created_by_user_id: Option<i64>,
    #[sqlx(try_from = "SrcTime")]
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "SrcTime")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, FromRow)]
pub struct SrcToken {
    pub id: i64,
    pub service_account_id: i64,
    pub public_id: String,
    /// HMAC-SHA256(pepper, secret), hex: the same digest as ours.
    pub digest: String,
    pub pepper_version: i64,
    pub name: Option<String>,
    #[sqlx(try_from = "OptSrcTime")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "OptSrcTime")]
    pub expires_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "Flag")]
    pub revoked: bool,
    #[sqlx(try_from = "SrcTime")]
    pub created_at: DateTime<Utc>,
}

/// An issuance policy; its lists are JSON text (or NULL).
#[derive(Clone, Debug, FromRow)]
pub struct SrcPolicy {
    pub id: i64,
    pub service_account_id: i64,
    pub cn_patterns: Option<String>,
    pub san_dns_patterns: Option<String>,
    pub san_ip_cidrs: Option<String>,
    pub san_email_domains: Option<String>,
    pub allowed_ca_ids: Option<String>,
    pub allowed_certificate_types: Option<String>,
    pub max_validity_days: Option<i64>,
    #[sqlx(try_from = "SrcTime")]
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "SrcTime")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, FromRow)]
pub struct SrcCa {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub subject_dn: String,
    pub key_size: i64,
    pub valid_days: i64,
    /// PEM, or a Fernet token under the old PRIVATE_KEY_ENCRYPTION_KEY.
    pub private_key: String,
    pub certificate: String,
    pub organization_id: Option<i64>,
    pub created_by_user_id: Option<i64>,
    pub created_by_service_account_id: Option<i64>,
    pub parent_ca_id: Option<i64>,
    pub path_length: Option<i64>,
    #[sqlx(try_from = "Flag")]
    pub allow_leaf_certs: bool,
    pub crl_base_url: Option<String>,
    #[sqlx(try_from = "SrcTime")]
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "SrcTime")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, FromRow)]
pub struct SrcCert {
    pub id: i64,
    pub common_name: String,
    pub subject_dn: String,
    /// `SERVER`, `CLIENT`, `DUAL_PURPOSE` or `CA`.
    pub certificate_type: String,
    pub key_size: i64,
    pub valid_days: i64,
    /// `VALID`, `REVOKED` or `EXPIRED`.
    pub status: String,
    pub private_key: Option<String>,
    pub certificate: String,
    /// Lowercase hex without leading zeros (Python's `format(n, "x")`).
    pub serial_number: String,
    #[sqlx(try_from = "SrcTime")]
    pub not_before: DateTime<Utc>,
    #[sqlx(try_from = "SrcTime")]
    pub not_after: DateTime<Utc>,
    #[sqlx(try_from = "OptSrcTime")]
    pub revoked_at: Option<DateTime<Utc>>,
    pub issuer_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub created_by_user_id: Option<i64>,
    pub created_by_service_account_id: Option<i64>,
    #[sqlx(try_from = "Flag")]
    pub is_csr_origin: bool,
    pub renewed_from_id: Option<i64>,
    #[sqlx(try_from = "SrcTime")]
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "SrcTime")]
    pub updated_at: DateTime<Utc>,
}

/// What FastPKI's CRLs list: one entry per revocation, by CA and serial.
#[derive(Clone, Debug, FromRow)]
pub struct SrcCrlEntry {
    pub id: i64,
    pub ca_id: i64,
    pub serial_number: String,
    #[sqlx(try_from = "SrcTime")]
    pub revocation_date: DateTime<Utc>,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, FromRow)]
pub struct SrcAudit {
    pub id: i64,
    #[sqlx(try_from = "SrcTime")]
    pub created_at: DateTime<Utc>,
    /// The enum's name: `CERT_CREATE`...
    pub action: String,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub service_account_id: Option<i64>,
    pub service_account_name: Option<String>,
    pub organization_id: Option<i64>,
    pub resource_type: Option<String>,
    pub resource_id: Option<i64>,
    pub detail: Option<String>,
}

#[derive(Clone, Debug, FromRow)]
pub struct SrcRefreshToken {
    pub id: i64,
    /// SHA-256 of the token, hex: the same digest as ours.
    pub token_hash: String,
    pub user_id: i64,
    #[sqlx(try_from = "SrcTime")]
    pub expires_at: DateTime<Utc>,
    #[sqlx(try_from = "Flag")]
    pub revoked: bool,
    #[sqlx(try_from = "SrcTime")]
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, FromRow)]
pub struct SrcBlocklisted {
    pub jti: String,
    #[sqlx(try_from = "SrcTime")]
    pub exp: DateTime<Utc>,
}

const CAPS: &str = "CAST(can_create_ca AS INTEGER) AS can_create_ca, \
     CAST(can_create_cert AS INTEGER) AS can_create_cert, CAST(can_revoke_cert AS INTEGER) AS can_revoke_cert, \
     CAST(can_export_private_key AS INTEGER) AS can_export_private_key, \
     CAST(can_delete_ca AS INTEGER) AS can_delete_ca";

const ORG_SQL: &str = "SELECT id, name, description, CAST(created_at AS TEXT) AS created_at, \
     CAST(updated_at AS TEXT) AS updated_at FROM organizations ORDER BY id";

const POLICY_SQL: &str = "SELECT id, service_account_id, CAST(cn_patterns AS TEXT) AS cn_patterns, \
     CAST(san_dns_patterns AS TEXT) AS san_dns_patterns, CAST(san_ip_cidrs AS TEXT) AS san_ip_cidrs, \
     CAST(san_email_domains AS TEXT) AS san_email_domains, CAST(allowed_ca_ids AS TEXT) AS allowed_ca_ids, \
     CAST(allowed_certificate_types AS TEXT) AS allowed_certificate_types, max_validity_days, \
     CAST(created_at AS TEXT) AS created_at, CAST(updated_at AS TEXT) AS updated_at \
     FROM issuance_policies ORDER BY id";

const CA_SQL: &str = "SELECT id, name, description, subject_dn, key_size, valid_days, private_key, certificate, \
     organization_id, created_by_user_id, created_by_service_account_id, parent_ca_id, path_length, \
     CAST(allow_leaf_certs AS INTEGER) AS allow_leaf_certs, crl_base_url, CAST(created_at AS TEXT) AS created_at, \
     CAST(updated_at AS TEXT) AS updated_at FROM certificate_authorities ORDER BY id";

const CERT_SQL: &str = "SELECT id, common_name, subject_dn, CAST(certificate_type AS TEXT) AS certificate_type, \
     key_size, valid_days, CAST(status AS TEXT) AS status, private_key, certificate, serial_number, \
     CAST(not_before AS TEXT) AS not_before, CAST(not_after AS TEXT) AS not_after, \
     CAST(revoked_at AS TEXT) AS revoked_at, issuer_id, organization_id, created_by_user_id, \
     created_by_service_account_id, CAST(is_csr_origin AS INTEGER) AS is_csr_origin, renewed_from_id, CAST(created_at AS TEXT) AS created_at, \
     CAST(updated_at AS TEXT) AS updated_at FROM certificates WHERE id > $1 ORDER BY id LIMIT $2";

const CRL_SQL: &str = "SELECT id, ca_id, serial_number, CAST(revocation_date AS TEXT) AS revocation_date, reason \
     FROM crl_entries ORDER BY id";

const AUDIT_SQL: &str = "SELECT id, CAST(created_at AS TEXT) AS created_at, CAST(action AS TEXT) AS action, \
     user_id, username, service_account_id, service_account_name, organization_id, resource_type, resource_id, \
     detail FROM audit_logs WHERE id > $1 ORDER BY id LIMIT $2";

const TOKEN_REVOKE_SQL: &str = "SELECT id, CAST(created_at AS TEXT) AS created_at, CAST(action AS TEXT) AS action, \
     user_id, username, service_account_id, service_account_name, organization_id, resource_type, resource_id, \
     detail FROM audit_logs WHERE CAST(action AS TEXT) = 'SERVICE_ACCOUNT_TOKEN_REVOKE' ORDER BY id";

const REFRESH_SQL: &str = "SELECT id, token_hash, user_id, CAST(expires_at AS TEXT) AS expires_at, \
     CAST(revoked AS INTEGER) AS revoked, CAST(created_at AS TEXT) AS created_at FROM refresh_tokens ORDER BY id";

/// The tables a FastPKI 0.4 database has, and the columns read from each.
const TABLES: [(&str, &str); 11] = [
    (
        "organizations",
        "id, name, description, created_at, updated_at",
    ),
    (
        "users",
        "id, username, email, hashed_password, role, is_active, tokens_invalidated_at, organization_id, \
         can_create_ca, can_create_cert, can_revoke_cert, can_export_private_key, can_delete_ca, created_at, updated_at",
    ),
    (
        "service_accounts",
        "id, name, description, disabled_at, organization_id, created_by_user_id, created_at, updated_at, \
         can_create_ca, can_create_cert, can_revoke_cert, can_export_private_key, can_delete_ca",
    ),
    (
        "service_account_tokens",
        "id, service_account_id, public_id, digest, pepper_version, name, last_used_at, expires_at, revoked, created_at",
    ),
    (
        "issuance_policies",
        "id, service_account_id, cn_patterns, san_dns_patterns, san_ip_cidrs, san_email_domains, allowed_ca_ids, \
         allowed_certificate_types, max_validity_days, created_at, updated_at",
    ),
    (
        "certificate_authorities",
        "id, name, description, subject_dn, key_size, valid_days, private_key, certificate, organization_id, \
         created_by_user_id, created_by_service_account_id, parent_ca_id, path_length, allow_leaf_certs, \
         crl_base_url, created_at, updated_at",
    ),
    (
        "certificates",
        "id, common_name, subject_dn, certificate_type, key_size, valid_days, status, private_key, certificate, \
         serial_number, not_before, not_after, revoked_at, issuer_id, organization_id, created_by_user_id, \
         created_by_service_account_id, is_csr_origin, renewed_from_id, created_at, updated_at",
    ),
    (
        "crl_entries",
        "id, ca_id, serial_number, revocation_date, reason",
    ),
    (
        "audit_logs",
        "id, created_at, action, user_id, username, service_account_id, service_account_name, organization_id, \
         resource_type, resource_id, detail",
    ),
    (
        "refresh_tokens",
        "id, token_hash, user_id, expires_at, revoked, created_at",
    ),
    ("blocklisted_tokens", "id, jti, exp, created_at"),
];

/// A one-connection pool on `url` and a transaction in which it answers a read.
async fn begin(url: &str, backend: Backend) -> anyhow::Result<Tx> {
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await?;
    let mut tx = pool.begin().await?;
    if backend == Backend::Sqlite {
        // Reads the schema: fails here, not later, when the file cannot be read.
        sqlx::query("SELECT COUNT(*) FROM sqlite_master")
            .fetch_one(&mut *tx)
            .await?;
    }
    Ok(tx)
}

/// An open FastPKI 0.4 database, read in one read-only transaction.
pub struct Source {
    tx: Tx,
    pub backend: Backend,
    /// The URL as it may be shown (password hidden).
    pub shown_url: String,
}

impl Source {
    /// Opens the database at `url` (SQLAlchemy or sqlx form) read-only.
    pub async fn open(url: &str) -> anyhow::Result<Source> {
        sqlx::any::install_default_drivers();
        let (sqlx_url, backend) = normalize_database_url(url)
            .map_err(|e| anyhow::anyhow!("{}", e.to_string().replace("DATABASE_URL", "--from")))?;
        let sqlx_url = match backend {
            Backend::Sqlite => {
                let path = sqlx_url.trim_start_matches("sqlite://");
                let path = path.split('?').next().unwrap_or(path);
                if !std::path::Path::new(path).is_file() {
                    bail!("--from: no SQLite database at {path}");
                }
                format!("sqlite://{path}?mode=ro")
            }
            Backend::Postgres => sqlx_url,
        };
        let shown_url = redact_url(url);
        let mut tx = match begin(&sqlx_url, backend).await {
            Ok(tx) => Ok(tx),
            // A WAL database in a folder we may not write to cannot be opened read-only
            // (SQLite would create its -shm file): read it as an immutable file.
            Err(_) if backend == Backend::Sqlite => {
                begin(&format!("{sqlx_url}&immutable=true"), backend).await
            }
            Err(e) => Err(e),
        }
        .with_context(|| format!("cannot open the FastPKI database {shown_url}"))?;
        if backend == Backend::Postgres {
            // One snapshot for every read; times printed in UTC, ISO style.
            for sql in [
                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                "SET LOCAL TimeZone = 'UTC'",
                "SET LOCAL DateStyle = 'ISO, YMD'",
            ] {
                sqlx::query(sql).execute(&mut *tx).await?;
            }
        }
        Ok(Source {
            tx,
            backend,
            shown_url,
        })
    }

    /// Fails, naming what is missing, unless this looks like FastPKI 0.4's schema.
    pub async fn check_schema(&mut self) -> anyhow::Result<()> {
        for (table, columns) in TABLES {
            let sql = format!("SELECT {columns} FROM {table} WHERE 1 = 0");
            // Built from constants only: no input in the text.
            if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_optional(&mut *self.tx)
                .await
            {
                bail!(
                    "{} is not a FastPKI 0.4 database (table {table}: {e}); upgrade it with FastPKI 0.4's \
                     `alembic upgrade head` first",
                    self.shown_url
                );
            }
        }
        Ok(())
    }

    /// The highest id of `table` (0 when empty); `table` is one of FastPKI's.
    pub async fn max_id(&mut self, table: &str) -> anyhow::Result<i64> {
        if !TABLES.iter().any(|(t, _)| *t == table) {
            bail!("not a FastPKI table: {table}");
        }
        let sql = format!("SELECT COALESCE(MAX(id), 0) FROM {table}");
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *self.tx)
            .await?)
    }

    /// What tells this deployment apart from any other: its first user, first
    /// organization and first CA, as stored (hashed by the caller).
    pub async fn identity(&mut self) -> anyhow::Result<String> {
        let user: Option<(i64, String, String)> = sqlx::query_as(
            "SELECT id, username, CAST(created_at AS TEXT) FROM users ORDER BY id LIMIT 1",
        )
        .fetch_optional(&mut *self.tx)
        .await?;
        let org: Option<(i64, String, String)> = sqlx::query_as(
            "SELECT id, name, CAST(created_at AS TEXT) FROM organizations ORDER BY id LIMIT 1",
        )
        .fetch_optional(&mut *self.tx)
        .await?;
        let ca: Option<(i64, String)> = sqlx::query_as(
            "SELECT id, certificate FROM certificate_authorities ORDER BY id LIMIT 1",
        )
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(format!("{user:?}|{org:?}|{ca:?}"))
    }

    pub async fn organizations(&mut self) -> anyhow::Result<Vec<SrcOrg>> {
        Ok(sqlx::query_as(ORG_SQL).fetch_all(&mut *self.tx).await?)
    }

    pub async fn users(&mut self) -> anyhow::Result<Vec<SrcUser>> {
        let sql = format!(
            "SELECT id, username, email, hashed_password, CAST(role AS TEXT) AS role, CAST(is_active AS INTEGER) AS is_active, {CAPS}, \
             CAST(tokens_invalidated_at AS TEXT) AS tokens_invalidated_at, organization_id, \
             CAST(created_at AS TEXT) AS created_at, CAST(updated_at AS TEXT) AS updated_at FROM users ORDER BY id"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *self.tx)
            .await?)
    }

    pub async fn service_accounts(&mut self) -> anyhow::Result<Vec<SrcServiceAccount>> {
        let sql = format!(
            "SELECT id, name, description, CAST(disabled_at AS TEXT) AS disabled_at, {CAPS}, organization_id, \
             created_by_user_id, CAST(created_at AS TEXT) AS created_at, CAST(updated_at AS TEXT) AS updated_at \
             FROM service_accounts ORDER BY id"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *self.tx)
            .await?)
    }

    pub async fn tokens(&mut self) -> anyhow::Result<Vec<SrcToken>> {
        Ok(sqlx::query_as(
            "SELECT id, service_account_id, public_id, digest, pepper_version, name, \
             CAST(last_used_at AS TEXT) AS last_used_at, CAST(expires_at AS TEXT) AS expires_at, \
             CAST(revoked AS INTEGER) AS revoked, CAST(created_at AS TEXT) AS created_at FROM service_account_tokens ORDER BY id",
        )
        .fetch_all(&mut *self.tx)
        .await?)
    }

    /// The audit entries that record token revocations (FastPKI keeps only a flag).
    pub async fn token_revocations(&mut self) -> anyhow::Result<Vec<SrcAudit>> {
        Ok(sqlx::query_as(TOKEN_REVOKE_SQL)
            .fetch_all(&mut *self.tx)
            .await?)
    }

    pub async fn policies(&mut self) -> anyhow::Result<Vec<SrcPolicy>> {
        Ok(sqlx::query_as(POLICY_SQL).fetch_all(&mut *self.tx).await?)
    }

    pub async fn cas(&mut self) -> anyhow::Result<Vec<SrcCa>> {
        Ok(sqlx::query_as(CA_SQL).fetch_all(&mut *self.tx).await?)
    }

    /// Up to `limit` certificates after the id `after`, in id order.
    pub async fn certificates(&mut self, after: i64, limit: i64) -> anyhow::Result<Vec<SrcCert>> {
        Ok(sqlx::query_as(CERT_SQL)
            .bind(after)
            .bind(limit)
            .fetch_all(&mut *self.tx)
            .await?)
    }

    pub async fn crl_entries(&mut self) -> anyhow::Result<Vec<SrcCrlEntry>> {
        Ok(sqlx::query_as(CRL_SQL).fetch_all(&mut *self.tx).await?)
    }

    /// Up to `limit` audit entries after the id `after`, in id order.
    pub async fn audit(&mut self, after: i64, limit: i64) -> anyhow::Result<Vec<SrcAudit>> {
        Ok(sqlx::query_as(AUDIT_SQL)
            .bind(after)
            .bind(limit)
            .fetch_all(&mut *self.tx)
            .await?)
    }

    /// Refresh tokens still usable at `now` (not revoked, not expired).
    pub async fn live_refresh_tokens(
        &mut self,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<SrcRefreshToken>> {
        let rows: Vec<SrcRefreshToken> =
            sqlx::query_as(REFRESH_SQL).fetch_all(&mut *self.tx).await?;
        Ok(rows
            .into_iter()
            .filter(|r| !r.revoked && r.expires_at > now)
            .collect())
    }

    /// Access-token ids revoked before they expire, still unexpired at `now`.
    pub async fn live_blocklist(
        &mut self,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<SrcBlocklisted>> {
        let rows: Vec<SrcBlocklisted> = sqlx::query_as(
            "SELECT jti, CAST(exp AS TEXT) AS exp FROM blocklisted_tokens ORDER BY id",
        )
        .fetch_all(&mut *self.tx)
        .await?;
        Ok(rows.into_iter().filter(|r| r.exp > now).collect())
    }

    /// Ends the read transaction (nothing was written).
    pub async fn close(self) -> anyhow::Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_both_databases_parse() {
        let want = "2026-12-06T09:39:44.532000Z";
        for text in [
            "2026-12-06 09:39:44.532000",
            "2026-12-06 09:39:44.532+00",
            "2026-12-06T09:39:44.532+00:00",
            "2026-12-06 10:39:44.532+01",
            "2026-12-06 04:09:44.532-05:30",
            "2026-12-06 09:39:44.532Z",
        ] {
            let t = parse_time(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(crate::store::ts(t), want, "{text}");
        }
        assert_eq!(
            crate::store::ts(parse_time("2026-12-06 09:39:44").unwrap()),
            "2026-12-06T09:39:44.000000Z"
        );
        assert!(parse_time("yesterday").is_none());
        assert!(parse_time("2026-12-06").is_none());
    }
}
