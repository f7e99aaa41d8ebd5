//! The command-line client: `fastpki auth|config|ca|cert|org|user|export|audit|service-account|acme`.
//!
//! It mirrors the command tree, flags and configuration file of the published Python
//! client (`pip install fastpki`, 0.4) and talks to the server only over HTTP, like any
//! other client. Exit codes: 0 success, 1 failure (an API error prints the server's
//! `detail` on stderr), 2 usage error.

/// `println!` for the client's standard output; see [`print_out`].
macro_rules! outln {
    () => {
        $crate::cli::print_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::print_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod acme;
mod audit;
mod auth;
mod ca;
mod cert;
mod config;
mod config_cmd;
mod export;
mod http;
mod local;
mod org;
mod output;
mod service_account;
mod user;
mod webhook;

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::{Args, Subcommand};

pub use output::Format;

/// Why a command failed; decides the exit code.
#[derive(Debug)]
pub enum Failure {
    /// The server refused: status and its `detail`, rendered as text. Exit 1.
    Api { status: u16, detail: String },
    /// The command line is wrong or incomplete. Exit 2.
    Usage(String),
    /// Anything else: network, files, configuration. Exit 1.
    Other(String),
    /// The user answered no to a confirmation. Exit 1.
    Aborted,
    /// A failure already explained on the output (`auth status`). Exit 1.
    Silent,
}

pub type Res<T> = Result<T, Failure>;

impl Failure {
    fn report(&self) -> ExitCode {
        match self {
            Failure::Api { status, detail } => {
                eprintln!("Error {status}: {detail}");
                ExitCode::from(1)
            }
            Failure::Usage(m) => {
                eprintln!("error: {m}");
                ExitCode::from(2)
            }
            Failure::Other(m) => {
                eprintln!("Error: {m}");
                ExitCode::from(1)
            }
            Failure::Aborted => {
                eprintln!("Aborted.");
                ExitCode::from(1)
            }
            Failure::Silent => ExitCode::from(1),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Other(e.to_string())
    }
}

/// The `--output` option every group takes (before or after its subcommand).
#[derive(Args, Debug, Clone, Default)]
pub struct OutputArg {
    /// Output format: table or json [default: defaults.output_format, else table]
    #[arg(short = 'o', long = "output", global = true, value_enum)]
    pub output: Option<Format>,
}

/// The client's subcommands, flattened into the binary's command tree next to `serve`.
#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Authentication (login/logout/status)
    Auth(auth::AuthArgs),
    /// Certificate Authority management
    Ca(ca::CaArgs),
    /// Certificate management
    Cert(cert::CertArgs),
    /// Organization management
    Org(org::OrgArgs),
    /// User management
    User(user::UserArgs),
    /// Service account management
    ServiceAccount(service_account::SaArgs),
    /// ACME directories and their EAB keys
    Acme(acme::AcmeArgs),
    /// Export certificates and keys
    Export(export::ExportArgs),
    /// Audit log queries
    Audit(audit::AuditArgs),
    /// CLI configuration
    Config(config_cmd::ConfigArgs),
}

/// Runs a client command; never loads server settings.
pub fn run(cmd: ClientCommand) -> ExitCode {
    let result = match cmd {
        ClientCommand::Auth(a) => auth::run(a),
        ClientCommand::Ca(a) => ca::run(a),
        ClientCommand::Cert(a) => cert::run(a),
        ClientCommand::Org(a) => org::run(a),
        ClientCommand::User(a) => user::run(a),
        ClientCommand::ServiceAccount(a) => service_account::run(a),
        ClientCommand::Acme(a) => acme::run(a),
        ClientCommand::Export(a) => export::run(a),
        ClientCommand::Audit(a) => audit::run(a),
        ClientCommand::Config(a) => config_cmd::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.report(),
    }
}

/// Writes to standard output; everything the client prints there goes through here.
///
/// Rust ignores SIGPIPE, so a reader that went away (`fastpki cert list | head -1`) shows up
/// as an EPIPE error, on which `println!` panics. SIGPIPE stays ignored (restoring its default
/// would also let a write to a dead keep-alive socket in the HTTP client kill us, as `writev`
/// does not pass `MSG_NOSIGNAL`); instead a closed pipe ends the command here, silently, with
/// 141 = 128 + SIGPIPE, the status a shell reports for `cat big.pem | head -1`.
pub fn print_out(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let res = out.write_fmt(args).and_then(|()| out.flush());
    drop(out);
    if let Err(e) = res {
        stdout_failed(e);
    }
}

/// Ends the process after a failed write to standard output (quietly for a closed pipe).
pub fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(141);
    }
    eprintln!("Error: cannot write to standard output: {e}");
    std::process::exit(1);
}

/// What every command needs: the configuration, the output format and the API.
pub struct Ctx {
    pub out: output::Out,
    pub api: http::Api,
}

impl Ctx {
    pub fn new(output: &OutputArg) -> Res<Ctx> {
        let cfg = config::Config::load()?;
        let out = output::Out::new(output.output, &cfg)?;
        Ok(Ctx {
            out,
            api: http::Api::new(cfg)?,
        })
    }
}

/// Returns the value, or asks for it on a terminal, or fails as a usage error.
pub fn need<T: std::str::FromStr>(value: Option<T>, flag: &str, label: &str) -> Res<T> {
    if let Some(v) = value {
        return Ok(v);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(format!("missing {flag}")));
    }
    loop {
        eprint!("{label}: ");
        std::io::stderr().flush()?;
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line)? == 0 {
            return Err(Failure::Aborted);
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match line.parse() {
            Ok(v) => return Ok(v),
            Err(_) => eprintln!("Error: {line:?} is not a valid value"),
        }
    }
}

/// A password: the flag's value, else read without echo on a terminal, else one line of stdin.
pub fn password(value: Option<String>, confirm: bool) -> Res<String> {
    if let Some(v) = value {
        return Ok(v);
    }
    if std::io::stdin().is_terminal() {
        loop {
            let p = rpassword::prompt_password("Password: ")?;
            if p.is_empty() {
                continue;
            }
            if confirm {
                let again = rpassword::prompt_password("Repeat for confirmation: ")?;
                if again != p {
                    eprintln!("Error: the two entered values do not match");
                    continue;
                }
            }
            return Ok(p);
        }
    }
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        return Err(Failure::Usage(
            "missing --password (and nothing on standard input)".into(),
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Asks `question [y/N]` on stderr unless `force`; anything but yes aborts.
pub fn confirm(force: bool, question: &str) -> Res<()> {
    if force {
        return Ok(());
    }
    eprint!("{question} [y/N]: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(Failure::Aborted),
    }
}

/// `--flag` / `--no-flag` pairs: None when neither was given.
pub fn tri(yes: bool, no: bool) -> Option<bool> {
    match (yes, no) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

/// Builds a JSON object from (key, value) pairs, leaving out the `None`s.
pub fn body<'a>(
    pairs: impl IntoIterator<Item = (&'a str, Option<serde_json::Value>)>,
) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (k, v) in pairs {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    }
    serde_json::Value::Object(m)
}

/// The capability flags of a user or a service account as `body` pairs,
/// under their API names; `values` in the order of `Capabilities::NAMES`,
/// `None` for a flag left out.
pub fn capability_pairs(
    values: [Option<bool>; 5],
) -> impl Iterator<Item = (&'static str, Option<serde_json::Value>)> {
    fastpki::capabilities::Capabilities::NAMES
        .into_iter()
        .zip(values.map(|v| v.map(serde_json::Value::from)))
}

/// Writes `data` to `path` ("-" is stdout); private keys get mode 0600 from the start.
pub fn write_file(path: &std::path::Path, data: &[u8], private: bool) -> Res<()> {
    if path.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        let res = out.write_all(data).and_then(|()| out.flush());
        drop(out);
        if let Err(e) = res {
            stdout_failed(e);
        }
        return Ok(());
    }
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    if private {
        opts.mode(0o600);
    }
    let fail = |e: std::io::Error| Failure::Other(format!("cannot write {}: {e}", path.display()));
    let mut f = opts.open(path).map_err(fail)?;
    if private {
        // open() keeps the mode of a file that already existed.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(fail)?;
    }
    f.write_all(data).map_err(fail)
}
