//! Webhook notifications against a real receiver: an HTTP server of the test
//! process on 127.0.0.1 (`test_support::webhooks::Receiver`) records every
//! request; signatures are checked with the `openssl` command line. Issued
//! and revoked events reach the organization's webhooks (and only its own, as
//! their `events` allow) and `WEBHOOK_URLS`; a receiver answering 500 is
//! retried with backoff until it answers 200 or the attempts run out; the
//! expiry scan sends one event per threshold, across scans and restarts; an
//! issuance that fails writes no event; who may manage webhooks; secrets are
//! sealed at rest and re-sealed by `rotate-key`.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Connection;
use test_support::webhooks::{Received, Receiver, verify_with_openssl};

use crate::common::*;

/// `WEBHOOK_SECRET` of these tests: the base64 of 32 bytes.
const SECRET: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
/// How long a delivery may take to arrive (the suite runs many servers at once).
const WAIT: Duration = Duration::from_secs(60);
const ALL: [&str; 4] = [
    "certificate.issued",
    "certificate.revoked",
    "certificate.expiring",
    "ca.expiring",
];

/// Creates a webhook of `org` (201 expected).
async fn hook(s: &Server, token: &str, org: i64, body: Value) -> Value {
    expect(
        s.post(&format!("/organizations/{org}/webhooks"), Some(token), body)
            .await,
        201,
    )
}

/// The deliveries of webhook `id`, newest first.
async fn deliveries(s: &Server, token: &str, org: i64, id: i64) -> Vec<Value> {
    expect(
        s.get(
            &format!("/organizations/{org}/webhooks/{id}/deliveries"),
            Some(token),
        )
        .await,
        200,
    )
    .as_array()
    .expect("a list")
    .clone()
}

/// Polls the deliveries of a webhook until `done` holds for them.
async fn wait_deliveries(
    s: &Server,
    token: &str,
    org: i64,
    id: i64,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let got = deliveries(s, token, org, id).await;
        if done(&got) {
            return got;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {WAIT:?}: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The headers every webhook request carries, and its signature under `secret`.
#[track_caller]
fn check_request(r: &Received, secret: &str, path: &str) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, path);
    assert_eq!(r.header("content-type"), "application/json");
    assert!(
        r.header("user-agent").starts_with("fastpki/"),
        "{:?}",
        r.headers
    );
    let body = r.json();
    assert_eq!(r.header("x-fastpki-event"), body["type"].as_str().unwrap());
    assert_eq!(r.header("webhook-id"), body["id"].as_str().unwrap());
    let ts: i64 = r.header("webhook-timestamp").parse().expect("Unix seconds");
    assert!(
        (chrono::Utc::now().timestamp() - ts).abs() < 300,
        "webhook-timestamp {ts}"
    );
    verify_with_openssl(secret, r);
}

fn of_type<'a>(got: &'a [Received], t: &str) -> Vec<&'a Received> {
    got.iter().filter(|r| r.event_type() == t).collect()
}

/// A connection of the test's own to the server's database.
async fn connect(s: &Server) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(&s.database_url)
        .await
        .expect("a connection of the test's own");
    if !s.database_url.starts_with("postgres") {
        sqlx::raw_sql("PRAGMA busy_timeout = 10000")
            .execute(&mut c)
            .await
            .unwrap();
    }
    c
}

async fn count(c: &mut sqlx::AnyConnection, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(c).await.unwrap()
}

#[tokio::test]
async fn webhooks_issued_and_revoked_events_reach_their_organization_and_webhook_urls() {
    let global = Receiver::start().await;
    let s = Server::start_with(&[
        ("WEBHOOK_URLS", &global.url("/all")),
        ("WEBHOOK_SECRET", SECRET),
        ("WEBHOOK_RETRY_BASE_SECONDS", "1"),
    ])
    .await;
    let w = World::build(&s).await;
    let (adm_a, adm_b) = (w.admin_a.1.as_str(), w.admin_b.1.as_str());
    let (ra, rb) = (Receiver::start().await, Receiver::start().await);
    let ha = hook(
        &s,
        adm_a,
        w.org_a,
        json!({"url": ra.url("/a"), "description": "A's inventory"}),
    )
    .await;
    assert_eq!(ha["events"], json!(ALL));
    assert_eq!(ha["organization_id"], w.org_a);
    assert_eq!(ha["description"], "A's inventory");
    let secret_a = ha["secret"].as_str().unwrap().to_string();
    assert!(secret_a.starts_with("whsec_"), "{ha}");
    // B's webhook takes revocations only.
    let hb = hook(
        &s,
        adm_b,
        w.org_b,
        json!({"url": rb.url("/b"), "events": ["certificate.revoked"]}),
    )
    .await;
    assert_eq!(hb["events"], json!(["certificate.revoked"]));
    let secret_b = hb["secret"].as_str().unwrap().to_string();
    // The secret is shown once: never by a read or a listing.
    let read = expect(
        s.get(
            &format!("/organizations/{}/webhooks/{}", w.org_a, id(&ha)),
            Some(adm_a),
        )
        .await,
        200,
    );
    assert!(read.get("secret").is_none(), "{read}");
    let listed = expect(
        s.get(&format!("/organizations/{}/webhooks", w.org_a), Some(adm_a))
            .await,
        200,
    );
    assert_eq!(ids(&listed), [id(&ha)]);
    assert!(!listed.to_string().contains("whsec_"), "{listed}");

    let ca_a = id(&s.create_ca(adm_a, "A", json!({})).await);
    let cert_a = s
        .issue(adm_a, ca_a, "a.example.com", "server", json!({}))
        .await;
    let revoked_a = expect(
        s.post(
            &format!("/certificates/{}/revoke", id(&cert_a)),
            Some(adm_a),
            json!({"reason": "keyCompromise"}),
        )
        .await,
        200,
    );
    let ca_b = id(&s.create_ca(adm_b, "B", json!({})).await);
    let cert_b = s
        .issue(adm_b, ca_b, "b.example.com", "client", json!({}))
        .await;
    expect(
        s.post(
            &format!("/certificates/{}/revoke", id(&cert_b)),
            Some(adm_b),
            json!({}),
        )
        .await,
        200,
    );

    // Organization A's webhook: its certificate issued, then revoked; nothing of B.
    let got = ra
        .wait_until(WAIT, "A's two events", |r| r.len() >= 2)
        .await;
    for r in &got {
        check_request(r, &secret_a, "/a");
        assert_eq!(r.json()["organization_id"], w.org_a);
        assert_eq!(r.json()["data"]["id"], id(&cert_a));
    }
    let issued = of_type(&got, "certificate.issued");
    assert_eq!(issued.len(), 1, "{got:?}");
    let body = issued[0].json();
    let data = &body["data"];
    assert_eq!(data["serial_number"], cert_a["serial_number"]);
    assert_eq!(data["common_name"], "a.example.com");
    assert_eq!(data["ca_id"], ca_a);
    assert_eq!(data["certificate_type"], "server");
    assert_eq!(data["not_before"], cert_a["not_before"]);
    assert_eq!(data["not_after"], cert_a["not_after"]);
    assert_eq!(
        data["created_by"],
        json!({"type": "user", "id": w.admin_a.0, "name": "admin_a"})
    );
    assert!(
        body["created_at"].as_str().unwrap().ends_with('Z'),
        "{body}"
    );
    let revoked = of_type(&got, "certificate.revoked");
    assert_eq!(revoked.len(), 1, "{got:?}");
    let data = &revoked[0].json()["data"];
    assert_eq!(data["reason"], "keyCompromise");
    assert_eq!(data["reason_code"], 1);
    assert_eq!(data["revoked_at"], revoked_a["revoked_at"]);
    assert_eq!(data["revoked_by"]["name"], "admin_a");
    // Each is recorded delivered on the first attempt, under the id it was sent with.
    let done = wait_deliveries(&s, adm_a, w.org_a, id(&ha), "A's deliveries", |d| {
        d.len() == 2 && d.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    let mut sent: Vec<String> = got.iter().map(Received::event_id).collect();
    let mut recorded: Vec<String> = done
        .iter()
        .map(|d| {
            assert_eq!(d["attempts"], 1, "{d}");
            assert_eq!(d["last_status_code"], 200, "{d}");
            assert!(d["delivered_at"].is_string() && d["next_attempt_at"].is_null());
            d["event_id"].as_str().unwrap().to_string()
        })
        .collect();
    sent.sort();
    recorded.sort();
    assert_eq!(sent, recorded);

    // The openssl check does tell a wrong key.
    let other = got[0].clone();
    assert!(std::panic::catch_unwind(|| verify_with_openssl(&secret_b, &other)).is_err());

    // B's webhook: the revocation only; no delivery was even made of its issuance.
    let got = rb
        .wait_until(WAIT, "B's revocation", |r| !r.is_empty())
        .await;
    check_request(&got[0], &secret_b, "/b");
    assert_eq!(got[0].event_type(), "certificate.revoked");
    assert_eq!(got[0].json()["data"]["id"], id(&cert_b));
    let made = wait_deliveries(&s, adm_b, w.org_b, id(&hb), "B's delivery", |d| {
        d.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(made[0]["event_type"], "certificate.revoked");

    // WEBHOOK_URLS: every event of every organization, signed with WEBHOOK_SECRET.
    let got = global
        .wait_until(WAIT, "all four events", |r| r.len() >= 4)
        .await;
    let mut seen: Vec<(String, i64)> = got
        .iter()
        .map(|r| {
            check_request(r, SECRET, "/all");
            (r.event_type(), r.json()["data"]["id"].as_i64().unwrap())
        })
        .collect();
    seen.sort();
    let mut want = vec![
        ("certificate.issued".to_string(), id(&cert_a)),
        ("certificate.revoked".to_string(), id(&cert_a)),
        ("certificate.issued".to_string(), id(&cert_b)),
        ("certificate.revoked".to_string(), id(&cert_b)),
    ];
    want.sort();
    assert_eq!(seen, want);
    // The same event, signed twice: one id for A's webhook and WEBHOOK_URLS.
    let a_ids: Vec<String> = ra.received().iter().map(Received::event_id).collect();
    for id in &a_ids {
        assert!(got.iter().any(|r| &r.event_id() == id), "{id}");
    }
}

#[tokio::test]
async fn webhooks_are_retried_with_backoff_until_delivered_or_out_of_attempts() {
    let s = Server::start_with(&[
        ("WEBHOOK_RETRY_BASE_SECONDS", "1"),
        ("WEBHOOK_MAX_ATTEMPTS", "3"),
    ])
    .await;
    let w = World::build(&s).await;
    let adm = w.admin_a.1.as_str();
    let flaky = Receiver::start().await;
    flaky.answer(&[500, 500]);
    let down = Receiver::start().await;
    down.answer_always(503);
    let h1 = hook(
        &s,
        adm,
        w.org_a,
        json!({"url": flaky.url("/flaky"), "events": ["certificate.issued"]}),
    )
    .await;
    let h2 = hook(
        &s,
        adm,
        w.org_a,
        json!({"url": down.url("/down"), "events": ["certificate.issued"]}),
    )
    .await;
    let ca = id(&s.create_ca(adm, "Retry CA", json!({})).await);
    let started = std::time::Instant::now();
    s.issue(adm, ca, "retry.example.com", "server", json!({}))
        .await;

    // 500, 500, then 200: the same event (one webhook-id) three times, each
    // attempt signed anew, the pauses growing (1 s, then 2 s).
    let got = flaky
        .wait_until(WAIT, "three attempts", |r| r.len() >= 3)
        .await;
    assert_eq!(
        got.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    let secret = h1["secret"].as_str().unwrap();
    for r in &got {
        check_request(r, secret, "/flaky");
        assert_eq!(r.event_id(), got[0].event_id());
    }
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "two pauses of 1 s and 2 s"
    );
    let d = wait_deliveries(
        &s,
        adm,
        w.org_a,
        id(&h1),
        "delivered on the third attempt",
        |d| d.first().is_some_and(|d| d["status"] == "delivered"),
    )
    .await;
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["attempts"], 3, "{:?}", d[0]);
    assert_eq!(d[0]["last_status_code"], 200);
    assert_eq!(d[0]["event_id"], got[0].event_id());

    // Always 503: failed after WEBHOOK_MAX_ATTEMPTS, saying why.
    let d = wait_deliveries(&s, adm, w.org_a, id(&h2), "failed after 3 attempts", |d| {
        d.first().is_some_and(|d| d["status"] == "failed")
    })
    .await;
    assert_eq!(d[0]["attempts"], 3, "{:?}", d[0]);
    assert_eq!(d[0]["last_status_code"], 503);
    assert!(d[0]["next_attempt_at"].is_null(), "{:?}", d[0]);
    let error = d[0]["last_error"].as_str().unwrap();
    assert!(
        error.contains("503") && error.contains("answered"),
        "{error}"
    );
    assert_eq!(down.received().len(), 3);

    // A receiver that is not there: the attempt fails, is recorded and retried.
    let gone = Receiver::start().await;
    let url = gone.url("/gone");
    drop(gone);
    let h3 = hook(
        &s,
        adm,
        w.org_a,
        json!({"url": url, "events": ["certificate.issued"]}),
    )
    .await;
    s.issue(adm, ca, "nobody.example.com", "server", json!({}))
        .await;
    let d = wait_deliveries(
        &s,
        adm,
        w.org_a,
        id(&h3),
        "a refused connection recorded",
        |d| d.first().is_some_and(|d| d["last_error"].is_string()),
    )
    .await;
    assert!(d[0]["last_status_code"].is_null(), "{:?}", d[0]);

    // The counter of outcomes.
    let metrics = s.raw("/metrics", None).await.text();
    for outcome in ["delivered", "retried", "failed"] {
        assert!(
            metrics.contains(&format!(
                "fastpki_webhook_deliveries_total{{outcome=\"{outcome}\"}}"
            )),
            "{outcome}"
        );
    }
}

#[tokio::test]
async fn webhooks_are_managed_by_the_organizations_admins_only() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let path = format!("/organizations/{}/webhooks", w.org_a);
    let body = json!({"url": "https://hooks.example.com/fastpki"});
    let (_, sa_token) = s
        .service_account(&w.root, "robot", json!({"organization_id": w.org_a}))
        .await;
    // Another organization's admin, a plain member, a service account: refused, as
    // PUT /organizations/{id} refuses them.
    for (who, token, status) in [
        ("admin of B", w.admin_b.1.as_str(), 403),
        ("user of A", w.user_a.1.as_str(), 403),
        ("user without organization", w.orphan.1.as_str(), 403),
        ("service account of A", sa_token.as_str(), 403),
    ] {
        let got = s.post(&path, Some(token), body.clone()).await;
        assert_eq!(got.0.as_u16(), status, "{who}: {}", got.1);
        let got = s.get(&path, Some(token)).await;
        assert_eq!(got.0.as_u16(), status, "{who} listing: {}", got.1);
    }
    expect(s.post(&path, None, body.clone()).await, 401);
    expect(
        s.post(
            "/organizations/999999/webhooks",
            Some(&w.root),
            body.clone(),
        )
        .await,
        404,
    );
    // A's admin and a superuser may.
    let h = hook(&s, &w.admin_a.1, w.org_a, body.clone()).await;
    let by_root = hook(&s, &w.root, w.org_a, body.clone()).await;
    let one = format!("{path}/{}", id(&h));
    for (who, token) in [
        ("admin of B", w.admin_b.1.as_str()),
        ("user of A", w.user_a.1.as_str()),
    ] {
        for (method, p) in [
            (Method::GET, one.clone()),
            (Method::DELETE, one.clone()),
            (Method::POST, format!("{one}/rotate-secret")),
            (Method::GET, format!("{one}/deliveries")),
        ] {
            let got = s.call(method.clone(), &p, Some(token), None).await;
            assert_eq!(got.0.as_u16(), 403, "{who}: {method} {p}: {}", got.1);
        }
    }
    // A's webhook is not B's, even to B's admin on B's own path.
    let foreign = format!("/organizations/{}/webhooks/{}", w.org_b, id(&h));
    expect(s.get(&foreign, Some(&w.admin_b.1)).await, 404);
    expect(s.delete(&foreign, Some(&w.admin_b.1)).await, 404);
    expect(s.get(&format!("{path}/999999"), Some(&w.root)).await, 404);

    // A new secret, shown once; the old one is gone.
    let rotated = expect(
        s.post(
            &format!("{one}/rotate-secret"),
            Some(&w.admin_a.1),
            json!({}),
        )
        .await,
        200,
    );
    assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_ne!(rotated["secret"], h["secret"]);
    assert_eq!(rotated["id"], h["id"]);
    expect(
        s.delete(&format!("{path}/{}", id(&by_root)), Some(&w.admin_a.1))
            .await,
        204,
    );
    expect(
        s.delete(&format!("{path}/{}", id(&by_root)), Some(&w.admin_a.1))
            .await,
        404,
    );

    // Each change wrote one entry, filed under the organization.
    for (action, rid) in [
        ("webhook_create", id(&h)),
        ("webhook_rotate_secret", id(&h)),
        ("webhook_delete", id(&by_root)),
    ] {
        let entries = s.audit_for(&w.root, action, rid).await;
        assert_eq!(entries.len(), 1, "{action}: {entries:?}");
        assert_eq!(entries[0]["resource_type"], "webhook");
        assert_eq!(entries[0]["organization_id"], w.org_a);
        assert!(!entries[0].to_string().contains("whsec_"), "{entries:?}");
    }

    // What a URL may be, with a detail that says why.
    for (url, says) in [
        ("ftp://hooks.example.com/", "http:// or https://"),
        (
            "https://user:pw@hooks.example.com/",
            "user name or password",
        ),
        ("hooks.example.com/in", "not a URL"),
        ("https://hooks.example.com/#frag", "fragment"),
        (
            "http://169.254.169.254/latest",
            "not an allowed webhook address",
        ),
        (
            "http://[::ffff:169.254.169.254]/",
            "not an allowed webhook address",
        ),
    ] {
        let v = expect(
            s.post(&path, Some(&w.admin_a.1), json!({"url": url})).await,
            422,
        );
        assert!(v.to_string().contains(says), "{url}: {v}");
        assert!(!v.to_string().contains("pw@"), "{v}");
    }
    for events in [
        json!([]),
        json!(["certificate.deleted"]),
        json!("certificate.issued"),
    ] {
        let v = expect(
            s.post(
                &path,
                Some(&w.admin_a.1),
                json!({"url": "https://h.example.com/", "events": events}),
            )
            .await,
            422,
        );
        assert!(v.to_string().contains("events"), "{v}");
    }
    // At most 20 per organization.
    for _ in 0..19 {
        hook(&s, &w.admin_a.1, w.org_a, body.clone()).await;
    }
    let v = expect(s.post(&path, Some(&w.admin_a.1), body.clone()).await, 400);
    assert!(v["detail"].as_str().unwrap().contains("at most 20"), "{v}");
    let page = expect(
        s.get(&format!("{path}?limit=5&skip=18"), Some(&w.admin_a.1))
            .await,
        200,
    );
    assert_eq!(page.as_array().unwrap().len(), 2);
}

/// One `certificate.expiring` per certificate and threshold (and one
/// `ca.expiring` per CA and threshold), whatever the number of scans and
/// restarts: a certificate first seen 4 days from its end gets the 7-day event
/// only; it gets the 1-day event once it is inside a day.
#[tokio::test]
async fn webhooks_expiry_events_are_sent_once_per_threshold() {
    let r = Receiver::start().await;
    let settings = [
        ("EXPIRY_WARNING_DAYS", "30,7,1"),
        ("EXPIRY_SCAN_INTERVAL_SECONDS", "1"),
        ("WEBHOOK_RETRY_BASE_SECONDS", "1"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let db = test_support::database::fresh_database(dir.path(), "the webhook expiry test").await;
    let s = Server::start_on(db.clone(), &settings).await;
    let root = s.bootstrap().await;
    let org = s.create_org(&root, "expiring").await;
    let (_, adm) = s
        .create_user(&root, "adm", "admin", Some(org), json!({}))
        .await;
    let h = hook(
        &s,
        &adm,
        org,
        json!({"url": r.url("/expiry"), "events": ["certificate.expiring", "ca.expiring"]}),
    )
    .await;
    let secret = h["secret"].as_str().unwrap().to_string();
    let ca = id(&s.create_ca(&adm, "Long CA", json!({})).await);
    let short_ca = id(&s
        .create_ca(&adm, "Short CA", json!({"valid_days": 5}))
        .await);
    let in5 = id(&s
        .issue(
            &adm,
            ca,
            "in5.example.com",
            "server",
            json!({"valid_days": 5}),
        )
        .await);
    let in20 = id(&s
        .issue(
            &adm,
            ca,
            "in20.example.com",
            "server",
            json!({"valid_days": 20}),
        )
        .await);
    s.issue(
        &adm,
        ca,
        "in90.example.com",
        "server",
        json!({"valid_days": 90}),
    )
    .await;
    let gone = id(&s
        .issue(
            &adm,
            ca,
            "revoked.example.com",
            "server",
            json!({"valid_days": 5}),
        )
        .await);
    expect(
        s.post(
            &format!("/certificates/{gone}/revoke"),
            Some(&adm),
            json!({}),
        )
        .await,
        200,
    );

    // (type, id, threshold, days left) of what arrived.
    let facts = |got: &[Received]| -> Vec<(String, i64, i64, i64)> {
        let mut f: Vec<_> = got
            .iter()
            .map(|r| {
                let d = r.json()["data"].clone();
                (
                    r.event_type(),
                    d["id"].as_i64().unwrap(),
                    d["threshold_days"].as_i64().unwrap(),
                    d["days_left"].as_i64().unwrap(),
                )
            })
            .collect();
        f.sort();
        f
    };
    let want = vec![
        ("ca.expiring".to_string(), short_ca, 7, 4),
        ("certificate.expiring".to_string(), in5, 7, 4),
        ("certificate.expiring".to_string(), in20, 30, 19),
    ];
    let got = r
        .wait_until(WAIT, "three expiry events", |g| g.len() >= 3)
        .await;
    assert_eq!(facts(&got), want);
    for e in &got {
        check_request(e, &secret, "/expiry");
        let body = e.json();
        assert_eq!(body["organization_id"], org);
        assert!(body["data"]["not_after"].is_string() && body["data"]["serial_number"].is_string());
    }
    let cert_event = got
        .iter()
        .find(|e| e.json()["data"]["id"] == in5 && e.event_type() == "certificate.expiring")
        .unwrap();
    assert_eq!(cert_event.json()["data"]["common_name"], "in5.example.com");
    assert_eq!(cert_event.json()["data"]["ca_id"], ca);

    // Later scans: a certificate issued now (3 days) is reported by a later
    // scan, which saw the others again and reported nothing new of them.
    let barrier = |cn: &'static str| {
        let (s, adm) = (&s, &adm);
        async move {
            id(&s
                .issue(adm, ca, cn, "server", json!({"valid_days": 3}))
                .await)
        }
    };
    let b1 = barrier("barrier1.example.com").await;
    let got = r
        .wait_until(WAIT, "the first barrier", |g| {
            g.iter().any(|e| e.json()["data"]["id"] == b1)
        })
        .await;
    let mut more = want.clone();
    more.push(("certificate.expiring".to_string(), b1, 7, 2));
    more.sort();
    assert_eq!(facts(&got), more);

    // Time passes for in5: now inside a day. The 1-day event, once; never a 30-day one.
    let mut c = connect(&s).await;
    let soon = chrono::Utc::now() + chrono::Duration::hours(12);
    sqlx::query("UPDATE certificates SET not_after = $1 WHERE id = $2")
        .bind(soon.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .bind(in5)
        .execute(&mut c)
        .await
        .unwrap();
    drop(c);
    let got = r
        .wait_until(WAIT, "the 1-day event", |g| g.len() >= 5)
        .await;
    more.push(("certificate.expiring".to_string(), in5, 1, 0));
    more.sort();
    assert_eq!(facts(&got), more);

    // A restart on the same database: nothing is sent again.
    drop(s);
    let s = Server::start_on(db, &settings).await;
    let adm = s.login("adm").await;
    let b2 = id(&s
        .issue(
            &adm,
            ca,
            "barrier2.example.com",
            "server",
            json!({"valid_days": 3}),
        )
        .await);
    let got = r
        .wait_until(WAIT, "the barrier after the restart", |g| {
            g.iter().any(|e| e.json()["data"]["id"] == b2)
        })
        .await;
    more.push(("certificate.expiring".to_string(), b2, 7, 2));
    more.sort();
    assert_eq!(facts(&got), more);
    let ids: std::collections::HashSet<String> = got.iter().map(Received::event_id).collect();
    assert_eq!(ids.len(), got.len(), "each event sent once");
}

/// The event is part of the issuance's transaction: an issuance that fails
/// (here its audit entry cannot be written) leaves no event behind, and the
/// receiver hears nothing of it.
#[tokio::test]
async fn webhooks_a_failed_issuance_writes_no_event() {
    let r = Receiver::start().await;
    let s =
        Server::start_with(&[("WEBHOOK_URLS", &r.url("/all")), ("WEBHOOK_SECRET", SECRET)]).await;
    let root = s.bootstrap().await;
    let ca = id(&s.create_ca(&root, "Tx CA", json!({})).await);
    let mut c = connect(&s).await;
    let pg = s.database_url.starts_with("postgres");
    let trigger: &[&str] = if pg {
        &[
            "CREATE OR REPLACE FUNCTION audit_down() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'audit down'; END $$",
            "CREATE TRIGGER audit_down BEFORE INSERT ON audit_logs FOR EACH ROW EXECUTE FUNCTION audit_down()",
        ]
    } else {
        &[
            "CREATE TRIGGER audit_down BEFORE INSERT ON audit_logs BEGIN SELECT RAISE(ABORT, 'audit down'); END",
        ]
    };
    for sql in trigger {
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
            .execute(&mut c)
            .await
            .unwrap();
    }
    let events_before = count(&mut c, "SELECT COUNT(*) FROM webhook_events").await;
    let (status, body) = s
        .post(
            &format!("/certificates/?ca_id={ca}"),
            Some(&root),
            cert_body("lost.example.com", "server", json!({})),
        )
        .await;
    assert!(status.is_server_error(), "{status}: {body}");
    assert_eq!(
        count(&mut c, "SELECT COUNT(*) FROM webhook_events").await,
        events_before
    );
    let drop_trigger = if pg {
        "DROP TRIGGER audit_down ON audit_logs"
    } else {
        "DROP TRIGGER audit_down"
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(drop_trigger))
        .execute(&mut c)
        .await
        .unwrap();

    // The same request now commits, with its event.
    let kept = s
        .issue(&root, ca, "kept.example.com", "server", json!({}))
        .await;
    let got = r
        .wait_until(WAIT, "the committed issuance", |g| !g.is_empty())
        .await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].json()["data"]["id"], id(&kept));
    assert_eq!(got[0].json()["data"]["common_name"], "kept.example.com");
    assert_eq!(
        count(&mut c, "SELECT COUNT(*) FROM webhook_events").await,
        events_before + 1
    );
}

/// Without any receiver (no WEBHOOK_URLS, no webhook of the organization), no
/// event is written at all; deleting a CA revokes its certificates, which
/// then reach the webhook as `certificate.revoked` (cessationOfOperation).
#[tokio::test]
async fn webhooks_events_are_written_only_for_a_receiver() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let adm = w.admin_a.1.as_str();
    let ca = id(&s.create_ca(adm, "Quiet CA", json!({})).await);
    s.issue(adm, ca, "quiet.example.com", "server", json!({}))
        .await;
    let mut c = connect(&s).await;
    assert_eq!(
        count(&mut c, "SELECT COUNT(*) FROM webhook_events").await,
        0
    );

    // B's webhook does not make A's events recorded.
    let rb = Receiver::start().await;
    hook(&s, &w.admin_b.1, w.org_b, json!({"url": rb.url("/b")})).await;
    s.issue(adm, ca, "still-quiet.example.com", "server", json!({}))
        .await;
    assert_eq!(
        count(&mut c, "SELECT COUNT(*) FROM webhook_events").await,
        0
    );

    // A's webhook for revocations only: issuances are not recorded, revocations are.
    let ra = Receiver::start().await;
    let h = hook(
        &s,
        adm,
        w.org_a,
        json!({"url": ra.url("/a"), "events": ["certificate.revoked"]}),
    )
    .await;
    let doomed = id(&s.create_ca(adm, "Doomed CA", json!({})).await);
    let live: Vec<i64> = futures::future::join_all((0..3).map(|i| {
        let s = &s;
        async move {
            id(&s
                .issue(
                    adm,
                    doomed,
                    &format!("live{i}.example.com"),
                    "server",
                    json!({}),
                )
                .await)
        }
    }))
    .await;
    assert_eq!(
        count(&mut c, "SELECT COUNT(*) FROM webhook_events").await,
        0
    );
    expect(s.delete(&format!("/cas/{doomed}"), Some(adm)).await, 204);
    let got = ra
        .wait_until(WAIT, "three revocations", |g| g.len() >= 3)
        .await;
    let mut revoked: Vec<i64> = got
        .iter()
        .map(|r| {
            check_request(r, h["secret"].as_str().unwrap(), "/a");
            assert_eq!(r.event_type(), "certificate.revoked");
            assert_eq!(r.json()["data"]["reason"], "cessationOfOperation");
            assert_eq!(r.json()["data"]["reason_code"], 5);
            r.json()["data"]["id"].as_i64().unwrap()
        })
        .collect();
    revoked.sort();
    let mut want = live.clone();
    want.sort();
    assert_eq!(revoked, want);
    assert!(rb.received().is_empty());
}

/// Webhook secrets are keys at rest like private keys: sealed when
/// `PRIVATE_KEY_ENCRYPTION_KEY` is set, sealed at start when stored without
/// it, and re-sealed by `rotate-key`; deliveries are signed with the secret
/// as made.
#[tokio::test]
async fn webhooks_secrets_are_sealed_at_rest_and_rotated() {
    use fastpki::service::key_rotation::{check_at_start, rotate};
    use fastpki::service::keystore::KeyStore;
    use fastpki::service::webhooks::signing::open_secret;
    const FERNET: &str = "ZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmQ=";
    const OTHER: &str = "YWJjZGFiY2RhYmNkYWJjZGFiY2RhYmNkYWJjZGFiY2Q=";
    async fn stored(c: &mut sqlx::AnyConnection, id: i64) -> String {
        sqlx::query_scalar("SELECT secret FROM webhooks WHERE id = $1")
            .bind(id)
            .fetch_one(c)
            .await
            .unwrap()
    }

    // Sealed as written.
    let r = Receiver::start().await;
    let s = Server::start_with(&[("PRIVATE_KEY_ENCRYPTION_KEY", FERNET)]).await;
    let w = World::build(&s).await;
    let h = hook(&s, &w.admin_a.1, w.org_a, json!({"url": r.url("/sealed")})).await;
    let secret = h["secret"].as_str().unwrap();
    let mut c = connect(&s).await;
    let sealed = stored(&mut c, id(&h)).await;
    assert!(sealed.starts_with("gAAAAA"), "{sealed}");
    assert!(!sealed.contains(secret));
    let ca = id(&s.create_ca(&w.admin_a.1, "Sealed CA", json!({})).await);
    s.issue(&w.admin_a.1, ca, "sealed.example.com", "server", json!({}))
        .await;
    let got = r.wait_until(WAIT, "a delivery", |g| !g.is_empty()).await;
    check_request(&got[0], secret, "/sealed");

    // Stored as made without a key; sealed at the next start with one; rotated.
    let s = Server::start().await;
    let w = World::build(&s).await;
    let h = hook(
        &s,
        &w.admin_a.1,
        w.org_a,
        json!({"url": "https://hooks.example.com/"}),
    )
    .await;
    let secret = h["secret"].as_str().unwrap();
    let mut c = connect(&s).await;
    assert_eq!(stored(&mut c, id(&h)).await, secret);
    let a = KeyStore::new(Some(FERNET)).unwrap();
    check_at_start(&mut c, &a).await.unwrap();
    let sealed = stored(&mut c, id(&h)).await;
    assert!(sealed.starts_with("gAAAAA"), "{sealed}");
    assert_eq!(open_secret(&a, &sealed).unwrap(), secret);
    let backend = if s.database_url.starts_with("postgres") {
        fastpki::config::Backend::Postgres
    } else {
        fastpki::config::Backend::Sqlite
    };
    let pool = fastpki::store::Db::connect(&s.database_url, backend)
        .await
        .unwrap();
    let b = KeyStore::new(Some(OTHER)).unwrap();
    rotate(&pool, &a, &b).await.unwrap();
    let rotated = stored(&mut c, id(&h)).await;
    assert!(rotated.starts_with("gAAAAA") && rotated != sealed);
    assert_eq!(open_secret(&b, &rotated).unwrap(), secret);
    assert!(open_secret(&a, &rotated).is_err());
}
