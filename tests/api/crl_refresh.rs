//! CRLs are re-signed before their nextUpdate: once past half their validity
//! (`CRL_VALIDITY_DAYS`), the refresh (`service::crl::refresh_due`, run by the
//! server every 10 minutes) signs a new CRL with a higher number, a later
//! thisUpdate and nextUpdate, and the same revoked serials. The refresh takes
//! the time as a parameter, so the test stands 11 and 13 hours later instead
//! of waiting for them.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde_json::json;

use crate::common::*;

/// A CRL as `openssl crl -text` reads it.
#[derive(Debug, PartialEq)]
struct Crl {
    number: u64,
    this_update: DateTime<Utc>,
    next_update: DateTime<Utc>,
    serials: Vec<String>,
}

fn parse_openssl_time(line: &str, key: &str) -> DateTime<Utc> {
    let t = line.trim().trim_start_matches(key).trim_end_matches(" GMT");
    NaiveDateTime::parse_from_str(t.trim(), "%b %e %H:%M:%S %Y")
        .unwrap_or_else(|e| panic!("{line}: {e}"))
        .and_utc()
}

fn read_crl(f: &Files, pem: &str) -> Crl {
    let p = f.write("read.crl", pem);
    let text = openssl_ok(&["crl", "-in", &p, "-noout", "-text"]);
    let mut lines = text.lines().map(str::trim);
    let mut number = None;
    let (mut this_update, mut next_update) = (None, None);
    let mut serials = Vec::new();
    while let Some(l) = lines.next() {
        if l.starts_with("X509v3 CRL Number") {
            number = lines.next().map(|n| n.parse().expect("decimal CRL number"));
        } else if l.starts_with("Last Update:") {
            this_update = Some(parse_openssl_time(l, "Last Update:"));
        } else if l.starts_with("Next Update:") {
            next_update = Some(parse_openssl_time(l, "Next Update:"));
        } else if let Some(s) = l.strip_prefix("Serial Number:") {
            serials.push(s.trim().to_lowercase());
        }
    }
    serials.sort();
    Crl {
        number: number.expect("a CRL number"),
        this_update: this_update.expect("thisUpdate"),
        next_update: next_update.expect("nextUpdate"),
        serials,
    }
}

/// The CRL a CA publishes, PEM.
async fn served_crl(s: &Server, slug: &str) -> String {
    let r = s.raw(&format!("/crl/{slug}.pem"), None).await;
    assert_eq!(r.status, 200, "CRL of {slug}: {}", r.text());
    r.text()
}

#[tokio::test]
async fn crls_are_re_signed_past_half_their_validity() {
    let mut captured = None;
    let s = Server::start_tweaked(&[("CRL_VALIDITY_DAYS", "1")], |st| {
        captured = Some(st.clone())
    })
    .await;
    let state = captured.expect("the server's state");
    let root = s.bootstrap().await;
    let ca = s.create_ca(&root, "Refresh Root", json!({})).await;
    let ca_id = id(&ca);
    let slug = format!("refresh-root-{ca_id}");
    let mut want_serials = Vec::new();
    let mut leaves = Vec::new();
    for n in 0..3 {
        let leaf = s
            .issue(
                &root,
                ca_id,
                &format!("r{n}.example.com"),
                "server",
                json!({}),
            )
            .await;
        leaves.push(leaf["certificate"].as_str().unwrap().to_string());
        if n < 2 {
            expect(
                s.post(
                    &format!("/certificates/{}/revoke", id(&leaf)),
                    Some(&root),
                    json!({"reason": "keyCompromise"}),
                )
                .await,
                200,
            );
            want_serials.push(leaf["serial_number"].as_str().unwrap().to_lowercase());
        }
    }
    want_serials.sort();
    let f = Files::new();
    let first_pem = served_crl(&s, &slug).await;
    let first = read_crl(&f, &first_pem);
    assert_eq!(first.serials, want_serials);
    assert_eq!(first.next_update - first.this_update, Duration::days(1));
    let now = Utc::now();

    // Before half its validity, a CRL is left alone.
    let done = fastpki::service::crl::refresh_due(&state, now + Duration::hours(11))
        .await
        .expect("refresh");
    assert_eq!(done, 0, "a CRL re-signed before half its validity");
    assert_eq!(served_crl(&s, &slug).await, first_pem);

    // Past half its validity, it is re-signed and served at once.
    let later = now + Duration::hours(13);
    let done = fastpki::service::crl::refresh_due(&state, later)
        .await
        .expect("refresh");
    assert_eq!(done, 1, "the one CA's CRL is re-signed");
    let second_pem = served_crl(&s, &slug).await;
    let second = read_crl(&f, &second_pem);
    assert!(
        second.number > first.number,
        "re-signed CRL numbered {} after {}",
        second.number,
        first.number
    );
    assert!(
        second.this_update > first.this_update && second.next_update > first.next_update,
        "{first:?} then {second:?}"
    );
    assert!(
        (second.this_update - later).num_seconds().abs() <= 1,
        "thisUpdate {} is the refresh time {later}",
        second.this_update
    );
    assert_eq!(second.next_update - second.this_update, Duration::days(1));
    assert_eq!(second.serials, want_serials, "the same revoked serials");
    let ca_file = f.write("ca.pem", ca["certificate"].as_str().unwrap());
    let crl_file = f.write("second.crl", &second_pem);
    let out = openssl_ok(&[
        "crl", "-in", &crl_file, "-CAfile", &ca_file, "-noout", "-verify",
    ]);
    assert!(out.contains("verify OK"), "{out}");
    // At the refresh time, a relying party checking with the new CRL accepts
    // the valid leaf and refuses the revoked ones.
    let at = later.timestamp().to_string();
    for (n, leaf) in leaves.iter().enumerate() {
        let leaf_file = f.write(&format!("leaf{n}.pem"), leaf);
        let (ok, out) = openssl(&[
            "verify",
            "-crl_check",
            "-attime",
            &at,
            "-CAfile",
            &ca_file,
            "-CRLfile",
            &crl_file,
            &leaf_file,
        ]);
        if n < 2 {
            assert!(
                !ok && out.contains("certificate revoked"),
                "leaf {n}: {out}"
            );
        } else {
            assert!(ok, "leaf {n}: {out}");
        }
    }

    // Once re-signed, it is not due again at that time.
    let done = fastpki::service::crl::refresh_due(&state, later)
        .await
        .expect("refresh");
    assert_eq!(done, 0, "re-signed twice");
    assert_eq!(served_crl(&s, &slug).await, second_pem);
}
