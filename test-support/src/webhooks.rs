//! A webhook receiver for tests: a real HTTP/1.1 server on 127.0.0.1 that
//! records every request and answers each with the next status it was told
//! (then a default), and the check of a request's signature with the
//! `openssl` command line (Standard Webhooks: `v1,` and the base64 of
//! HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::openssl::openssl_ok;
use crate::process::Files;

/// One request received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Header names in lowercase.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// The status it was answered.
    pub answered: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The body's `type`.
    pub fn event_type(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_string()
    }

    /// `webhook-id`.
    pub fn event_id(&self) -> String {
        self.header("webhook-id").to_string()
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    script: VecDeque<u16>,
    default: u16,
}

/// The receiver; stops listening when dropped.
pub struct Receiver {
    pub port: u16,
    inner: Arc<Mutex<Inner>>,
    task: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// Listens on a free port of 127.0.0.1, answering 200.
    pub async fn start() -> Receiver {
        Receiver::start_on(0).await
    }

    /// Listens on 127.0.0.1:`port` (0: any free one), answering 200.
    pub async fn start_on(port: u16) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the webhook receiver");
        let port = listener.local_addr().expect("address").port();
        let inner = Arc::new(Mutex::new(Inner {
            default: 200,
            ..Inner::default()
        }));
        let shared = inner.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, shared).await;
                });
            }
        });
        Receiver { port, inner, task }
    }

    /// `http://127.0.0.1:<port><path>`
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The next requests are answered with these statuses, in order; then the default.
    pub fn answer(&self, statuses: &[u16]) {
        self.inner.lock().unwrap().script.extend(statuses);
    }

    /// Every request after the scripted ones is answered with `status`.
    pub fn answer_always(&self, status: u16) {
        self.inner.lock().unwrap().default = status;
    }

    /// What was received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Polls (every 20 ms) until `done` holds for what was received; fails
    /// naming `what` after `timeout`.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {timeout:?}; received {:?}",
                got.iter()
                    .map(|r| (r.event_type(), r.answered))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Reads one request (Content-Length bodies only: what a webhook sender
/// sends), records it, answers, closes.
async fn serve(mut stream: TcpStream, shared: Arc<Mutex<Inner>>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 64 * 1024 {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    let answered = {
        let mut inner = shared.lock().unwrap();
        let status = inner.script.pop_front().unwrap_or(inner.default);
        inner.received.push(Received {
            method,
            path,
            headers,
            body,
            answered: status,
        });
        status
    };
    let reply = format!(
        "HTTP/1.1 {answered} Test\r\ncontent-type: text/plain\r\ncontent-length: 8\r\nconnection: close\r\n\r\nanswered"
    );
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await
}

/// Checks `r`'s `webhook-signature` with `openssl dgst -hmac`, not with the
/// server's code: the HMAC-SHA256 under the bytes of `secret` (`whsec_` and
/// base64) of `{webhook-id}.{webhook-timestamp}.{body}`. Panics when it differs.
pub fn verify_with_openssl(secret: &str, r: &Received) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("base64 secret");
    let hex_key: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let mut signed = format!(
        "{}.{}.",
        r.header("webhook-id"),
        r.header("webhook-timestamp")
    )
    .into_bytes();
    signed.extend_from_slice(&r.body);
    let f = Files::new();
    let input = f.write("signed", &signed);
    let out = f.path("mac");
    openssl_ok(&[
        "dgst",
        "-sha256",
        "-mac",
        "HMAC",
        "-macopt",
        &format!("hexkey:{hex_key}"),
        "-binary",
        "-out",
        &out,
        &input,
    ]);
    let mac = std::fs::read(&out).expect("the MAC openssl wrote");
    let expected = format!("v1,{}", b64.encode(mac));
    let sent = r.header("webhook-signature");
    assert!(
        sent.split(' ').any(|s| s == expected),
        "webhook-signature {sent:?} is not the HMAC openssl computes ({expected})"
    );
}
