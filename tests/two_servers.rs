//! Two `fastpki serve` processes on one PostgreSQL database, under mixed
//! concurrent load on both: nothing acknowledged is lost or duplicated, a
//! revocation on one server reaches the other's CRL within the cache bound,
//! logout, invalidation, password change and deactivation hold on both,
//! a refresh token is consumed once across both, CRL numbers never repeat,
//! and neither server panics or answers 500.
//!
//! Needs `FASTPKI_TEST_DATABASE_URL` (a PostgreSQL URL that may create
//! databases); skipped with a note when it is unset.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_fastpki");
const SECRET_KEY: &str = "two-servers-secret-key-0123456789-abcdefgh";
const NEW_SECRET_KEY: &str = "two-servers-rotated-secret-key-9876543210-zyx";
const PEPPER: &str = "two-servers-pepper-0123456789-abcdefghij";
/// URL-safe base64 of 32 bytes: a Fernet key.
const FERNET_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const PASSWORD: &str = "password123";
/// How long a server serves a CRL from memory before it reads the database
/// again: the documented cross-server bound.
const CRL_CACHE_FRESHNESS: Duration = fastpki::service::crl::CACHE_FRESHNESS;
/// Slack over that bound for the request that revokes and the polling step.
const CRL_SLACK: Duration = Duration::from_millis(1000);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh PostgreSQL database, dropped (with its connections) at the end.
struct TestDb {
    admin: String,
    name: String,
    url: String,
}

impl TestDb {
    async fn create(admin: &str) -> TestDb {
        use sqlx::Connection;
        let name = format!("fastpki_two_{}", uuid::Uuid::new_v4().simple());
        let mut c = sqlx::PgConnection::connect(admin)
            .await
            .expect("connect to FASTPKI_TEST_DATABASE_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut c)
            .await
            .unwrap();
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        TestDb {
            admin: admin.to_string(),
            name,
            url,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Its own runtime on its own thread: drop runs inside the test's runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut c)
                    .await;
                }
            })
        })
        .join();
    }
}

/// One `fastpki serve` process, its port and its log file; killed on drop.
struct Proc {
    name: &'static str,
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, dir: &Path, url: &str, secret_key: &str) -> Proc {
        let port = free_port();
        let data = dir.join(name);
        std::fs::create_dir_all(&data).unwrap();
        // A new log file per start, so that a restart keeps the old log.
        let mut n = 0;
        let log = loop {
            let p = dir.join(format!("{name}-{n}.log"));
            if !p.exists() {
                break p;
            }
            n += 1;
        };
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(BIN)
            .current_dir(&data)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", url)
            .env("FASTPKI_DATA_DIR", &data)
            .env("SECRET_KEY", secret_key)
            .env("SERVICE_ACCOUNT_TOKEN_PEPPER", PEPPER)
            .env("PRIVATE_KEY_ENCRYPTION_KEY", FERNET_KEY)
            .env("BCRYPT_COST", "4")
            .env("KEY_POOL_SIZE", "0")
            .env("AUTH_RATE_LIMIT", "100000/minute")
            // Every response is logged with its status, so 500s can be looked for.
            .env("RUST_LOG", "info,tower_http=debug")
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Proc {
            name,
            child,
            port,
            log,
        }
    }

    async fn ready(&mut self, c: &Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = c.get(format!("{}/readyz", self.root())).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "server {} exited ({status}):\n{}",
                    self.name,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server {} did not become ready", self.name);
    }

    fn root(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn api(&self) -> String {
        format!("{}/api/v1", self.root())
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Status and JSON body (Null when empty) of a request; any 5xx fails the test.
async fn send(rb: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let r = rb.send().await.expect("request sent");
    let status = r.status();
    let text = r.text().await.expect("body");
    assert!(!status.is_server_error(), "{status}: {text}");
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, v)
}

#[track_caller]
fn want(got: (StatusCode, Value), status: u16, what: &str) -> Value {
    assert_eq!(got.0.as_u16(), status, "{what}: {}", got.1);
    got.1
}

async fn login_pair(c: &Client, api: &str, user: &str, password: &str) -> (StatusCode, Value) {
    send(
        c.post(format!("{api}/auth/token"))
            .form(&[("username", user), ("password", password)]),
    )
    .await
}

async fn login(c: &Client, api: &str, user: &str) -> (String, String) {
    let v = want(login_pair(c, api, user, PASSWORD).await, 200, "login");
    (
        v["access_token"].as_str().unwrap().to_string(),
        v["refresh_token"].as_str().unwrap().to_string(),
    )
}

async fn me(c: &Client, api: &str, token: &str) -> StatusCode {
    send(c.get(format!("{api}/users/me")).bearer_auth(token))
        .await
        .0
}

async fn refresh(c: &Client, api: &str, refresh: &str) -> (StatusCode, Value) {
    send(
        c.post(format!("{api}/auth/refresh"))
            .json(&json!({"refresh_token": refresh})),
    )
    .await
}

/// Every row of a paged list (`skip`/`limit` = 1000).
async fn all_pages(c: &Client, url: &str, token: &str) -> Vec<Value> {
    let sep = if url.contains('?') { '&' } else { '?' };
    let mut rows = Vec::new();
    loop {
        let page = want(
            send(
                c.get(format!("{url}{sep}skip={}&limit=1000", rows.len()))
                    .bearer_auth(token),
            )
            .await,
            200,
            url,
        );
        let page = page.as_array().unwrap().clone();
        let n = page.len();
        rows.extend(page);
        if n < 1000 {
            return rows;
        }
    }
}

/// A CRL in `openssl crl -text` form, parsed: number and revoked serials (lowercase hex).
#[derive(Debug, Clone)]
struct CrlInfo {
    number: u64,
    serials: HashSet<String>,
}

fn parse_crl(dir: &Path, der: &[u8]) -> CrlInfo {
    let path = dir.join(format!("crl-{}.der", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, der).unwrap();
    let out = Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
        .arg(&path)
        .output()
        .expect("openssl runs");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let mut number = None;
    let mut serials = HashSet::new();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if t.starts_with("X509v3 CRL Number") {
            number = lines
                .next()
                .map(|l| l.trim().parse::<u64>().expect("decimal"));
        } else if let Some(s) = t.strip_prefix("Serial Number: ") {
            serials.insert(s.trim().to_lowercase());
        }
    }
    CrlInfo {
        number: number.expect("a CRL number"),
        serials,
    }
}

/// A serial as the API shows it, in the form openssl prints it (no leading zeros, uppercase folded).
fn norm_serial(s: &str) -> String {
    let t = s.trim_start_matches('0').to_lowercase();
    if t.len() % 2 == 1 { format!("0{t}") } else { t }
}

fn norm_crl_serials(info: &CrlInfo) -> HashSet<String> {
    info.serials.iter().map(|s| norm_serial(s)).collect()
}

async fn crl_der(c: &Client, root: &str, slug: &str) -> Vec<u8> {
    let r = c
        .get(format!("{root}/crl/{slug}"))
        .send()
        .await
        .expect("CRL request");
    assert_eq!(r.status(), StatusCode::OK, "CRL of {slug} at {root}");
    r.bytes().await.unwrap().to_vec()
}

fn make_csr(dir: &Path, n: usize) -> String {
    let key = dir.join(format!("csr{n}.key"));
    let csr = dir.join(format!("csr{n}.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
        ])
        .arg(format!("/CN=csr{n}.example.com"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(ok.success());
    std::fs::read_to_string(csr).unwrap()
}

/// CRLs (DER) as served, with the server that served them.
type Seen = Vec<(&'static str, Vec<u8>)>;

#[derive(Default)]
struct Acked {
    /// Certificate id -> (serial, server that issued it).
    certs: Mutex<Vec<(i64, String)>>,
    /// Issued, not yet revoked: revocation candidates, each revoked once.
    pool: Mutex<Vec<(i64, String)>>,
    revoked: Mutex<Vec<(i64, String)>>,
    orgs: Mutex<Vec<(i64, String)>>,
    accounts: Mutex<Vec<(i64, String)>>,
}

/// With `FASTPKI_REQUIRE_POSTGRES=1` (CI's PostgreSQL pass), a test that would skip or fall
/// back to SQLite because `FASTPKI_TEST_DATABASE_URL` is unset fails instead.
fn fail_if_postgres_required(what: &str) {
    assert_ne!(
        std::env::var("FASTPKI_REQUIRE_POSTGRES").as_deref(),
        Ok("1"),
        "FASTPKI_REQUIRE_POSTGRES=1 but FASTPKI_TEST_DATABASE_URL is unset: {what} would not run on PostgreSQL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_one_postgresql() {
    let Some(admin) = std::env::var("FASTPKI_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        fail_if_postgres_required("the two-server test");
        println!(
            "FASTPKI_TEST_DATABASE_URL is not set: the two-server test needs PostgreSQL, skipped"
        );
        return;
    };
    let db = TestDb::create(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let c = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    // Both start at once on the empty database: migrations must not race.
    let mut a = Proc::spawn("a", dir.path(), &db.url, SECRET_KEY);
    let mut b = Proc::spawn("b", dir.path(), &db.url, SECRET_KEY);
    a.ready(&c).await;
    b.ready(&c).await;
    let (api_a, api_b) = (a.api(), b.api());

    want(
        send(c.post(format!("{api_a}/users/")).json(
            &json!({"username": "root", "email": "root@example.com", "password": PASSWORD, "role": "superuser"}),
        ))
        .await,
        201,
        "bootstrap",
    );
    // The first-user bootstrap happened once for the deployment, not once per server.
    want(
        send(c.post(format!("{api_b}/users/")).json(
            &json!({"username": "root2", "email": "root2@example.com", "password": PASSWORD, "role": "superuser"}),
        ))
        .await,
        403,
        "second bootstrap on the other server",
    );
    let (root_a, _) = login(&c, &api_a, "root").await;
    let (root_b, _) = login(&c, &api_b, "root").await;

    let org = want(
        send(
            c.post(format!("{api_a}/organizations/"))
                .bearer_auth(&root_a)
                .json(&json!({"name": "shared"})),
        )
        .await,
        201,
        "org",
    )["id"]
        .as_i64()
        .unwrap();
    let ca = want(
        send(c.post(format!("{api_a}/cas/")).bearer_auth(&root_a).json(
            &json!({"name": "Two Servers CA", "subject_dn": "CN=Two Servers CA", "key_algorithm": "ecdsa-p256"}),
        ))
        .await,
        201,
        "CA",
    );
    let ca_id = ca["id"].as_i64().unwrap();
    let ca_pem = ca["certificate"].as_str().unwrap().to_string();
    let slug = format!("two-servers-ca-{ca_id}");
    // Users for the login/refresh load, made on B.
    for n in 0..4 {
        want(
            send(c.post(format!("{api_b}/users/")).bearer_auth(&root_b).json(
                &json!({"username": format!("load{n}"), "email": format!("load{n}@example.com"), "password": PASSWORD, "organization_id": org}),
            ))
            .await,
            201,
            "load user",
        );
    }
    let csrs: Vec<String> = (0..4).map(|n| make_csr(dir.path(), n)).collect();

    // CRLs seen during the load, per server, in order, from the one before it.
    let initial = crl_der(&c, &a.root(), &slug).await;
    let first = parse_crl(dir.path(), &initial).number;
    let seen: Arc<Mutex<Seen>> = Arc::new(Mutex::new(vec![("a", initial)]));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (c, seen, stop, slug) = (c.clone(), seen.clone(), stop.clone(), slug.clone());
        let roots = [("a", a.root()), ("b", b.root())];
        tokio::spawn(async move {
            let mut last: HashMap<&str, Vec<u8>> = HashMap::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (name, root) in &roots {
                    let der = crl_der(&c, root, &slug).await;
                    if last.get(name) != Some(&der) {
                        seen.lock().unwrap().push((*name, der.clone()));
                        last.insert(*name, der);
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    // The load: 3 workers per server, each cycling through the operations.
    let acked = Arc::new(Acked::default());
    let mut workers = Vec::new();
    for (s, api, token) in [("a", &api_a, &root_a), ("b", &api_b, &root_b)] {
        for w in 0..3 {
            let other = if s == "a" {
                api_b.clone()
            } else {
                api_a.clone()
            };
            let (c, api, token, acked, csrs) = (
                c.clone(),
                api.clone(),
                token.clone(),
                acked.clone(),
                csrs.clone(),
            );
            workers.push(tokio::spawn(async move {
                for i in 0..36usize {
                    let tag = format!("{s}{w}-{i}");
                    match i % 6 {
                        0 => {
                            let v = want(
                                send(c.post(format!("{api}/certificates/?ca_id={ca_id}")).bearer_auth(&token).json(
                                    &json!({"common_name": format!("{tag}.example.com"), "certificate_type": "server", "key_algorithm": "ed25519"}),
                                ))
                                .await,
                                201,
                                "issue",
                            );
                            let row = (v["id"].as_i64().unwrap(), v["serial_number"].as_str().unwrap().to_string());
                            acked.certs.lock().unwrap().push(row.clone());
                            acked.pool.lock().unwrap().push(row);
                        }
                        1 => {
                            let v = want(
                                send(c.post(format!("{api}/certificates/sign-csr")).bearer_auth(&token).json(
                                    &json!({"csr": csrs[(w + i) % csrs.len()], "ca_id": ca_id, "certificate_type": "client"}),
                                ))
                                .await,
                                201,
                                "sign-csr",
                            );
                            let row = (v["id"].as_i64().unwrap(), v["serial_number"].as_str().unwrap().to_string());
                            acked.certs.lock().unwrap().push(row.clone());
                            acked.pool.lock().unwrap().push(row);
                        }
                        2 => {
                            // Revoke what either server issued.
                            let pick = acked.pool.lock().unwrap().pop();
                            if let Some((id, serial)) = pick {
                                let v = want(
                                    send(c.post(format!("{api}/certificates/{id}/revoke")).bearer_auth(&token).json(&json!({"reason": "superseded"})))
                                        .await,
                                    200,
                                    "revoke",
                                );
                                assert_eq!(v["status"], "revoked");
                                acked.revoked.lock().unwrap().push((id, serial));
                            }
                        }
                        3 => {
                            want(
                                send(c.get(format!("{api}/certificates/?ca_id={ca_id}&limit=20")).bearer_auth(&token)).await,
                                200,
                                "list",
                            );
                            // Log in here, refresh on the other server, reuse here.
                            let user = format!("load{}", (w + i) % 4);
                            let (access, rt) = login(&c, &api, &user).await;
                            let pair = want(refresh(&c, &other, &rt).await, 200, "refresh elsewhere");
                            want(refresh(&c, &api, &rt).await, 401, "refresh token reused");
                            assert_eq!(me(&c, &other, &access).await, StatusCode::OK);
                            assert_eq!(me(&c, &api, pair["access_token"].as_str().unwrap()).await, StatusCode::OK);
                        }
                        4 => {
                            let name = format!("org-{tag}");
                            let v = want(
                                send(c.post(format!("{api}/organizations/")).bearer_auth(&token).json(&json!({"name": name}))).await,
                                201,
                                "create org",
                            );
                            acked.orgs.lock().unwrap().push((v["id"].as_i64().unwrap(), name));
                        }
                        _ => {
                            let name = format!("sa-{tag}");
                            let v = want(
                                send(c.post(format!("{api}/service-accounts/")).bearer_auth(&token).json(
                                    &json!({"name": name, "organization_id": org, "can_create_cert": true}),
                                ))
                                .await,
                                201,
                                "create service account",
                            );
                            acked.accounts.lock().unwrap().push((v["id"].as_i64().unwrap(), name));
                        }
                    }
                }
            }));
        }
    }
    // Meanwhile: the same organization name sent to both servers at once has one winner.
    for k in 0..6 {
        let body = json!({"name": format!("race-{k}")});
        let (ra, rb) = tokio::join!(
            send(
                c.post(format!("{api_a}/organizations/"))
                    .bearer_auth(&root_a)
                    .json(&body)
            ),
            send(
                c.post(format!("{api_b}/organizations/"))
                    .bearer_auth(&root_b)
                    .json(&body)
            ),
        );
        let mut got = [ra.0.as_u16(), rb.0.as_u16()];
        got.sort();
        assert_eq!(
            got,
            [201, 400],
            "same name on both servers: {} / {}",
            ra.1,
            rb.1
        );
        let winner = if ra.0 == StatusCode::CREATED {
            ra.1
        } else {
            rb.1
        };
        acked
            .orgs
            .lock()
            .unwrap()
            .push((winner["id"].as_i64().unwrap(), format!("race-{k}")));
    }
    for w in workers {
        w.await.expect("a load worker failed");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    poller.await.unwrap();

    // --- No lost or duplicated rows -------------------------------------
    let certs = acked.certs.lock().unwrap().clone();
    let revoked = acked.revoked.lock().unwrap().clone();
    assert_eq!(
        certs.len(),
        2 * 3 * 12,
        "every issue and sign-csr acknowledged"
    );
    assert!(revoked.len() >= 30, "{} revoked", revoked.len());
    let listed = all_pages(&c, &format!("{api_b}/certificates/?ca_id={ca_id}"), &root_b).await;
    let listed_ids: Vec<i64> = listed.iter().map(|v| v["id"].as_i64().unwrap()).collect();
    let unique_ids: HashSet<i64> = listed_ids.iter().copied().collect();
    assert_eq!(
        unique_ids.len(),
        listed_ids.len(),
        "duplicate certificate ids"
    );
    let serials: HashSet<&str> = listed
        .iter()
        .map(|v| v["serial_number"].as_str().unwrap())
        .collect();
    assert_eq!(serials.len(), listed.len(), "duplicate serial numbers");
    let acked_ids: HashSet<i64> = certs.iter().map(|(id, _)| *id).collect();
    assert_eq!(acked_ids.len(), certs.len(), "an id acknowledged twice");
    assert_eq!(
        unique_ids, acked_ids,
        "listed certificates differ from the acknowledged ones"
    );
    let revoked_ids: HashSet<i64> = revoked.iter().map(|(id, _)| *id).collect();
    for v in &listed {
        let id = v["id"].as_i64().unwrap();
        let serial = &certs.iter().find(|(i, _)| *i == id).unwrap().1;
        assert_eq!(
            v["serial_number"].as_str().unwrap(),
            serial,
            "certificate {id}"
        );
        let status = if revoked_ids.contains(&id) {
            "revoked"
        } else {
            "valid"
        };
        assert_eq!(v["status"], status, "certificate {id}");
    }
    let audit_ids = |entries: Vec<Value>| -> Vec<i64> {
        let mut v: Vec<i64> = entries
            .iter()
            .map(|e| e["resource_id"].as_i64().unwrap())
            .collect();
        v.sort();
        v
    };
    let sorted = |set: &mut dyn Iterator<Item = i64>| -> Vec<i64> {
        let mut v: Vec<i64> = set.collect();
        v.sort();
        v
    };
    let created = audit_ids(
        all_pages(
            &c,
            &format!("{api_a}/audit-logs/?action=cert_create"),
            &root_a,
        )
        .await,
    );
    assert_eq!(
        created,
        sorted(&mut acked_ids.iter().copied()),
        "one cert_create entry per certificate"
    );
    let revokes = audit_ids(
        all_pages(
            &c,
            &format!("{api_a}/audit-logs/?action=cert_revoke"),
            &root_a,
        )
        .await,
    );
    assert_eq!(
        revokes,
        sorted(&mut revoked_ids.iter().copied()),
        "one cert_revoke entry per revocation"
    );
    let orgs = acked.orgs.lock().unwrap().clone();
    let org_entries = audit_ids(
        all_pages(
            &c,
            &format!("{api_b}/audit-logs/?action=org_create"),
            &root_b,
        )
        .await,
    );
    assert_eq!(
        org_entries,
        sorted(&mut orgs.iter().map(|(id, _)| *id).chain([org])),
        "one org_create entry per organization"
    );
    let listed_orgs = all_pages(&c, &format!("{api_b}/organizations/"), &root_b).await;
    let mut names: Vec<&str> = listed_orgs
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    names.sort();
    let mut want_names: Vec<&str> = orgs
        .iter()
        .map(|(_, n)| n.as_str())
        .chain(["shared"])
        .collect();
    want_names.sort();
    assert_eq!(names, want_names, "organizations");
    let accounts = acked.accounts.lock().unwrap().clone();
    let listed_sa = all_pages(&c, &format!("{api_a}/service-accounts/"), &root_a).await;
    let mut sa_ids: Vec<i64> = listed_sa
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
    sa_ids.sort();
    assert_eq!(
        sa_ids,
        sorted(&mut accounts.iter().map(|(id, _)| *id)),
        "service accounts"
    );
    let sa_entries = audit_ids(
        all_pages(
            &c,
            &format!("{api_a}/audit-logs/?action=service_account_create"),
            &root_a,
        )
        .await,
    );
    assert_eq!(
        sa_entries, sa_ids,
        "one service_account_create entry per account"
    );

    // --- CRL numbers never repeat and grow ---------------------------------
    // After the cache bound, both servers serve the same, complete CRL.
    tokio::time::sleep(CRL_CACHE_FRESHNESS + Duration::from_millis(200)).await;
    let final_a = crl_der(&c, &a.root(), &slug).await;
    let final_b = crl_der(&c, &b.root(), &slug).await;
    assert_eq!(
        final_a, final_b,
        "both servers serve the same CRL once their caches expire"
    );
    let seen = seen.lock().unwrap().clone();
    let mut by_number: BTreeMap<u64, (Vec<u8>, HashSet<String>)> = BTreeMap::new();
    let mut last_number: HashMap<&str, u64> = HashMap::new();
    for (server, der) in seen.iter().chain([("a", final_a.clone())].iter()) {
        let info = parse_crl(dir.path(), der);
        if let Some((prev, _)) = by_number.get(&info.number) {
            assert_eq!(
                prev, der,
                "two different CRLs of one CA carry number {}",
                info.number
            );
        }
        let prev = last_number.insert(*server, info.number).unwrap_or(0);
        assert!(
            info.number >= prev,
            "server {server} served CRL {} after {prev}",
            info.number
        );
        by_number.insert(info.number, (der.clone(), norm_crl_serials(&info)));
    }
    let mut acc: HashSet<String> = HashSet::new();
    for (number, (_, serials)) in &by_number {
        assert!(
            serials.is_superset(&acc),
            "CRL {number} lost a revoked serial of an earlier CRL"
        );
        acc = serials.clone();
    }
    let final_info = parse_crl(dir.path(), &final_a);
    let want_serials: HashSet<String> = revoked.iter().map(|(_, s)| norm_serial(s)).collect();
    assert_eq!(
        norm_crl_serials(&final_info),
        want_serials,
        "the CRL lists exactly the acknowledged revocations"
    );
    assert!(
        final_info.number >= first + revoked.len() as u64,
        "each of the {} revocations signed a new CRL: numbers {first}..{}",
        revoked.len(),
        final_info.number
    );
    println!(
        "two servers: {} certificates, {} revocations, {} distinct CRLs seen, CRL numbers {first}..{}",
        certs.len(),
        revoked.len(),
        by_number.len(),
        final_info.number
    );
    // The CRL verifies against the CA certificate.
    std::fs::write(dir.path().join("ca.pem"), &ca_pem).unwrap();
    std::fs::write(dir.path().join("final.der"), &final_b).unwrap();
    let out = Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-in"])
        .arg(dir.path().join("final.der"))
        .arg("-CAfile")
        .arg(dir.path().join("ca.pem"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("verify OK")
            || String::from_utf8_lossy(&out.stdout).contains("verify OK"),
        "CRL signature: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // --- A revocation on A reaches B's CRL within the cache bound --------
    let mut delays = Vec::new();
    for round in 0..3 {
        let v = want(
            send(c.post(format!("{api_a}/certificates/?ca_id={ca_id}")).bearer_auth(&root_a).json(
                &json!({"common_name": format!("crl{round}.example.com"), "certificate_type": "server", "key_algorithm": "ed25519"}),
            ))
            .await,
            201,
            "issue",
        );
        let (id, serial) = (
            v["id"].as_i64().unwrap(),
            norm_serial(v["serial_number"].as_str().unwrap()),
        );
        // B reads the CRL now, so that its cache is as fresh as can be: the worst case.
        let read_at = Instant::now();
        let before = parse_crl(dir.path(), &crl_der(&c, &b.root(), &slug).await);
        assert!(!norm_crl_serials(&before).contains(&serial));
        want(
            send(
                c.post(format!("{api_a}/certificates/{id}/revoke"))
                    .bearer_auth(&root_a)
                    .json(&json!({"reason": "keyCompromise"})),
            )
            .await,
            200,
            "revoke on A",
        );
        let acked_at = Instant::now();
        // A serves it at once.
        let on_a = parse_crl(dir.path(), &crl_der(&c, &a.root(), &slug).await);
        assert!(
            norm_crl_serials(&on_a).contains(&serial),
            "A's own CRL lacks its revocation"
        );
        assert!(on_a.number > before.number);
        let delay = loop {
            let info = parse_crl(dir.path(), &crl_der(&c, &b.root(), &slug).await);
            if norm_crl_serials(&info).contains(&serial) {
                assert_eq!(info.number, on_a.number, "B serves the CRL A signed");
                break (acked_at.elapsed(), read_at.elapsed());
            }
            assert!(
                acked_at.elapsed() <= CRL_CACHE_FRESHNESS + CRL_SLACK,
                "the revocation on A is not in B's CRL after {:?}",
                acked_at.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        delays.push(delay);
    }
    // (after A's acknowledgement, after B's last read of the database)
    println!("revocation on A -> CRL on B: {delays:?} (bound {CRL_CACHE_FRESHNESS:?})");
    for (after_ack, after_read) in &delays {
        assert!(*after_ack <= CRL_CACHE_FRESHNESS + CRL_SLACK);
        // The bound holds from B's last read, give or take one polling step.
        assert!(*after_read <= CRL_CACHE_FRESHNESS + Duration::from_millis(500));
    }

    // --- Sessions hold across both servers --------------------------------
    let user = |name: &str| json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD, "organization_id": org});
    let mut ids = HashMap::new();
    for name in ["logout", "invalidate", "passwd", "inactive"] {
        let v = want(
            send(
                c.post(format!("{api_a}/users/"))
                    .bearer_auth(&root_a)
                    .json(&user(name)),
            )
            .await,
            201,
            "user",
        );
        ids.insert(name, v["id"].as_i64().unwrap());
    }
    // Logout on A: the access token is refused on B, the refresh token too.
    let (access, rt) = login(&c, &api_a, "logout").await;
    assert_eq!(me(&c, &api_b, &access).await, StatusCode::OK);
    want(
        send(
            c.post(format!("{api_a}/auth/logout"))
                .bearer_auth(&access)
                .json(&json!({"refresh_token": rt})),
        )
        .await,
        204,
        "logout",
    );
    assert_eq!(
        me(&c, &api_b, &access).await,
        StatusCode::UNAUTHORIZED,
        "logged-out token on B"
    );
    want(
        refresh(&c, &api_b, &rt).await,
        401,
        "logged-out refresh token on B",
    );
    // Invalidate on B: tokens from A are refused on A.
    let (access, rt) = login(&c, &api_a, "invalidate").await;
    want(
        send(
            c.post(format!("{api_b}/auth/invalidate"))
                .bearer_auth(&access),
        )
        .await,
        204,
        "invalidate",
    );
    assert_eq!(
        me(&c, &api_a, &access).await,
        StatusCode::UNAUTHORIZED,
        "invalidated token on A"
    );
    want(
        refresh(&c, &api_a, &rt).await,
        401,
        "invalidated refresh token on A",
    );
    let (fresh, _) = login(&c, &api_a, "invalidate").await;
    assert_eq!(
        me(&c, &api_b, &fresh).await,
        StatusCode::OK,
        "a token issued after the invalidation"
    );
    // A password change on A ends the sessions on B.
    let (access, rt) = login(&c, &api_b, "passwd").await;
    want(
        send(
            c.patch(format!("{api_a}/users/{}", ids["passwd"]))
                .bearer_auth(&access)
                .json(&json!({"password": "another-password-456"})),
        )
        .await,
        200,
        "password change",
    );
    assert_eq!(
        me(&c, &api_b, &access).await,
        StatusCode::UNAUTHORIZED,
        "token after a password change"
    );
    want(
        refresh(&c, &api_b, &rt).await,
        401,
        "refresh token after a password change",
    );
    want(
        login_pair(&c, &api_b, "passwd", PASSWORD).await,
        401,
        "old password on B",
    );
    let v = want(
        login_pair(&c, &api_b, "passwd", "another-password-456").await,
        200,
        "new password on B",
    );
    assert_eq!(
        me(&c, &api_a, v["access_token"].as_str().unwrap()).await,
        StatusCode::OK
    );
    // Deactivation on A ends the sessions on B.
    let (access, rt) = login(&c, &api_b, "inactive").await;
    want(
        send(
            c.patch(format!("{api_a}/users/{}", ids["inactive"]))
                .bearer_auth(&root_a)
                .json(&json!({"is_active": false})),
        )
        .await,
        200,
        "deactivate",
    );
    assert_eq!(
        me(&c, &api_b, &access).await,
        StatusCode::UNAUTHORIZED,
        "token of a deactivated user"
    );
    want(
        refresh(&c, &api_b, &rt).await,
        401,
        "refresh token of a deactivated user",
    );
    want(
        login_pair(&c, &api_b, "inactive", PASSWORD).await,
        401,
        "login of a deactivated user",
    );

    // --- One refresh token, fired at both servers at once: one winner ----
    for round in 0..8 {
        let (_, rt) = login(&c, if round % 2 == 0 { &api_a } else { &api_b }, "load0").await;
        let shots = (0..16).map(|k| {
            let api = if k % 2 == 0 {
                api_a.clone()
            } else {
                api_b.clone()
            };
            let (c, rt) = (c.clone(), rt.clone());
            async move { refresh(&c, &api, &rt).await.0 }
        });
        let got = futures::future::join_all(shots).await;
        let ok = got.iter().filter(|s| **s == StatusCode::OK).count();
        let refused = got
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count();
        assert_eq!((ok, refused), (1, 15), "round {round}: {got:?}");
    }

    // --- Rolling a new SECRET_KEY: B restarts with it, A still has the old one.
    let sa = accounts[0].0;
    let sa_token = want(
        send(
            c.post(format!("{api_a}/service-accounts/{sa}/tokens"))
                .bearer_auth(&root_a)
                .json(&json!({"name": "roll"})),
        )
        .await,
        201,
        "service-account token",
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let (old_access, old_rt) = login(&c, &api_a, "load1").await;
    b.stop();
    let b_log_0 = b.log.clone();
    let mut b2 = Proc::spawn("b", dir.path(), &db.url, NEW_SECRET_KEY);
    b2.ready(&c).await;
    let api_b2 = b2.api();
    assert_eq!(
        me(&c, &api_b2, &old_access).await,
        StatusCode::UNAUTHORIZED,
        "old-key token on the new-key server"
    );
    assert_eq!(
        me(&c, &api_a, &old_access).await,
        StatusCode::OK,
        "old-key token on the old-key server"
    );
    // Refresh tokens are database rows: they survive the new key.
    let pair = want(
        refresh(&c, &api_b2, &old_rt).await,
        200,
        "refresh across the rotation",
    );
    let new_access = pair["access_token"].as_str().unwrap();
    assert_eq!(me(&c, &api_b2, new_access).await, StatusCode::OK);
    assert_eq!(
        me(&c, &api_a, new_access).await,
        StatusCode::UNAUTHORIZED,
        "new-key token on the old-key server"
    );
    // Service-account tokens depend on the pepper, not on SECRET_KEY.
    for api in [&api_a, &api_b2] {
        want(
            send(
                c.get(format!("{api}/certificates/?limit=1"))
                    .bearer_auth(&sa_token),
            )
            .await,
            200,
            "service-account token on both keys",
        );
    }

    // --- Neither server panicked or answered 500 ---------------------------
    a.stop();
    b2.stop();
    for log in [&a.log, &b_log_0, &b2.log] {
        let text = std::fs::read_to_string(log).unwrap();
        assert!(
            text.contains("status=200"),
            "{} logs response statuses",
            log.display()
        );
        for bad in ["panicked", "status=500", "internal error"] {
            assert!(!text.contains(bad), "{} contains {bad:?}", log.display());
        }
    }
    drop((a, b, b2));
    drop(db);
}
