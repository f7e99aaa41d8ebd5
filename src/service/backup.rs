//! `fastpki backup` and `fastpki restore` on SQLite: a consistent copy of the
//! live database into a file, and a checked file put in the database's place.
//!
//! Both write a private temporary file (mode 0600) beside the destination and
//! rename it into place only once it is complete and checked, so the
//! destination is never half written, and a refusal changes nothing.
//! PostgreSQL is copied with its own tools (`pg_dump`, `pg_restore`): the
//! commands say so, with the command to run.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::config::{Backend, redact_url, sqlite_path};
use crate::store::backup::{self as db, InspectError, Inspection};

/// What `backup` wrote.
#[derive(Debug)]
pub struct BackupReport {
    pub source: PathBuf,
    pub file: PathBuf,
    pub bytes: u64,
    /// The newest migration in the copy.
    pub migration: Option<i64>,
}

impl std::fmt::Display for BackupReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "backed up {} to {} ({} bytes, schema at migration {}, integrity ok)",
            self.source.display(),
            self.file.display(),
            self.bytes,
            self.migration.unwrap_or(0)
        )
    }
}

/// What `restore` put in place.
#[derive(Debug)]
pub struct RestoreReport {
    pub file: PathBuf,
    pub database: PathBuf,
    /// The newest migration in the restored file.
    pub migration: i64,
    /// Migrations this binary will apply at the next start.
    pub pending: usize,
    /// True when a database was replaced (`--force`).
    pub replaced: bool,
}

impl std::fmt::Display for RestoreReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "restored {} into {}{} (schema at migration {}",
            self.file.display(),
            self.database.display(),
            if self.replaced {
                ", replacing the database that was there"
            } else {
                ""
            },
            self.migration,
        )?;
        match self.pending {
            0 => writeln!(f, ", as this fastpki's)")?,
            n => writeln!(
                f,
                "; this fastpki applies its {n} newer migration(s) when it starts)"
            )?,
        }
        writeln!(
            f,
            "Start the server with the secrets of the one the backup came from: stored private keys \
             open only with the PRIVATE_KEY_ENCRYPTION_KEY that sealed them."
        )
    }
}

/// A temporary file that is removed unless kept (renamed into place).
struct Partial {
    path: PathBuf,
    kept: bool,
}

impl Partial {
    /// A new, empty, owner-only file beside `dest`.
    fn beside(dest: &Path) -> Result<Partial> {
        let dir = parent_of(dest);
        let name = dest
            .file_name()
            .with_context(|| format!("{} does not name a file", dest.display()))?
            .to_string_lossy();
        let mut tag = [0u8; 6];
        aws_lc_rs::rand::fill(&mut tag)
            .map_err(|_| anyhow::anyhow!("system random generator failed"))?;
        let path = dir.join(format!(".{name}.{}.partial", hex::encode(tag)));
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot create a file in {}", dir.display()))?;
        Ok(Partial { path, kept: false })
    }

    fn sync(&self) -> Result<()> {
        fs::File::open(&self.path)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.kept {
            let _ = fs::remove_file(&self.path);
            let _ = fs::remove_file(suffixed(&self.path, "-journal"));
        }
    }
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// True when both paths name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// A non-empty file at `path` (an empty one, as a first start leaves before
/// SQLite writes, holds nothing to lose).
fn holds_data(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.len() > 0)
}

/// The newest migration of a checked file.
fn newest(inspection: &Inspection) -> Option<i64> {
    inspection
        .migrations
        .as_ref()
        .and_then(|m| m.iter().map(|m| m.version).max())
}

/// Copies the SQLite database of `database_url` to `to` while servers may be
/// using it. `to` must not exist unless `force`.
pub async fn backup(
    database_url: &str,
    backend: Backend,
    to: &Path,
    force: bool,
) -> Result<BackupReport> {
    if backend == Backend::Postgres {
        bail!(
            "fastpki backup copies SQLite databases only, and DATABASE_URL names PostgreSQL. \
             Take a consistent copy with pg_dump while the servers run:\n\n    \
             pg_dump --format=custom --file={} '{}'\n\n{}\
             See \"Backup and restore\" in docs/operations.md.",
            to.display(),
            pg_url(database_url),
            password_note(database_url)
        );
    }
    let source = sqlite_path(database_url);
    if !holds_data(&source) {
        bail!(
            "there is no database at {} (DATABASE_URL, or FASTPKI_DATA_DIR/fastpki.db): nothing to back up",
            source.display()
        );
    }
    if to.is_dir() {
        bail!(
            "{} is a folder: name the backup file, e.g. {}",
            to.display(),
            to.join("fastpki.db").display()
        );
    }
    if same_file(&source, to) {
        bail!("{} is the database itself", to.display());
    }
    if to.exists() && !force {
        bail!(
            "{} exists: choose another name, or pass --force to replace it",
            to.display()
        );
    }
    let partial = Partial::beside(to)?;
    db::vacuum_into(&source, &partial.path).await?;
    let inspection = db::inspect(&partial.path).await.map_err(|e| match e {
        InspectError::NotSqlite => anyhow::anyhow!("the copy is not a SQLite database"),
        InspectError::Damaged(why) => anyhow::anyhow!(
            "the copy is damaged ({why}): the database itself may be; check it with: \
             sqlite3 {} 'PRAGMA integrity_check'",
            source.display()
        ),
        InspectError::Other(e) => e,
    })?;
    if inspection.integrity != ["ok"] {
        bail!(
            "the copy fails its integrity check ({}): the database itself may be damaged; \
             check it with: sqlite3 {} 'PRAGMA integrity_check'",
            summary(&inspection.integrity),
            source.display()
        );
    }
    partial.sync()?;
    let bytes = fs::metadata(&partial.path)?.len();
    put_in_place(partial, to, force)?;
    Ok(BackupReport {
        source,
        file: to.to_path_buf(),
        bytes,
        migration: newest(&inspection),
    })
}

/// Renames `partial` to `dest`: over it when `replace`, else only if `dest`
/// still does not exist (a link, which never replaces a file).
fn put_in_place(mut partial: Partial, dest: &Path, replace: bool) -> Result<()> {
    if replace {
        fs::rename(&partial.path, dest)
            .with_context(|| format!("cannot write {}", dest.display()))?;
    } else {
        fs::hard_link(&partial.path, dest).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow::anyhow!(
                    "{} exists: choose another name, or pass --force to replace it",
                    dest.display()
                )
            } else {
                anyhow::Error::new(e).context(format!("cannot write {}", dest.display()))
            }
        })?;
        let _ = fs::remove_file(&partial.path);
    }
    partial.kept = true;
    sync_dir(&parent_of(dest));
    Ok(())
}

/// Puts the FastPKI SQLite file `from` in the place of the database of
/// `database_url`, after checking it; never while a server has that database open.
pub async fn restore(
    database_url: &str,
    backend: Backend,
    from: &Path,
    force: bool,
) -> Result<RestoreReport> {
    if backend == Backend::Postgres {
        bail!(
            "fastpki restore writes SQLite databases only, and DATABASE_URL names PostgreSQL. \
             Stop every server, then restore a pg_dump file with pg_restore:\n\n    \
             pg_restore --clean --if-exists --no-owner --dbname='{}' {}\n\n{}\
             See \"Backup and restore\" in docs/operations.md.",
            pg_url(database_url),
            from.display(),
            password_note(database_url)
        );
    }
    let database = sqlite_path(database_url);
    let meta = fs::metadata(from).with_context(|| format!("cannot read {}", from.display()))?;
    if !meta.is_file() {
        bail!("{} is not a file", from.display());
    }
    if same_file(from, &database) {
        bail!("{} is the database itself", from.display());
    }
    let replaced = holds_data(&database);
    if replaced && !force {
        bail!(
            "a database already exists at {}: stop the server, then pass --force to replace it \
             (back it up first if it may still be needed)",
            database.display()
        );
    }
    refuse_if_in_use(&database).await?;

    let dir = parent_of(&database);
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let partial = Partial::beside(&database)?;
    {
        let mut src =
            fs::File::open(from).with_context(|| format!("cannot read {}", from.display()))?;
        let mut dst = fs::OpenOptions::new()
            .write(true)
            .open(&partial.path)
            .with_context(|| format!("cannot write {}", partial.path.display()))?;
        std::io::copy(&mut src, &mut dst)
            .with_context(|| format!("cannot copy {} to {}", from.display(), dir.display()))?;
    }
    let (migration, pending) = check_restorable(&partial.path, from).await?;
    partial.sync()?;
    take_owner(&partial.path, &database, &dir)?;

    // Again, right before the swap: a server may have started meanwhile.
    refuse_if_in_use(&database).await?;
    // A WAL or journal left beside the old file would be replayed into the new one.
    for suffix in ["-wal", "-shm", "-journal"] {
        let stale = suffixed(&database, suffix);
        match fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot remove {}", stale.display()));
            }
        }
    }
    put_in_place(partial, &database, true)?;
    Ok(RestoreReport {
        file: from.to_path_buf(),
        database,
        migration,
        pending,
        replaced,
    })
}

async fn refuse_if_in_use(database: &Path) -> Result<()> {
    if holds_data(database) && db::in_use(database).await? {
        bail!(
            "the database {} is in use (is `fastpki serve` running?): stop the server first",
            database.display()
        );
    }
    Ok(())
}

/// Checks that the copy at `copy` (of `from`) is a sound FastPKI database this
/// binary can serve: its newest migration, and how many this binary would add.
async fn check_restorable(copy: &Path, from: &Path) -> Result<(i64, usize)> {
    let unchanged = "nothing was changed";
    let inspection = match db::inspect(copy).await {
        Ok(i) => i,
        Err(InspectError::NotSqlite) => {
            bail!("{} is not a SQLite database: {unchanged}", from.display())
        }
        Err(InspectError::Damaged(why)) => {
            bail!("{} is damaged ({why}): {unchanged}", from.display())
        }
        Err(InspectError::Other(e)) => {
            return Err(e.context(format!("cannot check {}: {unchanged}", from.display())));
        }
    };
    if inspection.integrity != ["ok"] {
        bail!(
            "{} is damaged (PRAGMA integrity_check: {}): {unchanged}",
            from.display(),
            summary(&inspection.integrity)
        );
    }
    let not_ours = |why: &str| {
        anyhow::anyhow!(
            "{} is a SQLite database but not a FastPKI one ({why}): {unchanged}",
            from.display()
        )
    };
    let applied = inspection
        .migrations
        .as_ref()
        .ok_or_else(|| not_ours("it has no _sqlx_migrations table"))?;
    let known = db::known_sqlite_migrations();
    let newest_known = known.iter().map(|(v, _)| *v).max().unwrap_or(0);
    if applied.is_empty() {
        return Err(not_ours("no migration was ever applied to it"));
    }
    if let Some(m) = applied.iter().find(|m| !m.success) {
        bail!(
            "{}: migration {} failed in it and was never completed: {unchanged}",
            from.display(),
            m.version
        );
    }
    let newest_applied = applied.iter().map(|m| m.version).max().unwrap_or(0);
    if newest_applied > newest_known {
        bail!(
            "{} was written by a newer FastPKI (its schema is at migration {newest_applied}; \
             this fastpki knows migrations up to {newest_known}): restore it with that version \
             or a newer one: {unchanged}",
            from.display()
        );
    }
    for m in applied {
        match known.iter().find(|(v, _)| *v == m.version) {
            Some((_, checksum)) if *checksum == m.checksum => {}
            _ => {
                return Err(not_ours(&format!(
                    "its migration {} is not this fastpki's",
                    m.version
                )));
            }
        }
    }
    let pending = known
        .iter()
        .filter(|(v, _)| !applied.iter().any(|m| m.version == *v))
        .count();
    Ok((newest_applied, pending))
}

/// Run as root, the restored file goes to the owner of the database it
/// replaces (or of its folder): the service user, who must open it.
fn take_owner(file: &Path, database: &Path, dir: &Path) -> Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let owner = fs::metadata(database).or_else(|_| fs::metadata(dir))?;
    std::os::unix::fs::chown(file, Some(owner.uid()), Some(owner.gid()))
        .with_context(|| format!("cannot give {} to its owner", file.display()))
}

fn summary(lines: &[String]) -> String {
    let mut s = lines.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
    if lines.len() > 3 {
        s.push_str(&format!("; and {} more", lines.len() - 3));
    }
    s
}

/// The database URL for libpq's tools, its password hidden.
fn pg_url(database_url: &str) -> String {
    let url = redact_url(database_url);
    match url.strip_prefix("postgres://") {
        Some(rest) => format!("postgresql://{rest}"),
        None => url,
    }
}

/// Said when `pg_url` hid a password.
fn password_note(database_url: &str) -> &'static str {
    if redact_url(database_url) == database_url {
        ""
    } else {
        "(*** stands for the password, which is not shown: put yours, or use a ~/.pgpass file.) "
    }
}
