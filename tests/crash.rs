//! Crash safety: issue and revoke under load while polling the CRL, SIGKILL
//! the server mid-way, restart it, and check that every acknowledged write is
//! there and consistent: each certificate with its `cert_create` audit entry,
//! each revocation with status `revoked`, its `cert_revoke` audit entry and its
//! serial in the CA's current CRL; no CRL number names two different CRLs,
//! before the kill or after, and the numbers move on after the restart.
//! Any status other than the expected one, or any transport error before the
//! kill, fails the test. Loopback only, bounded in time (about 2.5 s of load).
//! On SQLite by default; on PostgreSQL when `FASTPKI_TEST_DATABASE_URL` is set.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use test_support::crl::{CrlInfo, assert_crl_verifies, crl_der, norm_serial, parse_crl};
use test_support::database::fresh_database;
use test_support::http::{bootstrap_root, json, login};
use test_support::ports::free_port;
use test_support::server::{ServerProcess, command};

const BIN: &str = env!("CARGO_BIN_EXE_fastpki");
/// How long the load runs before the kill.
const LOAD: Duration = Duration::from_millis(2500);

/// Starts `fastpki serve` on `port` (run `run`'s log in `dir`) and waits until it is ready.
fn start(dir: &Path, url: &str, port: u16, run: u32) -> ServerProcess {
    let mut cmd = command(BIN, dir);
    cmd.env("DATABASE_URL", url)
        .env("FASTPKI_DATA_DIR", dir.join("data"))
        .env("SECRET_KEY", "crash-test-secret-key-0123456789-abcdefgh")
        .env(
            "SERVICE_ACCOUNT_TOKEN_PEPPER",
            "crash-test-pepper-0123456789-abcdefghij",
        )
        .env("BCRYPT_COST", "4")
        .env("KEY_POOL_SIZE", "0")
        .env("AUTH_RATE_LIMIT", "100000/minute")
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")]);
    let mut server = ServerProcess::spawn(&mut cmd, port, dir.join(format!("server-{run}.log")));
    server
        .wait_ready(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));
    server
}

/// What the load saw acknowledged, and every distinct CRL it was served.
#[derive(Default)]
struct Seen {
    /// (certificate id, serial) of every 201.
    issued: Mutex<Vec<(i64, String)>>,
    /// (certificate id, serial) of every revocation answered 200.
    revoked: Mutex<Vec<(i64, String)>>,
    /// Every distinct CRL (DER) served during the load, in the order seen.
    crls: Mutex<Vec<Vec<u8>>>,
}

/// Whether a failed request is the kill's doing (expected) or a failure.
fn after_kill(killed: &AtomicBool, what: &str, e: impl std::fmt::Display) {
    assert!(
        killed.load(Ordering::SeqCst),
        "{what} failed before the kill: {e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(dir.path(), "the crash tests").await;
    let port = free_port();
    let mut server = start(dir.path(), &url, port, 1);
    let root = server.root();
    let base = server.api();
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    bootstrap_root(&c, &base).await;
    let token = login(&c, &base, "root").await.0;
    let ca = json(
        c.post(format!("{base}/cas/"))
            .bearer_auth(&token)
            .json(&json!({"name": "Crash CA", "subject_dn": "CN=Crash CA", "key_algorithm": "ecdsa-p256"})),
        201,
        "CA",
    )
    .await;
    let ca_id = ca["id"].as_i64().unwrap();
    let ca_pem = ca["certificate"].as_str().unwrap().to_string();
    let slug = format!("crash-ca-{ca_id}");

    // Load: 8 workers issue, and revoke every other certificate they issued,
    // while a poller records every CRL served; until the kill.
    let seen = Arc::new(Seen::default());
    let killed = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (c, base, token) = (c.clone(), base.clone(), token.clone());
        let (seen, killed) = (seen.clone(), killed.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let body = json!({"common_name": format!("w{w}-{i}.example.com"), "certificate_type": "server", "key_algorithm": "ed25519"});
                let r = match c
                    .post(format!("{base}/certificates/?ca_id={ca_id}"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(r) => r,
                    Err(e) => return after_kill(&killed, "issue", e),
                };
                let status = r.status();
                let v: Value = match r.json().await {
                    Ok(v) => v,
                    Err(e) => return after_kill(&killed, "issue body", e),
                };
                assert_eq!(status, 201, "issue: {v}");
                let id = v["id"].as_i64().unwrap();
                let serial = v["serial_number"].as_str().unwrap().to_string();
                seen.issued.lock().unwrap().push((id, serial.clone()));
                if i % 2 == 0 {
                    let r = match c
                        .post(format!("{base}/certificates/{id}/revoke"))
                        .bearer_auth(&token)
                        .json(&json!({"reason": "superseded"}))
                        .send()
                        .await
                    {
                        Ok(r) => r,
                        Err(e) => return after_kill(&killed, "revoke", e),
                    };
                    let status = r.status();
                    let v: Value = match r.json().await {
                        Ok(v) => v,
                        Err(e) => return after_kill(&killed, "revoke body", e),
                    };
                    assert_eq!(status, 200, "revoke {id}: {v}");
                    seen.revoked.lock().unwrap().push((id, serial));
                }
            }
        }));
    }
    {
        let (c, root, slug) = (c.clone(), root.clone(), slug.clone());
        let (seen, killed) = (seen.clone(), killed.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let r = match c.get(format!("{root}/crl/{slug}")).send().await {
                    Ok(r) => r,
                    Err(e) => return after_kill(&killed, "CRL poll", e),
                };
                let status = r.status();
                let der = match r.bytes().await {
                    Ok(b) => b.to_vec(),
                    Err(e) => return after_kill(&killed, "CRL poll body", e),
                };
                assert_eq!(status, 200, "CRL poll");
                {
                    let mut crls = seen.crls.lock().unwrap();
                    if crls.last() != Some(&der) {
                        crls.push(der);
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    tokio::time::sleep(LOAD).await;
    // Set before the signal, so that every failure the kill causes sees it.
    killed.store(true, Ordering::SeqCst);
    server.kill();
    let log = server.log_text();
    for t in tasks {
        if let Err(e) = t.await {
            if e.is_panic() {
                eprintln!("server log before the kill:\n{log}");
                std::panic::resume_unwind(e.into_panic());
            }
            panic!("load task: {e}");
        }
    }
    let issued = seen.issued.lock().unwrap().clone();
    let revoked = seen.revoked.lock().unwrap().clone();
    let crls_before = seen.crls.lock().unwrap().clone();
    assert!(issued.len() > 10, "the load ran ({} issued)", issued.len());
    assert!(!revoked.is_empty(), "the load revoked");

    // Before the kill: one CRL per number, numbers never went down, and a
    // higher number never dropped a serial.
    let mut by_number: BTreeMap<u64, (Vec<u8>, HashSet<String>)> = BTreeMap::new();
    let mut last = 0;
    for der in &crls_before {
        let info = parse_crl(der);
        assert!(
            info.number >= last,
            "CRL {} served after {last}",
            info.number
        );
        last = info.number;
        record(&mut by_number, info, der, "during the load");
    }
    let max_before = last;

    // Restart on the same database.
    let server = start(dir.path(), &url, port, 2);
    let token = login(&c, &base, "root").await.0;
    for (id, serial) in &issued {
        let v = json(
            c.get(format!("{base}/certificates/{id}"))
                .bearer_auth(&token),
            200,
            &format!("certificate {id} acknowledged but lost"),
        )
        .await;
        assert_eq!(
            v["serial_number"].as_str(),
            Some(serial.as_str()),
            "certificate {id}"
        );
        assert_eq!(
            audit(&c, &base, &token, "cert_create", *id).await,
            1,
            "cert_create audit entry of certificate {id}"
        );
    }
    let crl_after = crl_der(&c, &root, &slug).await;
    let info = parse_crl(&crl_after);
    let after_number = info.number;
    let in_crl = info.serials.clone();
    assert!(
        after_number >= max_before,
        "the CRL went back from {max_before} to {after_number} after the restart"
    );
    record(&mut by_number, info, &crl_after, "after the restart");
    for (id, serial) in &revoked {
        let v = json(
            c.get(format!("{base}/certificates/{id}"))
                .bearer_auth(&token),
            200,
            &format!("revoked certificate {id}"),
        )
        .await;
        assert_eq!(
            v["status"], "revoked",
            "acknowledged revocation of {id} lost"
        );
        assert_eq!(
            audit(&c, &base, &token, "cert_revoke", *id).await,
            1,
            "cert_revoke audit entry of certificate {id}"
        );
        assert!(
            in_crl.contains(&norm_serial(serial)),
            "revoked serial {serial} missing from the CRL served after the restart"
        );
    }

    // The numbers move on: a revocation after the restart signs a CRL whose
    // number no CRL seen before had, and which verifies against the CA.
    let cert = json(
        c
        .post(format!("{base}/certificates/?ca_id={ca_id}"))
        .bearer_auth(&token)
        .json(&json!({"common_name": "after.example.com", "certificate_type": "server", "key_algorithm": "ed25519"})),
        201,
        "issue after the restart",
    ).await;
    json(
        c.post(format!("{base}/certificates/{}/revoke", cert["id"]))
            .bearer_auth(&token)
            .json(&json!({})),
        200,
        "revoke after the restart",
    )
    .await;
    let crl_new = crl_der(&c, &root, &slug).await;
    let info = parse_crl(&crl_new);
    assert!(
        info.number > after_number && info.number > max_before,
        "CRL number {} reused after the crash (seen up to {})",
        info.number,
        max_before.max(after_number)
    );
    assert!(
        info.serials
            .contains(&norm_serial(cert["serial_number"].as_str().unwrap())),
        "the new revocation is in the new CRL"
    );
    record(&mut by_number, info, &crl_new, "after the new revocation");
    assert_crl_verifies(&crl_new, &ca_pem);
    let log2 = server.log_text();
    for (run, log) in [(1, &log), (2, &log2)] {
        assert!(
            !log.contains("panicked"),
            "server run {run} panicked:\n{log}"
        );
    }
    println!(
        "crash: {} certificates and {} revocations acknowledged, {} distinct CRLs seen (numbers up to {max_before}), {after_number} served after the restart",
        issued.len(),
        revoked.len(),
        crls_before.len(),
    );
}

/// Number of audit entries with `action` about certificate `id`.
async fn audit(c: &reqwest::Client, base: &str, token: &str, action: &str, id: i64) -> usize {
    json(
        c.get(format!(
            "{base}/audit-logs/?action={action}&resource_type=certificate&resource_id={id}"
        ))
        .bearer_auth(token),
        200,
        "audit",
    )
    .await
    .as_array()
    .unwrap()
    .len()
}

/// Adds a CRL to those seen, by number: a number already seen must name the
/// very same CRL, and a higher number keeps every serial of a lower one.
fn record(
    by_number: &mut BTreeMap<u64, (Vec<u8>, HashSet<String>)>,
    info: CrlInfo,
    der: &[u8],
    when: &str,
) {
    if let Some((prev, _)) = by_number.get(&info.number) {
        assert!(
            prev == der,
            "CRL number {} names two different CRLs ({when})",
            info.number
        );
    }
    for (n, (_, serials)) in by_number.range(..info.number) {
        assert!(
            serials.is_subset(&info.serials),
            "CRL {} ({when}) dropped serials of CRL {n}",
            info.number
        );
    }
    by_number.insert(info.number, (der.to_vec(), info.serials));
}
