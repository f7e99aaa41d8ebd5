//! The server under test: a release `fastpki serve` child process on a
//! throwaway database (or a peer's server), its start-up time, memory and CPU time.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How to start the server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub bin: PathBuf,
    pub database_url: String,
    /// Working directory and `FASTPKI_DATA_DIR` (no stray `.env` is read from here).
    pub data_dir: PathBuf,
    pub port: u16,
}

/// A running server.
pub struct Server {
    child: Child,
    pub pid: u32,
    pub base: String,
    log: PathBuf,
}

/// A free port on 127.0.0.1 (bound and released: a small race, fine for a benchmark).
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl Server {
    /// Spawns the server and waits for the first 200 on `/readyz`; returns it and the time that took.
    pub async fn start(cfg: &ServerConfig, client: &reqwest::Client) -> Result<(Server, Duration)> {
        std::fs::create_dir_all(&cfg.data_dir)?;
        let bind = format!("127.0.0.1:{}", cfg.port);
        let mut cmd = Command::new(&cfg.bin);
        cmd.arg("serve")
            .arg("--bind")
            .arg(&bind)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", &cfg.database_url)
            .env("FASTPKI_DATA_DIR", &cfg.data_dir)
            .env(
                "SECRET_KEY",
                "fastpki-bench-secret-key-0123456789abcdef0123456789",
            )
            .env(
                "SERVICE_ACCOUNT_TOKEN_PEPPER",
                "fastpki-bench-pepper-0123456789abcdef0123456789",
            )
            // The login workload measures bcrypt, not the limiter; BCRYPT_COST stays at its default (12).
            .env("AUTH_RATE_LIMIT", "100000000/minute")
            .env("LOG_LEVEL", "INFO")
            .current_dir(&cfg.data_dir);
        let base = format!("http://{bind}");
        let ready = format!("{base}/readyz");
        Server::spawn(
            cmd,
            base,
            &cfg.data_dir.join("server.log"),
            client,
            move |c| c.get(&ready),
        )
        .await
    }

    /// Spawns `cmd` (stderr to `log`) and polls `ready` until it answers 200;
    /// returns the server and the time from spawn to that answer.
    pub async fn spawn(
        mut cmd: Command,
        base: String,
        log: &Path,
        client: &reqwest::Client,
        ready: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<(Server, Duration)> {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let started = Instant::now();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {}", cmd.get_program().display()))?;
        let pid = child.id();
        let mut server = Server {
            child,
            pid,
            base,
            log: log.to_path_buf(),
        };
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "the server exited ({status}) before it was ready:\n{}",
                    server.log_tail()
                );
            }
            if let Ok(resp) = ready(client).timeout(Duration::from_secs(2)).send().await
                && resp.status() == reqwest::StatusCode::OK
            {
                return Ok((server, started.elapsed()));
            }
            if started.elapsed() > Duration::from_secs(600) {
                bail!(
                    "the server was not ready after 600 s:\n{}",
                    server.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Current and peak resident set size, in KiB.
    pub fn memory_kib(&self) -> Result<Memory> {
        memory_kib(self.pid)
    }

    /// SIGTERM, then wait (graceful shutdown); SIGKILL after 30 s.
    pub fn stop(mut self) -> Result<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Never leave a server behind (after an error, or on Ctrl-C unwinding).
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Resident set size now and at its peak (`VmRSS`, `VmHWM`), KiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

pub fn memory_kib(pid: u32) -> Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Memory {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
    })
}

/// The child processes of `pid` (a peer's worker processes; FastPKI has none).
fn children(pid: u32) -> Vec<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    tasks
        .flatten()
        .flat_map(|task| {
            let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            list.split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// CPU seconds of `pid` and of its child processes (a child that just exited counts 0).
pub fn tree_cpu_seconds(pid: u32) -> Result<f64> {
    let own = cpu_seconds(pid)?;
    Ok(own
        + children(pid)
            .into_iter()
            .map(|c| cpu_seconds(c).unwrap_or(0.0))
            .sum::<f64>())
}

/// Memory of `pid` and of its child processes, summed.
pub fn tree_memory_kib(pid: u32) -> Result<Memory> {
    let mut total = memory_kib(pid)?;
    for m in children(pid).into_iter().filter_map(|c| memory_kib(c).ok()) {
        total.rss_kib += m.rss_kib;
        total.hwm_kib += m.hwm_kib;
    }
    Ok(total)
}

/// utime + stime of a process, seconds (USER_HZ is 100 on Linux).
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may contain spaces: fields are counted after its closing parenthesis.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unexpected /proc stat format")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After ")": state is field 3 of the full line, so utime (14) and stime (15) are at 11 and 12.
    let utime: f64 = fields.get(11).context("no utime")?.parse()?;
    let stime: f64 = fields.get(12).context("no stime")?.parse()?;
    Ok((utime + stime) / 100.0)
}

/// Busy (non-idle) CPU time of the whole machine so far, seconds (from /proc/stat).
pub fn machine_busy_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal guest guest_nice: guests are inside user.
    let busy: f64 = v
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, x)| x)
        .sum();
    Ok(busy / 100.0)
}

/// CPU time of every PostgreSQL process on the machine (`comm` = `postgres`), seconds.
pub fn postgres_cpu_seconds() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let mut total = 0.0;
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let comm = stat
            .split_once('(')
            .and_then(|(_, rest)| rest.rsplit_once(')'))
            .map(|(c, _)| c);
        if comm == Some("postgres") {
            total += cpu_seconds(pid).unwrap_or(0.0);
        }
    }
    total
}

/// Where the run's data lives: a SQLite file in a temporary folder, or a throwaway PostgreSQL database.
pub enum Database {
    Sqlite {
        path: PathBuf,
    },
    Postgres {
        admin_url: String,
        name: String,
        url: String,
        keep: bool,
    },
}

impl Database {
    pub fn sqlite(dir: &Path) -> Database {
        Database::Sqlite {
            path: dir.join("fastpki.db"),
        }
    }

    /// Creates `fastpki_bench_<random>` on the server `admin_url` points at.
    pub async fn postgres(admin_url: &str, keep: bool) -> Result<Database> {
        use sqlx::Connection;
        let name = format!(
            "fastpki_bench_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .context("cannot connect to --database-url")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .context("cannot create the benchmark database")?;
        conn.close().await?;
        let (base, query) = match admin_url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (admin_url, String::new()),
        };
        let (prefix, _) = base
            .rsplit_once('/')
            .context("--database-url has no database path")?;
        Ok(Database::Postgres {
            admin_url: admin_url.to_string(),
            url: format!("{prefix}/{name}{query}"),
            name,
            keep,
        })
    }

    /// What the server's `DATABASE_URL` gets.
    pub fn server_url(&self) -> String {
        match self {
            Database::Sqlite { path } => format!("sqlite:///{}", path.display()),
            Database::Postgres { url, .. } => url.clone(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite { path } => format!("SQLite {}", path.display()),
            Database::Postgres { name, .. } => format!("PostgreSQL database {name}"),
        }
    }

    /// Size on disk, bytes (SQLite file + WAL, or `pg_database_size`).
    pub async fn size_bytes(&self) -> Result<u64> {
        match self {
            Database::Sqlite { path } => {
                let mut total = 0;
                for suffix in ["", "-wal"] {
                    let p = PathBuf::from(format!("{}{suffix}", path.display()));
                    total += std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                }
                Ok(total)
            }
            Database::Postgres { url, name, .. } => {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(url).await?;
                let n: i64 = sqlx::query_scalar("SELECT pg_database_size($1)")
                    .bind(name)
                    .fetch_one(&mut conn)
                    .await?;
                Ok(n as u64)
            }
        }
    }

    /// Drops the PostgreSQL database (unless kept); the SQLite file goes with its temporary folder.
    pub async fn drop_database(&self) -> Result<()> {
        if let Database::Postgres {
            admin_url,
            name,
            keep: false,
            ..
        } = self
        {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(admin_url).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await?;
        }
        Ok(())
    }
}
