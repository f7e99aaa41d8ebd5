//! Storage: every SQL statement and the migrations, one code path for SQLite
//! and PostgreSQL through sqlx's `Any` driver (`$N` placeholders on both).
//!
//! On SQLite all writes go through a one-connection pool, so write
//! transactions never deadlock on lock upgrades; on PostgreSQL both pools are
//! the same.

/// The five capability columns, in the order of `Capabilities::NAMES` (for
/// `concat!` in the SQL of users and service accounts).
macro_rules! capability_columns {
    () => {
        "can_create_ca, can_create_cert, can_revoke_cert, can_export_private_key, can_delete_ca"
    };
}

pub mod acme;
pub mod audit;
pub mod backup;
pub mod cas;
pub mod certs;
mod decode;
pub mod fastpki04;
pub mod import;
pub mod orgs;
pub mod service_accounts;
pub mod sessions;
pub mod users;
pub mod webhooks;

pub use decode::{Flag, JsonList, OptTime, Time, bind_capabilities, json_list};

use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Executor, Transaction};

use crate::config::{Backend, redact_url};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
/// Connections of a server to PostgreSQL (reads and writes share them).
const POSTGRES_POOL: u32 = 16;

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A handle on the database: a pool for reads and one for writes.
#[derive(Clone)]
pub struct Db {
    read: AnyPool,
    write: AnyPool,
    pub backend: Backend,
}

/// The connections of one pool.
#[derive(Clone, Copy, Debug)]
pub struct PoolStats {
    pub name: &'static str,
    /// Open connections, idle or in use.
    pub open: u32,
    pub idle: u32,
    /// The most it opens.
    pub max: u32,
}

/// A write transaction; commit it or it rolls back on drop.
pub type Tx = Transaction<'static, Any>;
/// A pooled connection for reads.
pub type Conn = PoolConnection<Any>;

impl Db {
    /// Connects (creating a SQLite file if needed) without running migrations.
    pub async fn connect(url: &str, backend: Backend) -> Result<Self> {
        Self::connect_waiting(url, backend, Duration::from_secs(10)).await
    }

    /// `connect`, where a PostgreSQL connection is waited for at most
    /// `pool_timeout` (a pool at its limit, or a database that does not answer:
    /// the wait ends in `PoolTimedOut`). SQLite's pools wait 30 s for their
    /// writer whatever this says.
    pub async fn connect_waiting(
        url: &str,
        backend: Backend,
        pool_timeout: Duration,
    ) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let options: AnyConnectOptions = url
            .parse()
            .with_context(|| format!("DATABASE_URL cannot be parsed: {}", redact_url(url)))?;
        let db = match backend {
            Backend::Sqlite => {
                let read = sqlite_pool(8).connect_with(options.clone()).await;
                let read = read
                    .with_context(|| format!("cannot open SQLite database {}", redact_url(url)))?;
                let write = sqlite_pool(1).connect_with(options).await?;
                Db {
                    read,
                    write,
                    backend,
                }
            }
            Backend::Postgres => {
                let pool = pool_options()
                    .max_connections(POSTGRES_POOL)
                    .acquire_timeout(pool_timeout)
                    .connect_with(options)
                    .await
                    .with_context(|| {
                        format!("cannot connect to PostgreSQL at {}", redact_url(url))
                    })?;
                Db {
                    read: pool.clone(),
                    write: pool,
                    backend,
                }
            }
        };
        Ok(db)
    }

    /// Applies pending migrations for this backend, and hands back the
    /// connection it used: start-up goes on with it rather than open another
    /// (a PostgreSQL connection over TLS takes ~90 ms to open: sqlx sets no
    /// TCP_NODELAY, and the handshake waits twice for a delayed ACK).
    pub async fn migrate(&self) -> Result<Conn> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        let mut conn = self.write.acquire().await?;
        migrator
            .run(&mut *conn)
            .await
            .context("database migration failed")?;
        Ok(conn)
    }

    /// A connection for reads.
    pub async fn read(&self) -> Result<Conn, sqlx::Error> {
        self.read.acquire().await
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        self.write.begin().await
    }

    /// How many write transactions may usefully run at once: one on SQLite
    /// (one writer connection), half the pool on PostgreSQL.
    pub fn write_concurrency(&self) -> usize {
        match self.backend {
            Backend::Sqlite => 1,
            Backend::Postgres => (POSTGRES_POOL / 2) as usize,
        }
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        match self.read.acquire().await {
            Ok(mut c) => sqlx::query("SELECT 1").execute(&mut *c).await.is_ok(),
            Err(_) => false,
        }
    }

    /// What each pool holds now (SQLite: `read` and `write`; PostgreSQL: one
    /// pool, `shared`, for both).
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        let stats = |name, pool: &AnyPool| PoolStats {
            name,
            open: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        };
        match self.backend {
            Backend::Sqlite => vec![stats("read", &self.read), stats("write", &self.write)],
            Backend::Postgres => vec![stats("shared", &self.read)],
        }
    }

    /// Closes both pools (used at shutdown).
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// Pool settings both databases share. A connection is checked (one round
/// trip) only when it has sat idle for a while, not on every checkout: under
/// load each query would otherwise cost two trips to the database.
fn pool_options() -> AnyPoolOptions {
    AnyPoolOptions::new()
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > Duration::from_secs(1) {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

fn sqlite_pool(size: u32) -> AnyPoolOptions {
    pool_options()
        .max_connections(size)
        .min_connections(if size == 1 { 1 } else { 0 })
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // Pragmas belong here, not in the URL: they must hold on every connection.
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA synchronous = NORMAL").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                // Statement journals (a multi-row INSERT) in memory, not in temporary files.
                conn.execute("PRAGMA temp_store = MEMORY").await?;
                Ok(())
            })
        })
}

/// The VALUES list of a multi-row INSERT: `rows` copies of `row`, each `?`
/// replaced by the next numbered placeholder from `$first` (both databases
/// take `$N`; a fixed `$1` in `row` is left as is).
pub fn values_rows(row: &str, rows: usize, first: usize) -> String {
    let mut out = String::with_capacity(rows * (row.len() + 64));
    let mut n = first;
    for i in 0..rows {
        if i > 0 {
            out.push_str(", ");
        }
        for c in row.chars() {
            if c == '?' {
                out.push('$');
                out.push_str(&n.to_string());
                n += 1;
            } else {
                out.push(c);
            }
        }
    }
    out
}

/// Formats a time the one way the database stores times (fixed width, sortable).
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Now, in the stored format.
pub fn now_ts() -> String {
    ts(Utc::now())
}

/// Parses a stored time.
fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// True when the error is a unique-constraint violation (both backends).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(e) => {
            e.is_unique_violation()
                || e.code()
                    .is_some_and(|c| c == "23505" || c == "2067" || c == "1555")
        }
        _ => false,
    }
}

/// True when the error is a foreign-key violation (both backends).
pub fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(e) => {
            e.is_foreign_key_violation() || e.code().is_some_and(|c| c == "23503" || c == "787")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::values_rows;

    #[test]
    fn values_rows_numbers_each_placeholder_once() {
        assert_eq!(
            values_rows("($1, ?, ?)", 3, 2),
            "($1, $2, $3), ($1, $4, $5), ($1, $6, $7)"
        );
        assert_eq!(values_rows("(?)", 1, 1), "($1)");
    }
}
