//! The `fastpki` binary: `serve` runs the server, `migrate`, `rotate-key`, `import`,
//! `backup` and `restore` are admin tasks, and the other subcommands are the command-line client (`src/cli`), which talks HTTP only.

mod cli;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use fastpki::config::Settings;

#[derive(Parser)]
#[command(
    name = "fastpki",
    version,
    about = "FastPKI: a private certificate authority"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve {
        /// Address to listen on (host:port).
        #[arg(long, env = "FASTPKI_BIND", default_value = "127.0.0.1:8000")]
        bind: String,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Re-encrypt every stored private key with a new PRIVATE_KEY_ENCRYPTION_KEY, in one transaction.
    RotateKey {
        /// The new Fernet key (URL-safe base64 of 32 bytes).
        #[arg(long, env = "NEW_PRIVATE_KEY_ENCRYPTION_KEY", hide_env_values = true)]
        new_key: String,
    },
    /// Copy the SQLite database (DATABASE_URL) to a file, consistently, while servers run.
    /// (PostgreSQL: use pg_dump; this command prints how.)
    Backup {
        /// The backup file to write (written whole, then renamed into place, mode 0600).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Replace the SQLite database (DATABASE_URL) with a backup, after checking it is a sound
    /// FastPKI database this version can serve. Stop the server first.
    Restore {
        /// The backup file to restore (made by `fastpki backup`, or any copy of a FastPKI database).
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Replace the database if one exists.
        #[arg(long)]
        force: bool,
    },
    /// Import another CA's database into this one (DATABASE_URL), in one transaction.
    #[command(subcommand)]
    Import(ImportSource),
    #[command(flatten)]
    Client(Box<cli::ClientCommand>),
}

#[derive(Subcommand)]
enum ImportSource {
    /// Everything of a FastPKI 0.4 (Python) database: organizations, users, service accounts
    /// and tokens, CAs and certificates with their keys, revocations, the audit log.
    Fastpki {
        /// The FastPKI database: sqlite:///path/fastpki.db or postgresql://user:pass@host/db
        /// (SQLAlchemy forms such as sqlite+aiosqlite:// are accepted).
        #[arg(long = "from", value_name = "DATABASE_URL")]
        from: String,
        /// The old server's PRIVATE_KEY_ENCRYPTION_KEY, to open its private keys (they are
        /// sealed again with this server's key).
        #[arg(
            long,
            value_name = "KEY",
            env = "FASTPKI_IMPORT_ENCRYPTION_KEY",
            hide_env_values = true
        )]
        encryption_key: Option<String>,
        /// The old server's SERVICE_ACCOUNT_TOKEN_PEPPER (or SECRET_KEY if it had none): checked
        /// against this server's, which must be the same for imported tokens to work.
        #[arg(
            long,
            value_name = "PEPPER",
            env = "FASTPKI_IMPORT_PEPPER",
            hide_env_values = true
        )]
        pepper: Option<String>,
        /// Do everything, report, then roll back: nothing is written (but the target's schema is
        /// migrated first, as `fastpki migrate` does).
        #[arg(long)]
        dry_run: bool,
        /// Import into a database that already holds data (ids kept where free).
        #[arg(long)]
        merge: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn init_logging(level: &str) {
    // Python's level names too, as FastPKI users already have them in their settings.
    let level = match level.trim().to_ascii_lowercase().as_str() {
        "warning" => "warn".to_string(),
        "critical" | "fatal" => "error".to_string(),
        other => other.to_string(),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn main() -> std::process::ExitCode {
    // `.env` first, so that it can set `FASTPKI_BIND` too; then logging, so secret generation can warn.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let command = match cli.command {
        // The client never loads server settings: no SECRET_KEY, no ./data.
        Command::Client(c) => return cli::run(*c),
        other => other,
    };
    init_logging(&std::env::var("LOG_LEVEL").unwrap_or_else(|_| "INFO".into()));
    // Copying a database needs its URL only: no secret is read or generated, nothing is created.
    let command = match command {
        Command::Backup { to, force } => {
            return copy_database(|url, backend| async move {
                let report = fastpki::service::backup::backup(&url, backend, &to, force).await?;
                print!("{report}");
                Ok(())
            });
        }
        Command::Restore { from, force } => {
            return copy_database(|url, backend| async move {
                let report = fastpki::service::backup::restore(&url, backend, &from, force).await?;
                print!("{report}");
                Ok(())
            });
        }
        other => other,
    };
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fastpki: configuration error: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fastpki: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match command {
            Command::Serve { bind } => fastpki::server::run(settings, &bind).await,
            Command::RotateKey { new_key } => {
                fastpki::config::validate_fernet_key(&new_key)?;
                let db = fastpki::store::Db::connect(&settings.database_url, settings.backend).await?;
                db.migrate().await?;
                let current = fastpki::service::keystore::KeyStore::new(settings.private_key_encryption_key.as_deref())?;
                let new = fastpki::service::keystore::KeyStore::new(Some(&new_key))?;
                let n = fastpki::service::key_rotation::rotate(&db, &current, &new).await?;
                println!("re-encrypted {n} private keys: set PRIVATE_KEY_ENCRYPTION_KEY to the new key before the next start");
                Ok(())
            }
            Command::Import(ImportSource::Fastpki {
                from,
                encryption_key,
                pepper,
                dry_run,
                merge,
                json,
            }) => {
                let db = fastpki::store::Db::connect(&settings.database_url, settings.backend).await?;
                db.migrate().await?;
                let keys = fastpki::service::keystore::KeyStore::new(settings.private_key_encryption_key.as_deref())?;
                let target = fastpki::service::import::Target {
                    db: &db,
                    keys: &keys,
                    pepper: &settings.service_account_token_pepper,
                    crl_validity_days: settings.crl_validity_days,
                };
                let opts = fastpki::service::import::Options {
                    from,
                    encryption_key,
                    pepper,
                    dry_run,
                    merge,
                };
                let report = fastpki::service::import::fastpki04(&target, &opts).await?;
                db.close().await;
                if json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    print!("{report}");
                }
                Ok(())
            }
            Command::Client(_) | Command::Backup { .. } | Command::Restore { .. } => {
                unreachable!("client and copy commands return before the runtime starts")
            }
            Command::Migrate => {
                let db =
                    fastpki::store::Db::connect(&settings.database_url, settings.backend).await?;
                db.migrate().await?;
                println!("migrations applied");
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fastpki: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs `backup` or `restore` with the database of DATABASE_URL (or the default file).
fn copy_database<F, Fut>(run: F) -> std::process::ExitCode
where
    F: FnOnce(String, fastpki::config::Backend) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let (url, backend) = match fastpki::config::database_from_env() {
        Ok(db) => db,
        Err(e) => {
            eprintln!("fastpki: configuration error: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(run(url, backend)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fastpki: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
