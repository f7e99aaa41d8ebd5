//! Webhook deliveries across a crash: an event whose receiver is down is kept
//! as a pending delivery; the server is killed (SIGKILL) and started again on
//! the same database with the receiver up, and the event arrives exactly
//! once; killed and started again once more, nothing already delivered is
//! sent again. The receiver is a real HTTP server of the test process on
//! 127.0.0.1; signatures are checked with `openssl`. No fixed sleeps: each
//! wait polls with a deadline, and "nothing more came" is shown by a later
//! event (a barrier) arriving first.
//! On SQLite by default; on PostgreSQL when `FASTPKI_TEST_DATABASE_URL` is set.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{Value, json};
use sqlx::Connection;
use test_support::database::fresh_database;
use test_support::http::{bootstrap_root, json, login};
use test_support::ports::free_port;
use test_support::server::{ServerProcess, command};
use test_support::webhooks::{Received, Receiver, verify_with_openssl};

const BIN: &str = env!("CARGO_BIN_EXE_fastpki");
const SECRET: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const WAIT: Duration = Duration::from_secs(90);

/// `fastpki serve` on `url`, sending every event to `hook`, ready.
fn start(dir: &Path, url: &str, hook: &str, run: u32) -> ServerProcess {
    let port = free_port();
    let mut cmd = command(BIN, dir);
    cmd.env("DATABASE_URL", url)
        .env("FASTPKI_DATA_DIR", dir.join("data"))
        .env("SECRET_KEY", "webhook-restart-secret-key-0123456789-abcd")
        .env(
            "SERVICE_ACCOUNT_TOKEN_PEPPER",
            "webhook-restart-pepper-0123456789-abcdefgh",
        )
        .env("BCRYPT_COST", "4")
        .env("KEY_POOL_SIZE", "0")
        .env("WEBHOOK_URLS", hook)
        .env("WEBHOOK_SECRET", SECRET)
        .env("WEBHOOK_RETRY_BASE_SECONDS", "1")
        .env("RUST_LOG", "info")
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")]);
    let mut server = ServerProcess::spawn(&mut cmd, port, dir.join(format!("server-{run}.log")));
    server
        .wait_ready(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));
    server
}

async fn issue(c: &Client, api: &str, token: &str, ca: i64, cn: &str) -> i64 {
    let v = json(
        c.post(format!("{api}/certificates/?ca_id={ca}"))
            .bearer_auth(token)
            .json(&json!({"common_name": cn, "certificate_type": "server", "key_algorithm": "ecdsa-p256"})),
        201,
        "issue",
    )
    .await;
    v["id"].as_i64().unwrap()
}

/// The state of the only delivery of the `certificate.issued` event of `cert`:
/// (status, attempts, leased).
async fn delivery_of(db: &mut sqlx::AnyConnection, cert: i64) -> Option<(String, i64, bool)> {
    sqlx::query_as::<_, (String, i64, Option<String>)>(
        "SELECT d.status, d.attempts, d.lease_until FROM webhook_deliveries d \
         JOIN webhook_events e ON e.id = d.event_id WHERE e.dedupe_key = $1",
    )
    .bind(format!("certificate.issued:{cert}"))
    .fetch_optional(db)
    .await
    .unwrap()
    .map(|(s, a, l)| (s, a, l.is_some()))
}

async fn wait_for(
    db: &mut sqlx::AnyConnection,
    cert: i64,
    what: &str,
    ok: impl Fn(&(String, i64, bool)) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    loop {
        let state = delivery_of(db, cert).await;
        if state.as_ref().is_some_and(&ok) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {state:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn cert_of(r: &Received) -> i64 {
    r.json()["data"]["id"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_delivery_survives_sigkill_and_arrives_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(dir.path(), "the webhook restart test").await;
    let hook_port = free_port();
    let hook = format!("http://127.0.0.1:{hook_port}/hook");
    let c = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // The receiver is down: the event is kept, its delivery retried.
    let mut server = start(dir.path(), &url, &hook, 1);
    let api = server.api();
    bootstrap_root(&c, &api).await;
    let token = login(&c, &api, "root").await.0;
    let ca: Value = json(
        c.post(format!("{api}/cas/")).bearer_auth(&token).json(
            &json!({"name": "Restart CA", "subject_dn": "CN=Restart CA", "key_algorithm": "ecdsa-p256"}),
        ),
        201,
        "CA",
    )
    .await;
    let ca = ca["id"].as_i64().unwrap();
    let first = issue(&c, &api, &token, ca, "first.example.com").await;
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
    if !url.starts_with("postgres") {
        sqlx::raw_sql("PRAGMA busy_timeout = 10000")
            .execute(&mut db)
            .await
            .unwrap();
    }
    wait_for(
        &mut db,
        first,
        "a failed attempt, not in flight",
        |(status, attempts, leased)| status == "pending" && *attempts >= 1 && !leased,
    )
    .await;
    server.kill();

    // Up again, with the receiver: delivered, once.
    let receiver = Receiver::start_on(hook_port).await;
    let mut server = start(dir.path(), &url, &hook, 2);
    let api = server.api();
    let got = receiver
        .wait_until(WAIT, "the pending event", |r| !r.is_empty())
        .await;
    assert_eq!(cert_of(&got[0]), first);
    assert_eq!(got[0].event_type(), "certificate.issued");
    verify_with_openssl(SECRET, &got[0]);
    wait_for(&mut db, first, "recorded delivered", |(status, _, _)| {
        status == "delivered"
    })
    .await;
    let token = login(&c, &api, "root").await.0;
    let second = issue(&c, &api, &token, ca, "second.example.com").await;
    let got = receiver
        .wait_until(WAIT, "the second event", |r| {
            r.iter().any(|r| cert_of(r) == second)
        })
        .await;
    assert_eq!(
        got.iter().map(cert_of).collect::<Vec<_>>(),
        [first, second],
        "the first event arrived once"
    );
    wait_for(&mut db, second, "recorded delivered", |(status, _, _)| {
        status == "delivered"
    })
    .await;

    // Killed and started again: what was delivered is not sent again.
    server.kill();
    let server = start(dir.path(), &url, &hook, 3);
    let api = server.api();
    let token = login(&c, &api, "root").await.0;
    let third = issue(&c, &api, &token, ca, "third.example.com").await;
    let got = receiver
        .wait_until(WAIT, "the third event", |r| {
            r.iter().any(|r| cert_of(r) == third)
        })
        .await;
    assert_eq!(
        got.iter().map(cert_of).collect::<Vec<_>>(),
        [first, second, third]
    );
    let ids: std::collections::HashSet<String> = got.iter().map(Received::event_id).collect();
    assert_eq!(ids.len(), 3);
    for r in &got {
        verify_with_openssl(SECRET, r);
    }
    for run in 1..=3 {
        let log = std::fs::read_to_string(dir.path().join(format!("server-{run}.log"))).unwrap();
        assert!(!log.contains("panicked"), "server {run} panicked:\n{log}");
    }
}
