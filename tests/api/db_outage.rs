//! PostgreSQL going away under a running server, and coming back: requests
//! that need the database answer 503 with `Retry-After` and a clear detail
//! (not 500), `/readyz` fails and `/healthz` does not, and everything works
//! again once the database is back, without restarting the server.
//!
//! Two outages, one scenario: a private PostgreSQL cluster of the test's own,
//! stopped (`pg_ctl stop -m fast`: sessions ended by the server, then refused
//! connections) and started again; and the network cut under a running
//! PostgreSQL by a TCP forwarder of this test, which "goes down" by cutting every
//! connection and closing its port, and comes back on the same port.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use test_support::database::{
    create_postgres_database, fail_if_postgres_required, postgres_admin_url,
};
use test_support::ports::free_port;
use test_support::process::{output_text, try_run_with_timeout};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::common::*;

const DETAIL: &str = "The database is unavailable; retry shortly";

/// The database going away and coming back.
trait Outage {
    async fn down(&mut self);
    async fn up(&mut self);
}

/// A TCP forwarder to `target` on a fixed local port, which can go down and up.
struct Proxy {
    port: u16,
    target: SocketAddr,
    accept: Option<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut proxy = Proxy {
            port: listener.local_addr().expect("addr").port(),
            target,
            accept: None,
            connections: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: TcpListener) {
        let (target, connections) = (self.target, self.connections.clone());
        self.accept = Some(tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let forward = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                connections.lock().unwrap().push(forward);
            }
        }));
    }
}

impl Outage for Proxy {
    /// Every connection cut, the port closed: the database is gone.
    async fn down(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
            let _ = accept.await;
        }
        let open: Vec<_> = self.connections.lock().unwrap().drain(..).collect();
        for c in open {
            c.abort();
            let _ = c.await;
        }
    }

    /// Accepting again on the same port: the database is back.
    async fn up(&mut self) {
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    eprintln!("rebinding port {}: {e}", self.port);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot listen on port {} again: {e}", self.port),
            }
        };
        self.serve(listener);
    }
}

/// A PostgreSQL cluster of this test's own (initdb in a temporary directory, on a
/// free port), which the test stops and starts like an operator would.
struct PrivateCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivateCluster {
    /// None when this machine has no PostgreSQL server binaries.
    fn create() -> Option<PrivateCluster> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let version: u32 = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").exists().then_some((version, bin))
            })
            .max()?
            .1;
        let dir = tempfile::tempdir().expect("tempdir");
        let cluster = PrivateCluster {
            bin,
            dir,
            port: free_port(),
        };
        if as_root() {
            // PostgreSQL refuses to run as root: the cluster belongs to `postgres`.
            let owner = Command::new("chown")
                .args(["postgres:postgres", cluster.path("").to_str().unwrap()])
                .status()
                .expect("chown");
            assert!(owner.success(), "chown the cluster directory to postgres");
        }
        let data = cluster.path("data");
        cluster.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        Some(cluster)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A PostgreSQL program, to run as the cluster's owner.
    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        let mut cmd = if as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.current_dir(self.dir.path());
        cmd
    }

    /// Runs a PostgreSQL program; panics with its output on failure.
    fn run(&self, program: &str, args: &[&str]) {
        let mut cmd = self.command(program);
        cmd.args(args);
        let out = try_run_with_timeout(&mut cmd, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            output_text(&out)
        );
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let (data, log) = (self.path("data"), self.path("postgres.log"));
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
    }

    fn stop(&self, mode: &str) {
        let data = self.path("data");
        self.run(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", mode, "-w", "stop"],
        );
    }
}

impl Outage for PrivateCluster {
    /// As an operator's `systemctl stop postgresql`: sessions are ended, then refused.
    async fn down(&mut self) {
        tokio::task::block_in_place(|| self.stop("fast"));
    }

    async fn up(&mut self) {
        tokio::task::block_in_place(|| self.start());
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        if self.path("data/postmaster.pid").exists() {
            let data = self.path("data");
            let _ = self
                .command("pg_ctl")
                .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
                .status();
        }
    }
}

fn as_root() -> bool {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() == 0 }
}

/// A request's status, `Retry-After` and `detail`, and how long it took.
async fn ask(
    s: &Server,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (StatusCode, Option<String>, serde_json::Value, Duration) {
    let started = Instant::now();
    let mut rb = s.req(method, path, token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.expect("an answer");
    let status = resp.status();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, retry, body, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_answer_503_while_postgresql_is_stopped_and_recover_when_it_starts() {
    if postgres_admin_url().is_none() {
        fail_if_postgres_required("the PostgreSQL outage test");
        return;
    }
    let Some(mut cluster) = PrivateCluster::create() else {
        fail_if_postgres_required("the PostgreSQL outage test (PostgreSQL's server binaries)");
        return;
    };
    cluster.start();
    let s = Server::start_on(cluster.url(), &[("DATABASE_POOL_TIMEOUT_SECONDS", "2")]).await;
    survives(&s, &mut cluster).await;
}

#[tokio::test]
async fn requests_answer_503_while_postgresql_is_unreachable_and_recover() {
    let Some(admin) = postgres_admin_url() else {
        fail_if_postgres_required("the PostgreSQL outage test");
        return;
    };
    let (_, db_url) = create_postgres_database(&admin, "fastpki_t_").await;
    let mut url = reqwest::Url::parse(&db_url).expect("database URL");
    let host = url.host_str().expect("a TCP host").to_string();
    let target = tokio::net::lookup_host((host.as_str(), url.port().unwrap_or(5432)))
        .await
        .expect("resolve the database host")
        .next()
        .expect("an address");
    let mut proxy = Proxy::start(target).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.port)).unwrap();
    let s = Server::start_on(url.to_string(), &[("DATABASE_POOL_TIMEOUT_SECONDS", "2")]).await;
    survives(&s, &mut proxy).await;
}

/// The scenario: data written, the database gone (503 with `Retry-After` on every
/// route that needs it, `/readyz` failing, `/healthz` and `/metrics` answering), the
/// database back (the same server serves again on its own, nothing was written).
async fn survives(s: &Server, outage: &mut impl Outage) {
    let root = s.bootstrap().await;
    let ca = id(&s.create_ca(&root, "Outage CA", json!({})).await);
    let cert = id(&s
        .issue(&root, ca, "before.example.com", "server", json!({}))
        .await);
    let read = format!("/certificates/{cert}");
    expect(s.get(&read, Some(&root)).await, 200);
    expect(s.get("/readyz", None).await, 200);

    outage.down().await;
    use reqwest::Method;
    let issue = format!("/certificates/?ca_id={ca}");
    for (method, path, body) in [
        (Method::GET, read.as_str(), None),
        (Method::GET, "/certificates/?limit=10", None),
        (Method::GET, "/certificates/", None),
        (
            Method::POST,
            issue.as_str(),
            Some(cert_body("during.example.com", "server", json!({}))),
        ),
        (
            Method::POST,
            &format!("/certificates/{cert}/revoke") as &str,
            Some(json!({})),
        ),
        (Method::GET, "/users/me", None),
    ] {
        let (status, retry, body, took) = ask(s, method.clone(), path, Some(&root), body).await;
        assert_eq!(status, 503, "{method} {path}: {body}");
        assert_eq!(retry.as_deref(), Some("5"), "{method} {path}");
        assert_eq!(body["detail"], DETAIL, "{method} {path}");
        assert!(
            took < Duration::from_secs(10),
            "{method} {path} took {took:?}"
        );
    }
    // Logging in reads the user: 503 too, never a 401 that blames the password.
    let resp = s
        .req(Method::POST, "/auth/token", None)
        .form(&[("username", "root"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let (status, _, body, took) = ask(s, Method::GET, "/readyz", None, None).await;
    assert_eq!(status, 503, "{body}");
    assert!(took < Duration::from_secs(4), "readiness took {took:?}");
    expect(s.get("/healthz", None).await, 200);
    let metrics = s.raw("/metrics", None).await;
    assert_eq!(
        metrics.status,
        200,
        "metrics still answer: {}",
        metrics.text()
    );

    // Back: the same server serves again on its own.
    outage.up().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _, body, _) = ask(s, Method::GET, &read, Some(&root), None).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(
            Instant::now() < deadline,
            "still 503 after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    expect(s.get("/readyz", None).await, 200);
    s.issue(&root, ca, "after.example.com", "server", json!({}))
        .await;
    let v = expect(
        s.post(
            &format!("/certificates/{cert}/revoke"),
            Some(&root),
            json!({}),
        )
        .await,
        200,
    );
    assert_eq!(v["status"], "revoked");
    s.login("root").await;
    let (_, _, list, _) = ask(s, Method::GET, "/certificates/", Some(&root), None).await;
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(2),
        "nothing written while the database was away: {list}"
    );
}
