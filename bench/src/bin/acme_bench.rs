//! `fastpki-acme-bench`: whole ACME orders against a release `fastpki serve`
//! on a throwaway database, each one account reuse, new-order, the
//! authorization read, one http-01 challenge answered by this program's own
//! responder and validated by the server, polling until ready, finalize with a
//! fresh P-256 CSR, and the certificate download. Prints the latency of one
//! order at a time, orders/s at `--concurrency` clients, and the server's CPU
//! per order next to the same figure for `POST /certificates/sign-csr`.
//! Names resolve through pebble-challtestsrv (DNS only). See BENCHMARKS.md.

#[allow(dead_code)]
#[path = "../server.rs"]
mod server;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use reqwest::Client;
use serde_json::{Value, json};
use test_support::acme::{AcmeKey, b64};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use server::{Database, Server, free_port};

#[derive(Parser, Debug)]
#[command(name = "fastpki-acme-bench")]
struct Args {
    /// PostgreSQL server to run on (a throwaway database); default a temporary SQLite file.
    #[arg(long)]
    database_url: Option<String>,
    /// The server binary (default: target/release/fastpki).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Concurrent ACME clients, each with its own account, for the throughput figure.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Orders one at a time, for the latency figure.
    #[arg(long, default_value_t = 50)]
    sequential: usize,
    /// Orders in all at `--concurrency`.
    #[arg(long, default_value_t = 400)]
    orders: usize,
}

const PASSWORD: &str = "acme-bench-password-1";

/// The http-01 responder: tokens to key authorizations, served on loopback.
type Tokens = Arc<Mutex<HashMap<String, String>>>;

async fn responder(tokens: Tokens) -> Result<u16> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tokens = tokens.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut read = 0;
                while read < buf.len() {
                    match stream.read(&mut buf[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read += n,
                    }
                    if buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let head = String::from_utf8_lossy(&buf[..read]);
                let path = head.split_whitespace().nth(1).unwrap_or("");
                let token = path
                    .strip_prefix("/.well-known/acme-challenge/")
                    .unwrap_or("");
                let body = tokens.lock().unwrap().get(token).cloned();
                let resp = match body {
                    Some(b) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                        b.len()
                    ),
                    None => {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .into()
                    }
                };
                let _ = stream.write_all(resp.as_bytes()).await;
            });
        }
    });
    Ok(port)
}

/// An ACME client with its own ES256 account.
struct AcmeClient {
    c: Client,
    key: AcmeKey,
    kid: String,
    nonce: Option<String>,
    dir: Value,
}

struct Reply {
    status: u16,
    location: Option<String>,
    body: Value,
}

impl AcmeClient {
    async fn new(c: Client, dir: Value) -> Result<Self> {
        let mut client = AcmeClient {
            c,
            key: AcmeKey::generate(),
            kid: String::new(),
            nonce: None,
            dir,
        };
        let url = client.url("newAccount");
        let r = client
            .post(&url, Some(json!({"termsOfServiceAgreed": true})), true)
            .await?;
        if r.status != 201 {
            bail!("new-account: {} {}", r.status, r.body);
        }
        client.kid = r.location.context("account URL")?;
        Ok(client)
    }

    fn url(&self, name: &str) -> String {
        self.dir[name].as_str().unwrap_or_default().to_string()
    }

    async fn post(&mut self, url: &str, payload: Option<Value>, with_jwk: bool) -> Result<Reply> {
        let nonce = match self.nonce.take() {
            Some(n) => n,
            None => {
                let r = self.c.head(self.url("newNonce")).send().await?;
                r.headers()["replay-nonce"].to_str()?.to_string()
            }
        };
        let mut protected = json!({"alg": "ES256", "nonce": nonce, "url": url});
        if with_jwk {
            protected["jwk"] = self.key.jwk();
        } else {
            protected["kid"] = json!(self.kid);
        }
        let body = self.key.sign(&protected, payload.as_ref());
        let r = self
            .c
            .post(url)
            .header("content-type", "application/jose+json")
            .body(body.to_string())
            .send()
            .await?;
        self.nonce = r
            .headers()
            .get("replay-nonce")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = r.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Reply {
            status,
            location,
            body,
        })
    }

    /// One whole order for `name`.
    async fn order(&mut self, name: &str, tokens: &Tokens) -> Result<()> {
        let new_order = self.url("newOrder");
        let o = self
            .post(
                &new_order,
                Some(json!({"identifiers": [{"type": "dns", "value": name}]})),
                false,
            )
            .await?;
        if o.status != 201 {
            bail!("new-order: {} {}", o.status, o.body);
        }
        let order_url = o.location.context("order URL")?;
        let authz_url = o.body["authorizations"][0]
            .as_str()
            .context("authz")?
            .to_string();
        let finalize = o.body["finalize"].as_str().context("finalize")?.to_string();
        let authz = self.post(&authz_url, None, false).await?;
        let challenge = authz.body["challenges"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "http-01"))
            .context("http-01 challenge")?
            .clone();
        let token = challenge["token"].as_str().context("token")?.to_string();
        tokens
            .lock()
            .unwrap()
            .insert(token.clone(), format!("{token}.{}", self.key.thumbprint()));
        let chall_url = challenge["url"]
            .as_str()
            .context("challenge URL")?
            .to_string();
        let r = self.post(&chall_url, Some(json!({})), false).await?;
        if r.status != 200 {
            bail!("challenge: {} {}", r.status, r.body);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let o = self.post(&order_url, None, false).await?;
            match o.body["status"].as_str() {
                Some("ready") => break,
                Some("pending") if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                _ => bail!("order: {}", o.body),
            }
        }
        tokens.lock().unwrap().remove(&token);
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(vec![name.to_string()])?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        let csr = params.serialize_request(&key)?;
        let done = self
            .post(&finalize, Some(json!({"csr": b64(csr.der())})), false)
            .await?;
        if done.body["status"] != "valid" {
            bail!("finalize: {} {}", done.status, done.body);
        }
        let cert_url = done.body["certificate"]
            .as_str()
            .context("certificate URL")?
            .to_string();
        let pem = self.post(&cert_url, None, false).await?;
        if pem.status != 200 {
            bail!("certificate: {}", pem.status);
        }
        Ok(())
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Server CPU seconds (and PostgreSQL's, when it is the database) so far.
fn cpu(pid: u32, postgres: bool) -> f64 {
    server::cpu_seconds(pid).unwrap_or(0.0)
        + if postgres {
            server::postgres_cpu_seconds()
        } else {
            0.0
        }
}

async fn api(
    c: &Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Value,
) -> Result<Value> {
    let mut rb = c.request(method.clone(), &url).json(&body);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let r = rb.send().await?;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{method} {url}: {status} {v}");
    }
    Ok(v)
}

async fn token(c: &Client, api_url: &str, user: &str) -> Result<String> {
    let r: Value = c
        .post(format!("{api_url}/auth/token"))
        .form(&[("username", user), ("password", PASSWORD)])
        .send()
        .await?
        .json()
        .await?;
    Ok(r["access_token"].as_str().context("token")?.to_string())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let db = match &args.database_url {
        Some(url) => Database::postgres(url, false).await?,
        None => Database::sqlite(dir.path()),
    };
    let postgres = args.database_url.is_some();
    let bin = args.server_bin.clone().unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
            .join("release/fastpki")
    });
    let c = Client::builder().pool_max_idle_per_host(64).build()?;

    // DNS: pebble-challtestsrv answers every name with 127.0.0.1.
    let (dns_port, mgmt_port) = (free_port()?, free_port()?);
    let mut dns = std::process::Command::new("pebble-challtestsrv")
        .args([
            "-dns01",
            &format!("127.0.0.1:{dns_port}"),
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
        ])
        .args([
            "-management",
            &format!("127.0.0.1:{mgmt_port}"),
            "-defaultIPv4",
            "127.0.0.1",
            "-defaultIPv6",
            "",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("pebble-challtestsrv (Debian package pebble)")?;
    let tokens: Tokens = Arc::default();
    let http01 = responder(tokens.clone()).await?;

    let port = free_port()?;
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data)?;
    let mut cmd = std::process::Command::new(&bin);
    cmd.args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", db.server_url())
        .env("FASTPKI_DATA_DIR", &data)
        .env(
            "SECRET_KEY",
            "fastpki-acme-bench-secret-key-0123456789abcdef",
        )
        .env(
            "SERVICE_ACCOUNT_TOKEN_PEPPER",
            "fastpki-acme-bench-pepper-0123456789abcdef",
        )
        .env("BCRYPT_COST", "4")
        .env("AUTH_RATE_LIMIT", "100000000/minute")
        .env("ACME_REQUESTS_PER_IP", "100000000/minute")
        .env("ACME_ORDERS_PER_ACCOUNT", "100000000/hour")
        .env("ACME_DNS_RESOLVERS", format!("127.0.0.1:{dns_port}"))
        .env("ACME_HTTP01_PORT", http01.to_string())
        .current_dir(&data);
    let base = format!("http://127.0.0.1:{port}");
    let ready = format!("{base}/readyz");
    let (server, _) = Server::spawn(cmd, base.clone(), &data.join("server.log"), &c, move |c| {
        c.get(&ready)
    })
    .await?;
    let api_url = format!("{base}/api/v1");
    let post = reqwest::Method::POST;

    // The set-up: an organization's admin, a CA, a service account with a policy, a directory.
    api(&c, post.clone(), format!("{api_url}/users/"), None,
        json!({"username": "root", "email": "root@example.com", "password": PASSWORD, "role": "superuser"})).await?;
    let root = token(&c, &api_url, "root").await?;
    let org = api(
        &c,
        post.clone(),
        format!("{api_url}/organizations/"),
        Some(&root),
        json!({"name": "bench"}),
    )
    .await?["id"]
        .clone();
    api(&c, post.clone(), format!("{api_url}/users/"), Some(&root),
        json!({"username": "admin", "email": "admin@example.com", "password": PASSWORD, "role": "admin", "organization_id": org})).await?;
    let admin = token(&c, &api_url, "admin").await?;
    let ca = api(
        &c,
        post.clone(),
        format!("{api_url}/cas/"),
        Some(&admin),
        json!({"name": "ACME Bench", "subject_dn": "CN=ACME Bench", "key_algorithm": "ecdsa-p256"}),
    )
    .await?["id"]
        .clone();
    let sa = api(
        &c,
        post.clone(),
        format!("{api_url}/service-accounts/"),
        Some(&admin),
        json!({"name": "acme", "can_create_cert": true}),
    )
    .await?["id"]
        .clone();
    api(
        &c,
        reqwest::Method::PUT,
        format!("{api_url}/service-accounts/{sa}/policy"),
        Some(&admin),
        json!({
        "cn_patterns": ["*"], "san_dns_patterns": ["*.bench.example.com"], "san_ip_cidrs": [],
        "san_email_domains": [], "allowed_ca_ids": [ca], "allowed_certificate_types": ["server"],
        "max_validity_days": 90}),
    )
    .await?;
    api(
        &c,
        post.clone(),
        format!("{api_url}/acme-directories/"),
        Some(&admin),
        json!({"name": "bench", "ca_id": ca, "service_account_id": sa, "require_eab": false}),
    )
    .await?;
    let directory: Value = c
        .get(format!("{base}/acme/bench/directory"))
        .send()
        .await?
        .json()
        .await?;

    eprintln!("fastpki-acme-bench: {} on {}", bin.display(), db.describe());
    // Latency: one order at a time.
    let mut one = AcmeClient::new(c.clone(), directory.clone()).await?;
    let mut lat = Vec::new();
    for n in 0..args.sequential {
        let t = Instant::now();
        one.order(&format!("seq-{n}.bench.example.com"), &tokens)
            .await?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "one order at a time: {} orders, p50 {:.1} ms, p99 {:.1} ms",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );

    // Throughput: `concurrency` clients, each its own account.
    let mut clients = Vec::new();
    for _ in 0..args.concurrency {
        clients.push(AcmeClient::new(c.clone(), directory.clone()).await?);
    }
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let cpu_before = cpu(server.pid, postgres);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (w, mut client) in clients.into_iter().enumerate() {
        let (next, tokens, total) = (next.clone(), tokens.clone(), args.orders);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let t = Instant::now();
                client
                    .order(&format!("c{w}-{n}.bench.example.com"), &tokens)
                    .await?;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    let acme_cpu = cpu(server.pid, postgres) - cpu_before;
    all.sort_by(f64::total_cmp);
    println!(
        "{} clients: {} orders in {secs:.1} s = {:.1} orders/s, p50 {:.1} ms, p99 {:.1} ms, server CPU {:.2} ms/order",
        args.concurrency,
        all.len(),
        all.len() as f64 / secs,
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        acme_cpu * 1000.0 / all.len() as f64
    );

    // The same certificates through sign-csr, for the CPU per certificate.
    let csrs: Vec<String> = (0..args.orders)
        .map(|n| {
            let key = rcgen::KeyPair::generate().unwrap();
            let params =
                rcgen::CertificateParams::new(vec![format!("csr-{n}.bench.example.com")]).unwrap();
            params.serialize_request(&key).unwrap().pem().unwrap()
        })
        .collect();
    let csrs = Arc::new(csrs);
    let cpu_before = cpu(server.pid, postgres);
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (c, next, csrs, url, admin) = (
            c.clone(),
            next.clone(),
            csrs.clone(),
            format!("{api_url}/certificates/sign-csr"),
            admin.clone(),
        );
        let ca = ca.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= csrs.len() {
                    break;
                }
                let r = c
                    .post(&url)
                    .bearer_auth(&admin)
                    .json(&json!({"csr": csrs[n], "ca_id": ca, "certificate_type": "server"}))
                    .send()
                    .await?;
                if !r.status().is_success() {
                    bail!("sign-csr: {}", r.status());
                }
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    let csr_cpu = cpu(server.pid, postgres) - cpu_before;
    println!(
        "sign-csr, {} clients: {} certificates in {secs:.1} s = {:.1}/s, server CPU {:.2} ms/certificate",
        args.concurrency,
        csrs.len(),
        csrs.len() as f64 / secs,
        csr_cpu * 1000.0 / csrs.len() as f64
    );
    println!(
        "an ACME order costs the server {:.1}x the CPU of a sign-csr request",
        acme_cpu / csr_cpu.max(1e-9)
    );
    server.stop()?;
    let _ = dns.kill();
    let _ = dns.wait();
    if postgres {
        db.drop_database().await?;
    }
    Ok(())
}
