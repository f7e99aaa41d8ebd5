//! `pebble-challtestsrv`, Let's Encrypt's challenge test server (Debian
//! package `pebble`), as the independent peer of the ACME validation tests: a
//! DNS server (every A query answers 127.0.0.1 unless told otherwise; TXT,
//! CNAME and A records set through its management API), an http-01 server, the
//! same over HTTPS, and a tls-alpn-01 server, each on a free loopback port,
//! killed when dropped.

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::ports::free_port;
use crate::process::{Files, KillOnDrop};

/// The binary, from the Debian package `pebble`.
pub const BINARY: &str = "pebble-challtestsrv";

/// A running `pebble-challtestsrv` on loopback ports.
pub struct ChallTestSrv {
    /// DNS (UDP and TCP) on 127.0.0.1: the validator's `ACME_DNS_RESOLVERS`.
    pub dns_port: u16,
    /// The http-01 server: the validator's `ACME_HTTP01_PORT`.
    pub http01_port: u16,
    /// The tls-alpn-01 server: the validator's `ACME_TLSALPN01_PORT`.
    pub tlsalpn01_port: u16,
    /// The http-01 tokens served over HTTPS (a self-signed certificate): where
    /// an http-01 redirect to `https://` may lead.
    pub https01_port: u16,
    pub management_port: u16,
    client: reqwest::Client,
    _files: Files,
    _process: KillOnDrop,
}

impl ChallTestSrv {
    /// Starts one and waits until its servers accept connections. Panics,
    /// saying what to install, when the binary is missing: the tests that
    /// need it fail rather than skip.
    pub async fn start() -> ChallTestSrv {
        let files = Files::new();
        let log_path = files.path("challtestsrv.log");
        let log = std::fs::File::create(&log_path).expect("create the log");
        let [
            dns_port,
            http01_port,
            tlsalpn01_port,
            https01_port,
            management_port,
        ] = [(); 5].map(|_| free_port());
        let addr = |port: u16| format!("127.0.0.1:{port}");
        let child = Command::new(BINARY)
            .args(["-dns01", &addr(dns_port)])
            .args(["-http01", &addr(http01_port)])
            .args(["-tlsalpn01", &addr(tlsalpn01_port)])
            .args(["-https01", &addr(https01_port)])
            .args(["-management", &addr(management_port)])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "{BINARY} is not installed: install the Debian package `pebble` \
                 (apt-get install pebble); the ACME validation tests need it"
            ),
            Err(e) => panic!("cannot start {BINARY}: {e}"),
        };
        let mut process = KillOnDrop(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        let ports = [
            dns_port,
            http01_port,
            tlsalpn01_port,
            https01_port,
            management_port,
        ];
        loop {
            if let Ok(Some(status)) = process.0.try_wait() {
                panic!(
                    "{BINARY} exited ({status}):\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            if ports
                .iter()
                .all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok())
            {
                break;
            }
            if Instant::now() > deadline {
                panic!(
                    "{BINARY} did not listen within 10 s:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        ChallTestSrv {
            dns_port,
            http01_port,
            tlsalpn01_port,
            https01_port,
            management_port,
            client: reqwest::Client::new(),
            _files: files,
            _process: process,
        }
    }

    /// `127.0.0.1:<dns port>`, for `ACME_DNS_RESOLVERS`.
    pub fn dns_addr(&self) -> String {
        format!("127.0.0.1:{}", self.dns_port)
    }

    /// One call of the management API; it must answer 200. Returns the body.
    pub async fn call(&self, path: &str, body: Value) -> String {
        let url = format!("http://127.0.0.1:{}{path}", self.management_port);
        let r = self
            .client
            .post(&url)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert_eq!(status.as_u16(), 200, "POST {path} {body}: {text}");
        text
    }

    /// Serves `content` at `/.well-known/acme-challenge/<token>`.
    pub async fn add_http01(&self, token: &str, content: &str) {
        self.call("/add-http01", json!({"token": token, "content": content}))
            .await;
    }

    /// Redirects `path` (302) to `target_url`.
    pub async fn add_redirect(&self, path: &str, target_url: &str) {
        self.call(
            "/add-redirect",
            json!({"path": path, "targetURL": target_url}),
        )
        .await;
    }

    /// Answers TXT queries for `host` (a fully qualified name, ending in a dot).
    pub async fn set_txt(&self, host: &str, value: &str) {
        self.call("/set-txt", json!({"host": host, "value": value}))
            .await;
    }

    /// Answers queries for `host` with a CNAME to `target` (both ending in a dot).
    pub async fn set_cname(&self, host: &str, target: &str) {
        self.call("/set-cname", json!({"host": host, "target": target}))
            .await;
    }

    /// Answers A queries for `host` with `addresses` instead of 127.0.0.1.
    pub async fn add_a(&self, host: &str, addresses: &[&str]) {
        self.call("/add-a", json!({"host": host, "addresses": addresses}))
            .await;
    }

    /// Presents a tls-alpn-01 certificate for the SNI `host`, made from the key
    /// authorization `content`.
    pub async fn add_tlsalpn01(&self, host: &str, content: &str) {
        self.call("/add-tlsalpn01", json!({"host": host, "content": content}))
            .await;
    }

    /// The HTTP requests the http-01 server received with `Host: <host>[:port]`.
    pub async fn http_request_history(&self, host: &str) -> Vec<Value> {
        let text = self
            .call("/http-request-history", json!({"host": host}))
            .await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("history {text:?}: {e}"))
    }

    /// The TLS-ALPN requests the tls-alpn-01 server received for the SNI `host`.
    pub async fn tlsalpn01_request_history(&self, host: &str) -> Vec<Value> {
        let text = self
            .call("/tlsalpn01-request-history", json!({"host": host}))
            .await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("history {text:?}: {e}"))
    }
}
