//! The SQL of `fastpki backup` and `fastpki restore` on SQLite files: an online
//! copy (`VACUUM INTO`, one read transaction, so one consistent snapshot while
//! the server goes on writing), the checks a file must pass before it may
//! become the database, and whether another process holds a database.
//!
//! These open their own single connection with the SQLite driver (not the
//! server's pools): they work on files, not on a running server's `Db`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteLockingMode};
use sqlx::{ConnectOptions, Connection, Row};

/// SQLite's primary result codes this module tells apart.
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_CORRUPT: i64 = 11;
const SQLITE_NOTADB: i64 = 26;

/// What a SQLite file holds, as far as restoring it is concerned.
#[derive(Debug)]
pub struct Inspection {
    /// `PRAGMA integrity_check`'s lines: `["ok"]` for a sound file.
    pub integrity: Vec<String>,
    /// The migrations recorded in `_sqlx_migrations` (version, checksum,
    /// success), or `None` when the table does not exist.
    pub migrations: Option<Vec<AppliedMigration>>,
}

/// One row of `_sqlx_migrations`.
#[derive(Debug, Clone)]
pub struct AppliedMigration {
    pub version: i64,
    pub checksum: Vec<u8>,
    pub success: bool,
}

/// Why a file could not be inspected.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("not a SQLite database")]
    NotSqlite,
    /// SQLite stopped reading it: "database disk image is malformed".
    #[error("damaged: {0}")]
    Damaged(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// The migrations this binary knows for SQLite: (version, checksum).
pub fn known_sqlite_migrations() -> Vec<(i64, Vec<u8>)> {
    super::SQLITE_MIGRATIONS
        .iter()
        .map(|m| (m.version, m.checksum.to_vec()))
        .collect()
}

fn options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(10))
}

fn primary_code(e: &sqlx::Error) -> Option<i64> {
    match e {
        sqlx::Error::Database(d) => d
            .code()
            .and_then(|c| c.parse::<i64>().ok())
            .map(|c| c & 0xff),
        _ => None,
    }
}

/// Writes a consistent copy of the database at `src` into `dest`, which must
/// not exist or be empty (`VACUUM INTO`): one read transaction, so the copy is
/// the database as one moment saw it, while writers go on (WAL).
pub async fn vacuum_into(src: &Path, dest: &Path) -> Result<()> {
    let mut conn = options(src)
        .connect()
        .await
        .with_context(|| format!("cannot open the database {}", src.display()))?;
    let dest_text = dest
        .to_str()
        .with_context(|| format!("{} is not a UTF-8 path", dest.display()))?;
    let done = sqlx::query("VACUUM INTO ?")
        .bind(dest_text)
        .execute(&mut conn)
        .await
        .with_context(|| format!("cannot copy {} into {}", src.display(), dest.display()));
    conn.close().await.ok();
    done.map(|_| ())
}

/// Checks the file at `path` (a private copy: this may change its journal
/// mode to a single file, `DELETE`): integrity, and the migrations it records.
pub async fn inspect(path: &Path) -> Result<Inspection, InspectError> {
    let mut conn = options(path)
        .journal_mode(SqliteJournalMode::Delete)
        .connect()
        .await
        .map_err(|e| classify(e, path))?;
    let result = inspect_on(&mut conn, path).await;
    conn.close().await.ok();
    result
}

fn classify(e: sqlx::Error, path: &Path) -> InspectError {
    match primary_code(&e) {
        Some(SQLITE_NOTADB) => InspectError::NotSqlite,
        Some(SQLITE_CORRUPT) => InspectError::Damaged(match &e {
            sqlx::Error::Database(d) => d.message().to_string(),
            other => other.to_string(),
        }),
        _ => InspectError::Other(
            anyhow::Error::new(e).context(format!("cannot read {}", path.display())),
        ),
    }
}

async fn inspect_on(conn: &mut SqliteConnection, path: &Path) -> Result<Inspection, InspectError> {
    let not_sqlite = |e: sqlx::Error| classify(e, path);
    let integrity: Vec<String> = sqlx::query("PRAGMA integrity_check")
        .fetch_all(&mut *conn)
        .await
        .map_err(not_sqlite)?
        .iter()
        .map(|r| r.try_get::<String, _>(0).unwrap_or_default())
        .collect();
    let has_table: i64 = sqlx::query(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(not_sqlite)?
    .try_get(0)
    .map_err(not_sqlite)?;
    let migrations = if has_table == 0 {
        None
    } else {
        let rows =
            sqlx::query("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&mut *conn)
                .await
                .map_err(not_sqlite)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(AppliedMigration {
                version: r.try_get("version").map_err(not_sqlite)?,
                checksum: r.try_get("checksum").map_err(not_sqlite)?,
                success: r.try_get("success").map_err(not_sqlite)?,
            });
        }
        Some(out)
    };
    Ok(Inspection {
        integrity,
        migrations,
    })
}

/// True when another connection (a server, `fastpki migrate`, `sqlite3`) has
/// the database at `path` open: an exclusive lock is refused to this one at
/// once. In WAL mode every open connection holds a shared lock for as long as
/// it is open, idle or not, so an idle server counts.
pub async fn in_use(path: &Path) -> Result<bool> {
    let conn = options(path)
        .busy_timeout(Duration::ZERO)
        .locking_mode(SqliteLockingMode::Exclusive)
        .connect()
        .await;
    let mut conn = match conn {
        Ok(c) => c,
        Err(e) if matches!(primary_code(&e), Some(SQLITE_BUSY | SQLITE_LOCKED)) => {
            return Ok(true);
        }
        Err(e) => {
            return Err(e).with_context(|| format!("cannot open {}", path.display()));
        }
    };
    let taken = async {
        sqlx::query("BEGIN EXCLUSIVE").execute(&mut conn).await?;
        // A read, so that the lock is held on the file as SQLite sees it.
        sqlx::query("SELECT count(*) FROM sqlite_master")
            .execute(&mut conn)
            .await?;
        sqlx::query("ROLLBACK").execute(&mut conn).await?;
        Ok::<_, sqlx::Error>(())
    }
    .await;
    conn.close().await.ok();
    match taken {
        Ok(()) => Ok(false),
        Err(e) if matches!(primary_code(&e), Some(SQLITE_BUSY | SQLITE_LOCKED)) => Ok(true),
        // Not a database at all (a file to be replaced): nobody serves it.
        Err(e) if primary_code(&e) == Some(SQLITE_NOTADB) => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
}
