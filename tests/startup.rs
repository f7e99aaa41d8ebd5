//! The real binary: first run on the embedded default, readable refusals of
//! bad settings, and `migrate`.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use test_support::database::{fail_if_postgres_required, fresh_database, postgres_admin_url};
use test_support::http::{bootstrap_root, json, login, text};
use test_support::ports::free_port;
use test_support::server::{ServerProcess, command};

const BIN: &str = env!("CARGO_BIN_EXE_fastpki");

/// The binary in `dir`, with a clean environment (no DATABASE_URL etc. leaking in).
fn fastpki(dir: &std::path::Path) -> Command {
    command(BIN, dir)
}

#[test]
fn first_run_needs_no_setup_and_keeps_files_private() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = ServerProcess::spawn(
        fastpki(dir.path()).args(["serve", "--bind", &format!("127.0.0.1:{port}")]),
        port,
        dir.path().join("serve.log"),
    );
    let ready = server.wait_ready(Duration::from_secs(20));
    server.kill();
    let log = server.log_text();
    assert!(ready.is_ok(), "server did not become ready: {log}");
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
const FERNET_C: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// Starts the server with `key` as PRIVATE_KEY_ENCRYPTION_KEY: the running
/// server, or its exit status and log when it refuses to start.
fn serve(
    dir: &std::path::Path,
    url: &str,
    key: Option<&str>,
) -> Result<ServerProcess, (std::process::ExitStatus, String)> {
    let port = free_port();
    let mut cmd = fastpki(dir);
    cmd.args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", url)
        .env("BCRYPT_COST", "4")
        .env("CA_KEY_SIZE", "2048")
        .env("KEY_POOL_SIZE", "0");
    if let Some(k) = key {
        cmd.env("PRIVATE_KEY_ENCRYPTION_KEY", k);
    }
    // A file, not a pipe: nobody reads a pipe while the server runs.
    let mut server = ServerProcess::spawn(&mut cmd, port, dir.join(format!("serve-{port}.log")));
    match server.wait_ready(Duration::from_secs(30)) {
        Ok(()) => Ok(server),
        Err(_) => {
            let status = server.kill();
            Err((status, server.log_text()))
        }
    }
}

/// The stored private-key columns, read straight from the database:
/// "ca <id>" and "certificate <id>" to the stored text.
async fn stored_keys(url: &str) -> std::collections::BTreeMap<String, String> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(url).await.unwrap();
    let mut keys = std::collections::BTreeMap::new();
    for (kind, sql) in [
        (
            "ca",
            "SELECT id, private_key FROM certificate_authorities ORDER BY id",
        ),
        (
            "certificate",
            "SELECT id, private_key FROM certificates WHERE private_key IS NOT NULL ORDER BY id",
        ),
    ] {
        let rows: Vec<(i64, String)> = sqlx::query_as(sql).fetch_all(&mut c).await.unwrap();
        for (id, key) in rows {
            keys.insert(format!("{kind} {id}"), key);
        }
    }
    c.close().await.unwrap();
    keys
}

/// Every stored key is a Fernet token under `key` (not a PEM), opening to `pems`.
fn assert_sealed_under(
    stored: &std::collections::BTreeMap<String, String>,
    key: &str,
    pems: &std::collections::BTreeMap<String, String>,
) {
    let f = fernet::Fernet::new(key).unwrap();
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        pems.keys().collect::<Vec<_>>(),
        "the stored keys are those of every CA and every kept certificate key"
    );
    for (what, token) in stored {
        assert!(
            token.starts_with("gAAAAA") && !token.contains("PRIVATE KEY"),
            "{what} is not stored as a Fernet token: {}…",
            &token[..token.len().min(40)]
        );
        let opened = f
            .decrypt(token)
            .unwrap_or_else(|_| panic!("{what} is not sealed under the expected key"));
        assert_eq!(
            String::from_utf8(opened).unwrap().trim(),
            pems[what].trim(),
            "{what} opens to its own key"
        );
    }
}

/// Every private key the API exports, by "ca <id>" / "certificate <id>",
/// after checking that both export routes give the same PEM.
async fn exported_keys(
    s: &ServerProcess,
    token: &str,
    cas: &[i64],
    certs: &[i64],
) -> std::collections::BTreeMap<String, String> {
    let c = reqwest::Client::new();
    let mut out = std::collections::BTreeMap::new();
    for (kind, ids, api, export) in [
        ("ca", cas, "cas", "export/ca"),
        ("certificate", certs, "certificates", "export/certificate"),
    ] {
        for id in ids {
            let what = format!("{kind} {id}");
            let v = json(
                c.get(format!("{}/{api}/{id}/private-key", s.api()))
                    .bearer_auth(token),
                200,
                &what,
            )
            .await;
            let pem = v["private_key"].as_str().unwrap().to_string();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{what}");
            let file = text(
                c.get(format!("{}/{export}/{id}/private-key", s.api()))
                    .bearer_auth(token),
                200,
                &what,
            )
            .await;
            assert_eq!(file.trim(), pem.trim(), "{what}: both exports agree");
            out.insert(what, pem);
        }
    }
    out
}

/// Keys at rest on SQLite, or PostgreSQL with `FASTPKI_TEST_DATABASE_URL`:
/// plaintext keys are sealed by the first start with a key, new keys are
/// sealed when written, a wrong or missing key stops the start naming the
/// resource, `rotate-key` re-seals both tables under the new key (all or
/// nothing), and every export gives the same key throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_at_rest_are_sealed_checked_at_start_and_rotated() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(dir.path(), "the startup tests").await;
    let c = reqwest::Client::new();

    // Without a key: every key is stored as PEM.
    let s = serve(dir.path(), &url, None).unwrap_or_else(|(_, log)| panic!("{log}"));
    bootstrap_root(&c, &s.api()).await;
    let token = login(&c, &s.api(), "root").await.0;
    let new_ca = |name: &str, parent: Option<i64>| serde_json::json!({"name": name, "subject_dn": format!("CN={name}"), "key_algorithm": "ecdsa-p256", "parent_ca_id": parent, "allow_leaf_certs": true});
    let root = json(
        c.post(format!("{}/cas/", s.api()))
            .bearer_auth(&token)
            .json(&new_ca("Keys Root", None)),
        201,
        "root CA",
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let issue = |s: &ServerProcess, token: &str, ca: i64, cn: &str, extra: serde_json::Value| {
        let mut body = serde_json::json!({"common_name": cn, "certificate_type": "server", "key_algorithm": "ed25519"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        c.post(format!("{}/certificates/?ca_id={ca}", s.api()))
            .bearer_auth(token)
            .json(&body)
    };
    // The root issues before it has a sub-CA (a parent stops issuing leaves).
    let mut certs = Vec::new();
    let v = json(
        issue(&s, &token, root, "a.example.com", serde_json::json!({})),
        201,
        "leaf of the root",
    )
    .await;
    certs.push(v["id"].as_i64().unwrap());
    let sub = json(
        c.post(format!("{}/cas/", s.api()))
            .bearer_auth(&token)
            .json(&new_ca("Keys Sub", Some(root))),
        201,
        "sub-CA",
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let mut cas = vec![root, sub];
    let v = json(
        issue(&s, &token, sub, "b.example.com", serde_json::json!({})),
        201,
        "leaf of the sub-CA",
    )
    .await;
    certs.push(v["id"].as_i64().unwrap());
    // A certificate whose key the server does not keep has nothing at rest.
    json(
        issue(
            &s,
            &token,
            sub,
            "nokey.example.com",
            serde_json::json!({"include_private_key": false}),
        ),
        201,
        "no kept key",
    )
    .await;
    let mut pems = exported_keys(&s, &token, &cas, &certs).await;
    drop(s);
    let plain = stored_keys(&url).await;
    assert_eq!(plain.len(), 4, "{:?}", plain.keys());
    for (what, stored) in &plain {
        assert_eq!(stored.trim(), pems[what].trim(), "{what} is stored as PEM");
    }

    // The first start with a key seals every plaintext key, in both tables.
    let s = serve(dir.path(), &url, Some(FERNET_A)).unwrap_or_else(|(_, log)| panic!("{log}"));
    let sealed = stored_keys(&url).await;
    assert_sealed_under(&sealed, FERNET_A, &pems);
    let log = s.log_text();
    assert!(
        log.contains("encrypted plaintext private keys") && log.contains("keys=4"),
        "{log}"
    );
    // Keys written from now on are sealed when written.
    let token = login(&c, &s.api(), "root").await.0;
    let v = json(
        c.post(format!("{}/cas/", s.api()))
            .bearer_auth(&token)
            .json(&new_ca("Keys Late", Some(root))),
        201,
        "CA with a key set",
    )
    .await;
    cas.push(v["id"].as_i64().unwrap());
    let v = json(
        issue(&s, &token, sub, "c.example.com", serde_json::json!({})),
        201,
        "certificate with a key set",
    )
    .await;
    certs.push(v["id"].as_i64().unwrap());
    let all = exported_keys(&s, &token, &cas, &certs).await;
    for (what, pem) in &pems {
        assert_eq!(&all[what], pem, "{what} exports the same key once sealed");
    }
    pems = all;
    drop(s);
    let sealed = stored_keys(&url).await;
    assert_sealed_under(&sealed, FERNET_A, &pems);
    // Python's cryptography opens what we sealed (it interoperates both ways).
    let out = Command::new("python3")
        .args(["-c", "import sys; from cryptography.fernet import Fernet; print(Fernet(sys.argv[1].encode()).decrypt(sys.argv[2].strip().encode()).decode())", FERNET_A, &sealed["ca 1"]])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("BEGIN PRIVATE KEY"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A wrong key, or none, stops the start with one line naming the first
    // resource that fails, and changes nothing.
    for (key, expected) in [
        (
            Some(FERNET_B),
            "fastpki: certificate authority 1: the stored private key cannot be decrypted with PRIVATE_KEY_ENCRYPTION_KEY",
        ),
        (
            None,
            "fastpki: certificate authority 1: the stored private key is encrypted but PRIVATE_KEY_ENCRYPTION_KEY is not set",
        ),
    ] {
        let Err((status, log)) = serve(dir.path(), &url, key) else {
            panic!("the server started with the key {key:?}");
        };
        assert!(!status.success());
        assert!(log.contains(expected), "{key:?}: {log}");
        assert_eq!(
            log.lines().filter(|l| l.starts_with("fastpki:")).count(),
            1,
            "{log}"
        );
        assert!(!log.contains(FERNET_A) && !log.contains(FERNET_B), "{log}");
        assert!(
            stored_keys(&url).await == sealed,
            "a refused start changed the keys"
        );
    }

    let rotate = |current: Option<&str>, new: &str| {
        let mut cmd = fastpki(dir.path());
        cmd.arg("rotate-key")
            .env("DATABASE_URL", &url)
            .env("NEW_PRIVATE_KEY_ENCRYPTION_KEY", new);
        if let Some(k) = current {
            cmd.env("PRIVATE_KEY_ENCRYPTION_KEY", k);
        }
        cmd.output().unwrap()
    };
    // rotate-key with a wrong current key, with none, or with an invalid new
    // key fails and leaves every key column byte for byte as it was.
    for (current, new, expected) in [
        (
            Some(FERNET_B),
            FERNET_C,
            "certificate authority 1: the stored private key cannot be decrypted",
        ),
        (
            None,
            FERNET_C,
            "certificate authority 1: the stored private key is encrypted but PRIVATE_KEY_ENCRYPTION_KEY is not set",
        ),
        (Some(FERNET_A), "not-a-fernet-key", "not a valid Fernet key"),
    ] {
        let out = rotate(current, new);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{current:?} -> {new}: {err}");
        assert!(err.contains(expected), "{current:?} -> {new}: {err}");
        assert!(
            stored_keys(&url).await == sealed,
            "a failed rotate-key ({current:?} -> {new}) changed the keys"
        );
    }
    // A failure late in the rotation (the last certificate key, sealed under
    // another key) undoes the keys already re-sealed: all or nothing.
    let last = format!("certificate {}", certs.last().unwrap());
    let foreign = fernet::Fernet::new(FERNET_C)
        .unwrap()
        .encrypt(pems[&last].as_bytes());
    set_certificate_key(&url, *certs.last().unwrap(), &foreign).await;
    let mut tampered = sealed.clone();
    tampered.insert(last.clone(), foreign);
    let out = rotate(Some(FERNET_A), FERNET_B);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&last), "{err}");
    assert!(
        stored_keys(&url).await == tampered,
        "a rotation that failed midway left keys re-sealed"
    );
    set_certificate_key(&url, *certs.last().unwrap(), &sealed[&last]).await;
    assert!(stored_keys(&url).await == sealed);

    // rotate-key re-seals every key of both tables under the new key.
    let out = rotate(Some(FERNET_A), FERNET_B);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("re-encrypted {} private keys", pems.len())),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let rotated = stored_keys(&url).await;
    assert_sealed_under(&rotated, FERNET_B, &pems);
    let old = fernet::Fernet::new(FERNET_A).unwrap();
    for (what, token) in &rotated {
        assert!(
            old.decrypt(token).is_err(),
            "{what} still opens with the old key"
        );
    }
    // The old key no longer starts the server; the new one does, and every
    // key exports and signs as before.
    let Err((_, log)) = serve(dir.path(), &url, Some(FERNET_A)) else {
        panic!("the old key still starts the server");
    };
    assert!(log.contains("cannot be decrypted"), "{log}");
    let s = serve(dir.path(), &url, Some(FERNET_B)).unwrap_or_else(|(_, log)| panic!("{log}"));
    let token = login(&c, &s.api(), "root").await.0;
    assert_eq!(exported_keys(&s, &token, &cas, &certs).await, pems);
    for ca in &cas[1..] {
        json(
            issue(&s, &token, *ca, "after.example.com", serde_json::json!({})),
            201,
            "issuance after the rotation",
        )
        .await;
    }
    json(
        c.post(format!("{}/cas/", s.api()))
            .bearer_auth(&token)
            .json(&new_ca("Keys After", Some(root))),
        201,
        "the root signs a sub-CA after the rotation",
    )
    .await;
}

/// Overwrites one certificate's stored key (to plant a key sealed elsewhere).
async fn set_certificate_key(url: &str, id: i64, stored: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::query("UPDATE certificates SET private_key = $1 WHERE id = $2")
        .bind(stored)
        .bind(id)
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
}

/// A full session at DEBUG level: no password, token, secret or private key reaches the log.
#[test]
fn no_secret_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let secret_key = "log-test-secret-key-0123456789-abcdefghij";
    let pepper = "log-test-pepper-0123456789-abcdefghijklmn";
    let fernet = FERNET_A;
    let mut server = ServerProcess::spawn(
        fastpki(dir.path())
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
            .env("KEY_POOL_SIZE", "0"),
        port,
        dir.path().join("serve.log"),
    );
    server
        .wait_ready(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}"));
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
        let r = c.post(format!("{base}/users/")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201, "bootstrap user");
        // A failed login: its refusal is the point, but it must be a refusal (not a 404).
        let r = c.post(format!("{base}/auth/token")).form(&[("username", "root"), ("password", "wrong-password-xyz")]).send().await.unwrap();
        assert_eq!(r.status(), 401, "wrong password");
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
        // Each request below carries a secret the server must handle without logging it:
        // its status shows the server really processed it.
        let r = c.get(format!("{base}/cas/{}", ca["id"])).bearer_auth(&sa_token).send().await.unwrap();
        // The CA is outside the account's organization: 403 (not 401) shows the token was
        // accepted and read.
        assert_eq!(r.status(), 403, "the service account token");
        let r = c.get(format!("{base}/cas/{}/private-key", ca["id"])).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 200, "the CA's private key");
        let r = c.post(format!("{base}/auth/refresh")).json(&serde_json::json!({"refresh_token": refresh})).send().await.unwrap();
        assert_eq!(r.status(), 200, "the refresh token");
        // A token in the query string is not accepted: the refusal is the point.
        let r = c.get(format!("{base}/users/me?token={token}")).send().await.unwrap();
        assert_eq!(r.status(), 401, "a token in the query string");
    });
    server.kill();
    let log = server.log_text();
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
    let Some(base) = postgres_admin_url() else {
        fail_if_postgres_required("postgres_tls_follows_sslmode");
        eprintln!("FASTPKI_TEST_DATABASE_URL is not set: this test needs PostgreSQL, skipped");
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
