//! `GET /metrics`: after known traffic, the expected series with the right
//! labels and values; route templates, never raw paths; `METRICS_TOKEN`; and
//! `promtool check metrics` (Debian package `prometheus`) accepts the text.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::common::*;

/// One scrape, parsed: every sample by name, with its labels.
struct Scrape {
    text: String,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    fn parse(text: String) -> Scrape {
        let mut samples = vec![];
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), BTreeMap::new()),
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').expect("closing brace");
                    let labels = body
                        .split("\",")
                        .filter(|p| !p.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
                            (k.to_string(), v.trim_end_matches('"').to_string())
                        })
                        .collect();
                    (name.to_string(), labels)
                }
            };
            samples.push((name, labels, value));
        }
        Scrape { text, samples }
    }

    /// The value of the series `name` whose labels are exactly `labels`.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .iter()
            .find(|(n, l, _)| n == name && *l == want)
            .map(|(_, _, v)| *v)
    }

    #[track_caller]
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no {name}{labels:?} in\n{}", self.text))
    }

    /// Every label set of `name`.
    fn labels_of(&self, name: &str) -> Vec<&BTreeMap<String, String>> {
        self.samples
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, l, _)| l)
            .collect()
    }
}

async fn scrape(s: &Server, token: Option<&str>) -> Scrape {
    let r = s.raw("/metrics", token).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        r.headers
    );
    Scrape::parse(r.text())
}

/// `promtool check metrics` on `text`: no error and no lint finding. Fails
/// (never skips) without promtool.
#[track_caller]
fn promtool_accepts(text: &str) {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!(
            "promtool cannot run ({e}): install the Debian package `prometheus` \
             (scripts/test.sh does) to check the /metrics output"
        ),
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool ends");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {:?}\n{said}\n--- the text:\n{text}",
        out.status
    );
}

#[tokio::test]
async fn a_scrape_counts_what_happened() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    let ca = s.create_ca(&root, "Metrics CA", json!({})).await;
    let ca_id = id(&ca);
    let ca_label = ca_id.to_string();
    let mut ids = vec![];
    for (cn, days) in [("a", 5), ("b", 20), ("c", 90), ("d", 5)] {
        let c = s
            .issue(
                &root,
                ca_id,
                &format!("{cn}.example.com"),
                "server",
                json!({"valid_days": days}),
            )
            .await;
        ids.push(id(&c));
    }
    s.issue(&root, ca_id, "client@example.com", "client", json!({}))
        .await;
    // Revoked: counted once, and no longer expiring.
    expect(
        s.post(
            &format!("/certificates/{}/revoke", ids[3]),
            Some(&root),
            json!({}),
        )
        .await,
        200,
    );
    for id in &ids {
        expect(
            s.get(&format!("/certificates/{id}"), Some(&root)).await,
            200,
        );
    }
    // A CA deleted with two live certificates revokes them (cessationOfOperation).
    let gone = id(&s.create_ca(&root, "Gone CA", json!({})).await);
    for cn in ["x.example.com", "y.example.com"] {
        s.issue(&root, gone, cn, "server", json!({})).await;
    }
    expect(s.delete(&format!("/cas/{gone}"), Some(&root)).await, 204);
    expect(s.get("/certificates/999999", Some(&root)).await, 404);
    // Paths that match no route: one label for all of them.
    for p in [
        "/nope/1",
        "/nope/2",
        "/wp-admin.php",
        "/api/v1/nothing/here",
    ] {
        expect(s.get(p, None).await, 404);
    }
    // The CRL twice: read from the database once, then from memory.
    let slug = format!(
        "{}-{ca_id}",
        ca["name"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .replace(' ', "-")
    );
    for _ in 0..2 {
        let r = s.raw(&format!("/crl/{slug}"), None).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }

    let m = scrape(&s, None).await;
    promtool_accepts(&m.text);

    let cert = |t: &'static str| [("ca_id", ca_label.as_str()), ("certificate_type", t)];
    assert_eq!(
        m.value("fastpki_certificates_issued_total", &cert("server")),
        4.0
    );
    assert_eq!(
        m.value("fastpki_certificates_issued_total", &cert("client")),
        1.0
    );
    assert_eq!(
        m.value("fastpki_certificates_revoked_total", &cert("server")),
        1.0
    );
    assert_eq!(
        m.get("fastpki_certificates_revoked_total", &cert("client")),
        None
    );
    let gone_label = gone.to_string();
    let of_gone = [
        ("ca_id", gone_label.as_str()),
        ("certificate_type", "server"),
    ];
    assert_eq!(m.value("fastpki_certificates_issued_total", &of_gone), 2.0);
    assert_eq!(m.value("fastpki_certificates_revoked_total", &of_gone), 2.0);
    // Every issued certificate went through a group commit.
    assert_eq!(m.value("fastpki_commit_batch_certificates_sum", &[]), 7.0);
    assert!(m.value("fastpki_commit_batch_certificates_count", &[]) >= 1.0);
    assert_eq!(
        m.value(
            "fastpki_commit_batch_certificates_bucket",
            &[("le", "+Inf")]
        ),
        m.value("fastpki_commit_batch_certificates_count", &[])
    );

    let expiring = |d: &str| {
        m.value(
            "fastpki_certificates_expiring",
            &[("ca_id", ca_label.as_str()), ("within_days", d)],
        )
    };
    assert_eq!(expiring("7"), 1.0, "a (5 days); d is revoked");
    assert_eq!(expiring("30"), 2.0, "a and b");

    let http = |method: &str, route: &str, status: &str| {
        m.get(
            "fastpki_http_requests_total",
            &[("method", method), ("route", route), ("status", status)],
        )
    };
    assert_eq!(http("GET", "/api/v1/certificates/{id}", "200"), Some(4.0));
    assert_eq!(http("GET", "/api/v1/certificates/{id}", "404"), Some(1.0));
    assert_eq!(http("POST", "/api/v1/certificates", "201"), Some(7.0));
    assert_eq!(http("GET", "unmatched", "404"), Some(4.0));
    assert_eq!(http("GET", "/crl/{file}", "200"), Some(2.0));
    assert_eq!(
        m.value(
            "fastpki_http_request_duration_seconds_count",
            &[
                ("method", "GET"),
                ("route", "/api/v1/certificates/{id}"),
                ("status", "200")
            ]
        ),
        4.0
    );
    for labels in m.labels_of("fastpki_http_requests_total") {
        let route = &labels["route"];
        assert!(
            route == "unmatched" || !route.contains("nope") && !route.contains("999999"),
            "a raw path became a label: {labels:?}"
        );
    }

    let crl = |r: &str| {
        m.value(
            "fastpki_cache_lookups_total",
            &[("cache", "crl"), ("result", r)],
        )
    };
    assert!(crl("hit") >= 1.0 && crl("miss") >= 1.0, "{}", m.text);

    let pools = m.labels_of("fastpki_db_pool_max_connections");
    let names: Vec<&str> = pools.iter().map(|l| l["pool"].as_str()).collect();
    if s.database_url.starts_with("postgres") {
        assert_eq!(names, ["shared"]);
    } else {
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.contains(&"read") && names.contains(&"write"));
        assert_eq!(
            m.value("fastpki_db_pool_max_connections", &[("pool", "write")]),
            1.0
        );
    }
    assert!(!m.labels_of("fastpki_db_pool_connections").is_empty());
    assert_eq!(m.value("fastpki_key_pool_target_keys", &[]), 0.0);
    let build = m.labels_of("fastpki_build_info");
    assert_eq!(build.len(), 1);
    assert_eq!(build[0]["version"], env!("CARGO_PKG_VERSION"));

    // The expiring counts are read at most every 30 s: a new one shows later,
    // while the counters move at once.
    s.issue(
        &root,
        ca_id,
        "e.example.com",
        "server",
        json!({"valid_days": 3}),
    )
    .await;
    let again = scrape(&s, None).await;
    assert_eq!(
        again.value(
            "fastpki_certificates_expiring",
            &[("ca_id", ca_label.as_str()), ("within_days", "7")]
        ),
        1.0
    );
    assert_eq!(
        again.value("fastpki_certificates_issued_total", &cert("server")),
        5.0
    );
    assert_eq!(
        again.value(
            "fastpki_http_requests_total",
            &[("method", "GET"), ("route", "/metrics"), ("status", "200")]
        ),
        1.0
    );
    promtool_accepts(&again.text);
}

#[tokio::test]
async fn metrics_token_and_key_pool_depth() {
    let token = "scrape-token-0123456789abcdef";
    let s = Server::start_with(&[
        ("METRICS_TOKEN", token),
        ("KEY_POOL_SIZE", "2"),
        ("KEY_POOL_ALGORITHMS", "ecdsa-p256"),
    ])
    .await;
    for bad in [None, Some("wrong-token-0123456789abcdef"), Some("")] {
        let r = s.raw("/metrics", bad).await;
        assert_eq!(r.status, 401, "{bad:?}: {}", r.text());
        assert_eq!(r.header("www-authenticate"), "Bearer");
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert!(body["detail"].is_string(), "{body}");
        assert!(!r.text().contains(token));
    }
    // The pool fills in the background.
    let mut depth = 0.0;
    for _ in 0..100 {
        let m = scrape(&s, Some(token)).await;
        assert_eq!(m.value("fastpki_key_pool_target_keys", &[]), 2.0);
        depth = m.value("fastpki_key_pool_keys", &[("algorithm", "ecdsa-p256")]);
        if depth == 2.0 {
            promtool_accepts(&m.text);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(depth, 2.0, "the key pool never filled");
}

/// `fastpki_webhook_deliveries_total` counts attempts by outcome;
/// `fastpki_webhook_deliveries_pending` is what waits, on every server.
#[tokio::test]
async fn webhook_deliveries_are_counted_and_pending_ones_shown() {
    use sqlx::Connection;
    use test_support::webhooks::Receiver;
    let live = Receiver::start().await;
    // WEBHOOK_URLS names a port where nobody listens: its delivery stays pending.
    let dead = {
        let gone = Receiver::start().await;
        gone.url("/nobody")
    };
    let s = Server::start_with(&[
        ("WEBHOOK_URLS", dead.as_str()),
        (
            "WEBHOOK_SECRET",
            "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        ),
        ("WEBHOOK_RETRY_BASE_SECONDS", "3600"),
    ])
    .await;
    let w = World::build(&s).await;
    expect(
        s.post(
            &format!("/organizations/{}/webhooks", w.org_a),
            Some(&w.admin_a.1),
            json!({"url": live.url("/live")}),
        )
        .await,
        201,
    );
    let ca = id(&s.create_ca(&w.admin_a.1, "Hooked", json!({})).await);
    s.issue(&w.admin_a.1, ca, "hooked.example.com", "server", json!({}))
        .await;
    // Both attempts recorded: one delivered, one to try again in an hour.
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(&s.database_url).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let done: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE last_status_code IS NOT NULL OR last_error IS NOT NULL",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        if done == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "two attempts recorded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let m = scrape(&s, None).await;
    promtool_accepts(&m.text);
    let outcome = |o| m.get("fastpki_webhook_deliveries_total", &[("outcome", o)]);
    assert_eq!(outcome("delivered"), Some(1.0));
    assert_eq!(outcome("retried"), Some(1.0));
    assert_eq!(outcome("failed"), None);
    assert_eq!(m.value("fastpki_webhook_deliveries_pending", &[]), 1.0);
    assert_eq!(live.received().len(), 1);
}
