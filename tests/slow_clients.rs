//! Slow-client attacks against the real binary on a real TCP port: many
//! half-sent requests (headers never finished) from one loopback address must
//! neither exhaust the server's file descriptors nor lock other clients out, and
//! each half-sent connection is closed once the header-read timeout passes.
//!
//! Loopback only, every loop bounded by a deadline.

use std::time::{Duration, Instant};

use test_support::ports::free_port;
use test_support::server::{ServerProcess, command};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_fastpki");
/// A request head that never ends (no blank line).
const HALF_SENT: &[u8] = b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n";
/// The server's own file-descriptor limit, below the attack's size: before the
/// fix this is what let a few hundred connections refuse everyone.
const FD_LIMIT: u32 = 256;
const ATTACK: usize = 300;

/// Starts `fastpki serve` with `ulimit -n FD_LIMIT` (soft and hard) and `extra` settings,
/// in a folder of its own (returned: it lives as long as the server).
fn start(extra: &[(&str, &str)]) -> (ServerProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = command("sh", dir.path());
    cmd.arg("-c")
        .arg(format!(
            "ulimit -n {FD_LIMIT} && exec \"$0\" serve --bind 127.0.0.1:{port}"
        ))
        .arg(BIN)
        .env("BCRYPT_COST", "4")
        .env("KEY_POOL_SIZE", "0")
        .env("LOG_LEVEL", "error");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut server = ServerProcess::spawn(&mut cmd, port, dir.path().join("serve.log"));
    server
        .wait_ready(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}"));
    (server, dir)
}

async fn connect_from(source: &str, port: u16) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{source}:0").parse().unwrap())?;
    socket
        .connect(format!("127.0.0.1:{port}").parse().unwrap())
        .await
}

/// One complete request on a fresh connection from `source`; Ok(latency) on a 200.
async fn get_readyz(port: u16, source: &str, limit: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    let attempt = async {
        let mut s = connect_from(source, port)
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.map_err(|e| e.to_string())?;
        if out.starts_with(b"HTTP/1.1 200") {
            Ok(started.elapsed())
        } else {
            Err(format!("answer: {:?}", String::from_utf8_lossy(&out)))
        }
    };
    match tokio::time::timeout(limit, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {limit:?}")),
    }
}

/// Open descriptors of the server process.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Holds `ATTACK` half-sent connections from 127.0.0.1 until `until`, opening a
/// new one whenever the server closes one. Returns how many connections it opened.
async fn hold_attack(port: u16, until: Instant) -> usize {
    let mut tasks = Vec::new();
    for _ in 0..ATTACK {
        tasks.push(tokio::spawn(async move {
            let mut opened = 0;
            while Instant::now() < until {
                let Ok(Ok(mut s)) =
                    tokio::time::timeout(Duration::from_secs(1), connect_from("127.0.0.1", port))
                        .await
                else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                opened += 1;
                if s.write_all(HALF_SENT).await.is_err() {
                    continue;
                }
                // Hold it until the server closes it or the attack ends.
                let mut buf = [0u8; 256];
                let left = until.saturating_duration_since(Instant::now());
                let _ = tokio::time::timeout(left, s.read(&mut buf)).await;
                // Bounded reconnect rate: this shares two cores with the server.
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            opened
        }));
    }
    let mut opened = 0;
    for t in tasks {
        opened += t.await.unwrap_or(0);
    }
    opened
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_do_not_lock_other_clients_out() {
    let (server, _dir) = start(&[
        ("HEADER_READ_TIMEOUT_SECONDS", "1"),
        ("MAX_CONNECTIONS", "100"),
        ("MAX_CONNECTIONS_PER_IP", "50"),
    ]);
    let pid = server.child.id();
    let port = server.port;
    let baseline = open_fds(pid);

    let attack_ends = Instant::now() + Duration::from_secs(4);
    let attack = tokio::spawn(hold_attack(port, attack_ends));
    tokio::time::sleep(Duration::from_millis(800)).await;

    // (a) While the attack holds, another client is answered promptly, every time.
    let mut latencies = Vec::new();
    let mut max_fds = 0;
    while Instant::now() + Duration::from_millis(600) < attack_ends {
        max_fds = max_fds.max(open_fds(pid));
        let r = get_readyz(port, "127.0.0.2", Duration::from_secs(2)).await;
        latencies.push(r);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let opened = attack.await.unwrap();
    assert!(latencies.len() >= 5, "{latencies:?}");
    for r in &latencies {
        let took = r
            .as_ref()
            .expect("normal client answered during the attack");
        assert!(*took < Duration::from_secs(1), "slow answer: {took:?}");
    }
    // The server never holds more sockets than its connection bound allows.
    assert!(
        max_fds <= baseline + 100 + 8,
        "server had {max_fds} descriptors open (baseline {baseline})"
    );
    // The server closed half-sent connections, so the attack had to reopen them.
    assert!(opened > ATTACK, "attack opened only {opened} connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_and_idle_connections_are_closed_after_the_timeouts() {
    let (server, _dir) = start(&[("HEADER_READ_TIMEOUT_SECONDS", "1")]);
    let port = server.port;

    // (b) Half-sent requests: closed once the header-read timeout passes, not before.
    let mut held = Vec::new();
    for _ in 0..40 {
        let mut s = connect_from("127.0.0.1", port).await.unwrap();
        s.write_all(HALF_SENT).await.unwrap();
        held.push(s);
    }
    let started = Instant::now();
    let mut closed_after = Vec::new();
    for mut s in held {
        let mut buf = [0u8; 512];
        let left = (started + Duration::from_secs(5)).saturating_duration_since(Instant::now());
        // EOF, a reset, or a 408 answer all count as closed; a timeout does not.
        let r = tokio::time::timeout(left, async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(r.is_ok(), "half-sent connection still open after 5 s");
        closed_after.push(started.elapsed());
    }
    let first = closed_after.iter().min().unwrap();
    assert!(
        *first >= Duration::from_millis(700),
        "closed too early: {first:?}"
    );

    // The idle keep-alive connection after a complete answer is closed as well.
    let mut s = connect_from("127.0.0.1", port).await.unwrap();
    s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let idle_since = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(r.is_ok(), "idle keep-alive connection still open after 5 s");
    assert!(idle_since.elapsed() >= Duration::from_millis(700));
}
