//! The load generator: a fixed number of concurrent connections, each sending
//! one request after another for a fixed time, to 127.0.0.1 only.
//!
//! Throughput counts the requests that complete inside the measured window
//! (after a warm-up); latencies are those requests' send-to-last-byte times.
//! Once the window closes no new request is sent and the ones in flight are
//! awaited, so the next workload starts on an idle server.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use reqwest::{Client, RequestBuilder};

/// Builds the `n`th request of a workload.
pub type MakeRequest = Arc<dyn Fn(&Client, u64) -> RequestBuilder + Send + Sync>;

/// One workload to drive.
#[derive(Clone)]
pub struct Workload {
    pub id: String,
    pub what: String,
    /// The status every answer must have; anything else is an error.
    pub expect: u16,
    pub make: MakeRequest,
}

/// How hard and how long.
#[derive(Clone, Copy, Debug)]
pub struct LoadConfig {
    pub concurrency: usize,
    pub seconds: f64,
    pub warmup: f64,
    /// Count PostgreSQL's processes apart (when the server runs on PostgreSQL).
    pub postgres: bool,
    /// Paced: request `n` is not sent before `n / rate` seconds from the start
    /// (all connections together), so latency is measured below saturation.
    /// None: each connection sends as fast as answers come.
    pub rate: Option<f64>,
}

/// What one workload measured.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub id: String,
    pub what: String,
    pub ok: u64,
    pub errors: u64,
    pub seconds: f64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub bytes_per_s: f64,
    /// Server CPU during the window, in cores (1.0 = one core busy).
    pub server_cores: f64,
    /// This program's CPU during the window, in cores.
    pub client_cores: f64,
    /// PostgreSQL's processes' CPU during the window, in cores (0 on SQLite, which runs inside the server).
    pub db_cores: f64,
    /// Every other process's CPU during the window, in cores (the machine is shared).
    pub other_cores: f64,
    pub concurrency: usize,
    pub server_rss_kib: u64,
    pub server_hwm_kib: u64,
    pub first_error: Option<String>,
    /// The raw limit this figure is compared with (label, operations/s) and the ratio.
    pub ratio: Option<(String, f64)>,
    pub limit_per_s: Option<f64>,
}

#[derive(Default)]
struct Samples {
    latencies_us: Vec<u32>,
    ok: u64,
    errors: u64,
    bytes: u64,
    first_error: Option<String>,
}

/// Drives `w` against the server `pid` and returns the figures.
pub async fn run(client: &Client, w: &Workload, cfg: LoadConfig, pid: u32) -> Result<Outcome> {
    let start = Instant::now();
    let from = start + Duration::from_secs_f64(cfg.warmup);
    let to = from + Duration::from_secs_f64(cfg.seconds);
    let seq = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(cfg.concurrency);
    for _ in 0..cfg.concurrency {
        let (client, w, seq) = (client.clone(), w.clone(), seq.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = Samples::default();
            while Instant::now() < to {
                let n = seq.fetch_add(1, Ordering::Relaxed);
                if let Some(rate) = cfg.rate {
                    let due = start + Duration::from_secs_f64(n as f64 / rate);
                    if due >= to {
                        break;
                    }
                    tokio::time::sleep_until(due.into()).await;
                }
                let rb = (w.make)(&client, n);
                let t0 = Instant::now();
                let result = match rb.send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        match resp.bytes().await {
                            Ok(body) if status == w.expect => Ok(body.len()),
                            Ok(body) => Err(format!(
                                "HTTP {status}: {}",
                                String::from_utf8_lossy(&body[..body.len().min(200)])
                            )),
                            Err(e) => Err(format!("reading the body: {e}")),
                        }
                    }
                    Err(e) => Err(format!("{e}")),
                };
                let t1 = Instant::now();
                if t1 < from || t1 > to {
                    continue;
                }
                match result {
                    Ok(len) => {
                        s.ok += 1;
                        s.bytes += len as u64;
                        s.latencies_us
                            .push((t1 - t0).as_micros().min(u32::MAX as u128) as u32);
                    }
                    Err(e) => {
                        s.errors += 1;
                        s.first_error.get_or_insert(e);
                    }
                }
            }
            s
        }));
    }
    // CPU time of both processes at the window's edges.
    tokio::time::sleep_until(from.into()).await;
    let (srv0, me0, all0, db0) = (
        crate::server::tree_cpu_seconds(pid)?,
        crate::server::cpu_seconds(std::process::id())?,
        crate::server::machine_busy_seconds()?,
        if cfg.postgres {
            crate::server::postgres_cpu_seconds()
        } else {
            0.0
        },
    );
    tokio::time::sleep_until(to.into()).await;
    let (srv1, me1, all1, db1) = (
        crate::server::tree_cpu_seconds(pid)?,
        crate::server::cpu_seconds(std::process::id())?,
        crate::server::machine_busy_seconds()?,
        if cfg.postgres {
            crate::server::postgres_cpu_seconds()
        } else {
            0.0
        },
    );
    let mut all = Samples::default();
    for t in tasks {
        let s = t.await?;
        all.ok += s.ok;
        all.errors += s.errors;
        all.bytes += s.bytes;
        all.latencies_us.extend(s.latencies_us);
        if all.first_error.is_none() {
            all.first_error = s.first_error;
        }
    }
    all.latencies_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        let v = &all.latencies_us;
        if v.is_empty() {
            return f64::NAN;
        }
        let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        f64::from(v[i]) / 1000.0
    };
    let mem = crate::server::tree_memory_kib(pid).unwrap_or_default();
    Ok(Outcome {
        id: w.id.clone(),
        what: w.what.clone(),
        ok: all.ok,
        errors: all.errors,
        seconds: cfg.seconds,
        rps: all.ok as f64 / cfg.seconds,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: pct(1.0),
        bytes_per_s: all.bytes as f64 / cfg.seconds,
        server_cores: (srv1 - srv0) / cfg.seconds,
        client_cores: (me1 - me0) / cfg.seconds,
        db_cores: (db1 - db0).max(0.0) / cfg.seconds,
        other_cores: ((all1 - all0) - (srv1 - srv0) - (me1 - me0) - (db1 - db0)).max(0.0)
            / cfg.seconds,
        concurrency: cfg.concurrency,
        server_rss_kib: mem.rss_kib,
        server_hwm_kib: mem.hwm_kib,
        first_error: all.first_error,
        ratio: None,
        limit_per_s: None,
    })
}
