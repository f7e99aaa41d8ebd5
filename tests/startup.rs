//! The real binary: first run on the embedded default, readable refusals of
//! bad settings, and `migrate`.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fastpki");

/// A command with a clean environment (no DATABASE_URL etc. leaking in).
fn fastpki(dir: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_ready(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if out.starts_with("HTTP/1.1 200") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn first_run_needs_no_setup_and_keeps_files_private() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = fastpki(dir.path())
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ready = wait_ready(port);
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(ready, "server did not become ready: {log}");
    let data = dir.path().join("data");
    for file in ["fastpki.db", "secret_key", "service_account_token_pepper"] {
        let meta = std::fs::metadata(data.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{file} mode");
    }
    assert!(log.contains("SECRET_KEY is not set"), "{log}");
    let secret = std::fs::read_to_string(data.join("secret_key")).unwrap();
    assert!(
        !log.contains(secret.trim()),
        "the generated secret leaked into the log"
    );
}

#[test]
fn bad_settings_stop_the_server_with_one_readable_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "SECRET_KEY",
            "too-short",
            "SECRET_KEY must be at least 32 characters",
        ),
        (
            "PRIVATE_KEY_ENCRYPTION_KEY",
            "not-a-fernet-key",
            "PRIVATE_KEY_ENCRYPTION_KEY is not a valid Fernet key",
        ),
        ("DATABASE_URL", "mysql://nope", "DATABASE_URL scheme"),
        ("DATABASE_URL", "nonsense", "DATABASE_URL is not a URL"),
        ("AUTH_RATE_LIMIT", "lots", "AUTH_RATE_LIMIT"),
        ("CA_KEY_SIZE", "1024", "CA_KEY_SIZE"),
    ];
    for (name, value, expected) in cases {
        let out = fastpki(dir.path())
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env(name, value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}={value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{name}={value}: {err}");
        assert_eq!(
            err.trim()
                .lines()
                .filter(|l| l.starts_with("fastpki:"))
                .count(),
            1,
            "{err}"
        );
    }
}

#[test]
fn migrate_command_prepares_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:///{}/m.db", dir.path().display());
    let out = fastpki(dir.path())
        .arg("migrate")
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("m.db").exists());
    // Twice is fine.
    let out = fastpki(dir.path())
        .arg("migrate")
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn unreachable_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = fastpki(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env(
            "DATABASE_URL",
            "postgresql://nobody:secretpw@127.0.0.1:1/none",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot connect to PostgreSQL"), "{err}");
    assert!(!err.contains("secretpw"), "password leaked: {err}");
}
