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
        (
            "HEADER_READ_TIMEOUT_SECONDS",
            "0",
            "HEADER_READ_TIMEOUT_SECONDS must be between 1 and 3600",
        ),
        (
            "MAX_CONNECTIONS",
            "many",
            "MAX_CONNECTIONS must be a number",
        ),
        (
            "MAX_CONNECTIONS_PER_IP",
            "5000",
            "MAX_CONNECTIONS_PER_IP (5000) must not exceed MAX_CONNECTIONS (1024)",
        ),
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

const FERNET_A: &str = "ZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmQ=";
const FERNET_B: &str = "YWJjZGFiY2RhYmNkYWJjZGFiY2RhYmNkYWJjZGFiY2Q=";

/// Starts the server, creates a user and a CA, stops it; returns the DB URL.
fn server_with_a_ca(dir: &std::path::Path, extra: &[(&str, &str)]) -> String {
    let url = format!("sqlite:///{}/k.db", dir.display());
    let port = free_port();
    let mut cmd = fastpki(dir);
    cmd.args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &url)
        .env("BCRYPT_COST", "4")
        .env("CA_KEY_SIZE", "2048")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    assert!(wait_ready(port));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let base = format!("http://127.0.0.1:{port}/api/v1");
        let c = reqwest::Client::new();
        let body = serde_json::json!({"username": "root", "email": "r@example.com", "password": "password123", "role": "superuser"});
        assert!(c.post(format!("{base}/users/")).json(&body).send().await.unwrap().status().is_success());
        let t: serde_json::Value = c
            .post(format!("{base}/auth/token"))
            .form(&[("username", "root"), ("password", "password123")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = t["access_token"].as_str().unwrap();
        let r = c
            .post(format!("{base}/cas/"))
            .bearer_auth(token)
            .json(&serde_json::json!({"name": "K", "subject_dn": "CN=K", "key_algorithm": "ecdsa-p256"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    });
    let _ = child.kill();
    let _ = child.wait();
    url
}

fn stored_ca_key(url: &str) -> String {
    let path = url.trim_start_matches("sqlite://");
    let out = Command::new("python3")
        .args(["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select private_key from certificate_authorities').fetchone()[0])", path])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn start_and_collect(dir: &std::path::Path, url: &str, key: Option<&str>) -> (bool, String) {
    let port = free_port();
    let mut cmd = fastpki(dir);
    cmd.args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(k) = key {
        cmd.env("PRIVATE_KEY_ENCRYPTION_KEY", k);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut ready = false;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if wait_ready_once(port) {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (ready, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn wait_ready_once(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.1 200")
}

#[test]
fn keys_are_encrypted_at_rest_checked_at_start_and_rotated() {
    let dir = tempfile::tempdir().unwrap();
    // Created without a key: stored as PEM.
    let url = server_with_a_ca(dir.path(), &[]);
    assert!(stored_ca_key(&url).starts_with("-----BEGIN PRIVATE KEY-----"));
    // Started with a key: plaintext keys are encrypted at start.
    let (ready, log) = start_and_collect(dir.path(), &url, Some(FERNET_A));
    assert!(ready, "{log}");
    let sealed = stored_ca_key(&url);
    assert!(sealed.starts_with("gAAAAA"), "{sealed}");
    assert!(!sealed.contains("PRIVATE KEY"));
    // Python's cryptography opens what we sealed (and so interoperates both ways).
    let out = Command::new("python3")
        .args(["-c", "import sys; from cryptography.fernet import Fernet; print(Fernet(sys.argv[1].encode()).decrypt(sys.argv[2].strip().encode()).decode())", FERNET_A, &sealed])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("BEGIN PRIVATE KEY"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A wrong key, or none, stops the server naming the first resource that fails.
    let (ready, log) = start_and_collect(dir.path(), &url, Some(FERNET_B));
    assert!(!ready);
    assert!(log.contains("certificate authority 1"), "{log}");
    let (ready, log) = start_and_collect(dir.path(), &url, None);
    assert!(!ready);
    assert!(
        log.contains("PRIVATE_KEY_ENCRYPTION_KEY is not set"),
        "{log}"
    );
    // rotate-key re-encrypts everything with the new key.
    let out = fastpki(dir.path())
        .args(["rotate-key", "--new-key", FERNET_B])
        .env("DATABASE_URL", &url)
        .env("PRIVATE_KEY_ENCRYPTION_KEY", FERNET_A)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("re-encrypted 1 private keys"));
    let (ready, log) = start_and_collect(dir.path(), &url, Some(FERNET_B));
    assert!(ready, "{log}");
    let (ready, _) = start_and_collect(dir.path(), &url, Some(FERNET_A));
    assert!(!ready, "the old key no longer opens the keys");
}

/// A full session at DEBUG level: no password, token, secret or private key reaches the log.
#[test]
fn no_secret_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let secret_key = "log-test-secret-key-0123456789-abcdefghij";
    let pepper = "log-test-pepper-0123456789-abcdefghijklmn";
    let fernet = FERNET_A;
    let mut child = fastpki(dir.path())
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env(
            "DATABASE_URL",
            format!("sqlite:///{}/l.db", dir.path().display()),
        )
        .env("LOG_LEVEL", "TRACE")
        .env("SECRET_KEY", secret_key)
        .env("SERVICE_ACCOUNT_TOKEN_PEPPER", pepper)
        .env("PRIVATE_KEY_ENCRYPTION_KEY", fernet)
        .env("BCRYPT_COST", "4")
        .env("KEY_POOL_SIZE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_ready(port));
    let password = "a-very-secret-password-42";
    let mut secrets: Vec<String> = vec![
        secret_key.into(),
        pepper.into(),
        fernet.into(),
        password.into(),
    ];
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let base = format!("http://127.0.0.1:{port}/api/v1");
        let c = reqwest::Client::new();
        let body = serde_json::json!({"username": "root", "email": "r@example.com", "password": password, "role": "superuser"});
        c.post(format!("{base}/users/")).json(&body).send().await.unwrap();
        let _ = c.post(format!("{base}/auth/token")).form(&[("username", "root"), ("password", "wrong-password-xyz")]).send().await;
        let t: serde_json::Value =
            c.post(format!("{base}/auth/token")).form(&[("username", "root"), ("password", password)]).send().await.unwrap().json().await.unwrap();
        let token = t["access_token"].as_str().unwrap().to_string();
        let refresh = t["refresh_token"].as_str().unwrap().to_string();
        secrets.push(token.clone());
        secrets.push(refresh.clone());
        let ca: serde_json::Value = c
            .post(format!("{base}/cas/"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": "L", "subject_dn": "CN=L", "key_algorithm": "ecdsa-p256"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let cert: serde_json::Value = c
            .post(format!("{base}/certificates/?ca_id={}", ca["id"]))
            .bearer_auth(&token)
            .json(&serde_json::json!({"common_name": "l.example.com", "certificate_type": "server", "key_algorithm": "ecdsa-p256"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let key_body = cert["private_key"].as_str().unwrap().lines().nth(1).unwrap().to_string();
        secrets.push(key_body);
        // A superuser without an organization names the account's.
        let org: serde_json::Value = c
            .post(format!("{base}/organizations/"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": "bots"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let sa: serde_json::Value = c
            .post(format!("{base}/service-accounts/"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": "bot", "organization_id": org["id"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let t: serde_json::Value = c
            .post(format!("{base}/service-accounts/{}/tokens", sa["id"]))
            .bearer_auth(&token)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let sa_token = t["token"].as_str().unwrap().to_string();
        secrets.push(sa_token.clone());
        let _ = c.get(format!("{base}/cas/{}", ca["id"])).bearer_auth(&sa_token).send().await;
        let _ = c.get(format!("{base}/cas/{}/private-key", ca["id"])).bearer_auth(&token).send().await;
        let _ = c.post(format!("{base}/auth/refresh")).json(&serde_json::json!({"refresh_token": refresh})).send().await;
        let _ = c.get(format!("{base}/users/me?token={token}")).send().await;
    });
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        log.contains("FastPKI is listening"),
        "the log was captured: {log}"
    );
    assert!(
        log.lines().count() > 20,
        "TRACE logging produced a real log"
    );
    for s in &secrets {
        assert!(
            !log.contains(s.as_str()),
            "a secret reached the log: {}…",
            &s[..8.min(s.len())]
        );
    }
    // SQL text may name columns at TRACE level; values (hashes, keys) must never appear.
    for marker in ["PRIVATE KEY-----", "$2b$"] {
        assert!(!log.contains(marker), "{marker} reached the log");
    }
}

/// TLS to PostgreSQL follows `sslmode` (run when FASTPKI_TEST_DATABASE_URL
/// names a PostgreSQL server that offers TLS, as Debian's does by default).
#[test]
fn postgres_tls_follows_sslmode() {
    let Ok(base) = std::env::var("FASTPKI_TEST_DATABASE_URL") else {
        return;
    };
    let psql = |url: &str, sql: &str| {
        Command::new("psql")
            .args([url, "-Atc", sql])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    if psql(&base, "SHOW ssl") != "on" {
        eprintln!("skipped: the PostgreSQL server does not offer TLS");
        return;
    }
    let name = format!("fastpki_t_tls_{}", std::process::id());
    psql(&base, &format!("CREATE DATABASE {name}"));
    let (root, _) = base.rsplit_once('/').expect("a database in the URL");
    let url = |mode: &str| format!("{root}/{name}?sslmode={mode}");
    let dir = tempfile::tempdir().unwrap();
    let migrate = |mode: &str| {
        fastpki(dir.path())
            .arg("migrate")
            .env("DATABASE_URL", url(mode))
            .output()
            .unwrap()
    };
    let required = migrate("require");
    // The server's certificate is its own, not from a public root: verify-full refuses it.
    let verified = migrate("verify-full");
    psql(&base, &format!("DROP DATABASE {name}"));
    assert!(
        required.status.success(),
        "sslmode=require: {}",
        String::from_utf8_lossy(&required.stderr)
    );
    assert!(!verified.status.success());
    let err = String::from_utf8_lossy(&verified.stderr);
    assert!(err.contains("certificate"), "a readable refusal: {err}");
}
