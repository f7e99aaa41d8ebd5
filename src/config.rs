//! Server settings: environment variables (and `.env`), validated once at start.
//!
//! Secrets that are not given are generated on first run and kept in the data
//! folder with mode 0600, so a first start needs no set-up.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine;

/// Where the embedded SQLite database and generated secrets live by default.
pub const DEFAULT_DATA_DIR: &str = "./data";

/// The database engine chosen by `DATABASE_URL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A login rate: at most `count` requests per `window_secs` per client address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u32,
    pub window_secs: u64,
}

/// Every setting the server reads, already validated.
#[derive(Clone)]
pub struct Settings {
    pub api_prefix: String,
    pub project_name: String,
    pub database_url: String,
    pub backend: Backend,
    pub ca_key_size: u32,
    pub ca_cert_days: u32,
    pub cert_key_size: u32,
    pub cert_days: u32,
    pub secret_key: String,
    pub access_token_expire_minutes: i64,
    pub refresh_token_expire_minutes: i64,
    pub jwt_algorithm: jsonwebtoken::Algorithm,
    pub auth_rate_limit: RateLimit,
    pub private_key_encryption_key: Option<String>,
    pub service_account_token_pepper: String,
    pub log_level: String,
    pub cors_origins: Vec<String>,
    pub allow_unauthenticated_registration: bool,
    pub enable_docs: bool,
    pub bcrypt_cost: u32,
    pub max_body_bytes: usize,
    pub crl_validity_days: i64,
    /// How long a CRL or CA file is served from memory before the database is
    /// read again: the bound within which every server sees another's revocation.
    pub cache_freshness: std::time::Duration,
    pub key_pool_size: usize,
    /// The key algorithms the pool pre-generates.
    pub key_pool_algorithms: Vec<pki::KeyAlgorithm>,
    /// Largest RSA key a certificate (not a CA) may have, generated or from a CSR.
    pub max_leaf_rsa_bits: u32,
    /// A request head must arrive within this long of the connection opening or
    /// going idle after its previous answer (so it is the keep-alive idle timeout too).
    pub header_read_timeout_secs: u64,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Connections at once from one address (IPv6: one /64); 0 turns it off.
    pub max_connections_per_ip: usize,
    pub public_base_url: Option<String>,
    /// `Host` header values (`host` or `host:port`, lowercase) trusted to build
    /// the URLs written into certificates when `PUBLIC_BASE_URL` is unset.
    pub allowed_hosts: Vec<String>,
    /// The port ACME http-01 validation connects to (and the only port an
    /// `http://` redirect may lead to).
    /// ACME requests that make something (new-account, new-order) per client
    /// address (an IPv6 /64 is one), on each server.
    pub acme_requests_per_ip: RateLimit,
    /// New orders per ACME account, on each server.
    pub acme_orders_per_account: RateLimit,
    /// Failed validations per ACME account before its new orders wait.
    pub acme_failed_validations_per_account: RateLimit,
    pub acme_http01_port: u16,
    /// The port ACME tls-alpn-01 validation connects to (and the only port an
    /// `https://` redirect of http-01 may lead to).
    pub acme_tlsalpn01_port: u16,
    /// The DNS servers of ACME validation (dns-01 TXT lookups and the
    /// addresses of http-01 / tls-alpn-01); empty: the system's (resolv.conf).
    pub acme_dns_resolvers: Vec<std::net::SocketAddr>,
    /// Addresses ACME validation never connects to.
    pub acme_validation_deny_cidrs: Vec<ipnet::IpNet>,
    /// When not empty, the only addresses ACME validation connects to (those
    /// not denied).
    pub acme_validation_allow_cidrs: Vec<ipnet::IpNet>,
    pub data_dir: PathBuf,
    /// `FASTPKI_TLS_CERT` and `FASTPKI_TLS_KEY`: serve HTTPS with this
    /// certificate chain and key (PEM files, re-read when they change).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `METRICS_TOKEN`: when set, `GET /metrics` needs `Authorization: Bearer <it>`.
    pub metrics_token: Option<String>,
    /// `DATABASE_POOL_TIMEOUT_SECONDS`: how long a request waits for a
    /// PostgreSQL connection (while the database is unreachable, then 503).
    pub database_pool_timeout: std::time::Duration,
    /// `WEBHOOK_URLS`: receivers of every event of every organization.
    pub webhook_urls: Vec<String>,
    /// `WEBHOOK_SECRET` (`whsec_...`): the key the events sent to
    /// `WEBHOOK_URLS` are signed with; set whenever they are.
    pub webhook_secret: Option<String>,
    /// `EXPIRY_WARNING_DAYS`: the days before expiry at which
    /// `certificate.expiring` and `ca.expiring` are sent, ascending.
    pub expiry_warning_days: Vec<i64>,
    /// `EXPIRY_SCAN_INTERVAL_SECONDS`: how often certificates nearing expiry are looked for.
    pub expiry_scan_interval: std::time::Duration,
    /// `WEBHOOK_MAX_ATTEMPTS`: attempts per delivery before it is `failed`.
    pub webhook_max_attempts: i64,
    /// `WEBHOOK_RETRY_BASE_SECONDS`: the pause after a first failed attempt,
    /// doubled after each (at most an hour).
    pub webhook_retry_base: std::time::Duration,
    /// `WEBHOOK_DENY_CIDRS`: addresses webhooks are never sent to.
    pub webhook_deny_cidrs: Vec<ipnet::IpNet>,
    /// `WEBHOOK_ALLOW_CIDRS`: when not empty, the only addresses webhooks are
    /// sent to (those not denied).
    pub webhook_allow_cidrs: Vec<ipnet::IpNet>,
}

impl std::fmt::Debug for Settings {
    // Hand-written so that no secret can ever reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("api_prefix", &self.api_prefix)
            .field("backend", &self.backend)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

/// Where settings come from: the environment, or a map in tests.
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn parse_num<T: std::str::FromStr>(var: Lookup, name: &str, default: T) -> Result<T> {
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{name} must be a number, got {v:?}")),
    }
}

fn parse_bool(var: Lookup, name: &str) -> Result<bool> {
    match var(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) => match v.as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => bail!("{name} must be true or false, got {v:?}"),
        },
    }
}

impl Settings {
    /// Loads `.env` (without overriding the environment) and reads every setting.
    pub fn from_env() -> Result<Self> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Reads every setting through `lookup` (empty values count as unset).
    pub fn from_lookup(lookup: Lookup) -> Result<Self> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let data_dir = data_dir(&var);
        let (database_url, backend) = database_from_lookup(&var)?;
        if backend == Backend::Sqlite {
            ensure_sqlite_parent(&database_url)?;
        }

        let secret_key = match var("SECRET_KEY") {
            Some(k) if k.chars().count() < 32 => {
                bail!(
                    "SECRET_KEY must be at least 32 characters long (got {})",
                    k.chars().count()
                )
            }
            Some(k) => k,
            None => load_or_generate_secret(&data_dir, "secret_key", "SECRET_KEY")?,
        };
        let service_account_token_pepper = match var("SERVICE_ACCOUNT_TOKEN_PEPPER") {
            Some(p) if p.chars().count() < 32 => {
                bail!(
                    "SERVICE_ACCOUNT_TOKEN_PEPPER must be at least 32 characters long (got {})",
                    p.chars().count()
                )
            }
            Some(p) => p,
            None => load_or_generate_secret(
                &data_dir,
                "service_account_token_pepper",
                "SERVICE_ACCOUNT_TOKEN_PEPPER",
            )?,
        };
        let private_key_encryption_key = match var("PRIVATE_KEY_ENCRYPTION_KEY") {
            Some(k) => {
                validate_fernet_key(&k)?;
                Some(k)
            }
            None => load_generated_encryption_key(
                &data_dir,
                parse_bool(&var, "GENERATE_PRIVATE_KEY_ENCRYPTION_KEY")?,
            )?,
        };

        let jwt_algorithm = match var("ALGORITHM").as_deref().unwrap_or("HS256") {
            "HS256" => jsonwebtoken::Algorithm::HS256,
            "HS384" => jsonwebtoken::Algorithm::HS384,
            "HS512" => jsonwebtoken::Algorithm::HS512,
            other => bail!("ALGORITHM must be HS256, HS384 or HS512, got {other:?}"),
        };
        let auth_rate_limit =
            parse_rate_limit(var("AUTH_RATE_LIMIT").as_deref().unwrap_or("5/minute"))?;
        let cors_origins =
            parse_cors_origins(var("BACKEND_CORS_ORIGINS").as_deref().unwrap_or(""))?;

        let settings = Settings {
            api_prefix: normalize_prefix(&var("API_V1_STR").unwrap_or("/api/v1".into()))?,
            project_name: var("PROJECT_NAME").unwrap_or("FastPKI".into()),
            database_url,
            backend,
            ca_key_size: parse_num(&var, "CA_KEY_SIZE", 4096)?,
            ca_cert_days: parse_num(&var, "CA_CERT_DAYS", 3650)?,
            cert_key_size: parse_num(&var, "CERT_KEY_SIZE", 2048)?,
            cert_days: parse_num(&var, "CERT_DAYS", 365)?,
            secret_key,
            access_token_expire_minutes: parse_num(&var, "ACCESS_TOKEN_EXPIRE_MINUTES", 15)?,
            refresh_token_expire_minutes: parse_num(&var, "REFRESH_TOKEN_EXPIRE_MINUTES", 1440)?,
            jwt_algorithm,
            auth_rate_limit,
            private_key_encryption_key,
            service_account_token_pepper,
            log_level: var("LOG_LEVEL").unwrap_or("INFO".into()),
            cors_origins,
            allow_unauthenticated_registration: parse_bool(
                &var,
                "ALLOW_UNAUTHENTICATED_REGISTRATION",
            )?,
            enable_docs: parse_bool(&var, "ENABLE_DOCS")?,
            bcrypt_cost: parse_num(&var, "BCRYPT_COST", 12)?,
            max_body_bytes: parse_num(&var, "MAX_BODY_BYTES", 1024 * 1024)?,
            crl_validity_days: parse_num(&var, "CRL_VALIDITY_DAYS", 7)?,
            cache_freshness: std::time::Duration::from_secs(parse_num(
                &var,
                "CACHE_FRESHNESS_SECONDS",
                5,
            )?),
            key_pool_size: parse_num(&var, "KEY_POOL_SIZE", 8)?,
            key_pool_algorithms: parse_key_pool_algorithms(
                var("KEY_POOL_ALGORITHMS").as_deref(),
                parse_num(&var, "CERT_KEY_SIZE", 2048)?,
            )?,
            max_leaf_rsa_bits: parse_num(&var, "MAX_LEAF_RSA_BITS", 4096)?,
            header_read_timeout_secs: parse_num(&var, "HEADER_READ_TIMEOUT_SECONDS", 10)?,
            max_connections: parse_num(&var, "MAX_CONNECTIONS", 1024)?,
            max_connections_per_ip: parse_num(&var, "MAX_CONNECTIONS_PER_IP", 256)?,
            public_base_url: var("PUBLIC_BASE_URL")
                .map(|u| u.trim().trim_end_matches('/').to_string()),
            allowed_hosts: parse_allowed_hosts(var("ALLOWED_HOSTS").as_deref().unwrap_or(""))?,
            acme_requests_per_ip: parse_named_rate_limit(
                "ACME_REQUESTS_PER_IP",
                var("ACME_REQUESTS_PER_IP")
                    .as_deref()
                    .unwrap_or("300/minute"),
            )?,
            acme_orders_per_account: parse_named_rate_limit(
                "ACME_ORDERS_PER_ACCOUNT",
                var("ACME_ORDERS_PER_ACCOUNT")
                    .as_deref()
                    .unwrap_or("300/hour"),
            )?,
            acme_failed_validations_per_account: parse_named_rate_limit(
                "ACME_FAILED_VALIDATIONS_PER_ACCOUNT",
                var("ACME_FAILED_VALIDATIONS_PER_ACCOUNT")
                    .as_deref()
                    .unwrap_or("60/hour"),
            )?,
            acme_http01_port: parse_port(&var, "ACME_HTTP01_PORT", 80)?,
            acme_tlsalpn01_port: parse_port(&var, "ACME_TLSALPN01_PORT", 443)?,
            acme_dns_resolvers: parse_dns_resolvers(
                var("ACME_DNS_RESOLVERS").as_deref().unwrap_or(""),
            )?,
            acme_validation_deny_cidrs: parse_cidrs(
                "ACME_VALIDATION_DENY_CIDRS",
                var("ACME_VALIDATION_DENY_CIDRS")
                    .as_deref()
                    .unwrap_or(DEFAULT_ACME_VALIDATION_DENY_CIDRS),
            )?,
            acme_validation_allow_cidrs: parse_cidrs(
                "ACME_VALIDATION_ALLOW_CIDRS",
                var("ACME_VALIDATION_ALLOW_CIDRS").as_deref().unwrap_or(""),
            )?,
            data_dir,
            tls: match (var("FASTPKI_TLS_CERT"), var("FASTPKI_TLS_KEY")) {
                (Some(cert), Some(key)) => Some((cert.trim().into(), key.trim().into())),
                (None, None) => None,
                _ => bail!("FASTPKI_TLS_CERT and FASTPKI_TLS_KEY are set together or not at all"),
            },
            metrics_token: var("METRICS_TOKEN"),
            database_pool_timeout: std::time::Duration::from_secs(parse_num(
                &var,
                "DATABASE_POOL_TIMEOUT_SECONDS",
                10,
            )?),
            webhook_urls: parse_webhook_urls(var("WEBHOOK_URLS").as_deref().unwrap_or(""))?,
            webhook_secret: var("WEBHOOK_SECRET").map(|s| s.trim().to_string()),
            expiry_warning_days: parse_expiry_warning_days(
                var("EXPIRY_WARNING_DAYS").as_deref().unwrap_or("30,7,1"),
            )?,
            expiry_scan_interval: std::time::Duration::from_secs(parse_num(
                &var,
                "EXPIRY_SCAN_INTERVAL_SECONDS",
                3600,
            )?),
            webhook_max_attempts: parse_num(&var, "WEBHOOK_MAX_ATTEMPTS", 12)?,
            webhook_retry_base: std::time::Duration::from_secs(parse_num(
                &var,
                "WEBHOOK_RETRY_BASE_SECONDS",
                10,
            )?),
            webhook_deny_cidrs: parse_cidrs(
                "WEBHOOK_DENY_CIDRS",
                var("WEBHOOK_DENY_CIDRS")
                    .as_deref()
                    .unwrap_or(DEFAULT_ACME_VALIDATION_DENY_CIDRS),
            )?,
            webhook_allow_cidrs: parse_cidrs(
                "WEBHOOK_ALLOW_CIDRS",
                var("WEBHOOK_ALLOW_CIDRS").as_deref().unwrap_or(""),
            )?,
        };
        settings.check_ranges()?;
        Ok(settings)
    }

    fn check_ranges(&self) -> Result<()> {
        for (name, bits) in [
            ("CA_KEY_SIZE", self.ca_key_size),
            ("CERT_KEY_SIZE", self.cert_key_size),
        ] {
            if ![2048, 3072, 4096, 8192].contains(&bits) {
                bail!(
                    "{name} must be 2048, 3072, 4096 or 8192 (the RSA sizes that can be generated), got {bits}"
                );
            }
        }
        if ![2048, 3072, 4096, 8192].contains(&self.max_leaf_rsa_bits) {
            bail!(
                "MAX_LEAF_RSA_BITS must be 2048, 3072, 4096 or 8192, got {}",
                self.max_leaf_rsa_bits
            );
        }
        if self.cert_key_size > self.max_leaf_rsa_bits {
            bail!(
                "CERT_KEY_SIZE ({}) must not exceed MAX_LEAF_RSA_BITS ({})",
                self.cert_key_size,
                self.max_leaf_rsa_bits
            );
        }
        for (name, days) in [
            ("CA_CERT_DAYS", self.ca_cert_days),
            ("CERT_DAYS", self.cert_days),
        ] {
            if !(1..=36500).contains(&days) {
                bail!("{name} must be between 1 and 36500, got {days}");
            }
        }
        if self.access_token_expire_minutes < 1 || self.refresh_token_expire_minutes < 1 {
            bail!(
                "ACCESS_TOKEN_EXPIRE_MINUTES and REFRESH_TOKEN_EXPIRE_MINUTES must be at least 1"
            );
        }
        if !(4..=31).contains(&self.bcrypt_cost) {
            bail!(
                "BCRYPT_COST must be between 4 and 31, got {}",
                self.bcrypt_cost
            );
        }
        if self.cache_freshness > std::time::Duration::from_secs(300) {
            bail!(
                "CACHE_FRESHNESS_SECONDS must be between 0 and 300, got {}",
                self.cache_freshness.as_secs()
            );
        }
        if !(1..=365).contains(&self.crl_validity_days) {
            bail!(
                "CRL_VALIDITY_DAYS must be between 1 and 365, got {}",
                self.crl_validity_days
            );
        }
        let bad_url = |u: &String| {
            !(u.starts_with("http://") || u.starts_with("https://"))
                || u.contains(char::is_whitespace)
        };
        if let Some(u) = self.public_base_url.as_ref().filter(|u| bad_url(u)) {
            bail!("PUBLIC_BASE_URL must be an http(s) URL, got {u:?}");
        }
        if self.key_pool_size > 1024 {
            bail!(
                "KEY_POOL_SIZE must be at most 1024, got {}",
                self.key_pool_size
            );
        }
        if !(1..=3600).contains(&self.header_read_timeout_secs) {
            bail!(
                "HEADER_READ_TIMEOUT_SECONDS must be between 1 and 3600, got {}",
                self.header_read_timeout_secs
            );
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            bail!(
                "MAX_CONNECTIONS must be between 1 and 1000000, got {}",
                self.max_connections
            );
        }
        if self.max_connections_per_ip > self.max_connections {
            bail!(
                "MAX_CONNECTIONS_PER_IP ({}) must not exceed MAX_CONNECTIONS ({}); 0 turns it off",
                self.max_connections_per_ip,
                self.max_connections
            );
        }
        if let Some(t) = &self.metrics_token
            && (t.chars().count() < 16 || t.contains(char::is_whitespace))
        {
            // Never the value itself: it is a secret.
            bail!("METRICS_TOKEN must be at least 16 characters long, without spaces");
        }
        if !(1..=300).contains(&self.database_pool_timeout.as_secs()) {
            bail!(
                "DATABASE_POOL_TIMEOUT_SECONDS must be between 1 and 300, got {}",
                self.database_pool_timeout.as_secs()
            );
        }
        if self.max_body_bytes < 1024 {
            bail!("MAX_BODY_BYTES must be at least 1024");
        }
        self.check_webhooks()
    }

    fn check_webhooks(&self) -> Result<()> {
        match &self.webhook_secret {
            // Never the value itself: it is a secret.
            Some(s) if decode_webhook_secret(s).is_none() => bail!(
                "WEBHOOK_SECRET must be whsec_ followed by the base64 of 24 to 64 random bytes; \
                 make one with: python3 -c 'import base64,os; print(\"whsec_\" + base64.b64encode(os.urandom(32)).decode())'"
            ),
            None if !self.webhook_urls.is_empty() => bail!(
                "WEBHOOK_URLS is set but WEBHOOK_SECRET is not: the events sent there are signed with it \
                 (whsec_ followed by the base64 of 32 random bytes)"
            ),
            _ => {}
        }
        if !(1..=3600 * 24).contains(&self.expiry_scan_interval.as_secs()) {
            bail!(
                "EXPIRY_SCAN_INTERVAL_SECONDS must be between 1 and 86400, got {}",
                self.expiry_scan_interval.as_secs()
            );
        }
        if !(1..=100).contains(&self.webhook_max_attempts) {
            bail!(
                "WEBHOOK_MAX_ATTEMPTS must be between 1 and 100, got {}",
                self.webhook_max_attempts
            );
        }
        if !(1..=3600).contains(&self.webhook_retry_base.as_secs()) {
            bail!(
                "WEBHOOK_RETRY_BASE_SECONDS must be between 1 and 3600, got {}",
                self.webhook_retry_base.as_secs()
            );
        }
        Ok(())
    }
}

/// `FASTPKI_DATA_DIR`, or `./data`.
fn data_dir(var: Lookup) -> PathBuf {
    PathBuf::from(var("FASTPKI_DATA_DIR").unwrap_or(DEFAULT_DATA_DIR.into()))
}

/// The sqlx URL and backend that `DATABASE_URL` (or the default SQLite file in
/// `FASTPKI_DATA_DIR`) names, without creating anything and without reading
/// any secret: what the admin commands that only copy a database need.
pub fn database_from_lookup(lookup: Lookup) -> Result<(String, Backend)> {
    let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    match var("DATABASE_URL") {
        Some(url) => normalize_database_url(&url),
        None => Ok((
            sqlite_url(&data_dir(&var).join("fastpki.db")),
            Backend::Sqlite,
        )),
    }
}

/// `database_from_lookup` on the environment (after `.env`).
pub fn database_from_env() -> Result<(String, Backend)> {
    let _ = dotenvy::dotenv();
    database_from_lookup(&|name| std::env::var(name).ok())
}

/// The file of a SQLite sqlx URL (as `sqlite_url` and `normalize_database_url` make them).
pub fn sqlite_path(sqlx_url: &str) -> PathBuf {
    let path = sqlx_url.trim_start_matches("sqlite://");
    PathBuf::from(path.split('?').next().unwrap_or(path))
}

/// The prefix of a webhook signing secret (the Standard Webhooks form).
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";

/// The key bytes of a webhook secret: `whsec_` then standard base64 of 24 to
/// 64 bytes (Standard Webhooks); None when it is not one.
pub fn decode_webhook_secret(secret: &str) -> Option<Vec<u8>> {
    let b64 = secret.trim().strip_prefix(WEBHOOK_SECRET_PREFIX)?;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .filter(|k| (24..=64).contains(&k.len()))
}

/// A webhook receiver's URL, or why it cannot be one: `http` or `https`, a
/// host, no user name or password (the signature authenticates us, and a
/// password would be shown in every listing), no fragment, at most 2048
/// characters.
pub fn check_webhook_url(url: &str) -> std::result::Result<reqwest::Url, String> {
    let url = url.trim();
    if url.chars().count() > 2048 {
        return Err("the URL must be at most 2048 characters".into());
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "the URL must be http:// or https://, not {}://",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("the URL must not hold a user name or password".into());
    }
    if parsed.fragment().is_some() {
        return Err("the URL must not have a #fragment".into());
    }
    Ok(parsed)
}

/// `WEBHOOK_URLS`: comma-separated (or a JSON list of) http(s) URLs.
fn parse_webhook_urls(s: &str) -> Result<Vec<String>> {
    let mut urls: Vec<String> = Vec::new();
    for u in parse_list("WEBHOOK_URLS", "URLs", s)? {
        // Neither a password nor the rest of the URL reaches a message: a URL may carry a token.
        let parsed = check_webhook_url(&u)
            .map_err(|why| anyhow::anyhow!("WEBHOOK_URLS: an entry is refused: {why}"))?;
        let u = parsed.to_string();
        if !urls.contains(&u) {
            urls.push(u);
        }
    }
    Ok(urls)
}

/// `EXPIRY_WARNING_DAYS`: comma-separated whole days, 1 to 3650 (`30,7,1`);
/// `none` sends no expiry events.
fn parse_expiry_warning_days(s: &str) -> Result<Vec<i64>> {
    if s.trim().eq_ignore_ascii_case("none") {
        return Ok(vec![]);
    }
    let mut days = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let d: i64 = item
            .parse()
            .ok()
            .filter(|d| (1..=3650).contains(d))
            .with_context(|| {
                format!("EXPIRY_WARNING_DAYS: {item:?} is not a number of days between 1 and 3650")
            })?;
        if !days.contains(&d) {
            days.push(d);
        }
    }
    days.sort_unstable();
    Ok(days)
}

/// A TCP port, 1 to 65535.
fn parse_port(var: Lookup, name: &str, default: u16) -> Result<u16> {
    let port: u64 = parse_num(var, name, u64::from(default))?;
    u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .with_context(|| format!("{name} must be a port between 1 and 65535, got {port}"))
}

/// What ACME validation never connects to unless `ACME_VALIDATION_DENY_CIDRS`
/// says otherwise. Private ranges and loopback are allowed (a private CA
/// validates private names); denied are the addresses that are never a
/// validation target but can reach something that must not be probed:
/// - `0.0.0.0/8`, `::/128`: "this host" (a connection to 0.0.0.0 reaches the
///   server itself on Linux);
/// - `169.254.0.0/16`, `fe80::/10`: link-local, where the cloud metadata
///   services (169.254.169.254: AWS, GCP, Azure, OpenStack) hand out credentials;
/// - `fd00:ec2::254/128`: AWS's IPv6 metadata service; `100.100.100.200/32`:
///   Alibaba Cloud's (both inside ranges that stay allowed);
/// - `224.0.0.0/4`, `ff00::/8`: multicast; `240.0.0.0/4`: reserved, and the
///   broadcast address.
///
/// An IPv4-mapped IPv6 address (`::ffff:169.254.169.254`) is checked as the
/// IPv4 address it maps.
pub const DEFAULT_ACME_VALIDATION_DENY_CIDRS: &str = "0.0.0.0/8,169.254.0.0/16,100.100.100.200/32,224.0.0.0/4,240.0.0.0/4,::/128,fe80::/10,fd00:ec2::254/128,ff00::/8";

/// `ACME_VALIDATION_{DENY,ALLOW}_CIDRS`: comma-separated networks
/// (`10.0.0.0/8`, `fd00::/8`) or single addresses; `none` is the empty list.
/// A network with host bits set (`10.0.0.1/8`) is refused as a likely typo.
fn parse_cidrs(name: &str, s: &str) -> Result<Vec<ipnet::IpNet>> {
    if s.trim().eq_ignore_ascii_case("none") {
        return Ok(vec![]);
    }
    let mut nets = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let net = if item.contains('/') {
            let net: ipnet::IpNet = item.parse().map_err(|_| {
                anyhow::anyhow!("{name}: {item:?} is not a network (e.g. 10.0.0.0/8, fd00::/8)")
            })?;
            if net.trunc() != net {
                bail!(
                    "{name}: {item:?} has host bits set; did you mean {}?",
                    net.trunc()
                );
            }
            net
        } else {
            let ip: std::net::IpAddr = item.parse().map_err(|_| {
                anyhow::anyhow!("{name}: {item:?} is not an address or a network (e.g. 10.0.0.0/8)")
            })?;
            ipnet::IpNet::from(ip)
        };
        if !nets.contains(&net) {
            nets.push(net);
        }
    }
    Ok(nets)
}

/// `ACME_DNS_RESOLVERS`: comma-separated `ip:port` (`[ipv6]:port`); a bare
/// address means port 53.
fn parse_dns_resolvers(s: &str) -> Result<Vec<std::net::SocketAddr>> {
    let mut servers = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let addr = match item.parse::<std::net::SocketAddr>() {
            Ok(a) => a,
            Err(_) => match item.parse::<std::net::IpAddr>() {
                Ok(ip) => std::net::SocketAddr::new(ip, 53),
                Err(_) => bail!(
                    "ACME_DNS_RESOLVERS: {item:?} is not ip:port (e.g. 10.0.0.53:53, [fd00::53]:53)"
                ),
            },
        };
        if addr.port() == 0 {
            bail!("ACME_DNS_RESOLVERS: {item:?} has port 0");
        }
        if !servers.contains(&addr) {
            servers.push(addr);
        }
    }
    Ok(servers)
}

/// `KEY_POOL_ALGORITHMS`: a comma-separated list of `rsa-2048`, `rsa-3072`,
/// `rsa-4096`, `rsa-8192`, `ecdsa-p256`, `ecdsa-p384`, `ed25519`; by default
/// the RSA size of `CERT_KEY_SIZE`, the only slow key made per request.
fn parse_key_pool_algorithms(
    value: Option<&str>,
    cert_key_size: u32,
) -> Result<Vec<pki::KeyAlgorithm>> {
    use pki::KeyAlgorithm::{EcdsaP256, EcdsaP384, Ed25519, Rsa};
    const POOLABLE: [pki::KeyAlgorithm; 7] = [
        Rsa { bits: 2048 },
        Rsa { bits: 3072 },
        Rsa { bits: 4096 },
        Rsa { bits: 8192 },
        EcdsaP256,
        EcdsaP384,
        Ed25519,
    ];
    let Some(value) = value else {
        let default = Rsa {
            bits: cert_key_size,
        };
        return Ok(POOLABLE.into_iter().filter(|a| *a == default).collect());
    };
    let mut algs = Vec::new();
    for name in value.split(',').map(|n| n.trim().to_ascii_lowercase()) {
        if name.is_empty() {
            continue;
        }
        let Some(alg) = POOLABLE.into_iter().find(|a| a.to_string() == name) else {
            let known: Vec<String> = POOLABLE.iter().map(|a| a.to_string()).collect();
            bail!(
                "KEY_POOL_ALGORITHMS: unknown algorithm {name:?}; use {}",
                known.join(", ")
            );
        };
        if !algs.contains(&alg) {
            algs.push(alg);
        }
    }
    Ok(algs)
}

/// `ALLOWED_HOSTS`: a JSON list or a comma-separated list of `host` or
/// `host:port` (`pki.example.com`, `pki.example.com:8443`, `[fd00::1]:8000`).
fn parse_allowed_hosts(s: &str) -> Result<Vec<String>> {
    let mut hosts = Vec::new();
    for h in parse_list("ALLOWED_HOSTS", "hosts", s)?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
    {
        if h.is_empty() {
            continue;
        }
        if !h
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
        {
            bail!("ALLOWED_HOSTS: {h:?} is not a host or host:port");
        }
        hosts.push(h);
    }
    Ok(hosts)
}

fn normalize_prefix(p: &str) -> Result<String> {
    let trimmed = p.trim().trim_end_matches('/');
    if !trimmed.starts_with('/') || trimmed.len() < 2 {
        bail!("API_V1_STR must start with '/' and name a path, got {p:?}");
    }
    Ok(trimmed.to_string())
}

/// sqlx URL for a SQLite file, created on first connect.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Accepts the URL forms FastPKI users already have (SQLAlchemy style) and
/// returns the sqlx URL plus the backend.
///
/// SQLite follows SQLAlchemy: `sqlite:///relative/path`, `sqlite:////absolute/path`.
pub fn normalize_database_url(url: &str) -> Result<(String, Backend)> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://").with_context(|| {
        format!(
            "DATABASE_URL is not a URL (expected sqlite:///path or postgresql://...): {:?}",
            redact_url(url)
        )
    })?;
    match scheme {
        "sqlite" | "sqlite+aiosqlite" => {
            let path = rest.split('?').next().unwrap_or("");
            // SQLAlchemy: the part after "sqlite:///" is the path; a fourth slash makes it absolute.
            let path = path.strip_prefix('/').unwrap_or(path);
            if path.is_empty() || path == ":memory:" {
                bail!("DATABASE_URL must name a SQLite file, e.g. sqlite:///data/fastpki.db");
            }
            Ok((sqlite_url(Path::new(path)), Backend::Sqlite))
        }
        "postgresql"
        | "postgres"
        | "postgresql+asyncpg"
        | "postgresql+psycopg"
        | "postgresql+psycopg2" => {
            if rest.is_empty() {
                bail!("DATABASE_URL is missing the PostgreSQL host");
            }
            Ok((format!("postgres://{rest}"), Backend::Postgres))
        }
        other => bail!(
            "DATABASE_URL scheme {other:?} is not supported: use sqlite:///path or postgresql://user@host/db"
        ),
    }
}

/// Hides a password in a database URL before it is shown anywhere.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn ensure_sqlite_parent(sqlx_url: &str) -> Result<()> {
    let path = sqlite_path(sqlx_url);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create database folder {}", parent.display()))?;
    }
    // Create the file owner-only before SQLite does; its -wal and -shm files inherit the mode.
    if !path.exists() {
        write_private_file(&path, b"")?;
    }
    Ok(())
}

/// Reads a generated secret from the data folder, creating it (mode 0600) if absent.
fn load_or_generate_secret(dir: &Path, file: &str, var_name: &str) -> Result<String> {
    let make = || {
        let mut bytes = [0u8; 48];
        aws_lc_rs::rand::fill(&mut bytes)
            .map_err(|_| anyhow::anyhow!("system random generator failed"))?;
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    };
    let secret = load_or_create_private(dir, file, var_name, Some(make))?
        .context("a generated secret is always made")?;
    if secret.chars().count() < 32 {
        bail!(
            "{} holds a secret shorter than 32 characters: fix or delete it",
            dir.join(file).display()
        );
    }
    Ok(secret)
}

/// Without `PRIVATE_KEY_ENCRYPTION_KEY`: the key in the data folder's
/// `private_key_encryption_key` when that file exists (whatever `generate`
/// says, so that keys sealed with it keep opening), else a new one written
/// there when `generate` (`GENERATE_PRIVATE_KEY_ENCRYPTION_KEY`) is on, else none.
fn load_generated_encryption_key(dir: &Path, generate: bool) -> Result<Option<String>> {
    let make = || {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes)
            .map_err(|_| anyhow::anyhow!("system random generator failed"))?;
        Ok(base64::engine::general_purpose::URL_SAFE.encode(bytes))
    };
    let key = load_or_create_private(
        dir,
        "private_key_encryption_key",
        "PRIVATE_KEY_ENCRYPTION_KEY",
        generate.then_some(make),
    )?;
    if let Some(k) = &key {
        validate_fernet_key(k).with_context(|| {
            format!(
                "{} does not hold a Fernet key",
                dir.join("private_key_encryption_key").display()
            )
        })?;
    }
    Ok(key)
}

/// The trimmed content of `dir/file`, a secret only this user may read. When the
/// file is missing and `make` is given, a new value is made and written there,
/// atomically and never over another's: a complete file (mode 0600 from the
/// start, `O_EXCL`) is linked into place, so a reader never sees it half
/// written and two servers starting at once end up with the same value.
///
/// A file that others may read (group or world bits) is refused rather than
/// used: a secret that leaked must be replaced, not trusted. A file that cannot
/// be read is an error, never a reason to write a new one.
fn load_or_create_private(
    dir: &Path,
    file: &str,
    var_name: &str,
    make: Option<impl FnOnce() -> Result<String>>,
) -> Result<Option<String>> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(file);
    match fs::File::open(&path) {
        Ok(mut f) => {
            let mode = f
                .metadata()
                .with_context(|| format!("cannot read {}", path.display()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                bail!(
                    "{} is readable by other users (mode {:04o}): it holds {var_name}; \
                     make it private with `chmod 600 {}` (and replace the secret if others may have read it)",
                    path.display(),
                    mode & 0o7777,
                    path.display()
                );
            }
            let mut text = String::new();
            std::io::Read::read_to_string(&mut f, &mut text)
                .with_context(|| format!("cannot read {}", path.display()))?;
            return Ok(Some(text.trim().to_string()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "cannot read {} (it holds {var_name}; the server's user must own it)",
                    path.display()
                )
            });
        }
    }
    let Some(make) = make else {
        return Ok(None);
    };
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data folder {}", dir.display()))?;
    let secret = make()?;
    let mut tag = [0u8; 8];
    aws_lc_rs::rand::fill(&mut tag)
        .map_err(|_| anyhow::anyhow!("system random generator failed"))?;
    let tmp = dir.join(format!(".{file}.{}.tmp", hex::encode(tag)));
    let written = (|| -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(secret.as_bytes())?;
        f.sync_all()?;
        Ok(())
    })();
    let linked = written.and_then(|()| fs::hard_link(&tmp, &path).map_err(anyhow::Error::from));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
            tracing::warn!(
                "{var_name} is not set: generated one and stored it in {} (mode 0600). Set {var_name} to manage it yourself.",
                path.display()
            );
            Ok(Some(secret))
        }
        // Another process made it first: theirs is the one.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::AlreadyExists) =>
        {
            load_or_create_private(dir, file, var_name, None::<fn() -> Result<String>>)
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// Writes a file readable only by its owner.
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(contents)?;
    Ok(())
}

/// A Fernet key is URL-safe base64 of exactly 32 bytes.
pub fn validate_fernet_key(key: &str) -> Result<()> {
    let ok = base64::engine::general_purpose::URL_SAFE
        .decode(key.trim())
        .map(|b| b.len() == 32)
        .unwrap_or(false);
    if !ok {
        bail!(
            "PRIVATE_KEY_ENCRYPTION_KEY is not a valid Fernet key (URL-safe base64 of 32 bytes). \
             Make one with: python3 -c 'import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'"
        );
    }
    Ok(())
}

/// Parses slowapi/limits notation: `5/minute`, `100 per hour`, `10/30 seconds`.
pub fn parse_rate_limit(s: &str) -> Result<RateLimit> {
    parse_named_rate_limit("AUTH_RATE_LIMIT", s)
}

/// A rate setting `name` (`5/minute`, `300 per hour`, `10/2 minutes`).
pub fn parse_named_rate_limit(name: &str, s: &str) -> Result<RateLimit> {
    let lower = s.trim().to_ascii_lowercase();
    let (count, period) = lower
        .split_once('/')
        .or_else(|| lower.split_once(" per "))
        .with_context(|| format!("{name} must look like 5/minute, got {s:?}"))?;
    let count: u32 = count
        .trim()
        .parse()
        .ok()
        .filter(|c| *c > 0)
        .with_context(|| format!("{name} count must be a positive number, got {s:?}"))?;
    let period = period.trim();
    let (mult, unit) = match period.split_once(' ') {
        Some((n, unit)) => (
            n.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .with_context(|| format!("{name} period is not understood: {s:?}"))?,
            unit.trim(),
        ),
        None => (1, period),
    };
    let unit_secs = match unit.trim_end_matches('s') {
        "second" | "sec" => 1,
        "minute" | "min" => 60,
        "hour" => 3600,
        "day" => 86400,
        _ => bail!("{name} unit must be second, minute, hour or day, got {s:?}"),
    };
    Ok(RateLimit {
        count,
        window_secs: mult * unit_secs,
    })
}

/// `BACKEND_CORS_ORIGINS` is a JSON list; a comma-separated list is accepted too.
pub fn parse_cors_origins(s: &str) -> Result<Vec<String>> {
    Ok(parse_list("BACKEND_CORS_ORIGINS", "origins", s)?
        .into_iter()
        .map(|o| o.trim_end_matches('/').to_string())
        .collect())
}

/// A list setting: a JSON list, or comma-separated values (trimmed, empty ones dropped).
fn parse_list(name: &str, what: &str, s: &str) -> Result<Vec<String>> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(vec![]);
    }
    if s.starts_with('[') {
        return serde_json::from_str(s)
            .with_context(|| format!("{name} must be a JSON list of {what}"));
    }
    Ok(s.split(',')
        .map(|o| o.trim().to_string())
        .filter(|o| !o.is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_follow_sqlalchemy() {
        assert_eq!(
            normalize_database_url("sqlite:////tmp/x/db").unwrap(),
            ("sqlite:///tmp/x/db?mode=rwc".to_string(), Backend::Sqlite)
        );
        assert_eq!(
            normalize_database_url("sqlite+aiosqlite:///./data/f.db")
                .unwrap()
                .0,
            "sqlite://./data/f.db?mode=rwc"
        );
        assert!(normalize_database_url("sqlite:///").is_err());
        assert!(normalize_database_url("mysql://x").is_err());
        assert!(normalize_database_url("nonsense").is_err());
    }

    #[test]
    fn postgres_urls_are_rewritten() {
        let (url, b) = normalize_database_url("postgresql+asyncpg://u:p@h:5432/db").unwrap();
        assert_eq!(url, "postgres://u:p@h:5432/db");
        assert_eq!(b, Backend::Postgres);
    }

    #[test]
    fn redaction_hides_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert!(!redact_url("postgres://u:secret@h/db").contains("secret"));
    }

    #[test]
    fn metrics_token_and_pool_timeout_are_checked() {
        let with = |extra: &[(&str, &str)]| {
            let mut env: std::collections::HashMap<&str, &str> = [
                ("DATABASE_URL", "postgres://u@db.invalid/fastpki"),
                ("SECRET_KEY", "a-secret-key-of-at-least-32-characters"),
                (
                    "SERVICE_ACCOUNT_TOKEN_PEPPER",
                    "a-pepper-of-at-least-32-characters-long",
                ),
            ]
            .into();
            env.extend(extra.iter().copied());
            Settings::from_lookup(&|name| env.get(name).map(|v| v.to_string()))
        };
        let s = with(&[]).unwrap();
        assert_eq!(s.metrics_token, None);
        assert_eq!(s.database_pool_timeout.as_secs(), 10);
        let s = with(&[
            ("METRICS_TOKEN", "0123456789abcdef"),
            ("DATABASE_POOL_TIMEOUT_SECONDS", "3"),
        ])
        .unwrap();
        assert_eq!(s.metrics_token.as_deref(), Some("0123456789abcdef"));
        assert_eq!(s.database_pool_timeout.as_secs(), 3);
        for bad in ["short", "sixteen chars ok"] {
            let e = with(&[("METRICS_TOKEN", bad)]).unwrap_err().to_string();
            assert!(e.contains("METRICS_TOKEN") && !e.contains(bad), "{e}");
        }
        for bad in ["0", "301", "soon"] {
            assert!(
                with(&[("DATABASE_POOL_TIMEOUT_SECONDS", bad)]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn webhook_settings_are_checked() {
        let with = |extra: &[(&str, &str)]| {
            let mut env: std::collections::HashMap<&str, &str> = [
                ("DATABASE_URL", "postgres://u@db.invalid/fastpki"),
                ("SECRET_KEY", "a-secret-key-of-at-least-32-characters"),
                (
                    "SERVICE_ACCOUNT_TOKEN_PEPPER",
                    "a-pepper-of-at-least-32-characters-long",
                ),
            ]
            .into();
            env.extend(extra.iter().copied());
            Settings::from_lookup(&|name| env.get(name).map(|v| v.to_string()))
        };
        let s = with(&[]).unwrap();
        assert!(s.webhook_urls.is_empty() && s.webhook_secret.is_none());
        assert_eq!(s.expiry_warning_days, [1, 7, 30]);
        assert_eq!(s.expiry_scan_interval.as_secs(), 3600);
        assert_eq!(s.webhook_max_attempts, 12);
        assert_eq!(s.webhook_retry_base.as_secs(), 10);
        assert!(s.webhook_allow_cidrs.is_empty());
        assert_eq!(s.webhook_deny_cidrs, s.acme_validation_deny_cidrs);

        const SECRET: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
        let s = with(&[
            (
                "WEBHOOK_URLS",
                "https://hooks.example.com/fastpki, http://10.0.0.5:8080/in",
            ),
            ("WEBHOOK_SECRET", SECRET),
            ("EXPIRY_WARNING_DAYS", "14, 3,14"),
            ("EXPIRY_SCAN_INTERVAL_SECONDS", "1"),
            ("WEBHOOK_MAX_ATTEMPTS", "3"),
            ("WEBHOOK_RETRY_BASE_SECONDS", "1"),
        ])
        .unwrap();
        assert_eq!(
            s.webhook_urls,
            [
                "https://hooks.example.com/fastpki",
                "http://10.0.0.5:8080/in"
            ]
        );
        assert_eq!(decode_webhook_secret(SECRET).unwrap().len(), 32);
        assert_eq!(s.expiry_warning_days, [3, 14]);
        assert!(
            with(&[("EXPIRY_WARNING_DAYS", "none")])
                .unwrap()
                .expiry_warning_days
                .is_empty()
        );

        // URLs without a secret, and a secret that is not one, say so (never
        // showing the secret).
        let e = with(&[("WEBHOOK_URLS", "https://hooks.example.com/")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("WEBHOOK_SECRET is not"), "{e}");
        for bad in ["s3cr3t-value", "whsec_notbase64!!", "whsec_c2hvcnQ="] {
            let e = with(&[("WEBHOOK_SECRET", bad)]).unwrap_err().to_string();
            assert!(e.contains("WEBHOOK_SECRET must be whsec_"), "{e}");
            assert!(!e.contains(bad), "{e}");
        }
        for bad in [
            "ftp://hooks.example.com/",
            "https://user:pw@hooks.example.com/",
            "hooks.example.com",
            "https://hooks.example.com/#x",
        ] {
            let e = with(&[("WEBHOOK_URLS", bad), ("WEBHOOK_SECRET", SECRET)])
                .unwrap_err()
                .to_string();
            assert!(e.contains("WEBHOOK_URLS"), "{e}");
            assert!(!e.contains("pw@"), "{e}");
        }
        for (name, bad) in [
            ("EXPIRY_WARNING_DAYS", "0"),
            ("EXPIRY_WARNING_DAYS", "seven"),
            ("EXPIRY_SCAN_INTERVAL_SECONDS", "0"),
            ("WEBHOOK_MAX_ATTEMPTS", "0"),
            ("WEBHOOK_MAX_ATTEMPTS", "101"),
            ("WEBHOOK_RETRY_BASE_SECONDS", "0"),
            ("WEBHOOK_DENY_CIDRS", "10.0.0.1/8"),
        ] {
            assert!(with(&[(name, bad)]).is_err(), "{name}={bad}");
        }
    }

    #[test]
    fn rate_limits_parse() {
        assert_eq!(
            parse_rate_limit("5/minute").unwrap(),
            RateLimit {
                count: 5,
                window_secs: 60
            }
        );
        assert_eq!(parse_rate_limit("10000/minute").unwrap().count, 10000);
        assert_eq!(parse_rate_limit("3 per hour").unwrap().window_secs, 3600);
        assert_eq!(parse_rate_limit("2/30 seconds").unwrap().window_secs, 30);
        assert!(parse_rate_limit("five/minute").is_err());
        assert!(parse_rate_limit("5/fortnight").is_err());
        assert!(parse_rate_limit("0/minute").is_err());
    }

    #[test]
    fn allowed_hosts_parse() {
        assert_eq!(
            parse_allowed_hosts("PKI.example.com, pki.example.com:8443").unwrap(),
            ["pki.example.com", "pki.example.com:8443"]
        );
        assert_eq!(
            parse_allowed_hosts(r#"["[fd00::1]:8000"]"#).unwrap(),
            ["[fd00::1]:8000"]
        );
        assert!(parse_allowed_hosts("").unwrap().is_empty());
        assert!(parse_allowed_hosts("evil.example/x").is_err());
    }

    #[test]
    fn key_pool_algorithms_parse() {
        let names = |algs: Vec<pki::KeyAlgorithm>| -> Vec<String> {
            algs.iter().map(|a| a.to_string()).collect()
        };
        assert_eq!(
            names(parse_key_pool_algorithms(None, 3072).unwrap()),
            ["rsa-3072"]
        );
        assert_eq!(
            names(
                parse_key_pool_algorithms(Some(" RSA-2048, ecdsa-p256,rsa-2048 "), 2048).unwrap()
            ),
            ["rsa-2048", "ecdsa-p256"]
        );
        assert!(
            parse_key_pool_algorithms(Some(""), 2048)
                .unwrap()
                .is_empty()
        );
        assert!(parse_key_pool_algorithms(Some("rsa-1024"), 2048).is_err());
    }

    #[test]
    fn cors_origins_parse() {
        assert_eq!(
            parse_cors_origins(r#"["http://a.test/", "http://b.test"]"#).unwrap(),
            vec!["http://a.test", "http://b.test"]
        );
        assert_eq!(
            parse_cors_origins("http://a.test,http://b.test")
                .unwrap()
                .len(),
            2
        );
        assert!(parse_cors_origins("[not json").is_err());
    }

    #[test]
    fn acme_validation_settings_parse() {
        let nets = |s| -> Vec<String> {
            parse_cidrs("X", s)
                .unwrap()
                .iter()
                .map(|n| n.to_string())
                .collect()
        };
        assert_eq!(
            nets(" 10.0.0.0/8, fd00::/8 ,192.0.2.7,10.0.0.0/8"),
            ["10.0.0.0/8", "fd00::/8", "192.0.2.7/32"]
        );
        assert!(nets("none").is_empty());
        assert!(nets("").is_empty());
        let default = nets(DEFAULT_ACME_VALIDATION_DENY_CIDRS);
        for n in ["169.254.0.0/16", "fe80::/10", "0.0.0.0/8", "::/128"] {
            assert!(default.contains(&n.to_string()), "{n}");
        }
        let err = parse_cidrs("X", "10.0.0.1/8").unwrap_err().to_string();
        assert!(err.contains("10.0.0.0/8"), "{err}");
        assert!(parse_cidrs("X", "10.0.0.0/33").is_err());
        assert!(parse_cidrs("X", "example.com").is_err());

        let servers = parse_dns_resolvers("127.0.0.1:8053, [::1]:53,10.0.0.53").unwrap();
        let servers: Vec<String> = servers.iter().map(|s| s.to_string()).collect();
        assert_eq!(servers, ["127.0.0.1:8053", "[::1]:53", "10.0.0.53:53"]);
        assert!(parse_dns_resolvers("").unwrap().is_empty());
        assert!(parse_dns_resolvers("dns.example:53").is_err());
        assert!(parse_dns_resolvers("127.0.0.1:0").is_err());

        let lookup = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            parse_port(&lookup(&[]), "ACME_HTTP01_PORT", 80).unwrap(),
            80
        );
        assert_eq!(
            parse_port(&lookup(&[("P", "5002")]), "P", 80).unwrap(),
            5002
        );
        assert!(parse_port(&lookup(&[("P", "0")]), "P", 80).is_err());
        assert!(parse_port(&lookup(&[("P", "65536")]), "P", 80).is_err());
    }

    fn settings_in(dir: &Path, extra: &[(&str, &str)]) -> Result<Settings> {
        let data = dir.display().to_string();
        let url = format!("sqlite:///{}/f.db", dir.display());
        let mut env: std::collections::HashMap<&str, &str> = [
            ("FASTPKI_DATA_DIR", data.as_str()),
            ("DATABASE_URL", url.as_str()),
        ]
        .into();
        env.extend(extra.iter().copied());
        Settings::from_lookup(&|name| env.get(name).map(|v| v.to_string()))
    }

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn generated_secrets_are_private_reused_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = settings_in(dir.path(), &[]).unwrap();
        for file in ["secret_key", "service_account_token_pepper"] {
            assert_eq!(mode(&dir.path().join(file)), 0o600, "{file}");
        }
        // No encryption key unless asked for.
        assert_eq!(first.private_key_encryption_key, None);
        assert!(!dir.path().join("private_key_encryption_key").exists());
        let again = settings_in(dir.path(), &[]).unwrap();
        assert_eq!(first.secret_key, again.secret_key);
        assert_eq!(
            first.service_account_token_pepper,
            again.service_account_token_pepper
        );
        // No temporary file is left behind.
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");

        // Readable by others: refused, not used, not rewritten.
        let key_file = dir.path().join("secret_key");
        fs::set_permissions(&key_file, fs::Permissions::from_mode(0o640)).unwrap();
        let err = format!("{:#}", settings_in(dir.path(), &[]).err().unwrap());
        assert!(err.contains("readable by other users (mode 0640)"), "{err}");
        assert!(err.contains("chmod 600"), "{err}");
        assert!(
            !err.contains(&first.secret_key),
            "the secret is in the error"
        );
        assert_eq!(fs::read_to_string(&key_file).unwrap(), first.secret_key);
        fs::set_permissions(&key_file, fs::Permissions::from_mode(0o600)).unwrap();

        // A secret file that cannot be read is an error, never replaced. (Root
        // reads everything: make it a folder instead of taking the read bit.)
        let pepper = dir.path().join("service_account_token_pepper");
        fs::remove_file(&pepper).unwrap();
        fs::create_dir(&pepper).unwrap();
        fs::set_permissions(&pepper, fs::Permissions::from_mode(0o700)).unwrap();
        let err = format!("{:#}", settings_in(dir.path(), &[]).err().unwrap());
        assert!(err.contains("cannot read"), "{err}");
        assert!(err.contains("service_account_token_pepper"), "{err}");
        assert!(pepper.is_dir());
    }

    #[test]
    fn generated_secrets_agree_when_servers_start_together() {
        let dir = tempfile::tempdir().unwrap();
        let secrets: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| load_or_generate_secret(dir.path(), "secret_key", "SECRET_KEY"))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap().unwrap())
                .collect()
        });
        assert!(secrets.iter().all(|s| *s == secrets[0]), "{secrets:?}");
        assert_eq!(
            fs::read_to_string(dir.path().join("secret_key")).unwrap(),
            secrets[0]
        );
    }

    #[test]
    fn an_encryption_key_is_generated_when_asked_and_then_always_used() {
        let dir = tempfile::tempdir().unwrap();
        let asked = [("GENERATE_PRIVATE_KEY_ENCRYPTION_KEY", "true")];
        let made = settings_in(dir.path(), &asked)
            .unwrap()
            .private_key_encryption_key
            .expect("a generated key");
        validate_fernet_key(&made).unwrap();
        let file = dir.path().join("private_key_encryption_key");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(
            settings_in(dir.path(), &asked)
                .unwrap()
                .private_key_encryption_key
                .as_deref(),
            Some(made.as_str())
        );
        // Once it exists it is used even when no longer asked for: keys sealed with it must open.
        assert_eq!(
            settings_in(dir.path(), &[])
                .unwrap()
                .private_key_encryption_key
                .as_deref(),
            Some(made.as_str())
        );
        // A key in the environment wins over the file.
        let other = "YWJjZGFiY2RhYmNkYWJjZGFiY2RhYmNkYWJjZGFiY2Q=";
        assert_eq!(
            settings_in(dir.path(), &[("PRIVATE_KEY_ENCRYPTION_KEY", other)])
                .unwrap()
                .private_key_encryption_key
                .as_deref(),
            Some(other)
        );
        // A file that does not hold a Fernet key stops the server.
        fs::write(&file, "not a key").unwrap();
        let err = format!("{:#}", settings_in(dir.path(), &[]).err().unwrap());
        assert!(err.contains("does not hold a Fernet key"), "{err}");
    }

    #[test]
    fn the_database_is_named_without_creating_anything() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data").display().to_string();
        let env: std::collections::HashMap<&str, &str> =
            [("FASTPKI_DATA_DIR", data.as_str())].into();
        let (url, backend) =
            database_from_lookup(&|name| env.get(name).map(|v| v.to_string())).unwrap();
        assert_eq!(backend, Backend::Sqlite);
        assert_eq!(
            sqlite_path(&url),
            dir.path().join("data").join("fastpki.db")
        );
        assert!(!dir.path().join("data").exists());
    }

    #[test]
    fn fernet_keys_are_checked() {
        assert!(validate_fernet_key("ZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmQ=").is_ok());
        assert!(validate_fernet_key("short").is_err());
    }
}
