//! `fastpki-bench`: starts a release `fastpki serve` on a throwaway database
//! (SQLite, or PostgreSQL with `--database-url`), loads data, drives each
//! workload over HTTP from 127.0.0.1, and prints requests/s, p50/p99 latency
//! and errors, next to the machine's raw signing limits. See BENCHMARKS.md.

mod api;
mod data;
mod load;
mod peer;
mod raw;
mod server;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use reqwest::Client;
use serde_json::{Value, json};

use crate::api::{Api, Ca};
use crate::load::{LoadConfig, Outcome, Workload};
use crate::raw::RawFigures;
use crate::server::{Database, Memory, Server, ServerConfig};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "fastpki-bench",
    about = "Benchmarks a release FastPKI server over HTTP against the machine's raw signing limits"
)]
struct Args {
    /// PostgreSQL server to run on (a throwaway database is created and dropped),
    /// e.g. postgres://postgres@127.0.0.1:5432/postgres. Default: a temporary SQLite file.
    #[arg(long)]
    database_url: Option<String>,
    /// Keep the PostgreSQL database after the run.
    #[arg(long)]
    keep_db: bool,
    /// The server binary (default: target/release/fastpki of this workspace, or of CARGO_TARGET_DIR).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Concurrent connections per workload.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Measured seconds per workload.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Unmeasured warm-up seconds before each workload's window.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Seconds per raw-limit figure (0 skips the raw limits and the ratios).
    #[arg(long, default_value_t = 3.0)]
    raw_seconds: f64,
    /// Threads for the raw limits and the bulk signing (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Certificates of the CA listed by W4 (0 skips W4).
    #[arg(long, default_value_t = 1_000_000)]
    w4_rows: u64,
    /// Sign only this many distinct certificates for W4 and reuse their PEM under
    /// fresh serial numbers (0: sign every row).
    #[arg(long, default_value_t = 0)]
    w4_distinct: u64,
    /// W4g: how many times the whole list (no limit) is read, one after another.
    #[arg(long, default_value_t = 3)]
    w4_whole_runs: usize,
    /// W4h: clients reading whole lists slowly while single reads are measured
    /// (more than the server's 8 SQLite read connections by default).
    #[arg(long, default_value_t = 12)]
    w4_slow_lists: usize,
    /// W4h: bytes per second each slow client reads.
    #[arg(long, default_value_t = 1_000_000)]
    w4_slow_rate: u64,
    /// Revoked certificates behind the small and the large CRL (W3a, W3b).
    #[arg(long, default_value_t = 1_000)]
    crl_small: u64,
    #[arg(long, default_value_t = 100_000)]
    crl_large: u64,
    /// CSRs made before timing, per key type, used round robin.
    #[arg(long, default_value_t = 64)]
    csr_pool: usize,
    /// Run only the workloads whose id starts with one of these (e.g. W1,W3,W4a).
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// Also write every figure as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also measure these peers' servers on the same workloads (`cfssl`, `python`).
    #[arg(long, value_delimiter = ',', value_enum)]
    peers: Vec<Peer>,
    /// The cfssl binary for `--peers cfssl` (Debian: apt-get install golang-cfssl).
    #[arg(long, default_value = "cfssl")]
    cfssl_bin: PathBuf,
    /// The Python FastPKI server's start script for `--peers python` (it reads
    /// DATABASE_URL, PORT and WORKERS; see BENCHMARKS.md).
    #[arg(long)]
    python_fastpki: Option<PathBuf>,
    /// uvicorn worker processes of the Python FastPKI server.
    #[arg(long, default_value_t = 2)]
    python_workers: u32,
    /// Where the temporary folder goes (default: the system's temporary directory).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

/// A peer server measured beside FastPKI.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    Cfssl,
    Python,
}

impl Args {
    fn selected(&self, id: &str) -> bool {
        self.workloads.is_empty()
            || self
                .workloads
                .iter()
                .any(|w| id.to_ascii_lowercase().starts_with(&w.to_ascii_lowercase()))
    }

    /// True when some selected workload belongs to the group `prefix` (e.g. `W4` for `W4a`).
    fn wants(&self, prefix: &str) -> bool {
        let p = prefix.to_ascii_lowercase();
        self.workloads.is_empty()
            || self.workloads.iter().any(|w| {
                let w = w.to_ascii_lowercase();
                w.starts_with(&p) || p.starts_with(&w)
            })
    }

    fn load_config(&self) -> LoadConfig {
        LoadConfig {
            concurrency: self.concurrency.max(1),
            seconds: self.seconds.max(0.1),
            warmup: self.warmup.max(0.0),
            postgres: self.database_url.is_some(),
            rate: None,
        }
    }
}

fn server_bin(args: &Args) -> PathBuf {
    if let Some(b) = &args.server_bin {
        // The server runs in the temporary folder: a relative path would not be found from there.
        return std::path::absolute(b).unwrap_or_else(|_| b.clone());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    target.join("release").join("fastpki")
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Everything the run measured besides the workloads.
#[derive(Default)]
struct Facts {
    ready_new_ms: f64,
    ready_existing_ms: f64,
    idle: Memory,
    ready_large_ms: Option<f64>,
    idle_large: Option<Memory>,
    peak: Memory,
    crl_loads: Vec<(String, data::BulkStats)>,
    crl_revoke_ms: Vec<(String, f64)>,
    w4_load: Option<data::BulkStats>,
    db_bytes: u64,
}

struct Run {
    args: Args,
    client: Client,
    results: Vec<Outcome>,
    raw: Vec<RawFigures>,
}

impl Run {
    async fn drive(&mut self, server: &Server, w: Workload) -> Result<()> {
        let cfg = self.args.load_config();
        self.drive_with(server, w, cfg).await
    }

    async fn drive_with(&mut self, server: &Server, w: Workload, cfg: LoadConfig) -> Result<()> {
        if !self.args.selected(&w.id) {
            return Ok(());
        }
        // The raw limit again, right before, with the server idle: the machine may be shared.
        let limit = match ratio_spec(&w.id) {
            Some((alg, keygen, label)) if self.args.raw_seconds > 0.0 => {
                let threads = self.args.threads.unwrap_or_else(cores);
                let dur = Duration::from_secs_f64(self.args.raw_seconds);
                let rate = tokio::task::spawn_blocking(move || {
                    raw::measure_one(alg, keygen, threads, dur)
                })
                .await??;
                eprintln!("  {}: raw {label} just before: {:.1}", w.id, rate.limit);
                Some((label, rate.limit))
            }
            _ => None,
        };
        eprintln!(
            "  {}: {} ({} connections) ...",
            w.id, w.what, cfg.concurrency
        );
        let mut out = load::run(&self.client, &w, cfg, server.pid).await?;
        if let Some((label, limit)) = limit {
            out.ratio = Some((label.to_string(), out.rps / limit));
            out.limit_per_s = Some(limit);
        }
        eprintln!(
            "    {:.1} req/s, p50 {:.1} ms, p99 {:.1} ms, {} errors{}",
            out.rps,
            out.p50_ms,
            out.p99_ms,
            out.errors,
            out.first_error
                .as_deref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
        self.results.push(out);
        Ok(())
    }
}

/// The FastPKI workload a peer's workload mirrors: `W2` for `W2-cfssl`; None for FastPKI's own.
fn twin(id: &str) -> Option<&str> {
    id.split_once('-').map(|(twin, _peer)| twin)
}

/// The raw limit each signing workload is compared with: algorithm, key
/// generation (or signing), label. A peer's workload has its twin's.
fn ratio_spec(id: &str) -> Option<(pki::KeyAlgorithm, bool, &'static str)> {
    Some(match twin(id).unwrap_or(id) {
        "W1" => (
            pki::KeyAlgorithm::Rsa { bits: 2048 },
            true,
            "RSA-2048 keygen/s",
        ),
        "W2" => (
            pki::KeyAlgorithm::Rsa { bits: 2048 },
            false,
            "RSA-2048 sign/s",
        ),
        "W2b" => (
            pki::KeyAlgorithm::Rsa { bits: 4096 },
            false,
            "RSA-4096 sign/s",
        ),
        "W2c" => (pki::KeyAlgorithm::EcdsaP256, false, "P-256 sign/s"),
        _ => return None,
    })
}

fn get(base: &str, path: String) -> load::MakeRequest {
    let url = format!("{base}{path}");
    Arc::new(move |c: &Client, _| c.get(&url))
}

fn get_auth(api: &Api, path: String, token: &str) -> load::MakeRequest {
    let url = format!("{}{path}", api.api);
    let token = token.to_string();
    Arc::new(move |c: &Client, _| c.get(&url).bearer_auth(&token))
}

/// A login of the benchmark's user (form-encoded).
fn login(api: &Api) -> load::MakeRequest {
    let url = format!("{}/auth/token", api.api);
    Arc::new(move |c: &Client, _| {
        c.post(&url)
            .form(&[("username", api::USERNAME), ("password", api::PASSWORD)])
    })
}

/// Issuance with a server-side RSA-2048 key; common names `{prefix}-{n}.bench.example.com`.
fn server_keygen(api: &Api, token: &str, ca: i64, prefix: &'static str) -> load::MakeRequest {
    let url = format!("{}/certificates/?ca_id={ca}", api.api);
    let token = token.to_string();
    Arc::new(move |c: &Client, n| {
        let name = format!("{prefix}-{n}.bench.example.com");
        c.post(&url).bearer_auth(&token).json(&json!({
            "subject_dn": format!("CN={name}"),
            "common_name": name,
            "certificate_type": "server",
            "key_size": 2048,
        }))
    })
}

fn sign_csr(api: &Api, token: &str, ca: i64, csrs: Arc<Vec<String>>) -> load::MakeRequest {
    let url = format!("{}/certificates/sign-csr", api.api);
    let token = token.to_string();
    Arc::new(move |c: &Client, n| {
        let csr = &csrs[(n as usize) % csrs.len()];
        c.post(&url)
            .bearer_auth(&token)
            .json(&json!({"csr": csr, "ca_id": ca, "certificate_type": "server"}))
    })
}

async fn issuer_of(api: &Api, token: &str, ca: &Ca) -> Result<Arc<pki::Issuer>> {
    let key = pki::PrivateKey::from_pem(&api.ca_key(token, ca.id).await?)?;
    Ok(Arc::new(pki::Issuer::new(&ca.certificate, key)?))
}

async fn body(
    run: &mut Run,
    db: &Database,
    dir: &std::path::Path,
    facts: &mut Facts,
) -> Result<()> {
    let args = run.args.clone();
    let threads = args.threads.unwrap_or_else(cores);
    let cfg = ServerConfig {
        bin: server_bin(&args),
        database_url: db.server_url(),
        data_dir: dir.join("data"),
        port: server::free_port()?,
    };
    anyhow::ensure!(
        cfg.bin.exists(),
        "no server binary at {} (build it with cargo build --release, or pass --server-bin)",
        cfg.bin.display()
    );
    eprintln!("== server on a new database ({})", db.describe());
    let (srv, ready) = Server::start(&cfg, &run.client).await?;
    facts.ready_new_ms = ready.as_secs_f64() * 1000.0;
    let api = Api::new(run.client.clone(), &srv.base);
    api.bootstrap().await?;
    let token = api.login().await?;
    eprintln!("== set-up: CAs (RSA-4096 key generation can take seconds)");
    let (rsa2048, rsa4096) = api.rsa_cas(&token).await?;
    let p256 = api
        .create_ca(&token, "bench-p256", "ecdsa-p256", None)
        .await?;
    let crl_small = api
        .create_ca(&token, "bench-crl-small", "ecdsa-p256", None)
        .await?;
    let crl_large = api
        .create_ca(&token, "bench-crl-large", "ecdsa-p256", None)
        .await?;
    let bulk = api.create_ca(&token, "bench-bulk", "ed25519", None).await?;
    let cert_id = api
        .issue_p256(&token, p256.id, "read-me.bench.example.com")
        .await?;
    srv.stop()?;

    eprintln!("== server restarted on the existing database");
    let (srv, ready) = Server::start(&cfg, &run.client).await?;
    facts.ready_existing_ms = ready.as_secs_f64() * 1000.0;
    tokio::time::sleep(Duration::from_secs(1)).await;
    facts.idle = srv.memory_kib()?;
    let api = Api::new(run.client.clone(), &srv.base);

    eprintln!("== CSR pools ({} per key type)", args.csr_pool);
    let pool = args.csr_pool.max(1);
    let rsa_csrs = Arc::new(
        tokio::task::spawn_blocking(move || {
            data::csr_pool(pki::KeyAlgorithm::Rsa { bits: 2048 }, pool, threads)
        })
        .await??,
    );
    let p256_csrs = Arc::new(
        tokio::task::spawn_blocking(move || {
            data::csr_pool(pki::KeyAlgorithm::EcdsaP256, pool, threads)
        })
        .await??,
    );

    eprintln!("== workloads");
    let base = srv.base.clone();
    run.drive(
        &srv,
        Workload {
            id: "W7".into(),
            what: "GET /ca/{slug}.pem (public CA certificate)".into(),
            expect: 200,
            make: get(&base, format!("/ca/{}.pem", p256.slug())),
        },
    )
    .await?;
    let token = api.login().await?;
    run.drive(
        &srv,
        Workload {
            id: "W5".into(),
            what: "GET /api/v1/certificates/{id} (read one certificate)".into(),
            expect: 200,
            make: get_auth(&api, format!("/certificates/{cert_id}"), &token),
        },
    )
    .await?;
    run.drive(
        &srv,
        Workload {
            id: "W6".into(),
            what: "POST /api/v1/auth/token (login, bcrypt cost 12)".into(),
            expect: 200,
            make: login(&api),
        },
    )
    .await?;
    let token = api.login().await?;
    {
        run.drive(
            &srv,
            Workload {
                id: "W1".into(),
                what: "POST /api/v1/certificates/?ca_id= (server-side RSA-2048 key, RSA-2048 CA)"
                    .into(),
                expect: 201,
                make: server_keygen(&api, &token, rsa2048.id, "w1"),
            },
        )
        .await?;
        // The same at half the rate W1 sustained: the key pool (refilled in
        // the background) should answer most requests without a key generation.
        if let Some(w1) = run.results.iter().find(|o| o.id == "W1").cloned() {
            let paced = LoadConfig {
                rate: Some((w1.rps / 2.0).max(0.5)),
                ..args.load_config()
            };
            let token = api.login().await?;
            let w = Workload {
                id: "W1r".into(),
                what: format!(
                    "W1 paced at {:.1} req/s (half of W1's rate): latency below saturation",
                    w1.rps / 2.0
                ),
                expect: 201,
                make: server_keygen(&api, &token, rsa2048.id, "w1r"),
            };
            run.drive_with(&srv, w, paced).await?;
        }
    }
    let token = api.login().await?;
    run.drive(
        &srv,
        Workload {
            id: "W2".into(),
            what: "POST /api/v1/certificates/sign-csr (RSA-2048 CSR, RSA-2048 CA)".into(),
            expect: 201,
            make: sign_csr(&api, &token, rsa2048.id, rsa_csrs.clone()),
        },
    )
    .await?;
    let token = api.login().await?;
    run.drive(
        &srv,
        Workload {
            id: "W2b".into(),
            what: "POST /api/v1/certificates/sign-csr (RSA-2048 CSR, RSA-4096 CA)".into(),
            expect: 201,
            make: sign_csr(&api, &token, rsa4096.id, rsa_csrs.clone()),
        },
    )
    .await?;
    let token = api.login().await?;
    run.drive(
        &srv,
        Workload {
            id: "W2c".into(),
            what: "POST /api/v1/certificates/sign-csr (P-256 CSR, P-256 CA)".into(),
            expect: 201,
            make: sign_csr(&api, &token, p256.id, p256_csrs.clone()),
        },
    )
    .await?;
    let csrs = peer::Csrs {
        rsa2048: rsa_csrs.clone(),
        p256: p256_csrs.clone(),
    };
    if args.peers.contains(&Peer::Cfssl) {
        peer::cfssl(run, &args.cfssl_bin, dir, &csrs).await?;
    }
    if args.peers.contains(&Peer::Python) {
        let run_sh = args
            .python_fastpki
            .as_deref()
            .context("--peers python needs --python-fastpki PATH (the server's start script)")?;
        peer::python(run, run_sh, args.python_workers, dir, &csrs).await?;
    }

    if args.wants("W3") {
        let token = api.login().await?;
        for (label, ca, n) in [
            ("W3a", &crl_small, args.crl_small),
            ("W3b", &crl_large, args.crl_large),
        ] {
            eprintln!(
                "== {label}: {n} revoked certificates of CA {} (signed, inserted by SQL)",
                ca.slug()
            );
            let spec = data::BulkSpec {
                issuer: issuer_of(&api, &token, ca).await?,
                issuer_id: ca.id,
                created_by_user_id: 1,
                rows: n.max(1),
                revoked: true,
                distinct: 0,
                prefix: ca.name.clone(),
                crl_url: format!("{base}/crl/{}", ca.slug()),
                ca_url: format!("{base}/ca/{}.crt", ca.slug()),
            };
            let stats = data::bulk_load(db, &spec, threads).await?;
            eprintln!(
                "    {} rows in {:.1} s; revoking the last one through the API (re-signs the CRL)",
                stats.rows, stats.seconds
            );
            facts.crl_loads.push((label.to_string(), stats));
            let first = {
                let mut conn = data::Conn::open(db).await?;
                let id = conn.valid_cert_of(ca.id).await?;
                conn.close().await?;
                id
            };
            let t = Instant::now();
            api.revoke(&token, first).await?;
            facts
                .crl_revoke_ms
                .push((label.to_string(), t.elapsed().as_secs_f64() * 1000.0));
        }
        for (label, ca, n) in [
            ("W3a", &crl_small, args.crl_small),
            ("W3b", &crl_large, args.crl_large),
        ] {
            run.drive(
                &srv,
                Workload {
                    id: label.into(),
                    what: format!("GET /crl/{{slug}} (CRL of {n} revoked certificates, DER)"),
                    expect: 200,
                    make: get(&base, format!("/crl/{}", ca.slug())),
                },
            )
            .await?;
        }
        // What relying parties that cache the CRL do: ask again with its ETag.
        for (label, ca, n) in [
            ("W3c", &crl_small, args.crl_small),
            ("W3d", &crl_large, args.crl_large),
        ] {
            let path = format!("/crl/{}", ca.slug());
            let etag = reqwest::Client::new()
                .get(format!("{base}{path}"))
                .send()
                .await?
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let Some(etag) = etag else {
                eprintln!("    {label}: the server sends no ETag; skipped");
                continue;
            };
            let url = format!("{base}{path}");
            run.drive(
                &srv,
                Workload {
                    id: label.into(),
                    what: format!(
                        "GET /crl/{{slug}} with If-None-Match (CRL of {n} revoked certificates, 304)"
                    ),
                    expect: 304,
                    make: Arc::new(move |c: &Client, _| {
                        c.get(&url).header("if-none-match", &etag)
                    }),
                },
            )
            .await?;
        }
    }

    if args.w4_rows > 0 && args.wants("W4") {
        let token = api.login().await?;
        eprintln!(
            "== W4: {} certificates of CA {} (signed with its Ed25519 key, inserted by SQL)",
            args.w4_rows,
            bulk.slug()
        );
        let spec = data::BulkSpec {
            issuer: issuer_of(&api, &token, &bulk).await?,
            issuer_id: bulk.id,
            created_by_user_id: 1,
            rows: args.w4_rows,
            revoked: false,
            distinct: args.w4_distinct,
            prefix: "bulk".into(),
            crl_url: format!("{base}/crl/{}", bulk.slug()),
            ca_url: format!("{base}/ca/{}.crt", bulk.slug()),
        };
        let stats = data::bulk_load(db, &spec, threads).await?;
        eprintln!(
            "    {} rows in {:.1} s ({} signed, {:.0} signatures/s over {:.1} s)",
            stats.rows,
            stats.seconds,
            stats.signed,
            stats.signed as f64 / stats.sign_seconds.max(1e-9),
            stats.sign_seconds
        );
        facts.w4_load = Some(stats);
        let token = api.login().await?;
        let deep = if args.w4_rows >= 1_000_000 {
            900_000
        } else {
            args.w4_rows * 9 / 10
        };
        // The cursor of the same deep page: the id of the row before it.
        let cursor = |filter: String| {
            let (api, token) = (&api, &token);
            async move {
                let path = format!("/certificates/?{filter}skip={}&limit=1", deep - 1);
                let row = api.get(&path, token).await?;
                row[0]["id"]
                    .as_i64()
                    .ok_or_else(|| anyhow::anyhow!("no row at {path}: {row}"))
            }
        };
        let after_all = cursor(String::new()).await?;
        let after_ca = cursor(format!("ca_id={}&", bulk.id)).await?;
        for (id, what, path) in [
            (
                "W4a",
                "first page of every certificate".to_string(),
                "/certificates/?limit=100".to_string(),
            ),
            (
                "W4b",
                format!("deep page skip={deep}"),
                format!("/certificates/?skip={deep}&limit=100"),
            ),
            (
                "W4c",
                "first page filtered by the CA".to_string(),
                format!("/certificates/?ca_id={}&limit=100", bulk.id),
            ),
            (
                "W4d",
                format!("filtered by the CA, skip={deep}"),
                format!("/certificates/?ca_id={}&skip={deep}&limit=100", bulk.id),
            ),
            (
                "W4e",
                format!("the page of W4b by cursor, after_id={after_all}"),
                format!("/certificates/?after_id={after_all}&limit=100"),
            ),
            (
                "W4f",
                format!("the page of W4d by cursor, after_id={after_ca}"),
                format!(
                    "/certificates/?ca_id={}&after_id={after_ca}&limit=100",
                    bulk.id
                ),
            ),
        ] {
            let w = Workload {
                id: id.into(),
                what: format!("GET /api/v1/certificates/ ({what}, 100 per page)"),
                expect: 200,
                make: get_auth(&api, path, &token),
            };
            run.drive(&srv, w.clone()).await?;
            // The same page on one connection: latency without queueing behind other requests.
            let one = LoadConfig {
                concurrency: 1,
                ..args.load_config()
            };
            run.drive_with(
                &srv,
                Workload {
                    id: format!("{id}1"),
                    ..w
                },
                one,
            )
            .await?;
        }
        // The whole list (no limit), as `fastpki cert list` fetches it.
        whole_list(run, &srv, &api, &token, args.w4_whole_runs).await?;
        // Reads while slow clients stream whole lists: does the stream hold
        // database connections the other requests need?
        let read_one = Workload {
            id: "W4h0".into(),
            what: format!(
                "GET /api/v1/certificates/{after_all} (read one certificate, no list running)"
            ),
            expect: 200,
            make: get_auth(&api, format!("/certificates/{after_all}"), &token),
        };
        run.drive(&srv, read_one.clone()).await?;
        if args.selected("W4h") && args.w4_slow_lists > 0 {
            let slow = slow_lists(
                &run.client,
                &api,
                &token,
                args.w4_slow_lists,
                args.w4_slow_rate,
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
            let during = Workload {
                id: "W4h".into(),
                what: format!(
                    "GET /api/v1/certificates/{after_all} while {} clients read whole lists at {} KB/s each",
                    args.w4_slow_lists,
                    args.w4_slow_rate / 1000
                ),
                ..read_one
            };
            let result = run.drive(&srv, during).await;
            let streamed = slow.stop().await;
            eprintln!(
                "    the slow clients read {:.1} MB meanwhile",
                streamed as f64 / 1e6
            );
            result?;
        }
    }
    facts.peak = srv.memory_kib()?;
    facts.db_bytes = db.size_bytes().await.unwrap_or(0);
    srv.stop()?;

    if !facts.crl_loads.is_empty() || facts.w4_load.is_some() {
        eprintln!("== server restarted on the loaded database");
        let (srv, ready) = Server::start(&cfg, &run.client).await?;
        facts.ready_large_ms = Some(ready.as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_secs(1)).await;
        facts.idle_large = Some(srv.memory_kib()?);
        srv.stop()?;
    }
    Ok(())
}

/// W4g: whole lists of every certificate (no `limit`), one after another on
/// one connection, read as they arrive without keeping them: the time of each,
/// its size, and the server's peak resident set during them (`VmHWM`, reset
/// before through `/proc/<pid>/clear_refs`).
async fn whole_list(
    run: &mut Run,
    srv: &Server,
    api: &Api,
    token: &str,
    runs: usize,
) -> Result<()> {
    let id = "W4g";
    if !run.args.selected(id) || runs == 0 {
        return Ok(());
    }
    let before = srv.memory_kib()?;
    let reset = std::fs::write(format!("/proc/{}/clear_refs", srv.pid), "5").is_ok();
    eprintln!(
        "  {id}: GET /api/v1/certificates/ (every certificate, no limit), {runs} times on one connection ..."
    );
    let url = format!("{}/certificates/", api.api);
    let cpu0 = server::cpu_seconds(srv.pid)?;
    let start = Instant::now();
    let (mut times, mut bytes, mut rows) = (vec![], 0u64, 0u64);
    for _ in 0..runs {
        let t0 = Instant::now();
        let mut resp = run.client.get(&url).bearer_auth(token).send().await?;
        anyhow::ensure!(resp.status() == 200, "whole list: HTTP {}", resp.status());
        // Every object of the array starts with its id: count them across chunk edges.
        let (mut n, mut b, mut tail) = (0u64, 0u64, Vec::new());
        while let Some(chunk) = resp.chunk().await? {
            b += chunk.len() as u64;
            tail.extend_from_slice(&chunk);
            n += tail.windows(6).filter(|w| w == b"{\"id\":").count() as u64;
            tail.drain(..tail.len().saturating_sub(5));
        }
        times.push(t0.elapsed().as_secs_f64());
        (bytes, rows) = (b, n);
    }
    let seconds = start.elapsed().as_secs_f64();
    let server_cores = (server::cpu_seconds(srv.pid)? - cpu0) / seconds;
    let after = srv.memory_kib()?;
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    eprintln!(
        "    {rows} rows, {:.1} MB per list; {} s each (median {median:.2} s, {:.0} rows/s); server RSS {:.1} MiB before, peak {:.1} MiB{}",
        bytes as f64 / 1e6,
        times
            .iter()
            .map(|t| format!("{t:.2}"))
            .collect::<Vec<_>>()
            .join(" / "),
        rows as f64 / median,
        mib(before.rss_kib),
        mib(after.hwm_kib),
        if reset {
            " (peak reset before W4g)"
        } else {
            " (peak since start: clear_refs refused)"
        }
    );
    run.results.push(Outcome {
        id: id.into(),
        what: format!(
            "GET /api/v1/certificates/ (every certificate: {rows} rows, {:.1} MB, no limit)",
            bytes as f64 / 1e6
        ),
        ok: runs as u64,
        seconds,
        rps: runs as f64 / seconds,
        p50_ms: median * 1000.0,
        p99_ms: sorted[sorted.len() - 1] * 1000.0,
        max_ms: sorted[sorted.len() - 1] * 1000.0,
        bytes_per_s: (bytes * runs as u64) as f64 / seconds,
        server_cores,
        concurrency: 1,
        server_rss_kib: after.rss_kib,
        server_hwm_kib: after.hwm_kib,
        ..Outcome::default()
    });
    Ok(())
}

/// Clients that read whole lists slowly, over and over, until stopped.
struct SlowLists {
    tasks: Vec<tokio::task::JoinHandle<u64>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

/// `n` clients, each reading `GET /certificates/` at `rate` bytes/s.
fn slow_lists(client: &Client, api: &Api, token: &str, n: usize, rate: u64) -> SlowLists {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let url = format!("{}/certificates/", api.api);
    let tasks = (0..n)
        .map(|_| {
            // One connection each: a shared client would queue them on few.
            let client = Client::builder().build().unwrap_or_else(|_| client.clone());
            let (url, token, stop) = (url.clone(), token.to_string(), stop.clone());
            tokio::spawn(async move {
                let mut total = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut resp) = client.get(&url).bearer_auth(&token).send().await else {
                        break;
                    };
                    let t0 = Instant::now();
                    let mut read = 0u64;
                    while let Ok(Some(chunk)) = resp.chunk().await {
                        read += chunk.len() as u64;
                        let due = Duration::from_secs_f64(read as f64 / rate.max(1) as f64);
                        if let Some(wait) = due.checked_sub(t0.elapsed()) {
                            tokio::time::sleep(wait).await;
                        }
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                    total += read;
                }
                total
            })
        })
        .collect();
    SlowLists { tasks, stop }
}

impl SlowLists {
    /// Stops every client (closing its connection mid-list) and returns the bytes they read.
    async fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut total = 0;
        for t in self.tasks {
            total += t.await.unwrap_or(0);
        }
        total
    }
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The issue's targets, each with the measured value and whether it is met.
fn targets(run: &Run, facts: &Facts) -> Vec<(String, String, Option<bool>)> {
    let find = |id: &str| run.results.iter().find(|o| o.id == id);
    let mut out = Vec::new();
    for (id, min) in [("W2", 0.85), ("W2b", 0.85)] {
        if let Some(o) = find(id) {
            let got = o.ratio.as_ref().map(|r| r.1);
            out.push((
                format!(
                    "{id} sign-CSR on an RSA CA >= {:.0} % of raw signing",
                    min * 100.0
                ),
                got.map(|r| format!("{:.1} %", r * 100.0))
                    .unwrap_or("-".into()),
                got.map(|r| r >= min),
            ));
        }
    }
    if let Some(o) = find("W2c") {
        out.push((
            "W2c sign-CSR on a P-256 CA >= 5,000/s".into(),
            format!("{:.0}/s", o.rps),
            Some(o.rps >= 5000.0),
        ));
    }
    if let Some(o) = find("W1") {
        let got = o.ratio.as_ref().map(|r| r.1);
        out.push((
            "W1 server-keygen issuance >= 90 % of raw RSA-2048 keygen".into(),
            got.map(|r| format!("{:.1} %", r * 100.0))
                .unwrap_or("-".into()),
            got.map(|r| r >= 0.90),
        ));
    }
    if let (Some(w1), Some(r)) = (find("W1"), find("W1r")) {
        // One key generation: W1's server CPU per issuance (it is nearly all keygen).
        let keygen_ms = w1.server_cores / w1.rps.max(1e-9) * 1000.0;
        out.push((
            format!(
                "W1r p50 well under one RSA-2048 key generation ({keygen_ms:.0} ms), at half load"
            ),
            format!("{:.1} ms", r.p50_ms),
            Some(r.p50_ms < keygen_ms / 4.0 && r.errors == 0),
        ));
    }
    for id in ["W3a", "W3b", "W3c", "W3d"] {
        if let Some(o) = find(id) {
            out.push((
                format!("{id} CRL fetch >= 5,000 req/s"),
                format!("{:.0} req/s", o.rps),
                Some(o.rps >= 5000.0 && o.errors == 0),
            ));
        }
    }
    for id in [
        "W4a", "W4b", "W4c", "W4d", "W4e", "W4f", "W4a1", "W4b1", "W4c1", "W4d1", "W4e1", "W4f1",
    ] {
        if let Some(o) = find(id) {
            out.push((
                format!(
                    "{id} list p99 < 20 ms at {} rows, {} connection(s)",
                    run.args.w4_rows, o.concurrency
                ),
                format!("{:.1} ms", o.p99_ms),
                Some(o.p99_ms < 20.0 && o.errors == 0),
            ));
        }
    }
    out.push((
        "idle RSS < 20 MB (after start on the set-up database)".into(),
        format!("{:.1} MiB", mib(facts.idle.rss_kib)),
        Some(facts.idle.rss_kib * 1024 < 20 * 1_000_000),
    ));
    out.push((
        "ready < 200 ms (start on the set-up database)".into(),
        format!("{:.0} ms", facts.ready_existing_ms),
        Some(facts.ready_existing_ms < 200.0),
    ));
    if let Some(ms) = facts.ready_large_ms {
        out.push((
            "ready < 200 ms (start on the loaded database)".into(),
            format!("{ms:.0} ms"),
            Some(ms < 200.0),
        ));
    }
    out
}

/// Each peer workload beside its FastPKI twin: throughput, p99 and server CPU per request.
fn peer_table(run: &Run) {
    let pairs: Vec<(&Outcome, &Outcome)> = run
        .results
        .iter()
        .filter_map(|p| {
            let id = twin(&p.id)?;
            Some((run.results.iter().find(|o| o.id == id)?, p))
        })
        .collect();
    if pairs.is_empty() {
        return;
    }
    let cpu_ms = |o: &Outcome| o.server_cores / o.rps.max(1e-9) * 1000.0;
    println!();
    println!("Peers (same machine, same run, same load generator)");
    println!(
        "{:<9} {:>12} {:>9} {:>12} {:>9} {:>14} {:>18}",
        "id", "FastPKI r/s", "p99 ms", "peer r/s", "p99 ms", "FastPKI/peer", "srv ms CPU/req"
    );
    for (ours, theirs) in pairs {
        println!(
            "{:<9} {:>12.1} {:>9.2} {:>12.1} {:>9.2} {:>13.2}x {:>8.3} / {:<8.3}",
            theirs.id,
            ours.rps,
            ours.p99_ms,
            theirs.rps,
            theirs.p99_ms,
            ours.rps / theirs.rps.max(1e-9),
            cpu_ms(ours),
            cpu_ms(theirs)
        );
    }
}

fn report(run: &Run, facts: &Facts, header: &[(String, String)]) -> Value {
    println!();
    for (k, v) in header {
        println!("{k:<12} {v}");
    }
    if !run.raw.is_empty() {
        println!();
        println!(
            "Raw limits of this machine (aws-lc-rs, {} threads, no HTTP, no database; operations per CPU-second x threads)",
            run.args.threads.unwrap_or_else(cores)
        );
        println!(
            "{:<10} {:>12} {:>12} {:>14} {:>18} {:>8}   (same, per wall-clock second)",
            "algorithm", "sign/s", "keygen/s", "pki issue/s", "pki load+issue/s", "oth cpu"
        );
        for r in &run.raw {
            println!(
                "{:<10} {:>12.1} {:>12.1} {:>14.1} {:>18.1} {:>8.2}   ({:.1} / {:.1} / {:.1} / {:.1})",
                r.alg.to_string(),
                r.sign_per_s.limit,
                r.keygen_per_s.limit,
                r.pki_issue_per_s.limit,
                r.pki_load_issue_per_s.limit,
                r.other_cores,
                r.sign_per_s.wall,
                r.keygen_per_s.wall,
                r.pki_issue_per_s.wall,
                r.pki_load_issue_per_s.wall,
            );
        }
    }
    println!();
    println!(
        "{:<9} {:>5} {:>9} {:>9} {:>9} {:>7} {:>34} {:>7} {:>7} {:>7} {:>7} {:>9}  what",
        "id",
        "conns",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "ratio to raw limit",
        "srv cpu",
        "db cpu",
        "gen cpu",
        "oth cpu",
        "MB/s"
    );
    for o in &run.results {
        let ratio = o
            .ratio
            .as_ref()
            .map(|(l, r)| {
                format!(
                    "{:.1} % of {:.0} {l}",
                    r * 100.0,
                    o.limit_per_s.unwrap_or(0.0)
                )
            })
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<9} {:>5} {:>9.1} {:>9.2} {:>9.2} {:>7} {:>34} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>9.1}  {}",
            o.id,
            o.concurrency,
            o.rps,
            o.p50_ms,
            o.p99_ms,
            o.errors,
            ratio,
            o.server_cores,
            o.db_cores,
            o.client_cores,
            o.other_cores,
            o.bytes_per_s / 1e6,
            o.what
        );
    }
    for o in run.results.iter().filter(|o| o.first_error.is_some()) {
        println!(
            "{} first error: {}",
            o.id,
            o.first_error.as_deref().unwrap_or("")
        );
    }
    peer_table(run);
    println!();
    println!("Server process");
    println!(
        "  ready on a new database       {:>8.0} ms (includes migrations)",
        facts.ready_new_ms
    );
    println!(
        "  ready on the set-up database  {:>8.0} ms",
        facts.ready_existing_ms
    );
    println!(
        "  idle RSS after that start     {:>8.1} MiB",
        mib(facts.idle.rss_kib)
    );
    println!(
        "  peak RSS (VmHWM) under load   {:>8.1} MiB",
        mib(facts.peak.hwm_kib)
    );
    for o in &run.results {
        println!(
            "    after {:<9}            {:>8.1} MiB RSS, {:.1} MiB peak so far{}",
            o.id,
            mib(o.server_rss_kib),
            mib(o.server_hwm_kib),
            if twin(&o.id).is_some() {
                " (the peer's processes)"
            } else {
                ""
            }
        );
    }
    if let (Some(ms), Some(m)) = (facts.ready_large_ms, facts.idle_large) {
        println!("  ready on the loaded database  {ms:>8.0} ms");
        println!(
            "  idle RSS after that start     {:>8.1} MiB (peak during start-up {:.1} MiB)",
            mib(m.rss_kib),
            mib(m.hwm_kib)
        );
    }
    if facts.db_bytes > 0 {
        println!(
            "  database size after the loads {:>8.1} MiB",
            facts.db_bytes as f64 / 1048576.0
        );
    }
    for (label, s) in &facts.crl_loads {
        println!(
            "  {label} data: {} rows signed and inserted in {:.1} s",
            s.rows, s.seconds
        );
    }
    for (label, ms) in &facts.crl_revoke_ms {
        println!("  {label} revocation that re-signed the whole CRL: {ms:.0} ms");
    }
    if let Some(s) = &facts.w4_load {
        println!(
            "  W4 data: {} rows in {:.1} s; {} certificates signed in {:.1} s ({:.0}/s, {:.1} thread-seconds)",
            s.rows,
            s.seconds,
            s.signed,
            s.sign_seconds,
            s.signed as f64 / s.sign_seconds.max(1e-9),
            s.sign_thread_seconds
        );
    }
    let t = targets(run, facts);
    println!();
    println!("Targets of issue 6");
    for (what, got, met) in &t {
        let verdict = match met {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "-",
        };
        println!("  {what:<62} {got:>14}  {verdict}");
    }

    json!({
        "header": header.iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect::<serde_json::Map<_, _>>(),
        "raw": run.raw.iter().map(|r| json!({
            "algorithm": r.alg.to_string(),
            "sign_per_s": r.sign_per_s.limit, "keygen_per_s": r.keygen_per_s.limit,
            "pki_issue_per_s": r.pki_issue_per_s.limit, "pki_load_issue_per_s": r.pki_load_issue_per_s.limit,
            "wall_clock": {"sign_per_s": r.sign_per_s.wall, "keygen_per_s": r.keygen_per_s.wall,
                "pki_issue_per_s": r.pki_issue_per_s.wall, "pki_load_issue_per_s": r.pki_load_issue_per_s.wall},
            "other_cores": r.other_cores,
        })).collect::<Vec<_>>(),
        "workloads": run.results.iter().map(|o| json!({
            "id": o.id, "what": o.what, "requests_per_s": o.rps, "p50_ms": o.p50_ms, "p99_ms": o.p99_ms,
            "max_ms": o.max_ms, "ok": o.ok, "errors": o.errors, "first_error": o.first_error,
            "seconds": o.seconds, "bytes_per_s": o.bytes_per_s, "server_cores": o.server_cores,
            "client_cores": o.client_cores, "other_cores": o.other_cores, "db_cores": o.db_cores, "concurrency": o.concurrency, "server_rss_kib": o.server_rss_kib, "server_hwm_kib": o.server_hwm_kib,
            "ratio": o.ratio.as_ref().map(|(l, r)| json!({"limit": l, "limit_per_s": o.limit_per_s, "ratio": r})),
        })).collect::<Vec<_>>(),
        "server": {
            "ready_new_ms": facts.ready_new_ms, "ready_existing_ms": facts.ready_existing_ms,
            "idle_rss_kib": facts.idle.rss_kib, "peak_hwm_kib": facts.peak.hwm_kib,
            "ready_loaded_ms": facts.ready_large_ms,
            "idle_loaded_rss_kib": facts.idle_large.map(|m| m.rss_kib),
            "start_loaded_hwm_kib": facts.idle_large.map(|m| m.hwm_kib),
            "database_bytes": facts.db_bytes,
        },
        "loads": {
            "crl": facts.crl_loads.iter().map(|(l, s)| json!({"id": l, "rows": s.rows, "seconds": s.seconds})).collect::<Vec<_>>(),
            "crl_revoke_ms": facts.crl_revoke_ms.iter().map(|(l, ms)| json!({"id": l, "ms": ms})).collect::<Vec<_>>(),
            "w4": facts.w4_load.as_ref().map(|s| json!({"rows": s.rows, "seconds": s.seconds, "signed": s.signed,
                "sign_seconds": s.sign_seconds, "sign_thread_seconds": s.sign_thread_seconds})),
        },
        "targets": t.iter().map(|(w, g, m)| json!({"target": w, "measured": g, "met": m})).collect::<Vec<_>>(),
    })
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match real_main(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fastpki-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main(args: Args) -> Result<()> {
    let threads = args.threads.unwrap_or_else(cores);
    let mut header = vec![
        (
            "date".to_string(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
        (
            "machine".to_string(),
            format!("{} cores, {}", cores(), cpu_model()),
        ),
        (
            "database".to_string(),
            match &args.database_url {
                Some(_) => "PostgreSQL (throwaway database)".to_string(),
                None => "SQLite (temporary file)".to_string(),
            },
        ),
        (
            "loadavg".to_string(),
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
                .to_string(),
        ),
        (
            "load".to_string(),
            format!(
                "{} connections, {} s per workload after {} s warm-up, from 127.0.0.1",
                args.concurrency, args.seconds, args.warmup
            ),
        ),
    ];
    // Raw limits first, while nothing else of ours runs.
    let raw = if args.raw_seconds > 0.0 {
        eprintln!(
            "== raw limits ({threads} threads, {} s per figure)",
            args.raw_seconds
        );
        raw::measure(threads, Duration::from_secs_f64(args.raw_seconds))?
    } else {
        vec![]
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let client = Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(args.concurrency * 2)
            .timeout(Duration::from_secs(300))
            .build()?;
        let parent = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
        let dir = tempfile::Builder::new()
            .prefix("fastpki-bench-")
            .tempdir_in(&parent)
            .with_context(|| format!("temporary folder in {}", parent.display()))?;
        let db = match &args.database_url {
            Some(url) => Database::postgres(url, args.keep_db).await?,
            None => Database::sqlite(dir.path()),
        };
        header.push((
            "server".to_string(),
            server_bin(&args).display().to_string(),
        ));
        let mut run = Run {
            args: args.clone(),
            client,
            results: vec![],
            raw,
        };
        let mut facts = Facts::default();
        let outcome = body(&mut run, &db, dir.path(), &mut facts).await;
        if let Err(e) = db.drop_database().await {
            eprintln!("fastpki-bench: could not drop the benchmark database: {e:#}");
        }
        if outcome.is_err() {
            // Keep the server's log for the post-mortem.
            let kept = dir.keep();
            eprintln!(
                "fastpki-bench: the server's log is kept in {}",
                kept.join("data/server.log").display()
            );
            return outcome;
        }
        header.push((
            "loadavg end".to_string(),
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
                .to_string(),
        ));
        let doc = report(&run, &facts, &header);
        if let Some(path) = &args.json {
            std::fs::write(path, serde_json::to_string_pretty(&doc)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    })
}
