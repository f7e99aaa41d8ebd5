//! What `GET /metrics` shows, in Prometheus's text format: this server's own
//! recorder (the `metrics` facade's Prometheus exporter, without its HTTP
//! listener), the handles the code counts with, and the gauges read only when
//! scraped (key pool, database pools, certificates nearing expiry and pending
//! webhook deliveries, these two cached for [`EXPIRING_REFRESH`] so that
//! scrapes cannot load the database).
//!
//! The recorder is per server, not the process-wide one the facade's macros
//! write to: several servers in one test process keep their counts apart.
//! Every name is documented in docs/operations.md.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use chrono::Utc;
use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::config::{Backend, Settings};
use crate::service::AppState;
use crate::store;

pub const HTTP_REQUESTS: &str = "fastpki_http_requests_total";
pub const HTTP_DURATION: &str = "fastpki_http_request_duration_seconds";
pub const CERTS_ISSUED: &str = "fastpki_certificates_issued_total";
pub const CERTS_REVOKED: &str = "fastpki_certificates_revoked_total";
pub const CERTS_EXPIRING: &str = "fastpki_certificates_expiring";
pub const KEY_POOL_KEYS: &str = "fastpki_key_pool_keys";
pub const KEY_POOL_TARGET: &str = "fastpki_key_pool_target_keys";
pub const COMMIT_BATCH: &str = "fastpki_commit_batch_certificates";
pub const DB_CONNECTIONS: &str = "fastpki_db_pool_connections";
pub const DB_MAX_CONNECTIONS: &str = "fastpki_db_pool_max_connections";
pub const CACHE_LOOKUPS: &str = "fastpki_cache_lookups_total";
pub const BUILD_INFO: &str = "fastpki_build_info";
pub const WEBHOOK_DELIVERIES: &str = "fastpki_webhook_deliveries_total";
pub const WEBHOOK_PENDING: &str = "fastpki_webhook_deliveries_pending";

/// How long the expiring-soon counts of a scrape are reused.
pub const EXPIRING_REFRESH: Duration = Duration::from_secs(30);
/// The horizons of `fastpki_certificates_expiring`, in days.
const EXPIRING_DAYS: [i64; 2] = [7, 30];

/// Request latency buckets (seconds): from a cached CRL to a slow RSA-4096 key.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Group-commit batch sizes: powers of two up to the writer's largest batch.
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

static META: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// Every metric: name, kind, unit, help text.
const DESCRIPTIONS: [(&str, Kind, Option<Unit>, &str); 14] = [
    (
        HTTP_REQUESTS,
        Kind::Counter,
        None,
        "HTTP requests answered, by method, route template and status",
    ),
    (
        HTTP_DURATION,
        Kind::Histogram,
        Some(Unit::Seconds),
        "Time from a request's arrival to its response head, by method, route template and status",
    ),
    (
        CERTS_ISSUED,
        Kind::Counter,
        None,
        "Certificates issued (committed) by this server, by issuing CA id and certificate type",
    ),
    (
        CERTS_REVOKED,
        Kind::Counter,
        None,
        "Certificates revoked by this server, by issuing CA id and certificate type",
    ),
    (
        CERTS_EXPIRING,
        Kind::Gauge,
        None,
        "Certificates neither revoked nor expired whose notAfter is within `within_days` days, by issuing CA id (read at most every 30 s)",
    ),
    (
        KEY_POOL_KEYS,
        Kind::Gauge,
        None,
        "Pre-generated private keys ready in the key pool, by key algorithm",
    ),
    (
        KEY_POOL_TARGET,
        Kind::Gauge,
        None,
        "Keys the key pool keeps ready per algorithm (KEY_POOL_SIZE; 0: no pool)",
    ),
    (
        COMMIT_BATCH,
        Kind::Histogram,
        None,
        "Certificates written per group-commit transaction",
    ),
    (
        DB_CONNECTIONS,
        Kind::Gauge,
        None,
        "Open database connections of each pool, idle or in use",
    ),
    (
        DB_MAX_CONNECTIONS,
        Kind::Gauge,
        None,
        "The most connections each database pool opens",
    ),
    (
        CACHE_LOOKUPS,
        Kind::Counter,
        None,
        "Lookups in the in-memory caches (crl, issuer, public_ca), by result: hit or miss",
    ),
    (
        BUILD_INFO,
        Kind::Gauge,
        None,
        "Always 1; the labels say which build runs and on which database",
    ),
    (
        WEBHOOK_DELIVERIES,
        Kind::Counter,
        None,
        "Webhook delivery attempts made by this server, by outcome: delivered, retried (failed, will be tried again) or failed (no attempt left)",
    ),
    (
        WEBHOOK_PENDING,
        Kind::Gauge,
        None,
        "Webhook deliveries not yet delivered nor failed, on every server (read at most every 30 s)",
    ),
];

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// This server's metrics.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// The expiring-soon counts: when last read, and the CAs they named (a CA
    /// that drops out of the query is set to 0 rather than left at its last count).
    expiring: tokio::sync::Mutex<Expiring>,
}

#[derive(Default)]
struct Expiring {
    /// When the counts were last asked for (successfully or not).
    read_at: Option<Instant>,
    cas: HashSet<i64>,
}

/// Hit and miss counters of one cache (no-ops until given real ones).
#[derive(Clone)]
pub struct CacheStats {
    hits: Counter,
    misses: Counter,
}

impl Default for CacheStats {
    fn default() -> Self {
        CacheStats {
            hits: Counter::noop(),
            misses: Counter::noop(),
        }
    }
}

impl CacheStats {
    pub fn hit(&self) {
        self.hits.increment(1);
    }

    pub fn miss(&self) {
        self.misses.increment(1);
    }
}

impl Metrics {
    pub fn new(settings: &Settings) -> anyhow::Result<Arc<Self>> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), &LATENCY_BUCKETS)?
            .set_buckets_for_metric(Matcher::Full(COMMIT_BATCH.into()), &BATCH_BUCKETS)?
            .build_recorder();
        for (name, kind, unit, help) in DESCRIPTIONS {
            let (name, help) = (KeyName::from_const_str(name), SharedString::const_str(help));
            match kind {
                Kind::Counter => recorder.describe_counter(name, unit, help),
                Kind::Gauge => recorder.describe_gauge(name, unit, help),
                Kind::Histogram => recorder.describe_histogram(name, unit, help),
            }
        }
        let metrics = Metrics {
            handle: recorder.handle(),
            recorder,
            expiring: tokio::sync::Mutex::default(),
        };
        let backend = match settings.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        };
        metrics
            .gauge(
                BUILD_INFO,
                vec![
                    Label::new("version", env!("CARGO_PKG_VERSION")),
                    Label::new("database", backend),
                ],
            )
            .set(1.0);
        let pool_target = metrics.gauge(KEY_POOL_TARGET, vec![]);
        pool_target.set(settings.key_pool_size as f64);
        Ok(Arc::new(metrics))
    }

    fn counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        self.recorder
            .register_counter(&Key::from_parts(name, labels), &META)
    }

    fn gauge(&self, name: &'static str, labels: Vec<Label>) -> Gauge {
        self.recorder
            .register_gauge(&Key::from_parts(name, labels), &META)
    }

    fn histogram(&self, name: &'static str, labels: Vec<Label>) -> Histogram {
        self.recorder
            .register_histogram(&Key::from_parts(name, labels), &META)
    }

    /// One answered request. `route` is a route template (or one fixed label
    /// for every path that matched none) and `method` one of a fixed few, so
    /// the series stay bounded whatever clients send.
    pub fn http_request(&self, method: &'static str, route: &str, status: u16, took: Duration) {
        let labels = vec![
            Label::new("method", method),
            Label::new("route", route.to_owned()),
            Label::new("status", status.to_string()),
        ];
        self.counter(HTTP_REQUESTS, labels.clone()).increment(1);
        self.histogram(HTTP_DURATION, labels)
            .record(took.as_secs_f64());
    }

    /// A certificate committed.
    pub fn issued(&self, ca_id: i64, certificate_type: &str) {
        self.counter(CERTS_ISSUED, cert_labels(ca_id, certificate_type))
            .increment(1);
    }

    /// `n` certificates revoked.
    pub fn revoked(&self, ca_id: i64, certificate_type: &str, n: u64) {
        self.counter(CERTS_REVOKED, cert_labels(ca_id, certificate_type))
            .increment(n);
    }

    /// A webhook delivery attempt recorded: `delivered`, `retried` or `failed`.
    pub fn webhook_delivery(&self, outcome: &'static str) {
        self.counter(WEBHOOK_DELIVERIES, vec![Label::new("outcome", outcome)])
            .increment(1);
    }

    /// The histogram of group-commit batch sizes.
    pub fn commit_batches(&self) -> Histogram {
        self.histogram(COMMIT_BATCH, vec![])
    }

    /// The hit and miss counters of the cache called `cache`.
    pub fn cache(&self, cache: &'static str) -> CacheStats {
        let of = |result: &'static str| {
            self.counter(
                CACHE_LOOKUPS,
                vec![Label::new("cache", cache), Label::new("result", result)],
            )
        };
        CacheStats {
            hits: of("hit"),
            misses: of("miss"),
        }
    }

    /// Drains recorded histogram samples into their buckets; run every few
    /// seconds so that memory stays bounded between scrapes.
    pub fn spawn_upkeep(self: &Arc<Self>) {
        let weak: Weak<Metrics> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(m) => m.handle.run_upkeep(),
                    None => return,
                }
            }
        });
    }
}

fn cert_labels(ca_id: i64, certificate_type: &str) -> Vec<Label> {
    vec![
        Label::new("ca_id", ca_id.to_string()),
        Label::new("certificate_type", certificate_type.to_owned()),
    ]
}

/// The text of a scrape: the gauges read now, then everything rendered.
pub async fn scrape(state: &AppState) -> String {
    let m = &state.metrics;
    for alg in state.key_pool.algorithms() {
        m.gauge(
            KEY_POOL_KEYS,
            vec![Label::new("algorithm", alg.to_string())],
        )
        .set(state.key_pool.ready(*alg) as f64);
    }
    for pool in state.db.pool_stats() {
        let of = |s: &'static str| vec![Label::new("pool", pool.name), Label::new("state", s)];
        m.gauge(DB_CONNECTIONS, of("idle")).set(pool.idle as f64);
        m.gauge(DB_CONNECTIONS, of("in_use"))
            .set(pool.open.saturating_sub(pool.idle) as f64);
        m.gauge(DB_MAX_CONNECTIONS, vec![Label::new("pool", pool.name)])
            .set(f64::from(pool.max));
    }
    refresh_expiring(state).await;
    m.handle.render()
}

/// Re-reads the expiring-soon counts when the last attempt is older than
/// [`EXPIRING_REFRESH`]: one query on the `not_after` index per period,
/// however many scrapes come. A failure keeps the last counts until the next
/// period: metrics still answer, promptly, while the database does not.
async fn refresh_expiring(state: &AppState) {
    let mut last = state.metrics.expiring.lock().await;
    if last
        .read_at
        .is_some_and(|at| at.elapsed() < EXPIRING_REFRESH)
    {
        return;
    }
    last.read_at = Some(Instant::now());
    let now = Utc::now();
    let [soon, later] = EXPIRING_DAYS.map(|d| store::ts(now + chrono::Duration::days(d)));
    let counts = async {
        let mut c = state.db.read().await?;
        store::certs::expiring_per_issuer(&mut c, &store::ts(now), &soon, &later).await
    };
    // Deliveries waiting, read in the same period and at the same time (a
    // count on their status index): a database that does not answer costs
    // one timeout, not two.
    let pending = async {
        let mut c = state.db.read().await?;
        store::webhooks::deliveries::count_pending(&mut c).await
    };
    let (counts, pending) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(5), counts),
        tokio::time::timeout(Duration::from_secs(5), pending)
    );
    match pending {
        Ok(Ok(n)) => state.metrics.gauge(WEBHOOK_PENDING, vec![]).set(n as f64),
        _ => tracing::warn!("metrics: pending webhook deliveries not read"),
    }
    let rows = match counts {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: certificates expiring soon not read");
            return;
        }
        Err(_) => {
            tracing::warn!("metrics: certificates expiring soon not read in 5 s");
            return;
        }
    };
    let mut seen = HashSet::with_capacity(rows.len());
    for (ca, by_soon, by_later) in rows {
        set_expiring(state, ca, [by_soon, by_later]);
        seen.insert(ca);
    }
    for gone in last.cas.difference(&seen) {
        set_expiring(state, *gone, [0, 0]);
    }
    last.cas = seen;
}

fn set_expiring(state: &AppState, ca_id: i64, counts: [i64; 2]) {
    for (days, n) in EXPIRING_DAYS.iter().zip(counts) {
        state
            .metrics
            .gauge(
                CERTS_EXPIRING,
                vec![
                    Label::new("ca_id", ca_id.to_string()),
                    Label::new("within_days", days.to_string()),
                ],
            )
            .set(n as f64);
    }
}
