//! Crash safety: issue and revoke under load, SIGKILL the server mid-way,
//! restart it, and check that every acknowledged write is there and
//! consistent (certificate row, audit entry, CRL entry, CRL number not reused).
//! On SQLite by default; on PostgreSQL when `FASTPKI_TEST_DATABASE_URL` is set.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_fastpki");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(dir: &std::path::Path, url: &str, port: u16) -> Child {
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .env("SECRET_KEY", "crash-test-secret-key-0123456789-abcdefgh")
        .env(
            "SERVICE_ACCOUNT_TOKEN_PEPPER",
            "crash-test-pepper-0123456789-abcdefghij",
        )
        .env("BCRYPT_COST", "4")
        .env("KEY_POOL_SIZE", "0")
        .env("AUTH_RATE_LIMIT", "100000/minute")
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server did not start");
}

async fn fresh_database(dir: &std::path::Path) -> String {
    match std::env::var("FASTPKI_TEST_DATABASE_URL") {
        Ok(admin) if !admin.is_empty() => {
            use sqlx::Connection;
            let name = format!("fastpki_t_{}", uuid::Uuid::new_v4().simple());
            let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut c)
                .await
                .unwrap();
            format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
        }
        _ => format!("sqlite:///{}/crash.db", dir.display()),
    }
}

async fn login(c: &reqwest::Client, base: &str) -> String {
    let t: Value = c
        .post(format!("{base}/auth/token"))
        .form(&[("username", "root"), ("password", "password123")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    t["access_token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(dir.path()).await;
    let port = free_port();
    let mut server = start(dir.path(), &url, port);
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let body = json!({"username": "root", "email": "r@example.com", "password": "password123", "role": "superuser"});
    assert!(
        c.post(format!("{base}/users/"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let token = login(&c, &base).await;
    let ca: Value = c
        .post(format!("{base}/cas/"))
        .bearer_auth(&token)
        .json(&json!({"name": "Crash CA", "subject_dn": "CN=Crash CA", "key_algorithm": "ecdsa-p256"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ca_id = ca["id"].as_i64().unwrap();

    // Load: issue, and revoke every other certificate, from 8 workers until killed.
    let acked_issued = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(i64, String)>::new()));
    let acked_revoked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (c, base, token) = (c.clone(), base.clone(), token.clone());
        let (issued, revoked) = (acked_issued.clone(), acked_revoked.clone());
        workers.push(tokio::spawn(async move {
            for i in 0.. {
                let body = json!({"common_name": format!("w{w}-{i}.example.com"), "certificate_type": "server", "key_algorithm": "ed25519"});
                let Ok(r) = c.post(format!("{base}/certificates/?ca_id={ca_id}")).bearer_auth(&token).json(&body).send().await else { break };
                if r.status() != 201 {
                    break;
                }
                let Ok(v) = r.json::<Value>().await else { break };
                let (id, serial) = (v["id"].as_i64().unwrap(), v["serial_number"].as_str().unwrap().to_string());
                issued.lock().unwrap().push((id, serial.clone()));
                if i % 2 == 0 {
                    let Ok(r) = c.post(format!("{base}/certificates/{id}/revoke")).bearer_auth(&token).json(&json!({"reason": "superseded"})).send().await else { break };
                    if r.status() != 200 {
                        break;
                    }
                    revoked.lock().unwrap().push(serial);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // SIGKILL: no shutdown, no flush.
    server.kill().unwrap();
    server.wait().unwrap();
    for w in workers {
        let _ = w.await;
    }
    let issued = acked_issued.lock().unwrap().clone();
    let revoked = acked_revoked.lock().unwrap().clone();
    assert!(issued.len() > 10, "the load ran ({} issued)", issued.len());

    let mut server = start(dir.path(), &url, port);
    let token = login(&c, &base).await;
    for (id, serial) in &issued {
        let v: Value = c
            .get(format!("{base}/certificates/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            v["serial_number"].as_str(),
            Some(serial.as_str()),
            "certificate {id} acknowledged but lost"
        );
        let audit: Value = c
            .get(format!(
                "{base}/audit-logs/?action=cert_create&resource_type=certificate&resource_id={id}"
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            audit.as_array().unwrap().len(),
            1,
            "audit entry of certificate {id}"
        );
    }
    // Every acknowledged revocation is in the CRL, and the CRL number moves on.
    let crl = c
        .get(format!("http://127.0.0.1:{port}/crl/crash-ca-{ca_id}.pem"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let text = openssl_crl_text(dir.path(), &crl);
    for serial in &revoked {
        assert!(
            text.to_lowercase().contains(&serial.to_lowercase()),
            "revoked serial {serial} missing from the CRL"
        );
    }
    let before = crl_number(&text);
    let (id, _) = issued
        .iter()
        .find(|(_, s)| !revoked.contains(s))
        .cloned()
        .expect("an unrevoked certificate");
    let r = c
        .post(format!("{base}/certificates/{id}/revoke"))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(r.status() == 200 || r.status() == 409, "{}", r.status());
    if r.status() == 200 {
        let crl = c
            .get(format!("http://127.0.0.1:{port}/crl/crash-ca-{ca_id}.pem"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            crl_number(&openssl_crl_text(dir.path(), &crl)) > before,
            "CRL number reused after the crash"
        );
    }
    let _ = server.kill();
    let _ = server.wait();
}

fn openssl_crl_text(dir: &std::path::Path, pem: &str) -> String {
    let path = dir.join("crl.pem");
    std::fs::write(&path, pem).unwrap();
    let out = Command::new("openssl")
        .args(["crl", "-noout", "-text", "-in"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().replace(':', "")
}

fn crl_number(text: &str) -> u64 {
    let line = text
        .lines()
        .skip_while(|l| !l.contains("CRL Number"))
        .nth(1)
        .expect("a CRL number");
    line.trim().parse().expect("a decimal CRL number")
}
