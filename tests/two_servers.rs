//! Two `fastpki serve` processes on one PostgreSQL database. Each test starts
//! its own pair, both at once on a fresh database (so migrations must not
//! race), and ends by checking that neither server panicked or answered 500:
//! under mixed concurrent load on both, nothing acknowledged is lost or
//! duplicated and CRL numbers never repeat; a revocation on one server reaches
//! the other's CRL within the cache bound; logout, invalidation, password
//! change and deactivation hold on both; a refresh token is consumed once
//! across both; a new SECRET_KEY on one server is handled as documented.
//!
//! Needs `FASTPKI_TEST_DATABASE_URL` (a PostgreSQL URL that may create
//! databases); skipped with a note when it is unset.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use test_support::crl::{assert_crl_verifies, crl_der, norm_serial, parse_crl};
use test_support::csr::make_csr;
use test_support::database::{PostgresDb, fail_if_postgres_required, postgres_admin_url};
use test_support::http::{PASSWORD, bootstrap_root, login, login_pair, send, want};
use test_support::ports::free_port;
use test_support::server::{ServerProcess, command};

const BIN: &str = env!("CARGO_BIN_EXE_fastpki");
const SECRET_KEY: &str = "two-servers-secret-key-0123456789-abcdefgh";
const NEW_SECRET_KEY: &str = "two-servers-rotated-secret-key-9876543210-zyx";
const PEPPER: &str = "two-servers-pepper-0123456789-abcdefghij";
/// URL-safe base64 of 32 bytes: a Fernet key.
const FERNET_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
/// How long a server serves a CRL from memory before it reads the database
/// again (`CACHE_FRESHNESS_SECONDS`, 5 by default): the cross-server bound,
/// short here so that the test waits little.
const CRL_CACHE_FRESHNESS: Duration = Duration::from_secs(1);
/// Slack over that bound for the request that revokes and the polling step.
const CRL_SLACK: Duration = Duration::from_millis(1000);

/// The tests take turns: each pair of servers (and the load) wants both cores,
/// and the CRL bound is a timing.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Starts one `fastpki serve` (`name`'s data folder and log files in `dir`) on `url`.
fn spawn_server(name: &str, dir: &Path, url: &str, secret_key: &str) -> ServerProcess {
    spawn_server_with(name, dir, url, secret_key, &[])
}

/// The same, with more settings.
fn spawn_server_with(
    name: &str,
    dir: &Path,
    url: &str,
    secret_key: &str,
    extra: &[(String, String)],
) -> ServerProcess {
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
    let mut cmd = command(BIN, &data);
    cmd.env("DATABASE_URL", url)
        .env("FASTPKI_DATA_DIR", &data)
        .env("SECRET_KEY", secret_key)
        .env("SERVICE_ACCOUNT_TOKEN_PEPPER", PEPPER)
        .env("PRIVATE_KEY_ENCRYPTION_KEY", FERNET_KEY)
        .env("BCRYPT_COST", "4")
        .env("KEY_POOL_SIZE", "0")
        .env("AUTH_RATE_LIMIT", "100000/minute")
        .env(
            "CACHE_FRESHNESS_SECONDS",
            CRL_CACHE_FRESHNESS.as_secs().to_string(),
        )
        // Every response is logged with its status, so 500s can be looked for.
        .env("RUST_LOG", "info,tower_http=debug")
        .envs(extra.iter().map(|(k, v)| (k, v)))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")]);
    ServerProcess::spawn(&mut cmd, port, log)
}

#[track_caller]
fn ready(server: &mut ServerProcess, name: &str) {
    server
        .wait_ready(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("server {name}: {e}"));
}

/// The fixture: servers A and B on one fresh PostgreSQL database, the first
/// user (`root`) made on A and logged in on both, and an organization.
struct Pair {
    c: Client,
    a: ServerProcess,
    b: ServerProcess,
    api_a: String,
    api_b: String,
    root_a: String,
    root_b: String,
    /// The organization "shared".
    org: i64,
    /// Logs of servers stopped during the test, checked at the end too.
    stopped_logs: Vec<PathBuf>,
    dir: tempfile::TempDir,
    db: PostgresDb,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Pair {
    /// The pair, or `None` (skipped) without `FASTPKI_TEST_DATABASE_URL`.
    async fn start() -> Option<Pair> {
        Pair::start_with(&[]).await
    }

    /// The pair with more settings on both servers.
    async fn start_with(extra: &[(String, String)]) -> Option<Pair> {
        let Some(admin) = postgres_admin_url() else {
            fail_if_postgres_required("the two-server tests");
            println!(
                "FASTPKI_TEST_DATABASE_URL is not set: the two-server tests need PostgreSQL, skipped"
            );
            return None;
        };
        let turn = ONE_AT_A_TIME.lock().await;
        let db = PostgresDb::create(&admin, "fastpki_two_").await;
        let dir = tempfile::tempdir().unwrap();
        let c = Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        // Both start at once on the empty database: migrations must not race.
        let mut a = spawn_server_with("a", dir.path(), &db.url, SECRET_KEY, extra);
        let mut b = spawn_server_with("b", dir.path(), &db.url, SECRET_KEY, extra);
        ready(&mut a, "a");
        ready(&mut b, "b");
        let (api_a, api_b) = (a.api(), b.api());
        bootstrap_root(&c, &api_a).await;
        let (root_a, _) = login(&c, &api_a, "root").await;
        let (root_b, _) = login(&c, &api_b, "root").await;
        let org = id(&create(
            &c,
            format!("{api_a}/organizations/"),
            &root_a,
            json!({"name": "shared"}),
            "org",
        )
        .await);
        Some(Pair {
            c,
            a,
            b,
            api_a,
            api_b,
            root_a,
            root_b,
            org,
            stopped_logs: Vec::new(),
            dir,
            db,
            _turn: turn,
        })
    }

    /// A CA made on A: (id, certificate PEM, CRL slug).
    async fn create_ca(&self) -> (i64, String, String) {
        let body = json!({"name": "Two Servers CA", "subject_dn": "CN=Two Servers CA", "key_algorithm": "ecdsa-p256"});
        let ca = create(
            &self.c,
            format!("{}/cas/", self.api_a),
            &self.root_a,
            body,
            "CA",
        )
        .await;
        let ca_id = id(&ca);
        let pem = ca["certificate"].as_str().unwrap().to_string();
        (ca_id, pem, format!("two-servers-ca-{ca_id}"))
    }

    /// A user of the organization, with `PASSWORD`, made on `api` by `token`: its id.
    async fn user(&self, api: &str, token: &str, name: &str) -> i64 {
        let body = json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD, "organization_id": self.org});
        id(&create(&self.c, format!("{api}/users/"), token, body, "user").await)
    }

    /// A user of the organization made on A, logged in on `api`: (id, access token,
    /// refresh token).
    async fn session(&self, name: &str, api: &str) -> (i64, String, String) {
        let id = self.user(&self.api_a, &self.root_a, name).await;
        let (access, rt) = login(&self.c, api, name).await;
        (id, access, rt)
    }

    /// Stops B and starts it again with `secret_key`.
    fn restart_b(&mut self, secret_key: &str) {
        self.b.kill();
        self.stopped_logs.push(self.b.log.clone());
        self.b = spawn_server("b", self.dir.path(), &self.db.url, secret_key);
        ready(&mut self.b, "b");
        self.api_b = self.b.api();
    }

    /// Stops both servers: neither panicked or answered 500.
    fn finish(mut self) {
        self.a.kill();
        self.b.kill();
        let logs = self.stopped_logs.iter().chain([&self.a.log, &self.b.log]);
        for log in logs {
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
    }
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

/// POSTs `body` to `url` as `token`: the body of the 201 answer.
async fn create(c: &Client, url: String, token: &str, body: Value, what: &str) -> Value {
    want(
        send(c.post(url).bearer_auth(token).json(&body)).await,
        201,
        what,
    )
}

/// The `id` of a created resource.
fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

/// Both tokens of a session are refused on `api`.
async fn assert_session_ended(c: &Client, api: &str, access: &str, rt: &str, what: &str) {
    assert_eq!(
        me(c, api, access).await,
        StatusCode::UNAUTHORIZED,
        "{what}: access token"
    );
    want(
        refresh(c, api, rt).await,
        401,
        &format!("{what}: refresh token"),
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_user_is_made_once_for_both_servers() {
    let Some(pair) = Pair::start().await else {
        return;
    };
    // The fixture made `root` on A: the bootstrap happened once for the
    // deployment, not once per server.
    want(
        send(pair.c.post(format!("{}/users/", pair.api_b)).json(
            &json!({"username": "root2", "email": "root2@example.com", "password": PASSWORD, "role": "superuser"}),
        ))
        .await,
        403,
        "second bootstrap on the other server",
    );
    pair.finish();
}

/// What the mixed load on both servers did: its CA, what it saw acknowledged,
/// and every CRL it was served.
struct Load {
    ca_id: i64,
    ca_pem: String,
    slug: String,
    /// The CRL number before the load.
    first: u64,
    /// CRLs seen during the load, per server, in order, from the one before it.
    seen: Seen,
    acked: Acked,
}

/// The load: 3 workers per server, each cycling through issue, sign-csr, revoke
/// (of what either server issued), list with a login here and a refresh on the
/// other server, create an organization, create a service account; meanwhile
/// the same organization name is sent to both servers at once (one winner), and
/// a poller records every CRL both servers serve.
async fn run_load(pair: &Pair) -> Load {
    let Pair {
        c,
        api_a,
        api_b,
        root_a,
        root_b,
        org,
        ..
    } = pair;
    let org = *org;
    let (ca_id, ca_pem, slug) = pair.create_ca().await;
    // Users for the login/refresh load, made on B.
    for n in 0..4 {
        pair.user(api_b, root_b, &format!("load{n}")).await;
    }
    let csrs: Vec<String> = (0..4)
        .map(|n| make_csr("p256", &format!("/CN=csr{n}.example.com"), &[]).0)
        .collect();

    // CRLs seen during the load, per server, in order, from the one before it.
    let initial = crl_der(c, &pair.a.root(), &slug).await;
    let first = parse_crl(&initial).number;
    let seen: Arc<Mutex<Seen>> = Arc::new(Mutex::new(vec![("a", initial)]));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (c, seen, stop, slug) = (c.clone(), seen.clone(), stop.clone(), slug.clone());
        let roots = [("a", pair.a.root()), ("b", pair.b.root())];
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
    for (s, api, token) in [("a", api_a, root_a), ("b", api_b, root_b)] {
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
                            let renewed = want(refresh(&c, &other, &rt).await, 200, "refresh elsewhere");
                            want(refresh(&c, &api, &rt).await, 401, "refresh token reused");
                            assert_eq!(me(&c, &other, &access).await, StatusCode::OK);
                            assert_eq!(me(&c, &api, renewed["access_token"].as_str().unwrap()).await, StatusCode::OK);
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
                    .bearer_auth(root_a)
                    .json(&body)
            ),
            send(
                c.post(format!("{api_b}/organizations/"))
                    .bearer_auth(root_b)
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

    let seen = seen.lock().unwrap().clone();
    let acked = Arc::into_inner(acked).expect("the workers are done");
    Load {
        ca_id,
        ca_pem,
        slug,
        first,
        seen,
        acked,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_load_on_both_servers_loses_and_duplicates_nothing() {
    let Some(pair) = Pair::start().await else {
        return;
    };
    let load = run_load(&pair).await;
    let Pair {
        c,
        api_a,
        api_b,
        root_a,
        root_b,
        org,
        ..
    } = &pair;
    let (org, ca_id) = (*org, load.ca_id);
    let certs = load.acked.certs.lock().unwrap().clone();
    let revoked = load.acked.revoked.lock().unwrap().clone();
    assert_eq!(
        certs.len(),
        2 * 3 * 12,
        "every issue and sign-csr acknowledged"
    );
    assert!(revoked.len() >= 30, "{} revoked", revoked.len());
    let listed = all_pages(c, &format!("{api_b}/certificates/?ca_id={ca_id}"), root_b).await;
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
            c,
            &format!("{api_a}/audit-logs/?action=cert_create"),
            root_a,
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
            c,
            &format!("{api_a}/audit-logs/?action=cert_revoke"),
            root_a,
        )
        .await,
    );
    assert_eq!(
        revokes,
        sorted(&mut revoked_ids.iter().copied()),
        "one cert_revoke entry per revocation"
    );
    let orgs = load.acked.orgs.lock().unwrap().clone();
    let org_entries =
        audit_ids(all_pages(c, &format!("{api_b}/audit-logs/?action=org_create"), root_b).await);
    assert_eq!(
        org_entries,
        sorted(&mut orgs.iter().map(|(id, _)| *id).chain([org])),
        "one org_create entry per organization"
    );
    let listed_orgs = all_pages(c, &format!("{api_b}/organizations/"), root_b).await;
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
    let accounts = load.acked.accounts.lock().unwrap().clone();
    let listed_sa = all_pages(c, &format!("{api_a}/service-accounts/"), root_a).await;
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
            c,
            &format!("{api_a}/audit-logs/?action=service_account_create"),
            root_a,
        )
        .await,
    );
    assert_eq!(
        sa_entries, sa_ids,
        "one service_account_create entry per account"
    );

    pair.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crl_numbers_never_repeat_or_go_back_under_load_on_both_servers() {
    let Some(pair) = Pair::start().await else {
        return;
    };
    let load = run_load(&pair).await;
    let Load {
        slug, first, seen, ..
    } = &load;
    let first = *first;
    let certs = load.acked.certs.lock().unwrap().clone();
    let revoked = load.acked.revoked.lock().unwrap().clone();
    // After the cache bound, both servers serve the same, complete CRL.
    tokio::time::sleep(CRL_CACHE_FRESHNESS + Duration::from_millis(200)).await;
    let final_a = crl_der(&pair.c, &pair.a.root(), slug).await;
    let final_b = crl_der(&pair.c, &pair.b.root(), slug).await;
    assert_eq!(
        final_a, final_b,
        "both servers serve the same CRL once their caches expire"
    );
    let mut by_number: BTreeMap<u64, (Vec<u8>, HashSet<String>)> = BTreeMap::new();
    let mut last_number: HashMap<&str, u64> = HashMap::new();
    for (server, der) in seen.iter().chain([("a", final_a.clone())].iter()) {
        let info = parse_crl(der);
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
        by_number.insert(info.number, (der.clone(), info.serials));
    }
    let mut acc: HashSet<String> = HashSet::new();
    for (number, (_, serials)) in &by_number {
        assert!(
            serials.is_superset(&acc),
            "CRL {number} lost a revoked serial of an earlier CRL"
        );
        acc = serials.clone();
    }
    let final_info = parse_crl(&final_a);
    let want_serials: HashSet<String> = revoked.iter().map(|(_, s)| norm_serial(s)).collect();
    assert_eq!(
        final_info.serials, want_serials,
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
    assert_crl_verifies(&final_b, &load.ca_pem);
    pair.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_server_reaches_the_others_crl_within_the_cache_bound() {
    let Some(pair) = Pair::start().await else {
        return;
    };
    let Pair {
        c, api_a, root_a, ..
    } = &pair;
    let (ca_id, _, slug) = pair.create_ca().await;
    let mut delays = Vec::new();
    for round in 0..3 {
        let v = want(
            send(c.post(format!("{api_a}/certificates/?ca_id={ca_id}")).bearer_auth(root_a).json(
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
        let before = parse_crl(&crl_der(c, &pair.b.root(), &slug).await);
        assert!(!before.serials.contains(&serial));
        want(
            send(
                c.post(format!("{api_a}/certificates/{id}/revoke"))
                    .bearer_auth(root_a)
                    .json(&json!({"reason": "keyCompromise"})),
            )
            .await,
            200,
            "revoke on A",
        );
        let acked_at = Instant::now();
        // A serves it at once.
        let on_a = parse_crl(&crl_der(c, &pair.a.root(), &slug).await);
        assert!(
            on_a.serials.contains(&serial),
            "A's own CRL lacks its revocation"
        );
        assert!(on_a.number > before.number);
        let delay = loop {
            let info = parse_crl(&crl_der(c, &pair.b.root(), &slug).await);
            if info.serials.contains(&serial) {
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
    pair.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_on_one_server_ends_the_session_on_the_other() {
    let Some(pair) = Pair::start().await else {
        return;
    };
    let (c, api_a, api_b) = (&pair.c, &pair.api_a, &pair.api_b);
    // Logout on A: the access token is refused on B, the refresh token too.
    let (_, access, rt) = pair.session("logout", api_a).await;
    assert_eq!(me(c, api_b, &access).await, StatusCode::OK);
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
    assert_session_ended(c, api_b, &access, &rt, "logged out, on B").await;
    pair.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidating_tokens_on_one_server_holds_on_the_other() {
    let Some(pair) = Pair::start().await else {
        return;
    };
    let (c, api_a, api_b) = (&pair.c, &pair.api_a, &pair.api_b);
    // Invalidate on B: tokens from A are refused on A.
    let (_, access, rt) = pair.session("invalidate", api_a).await;
    want(
        send(
            c.post(format!("{api_b}/auth/invalidate"))
                .bearer_auth(&access),
        )
        .await,
        204,
        "invalidate",
    );
    assert_session_ended(c, api_a, &access, &rt, "invalidated, on A").await;
    let (fresh, _) = login(c, api_a, "invalidate").await;
    assert_eq!(
        me(c, api_b, &fresh).await,
        StatusCode::OK,
        "a token issued after the invalidation"
    );
    pair.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_on_one_server_ends_the_sessions_on_the_other() {
    let Some(pair) = Pair::start().await else {
        return;
    };
    let (c, api_a, api_b) = (&pair.c, &pair.api_a, &pair.api_b);
    // A password change on A ends the sessions on B.
    let (id, access, rt) = pair.session("passwd", api_b).await;
    want(
        send(
            c.patch(format!("{api_a}/users/{id}"))
                .bearer_auth(&access)
                .json(&json!({"password": "another-password-456"})),
        )
        .await,
        200,
        "password change",
    );
    assert_session_ended(c, api_b, &access, &rt, "after a password change").await;
    want(
        login_pair(c, api_b, "passwd", PASSWORD).await,
        401,
        "old password on B",
    );
    let v = want(
        login_pair(c, api_b, "passwd", "another-password-456").await,
        200,
        "new password on B",
    );
    assert_eq!(
        me(c, api_a, v["access_token"].as_str().unwrap()).await,
        StatusCode::OK
    );
    pair.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivation_on_one_server_ends_the_sessions_on_the_other() {
    let Some(pair) = Pair::start().await else {
        return;
    };
    let (c, api_a, api_b) = (&pair.c, &pair.api_a, &pair.api_b);
    // Deactivation on A ends the sessions on B.
    let (id, access, rt) = pair.session("inactive", api_b).await;
    want(
        send(
            c.patch(format!("{api_a}/users/{id}"))
                .bearer_auth(&pair.root_a)
                .json(&json!({"is_active": false})),
        )
        .await,
        200,
        "deactivate",
    );
    assert_session_ended(c, api_b, &access, &rt, "of a deactivated user").await;
    want(
        login_pair(c, api_b, "inactive", PASSWORD).await,
        401,
        "login of a deactivated user",
    );
    pair.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refresh_token_fired_at_both_servers_at_once_has_one_winner() {
    let Some(pair) = Pair::start().await else {
        return;
    };
    let Pair {
        c,
        api_a,
        api_b,
        root_b,
        ..
    } = &pair;
    pair.user(api_b, root_b, "racer").await;
    for round in 0..8 {
        let (_, rt) = login(c, if round % 2 == 0 { api_a } else { api_b }, "racer").await;
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
    pair.finish();
}

/// Rolling a new SECRET_KEY: B restarts with it, A still has the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_secret_key_on_one_server_keeps_refresh_and_service_account_tokens() {
    let Some(mut pair) = Pair::start().await else {
        return;
    };
    let (c, api_a, root_a) = (pair.c.clone(), pair.api_a.clone(), pair.root_a.clone());
    let body = json!({"name": "roll", "organization_id": pair.org, "can_create_cert": true});
    let sa = id(&create(
        &c,
        format!("{api_a}/service-accounts/"),
        &root_a,
        body,
        "service account",
    )
    .await);
    let url = format!("{api_a}/service-accounts/{sa}/tokens");
    let sa_token = create(
        &c,
        url,
        &root_a,
        json!({"name": "roll"}),
        "service-account token",
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    pair.user(&api_a, &root_a, "roller").await;
    let (old_access, old_rt) = login(&c, &api_a, "roller").await;
    pair.restart_b(NEW_SECRET_KEY);
    let api_b2 = pair.api_b.clone();
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
    let renewed = want(
        refresh(&c, &api_b2, &old_rt).await,
        200,
        "refresh across the rotation",
    );
    let new_access = renewed["access_token"].as_str().unwrap();
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
    pair.finish();
}

/// ACME across two servers: a nonce from one is accepted by the other once,
/// an order made on one is answered and finalized on the other, and its
/// challenge is validated by exactly one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_nonces_orders_and_validation_are_shared_by_both_servers() {
    let dns = test_support::challtestsrv::ChallTestSrv::start().await;
    let extra = [
        ("ACME_DNS_RESOLVERS".to_string(), dns.dns_addr()),
        ("ACME_HTTP01_PORT".to_string(), dns.http01_port.to_string()),
    ];
    let Some(pair) = Pair::start_with(&extra).await else {
        return;
    };
    let (c, api_a, api_b) = (&pair.c, &pair.api_a, &pair.api_b);
    let admin_id = id(&create(
        c,
        format!("{api_a}/users/"),
        &pair.root_a,
        json!({"username": "acme-admin", "email": "acme-admin@example.com", "password": PASSWORD,
               "role": "admin", "organization_id": pair.org}),
        "admin",
    )
    .await);
    assert!(admin_id > 0);
    let (admin, _) = login(c, api_a, "acme-admin").await;
    let ca = id(&create(
        c,
        format!("{api_a}/cas/"),
        &admin,
        json!({"name": "ACME Two", "subject_dn": "CN=ACME Two", "key_algorithm": "ecdsa-p256"}),
        "CA",
    )
    .await);
    let sa = id(&create(
        c,
        format!("{api_a}/service-accounts/"),
        &admin,
        json!({"name": "acme-two", "can_create_cert": true}),
        "service account",
    )
    .await);
    want(
        send(c.put(format!("{api_a}/service-accounts/{sa}/policy")).bearer_auth(&admin).json(&json!({
            "cn_patterns": ["*"], "san_dns_patterns": ["*.example.com"], "san_ip_cidrs": [],
            "san_email_domains": [], "allowed_ca_ids": [ca], "allowed_certificate_types": ["server"],
            "max_validity_days": 90}))).await,
        200,
        "policy",
    );
    create(
        c,
        format!("{api_a}/acme-directories/"),
        &admin,
        json!({"name": "two", "ca_id": ca, "service_account_id": sa, "require_eab": false}),
        "directory",
    )
    .await;
    let root = |api: &str| api.trim_end_matches("/api/v1").to_string();
    let (base_a, base_b) = (root(api_a), root(api_b));
    let url = |base: &str, path: &str| format!("{base}/acme/two/{path}");
    let nonce = |base: String| async move {
        let r = c
            .head(format!("{base}/acme/two/new-nonce"))
            .send()
            .await
            .unwrap();
        r.headers()["replay-nonce"].to_str().unwrap().to_string()
    };
    let post = |target: String, jws: Value| async move {
        let r = c
            .post(&target)
            .header("content-type", "application/jose+json")
            .body(jws.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        let text = r.text().await.unwrap();
        (
            status,
            location,
            serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
        )
    };
    let key = test_support::acme::AcmeKey::generate();

    // A nonce from A, spent on B; the same request again on A: badNonce.
    let target = url(&base_b, "new-account");
    let jws = key.sign(&json!({"alg": "ES256", "jwk": key.jwk(), "nonce": nonce(base_a.clone()).await, "url": target}),
        Some(&json!({"termsOfServiceAgreed": true})));
    let (status, account, _) = post(target.clone(), jws.clone()).await;
    assert_eq!(status, 201);
    let account_b = account.unwrap();
    let account_a = account_b.replace(&base_b, &base_a);
    let (status, _, problem) = post(target, jws).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (400, Some("urn:ietf:params:acme:error:badNonce"))
    );

    // The order on A, its challenge answered on B, finalized on B, downloaded from A.
    let signed = |kid: &str, target: &str, n: String, payload: Option<Value>| {
        key.sign(
            &json!({"alg": "ES256", "kid": kid, "nonce": n, "url": target}),
            payload.as_ref(),
        )
    };
    let target = url(&base_a, "new-order");
    let jws = signed(
        &account_a,
        &target,
        nonce(base_b.clone()).await,
        Some(json!({"identifiers": [{"type": "dns", "value": "two.example.com"}]})),
    );
    let (status, order_a, order) = post(target, jws).await;
    assert_eq!(status, 201, "{order}");
    let order_a = order_a.unwrap();
    let authz_b = order["authorizations"][0]
        .as_str()
        .unwrap()
        .replace(&base_a, &base_b);
    let jws = signed(&account_b, &authz_b, nonce(base_b.clone()).await, None);
    let (_, _, authz) = post(authz_b, jws).await;
    let challenge = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "http-01")
        .unwrap()
        .clone();
    let token = challenge["token"].as_str().unwrap();
    dns.add_http01(token, &format!("{token}.{}", key.thumbprint()))
        .await;
    let chall_b = challenge["url"].as_str().unwrap().replace(&base_a, &base_b);
    let jws = signed(
        &account_b,
        &chall_b,
        nonce(base_a.clone()).await,
        Some(json!({})),
    );
    let (status, _, _) = post(chall_b, jws).await;
    assert_eq!(status, 200);
    let mut ready = false;
    for _ in 0..100 {
        let jws = signed(&account_a, &order_a, nonce(base_a.clone()).await, None);
        let (_, _, o) = post(order_a.clone(), jws).await;
        if o["status"] == "ready" {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the order did not become ready");
    // Validated once: one request for the token reached the challenge server.
    let history = dns.http_request_history("two.example.com").await;
    let fetched = history
        .iter()
        .filter(|h| h.to_string().contains(token))
        .count();
    assert_eq!(fetched, 1, "{history:?}");

    let finalize_b = format!("{}/finalize", order_a.replace(&base_a, &base_b));
    let csr_der = {
        let k = rcgen_key();
        let mut params =
            rcgen::CertificateParams::new(vec!["two.example.com".to_string()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.serialize_request(&k).unwrap().der().to_vec()
    };
    let jws = signed(
        &account_b,
        &finalize_b,
        nonce(base_b.clone()).await,
        Some(json!({"csr": test_support::acme::b64(&csr_der)})),
    );
    let (status, _, done) = post(finalize_b, jws).await;
    assert_eq!(
        (status, done["status"].as_str()),
        (200, Some("valid")),
        "{done}"
    );
    let cert_a = done["certificate"]
        .as_str()
        .unwrap()
        .replace(&base_b, &base_a);
    let jws = signed(&account_a, &cert_a, nonce(base_a.clone()).await, None);
    let (status, _, pem) = post(cert_a, jws).await;
    assert_eq!(status, 200);
    assert!(
        pem.as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    pair.finish();
}

/// Both servers run the webhook worker on one database: every event of
/// certificates issued on either reaches `WEBHOOK_URLS` and the
/// organization's webhook exactly once (each delivery is leased by one
/// server), signed as it should be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_events_are_delivered_once_by_two_servers() {
    use test_support::webhooks::{Received, Receiver, verify_with_openssl};
    const SECRET: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const N: usize = 24;
    let global = Receiver::start().await;
    let extra = [
        ("WEBHOOK_URLS".to_string(), global.url("/all")),
        ("WEBHOOK_SECRET".to_string(), SECRET.to_string()),
        ("WEBHOOK_RETRY_BASE_SECONDS".to_string(), "1".to_string()),
    ];
    let Some(pair) = Pair::start_with(&extra).await else {
        return;
    };
    let (c, api_a, api_b) = (&pair.c, &pair.api_a, &pair.api_b);
    let org_hook = Receiver::start().await;
    let hook = create(
        c,
        format!("{api_a}/organizations/{}/webhooks", pair.org),
        &pair.root_a,
        json!({"url": org_hook.url("/org"), "events": ["certificate.issued"]}),
        "webhook",
    )
    .await;
    let secret = hook["secret"].as_str().unwrap().to_string();
    let ca = id(&create(
        c,
        format!("{api_a}/cas/"),
        &pair.root_a,
        json!({"name": "Hooked CA", "subject_dn": "CN=Hooked CA", "key_algorithm": "ecdsa-p256"}),
        "CA",
    )
    .await);
    // Adopted into the organization: its certificates are the organization's.
    want(
        send(
            c.patch(format!("{api_a}/cas/{ca}"))
                .bearer_auth(&pair.root_a)
                .json(&json!({"organization_id": pair.org})),
        )
        .await,
        200,
        "adopt the CA",
    );
    // Issued on both servers at once.
    let issued: Vec<i64> = futures::future::join_all((0..N).map(|i| {
        let (api, token) = if i % 2 == 0 {
            (api_a, &pair.root_a)
        } else {
            (api_b, &pair.root_b)
        };
        async move {
            id(&create(
                c,
                format!("{api}/certificates/?ca_id={ca}"),
                token,
                json!({"common_name": format!("hook{i}.example.com"), "certificate_type": "server",
                       "key_algorithm": "ecdsa-p256"}),
                "certificate",
            )
            .await)
        }
    }))
    .await;
    let wait = Duration::from_secs(60);
    let cert = |r: &Received| r.json()["data"]["id"].as_i64().unwrap();
    let global_got = global
        .wait_until(wait, "every event at WEBHOOK_URLS", |r| r.len() >= N)
        .await;
    let org_got = org_hook
        .wait_until(wait, "every event at the organization's webhook", |r| {
            r.len() >= N
        })
        .await;
    // A barrier: one more event, issued on B, arrives after all of them.
    let last = id(&create(
        c,
        format!("{api_b}/certificates/?ca_id={ca}"),
        &pair.root_b,
        json!({"common_name": "last.example.com", "certificate_type": "server", "key_algorithm": "ecdsa-p256"}),
        "certificate",
    )
    .await);
    for (r, secret) in [(&global, SECRET), (&org_hook, secret.as_str())] {
        let got = r
            .wait_until(wait, "the barrier", |g| g.iter().any(|e| cert(e) == last))
            .await;
        let mut certs: Vec<i64> = got
            .iter()
            .map(|e| {
                verify_with_openssl(secret, e);
                cert(e)
            })
            .collect();
        certs.sort_unstable();
        let mut want: Vec<i64> = issued.iter().copied().chain([last]).collect();
        want.sort_unstable();
        assert_eq!(certs, want, "each event once");
        let ids: HashSet<String> = got.iter().map(Received::event_id).collect();
        assert_eq!(ids.len(), N + 1);
    }
    // The same events at both receivers.
    let ids =
        |got: &[Received]| -> HashSet<String> { got.iter().map(Received::event_id).collect() };
    assert!(ids(&global_got).is_subset(&ids(&global.received())));
    assert_eq!(ids(&global.received()), ids(&org_hook.received()));
    assert!(org_got.len() >= N);
    pair.finish();
}

fn rcgen_key() -> rcgen::KeyPair {
    rcgen::KeyPair::generate().unwrap()
}
