//! Certificates by expiry: `GET /certificates/?expiring_within_days=N` with and
//! without `status=valid`, the `status` filter on its own, their scope, paging
//! and 422s, and that the database reads them on `certificates_not_after`.

use serde_json::{Value, json};

use crate::common::*;

/// Issues a certificate valid `days` days on `ca`; returns its id.
async fn issue_days(s: &Server, token: &str, ca: i64, cn: &str, days: i64) -> i64 {
    id(&s
        .issue(token, ca, cn, "server", json!({"valid_days": days}))
        .await)
}

/// The ids a list query answers (200 expected).
async fn listed(s: &Server, token: &str, query: &str) -> Vec<i64> {
    ids(&expect(
        s.get(&format!("/certificates/?{query}"), Some(token)).await,
        200,
    ))
}

#[tokio::test]
async fn expiring_within_days_lists_what_needs_renewal() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = w.admin_a.1.as_str();
    let ca_a = id(&s.create_ca(a, "A", json!({})).await);
    let ca_b = id(&s.create_ca(&w.admin_b.1, "B", json!({})).await);
    let soon5 = issue_days(&s, a, ca_a, "in5.example.com", 5).await;
    let soon20 = issue_days(&s, a, ca_a, "in20.example.com", 20).await;
    let later = issue_days(&s, a, ca_a, "in90.example.com", 90).await;
    let revoked5 = issue_days(&s, a, ca_a, "revoked.example.com", 5).await;
    expect(
        s.post(
            &format!("/certificates/{revoked5}/revoke"),
            Some(a),
            json!({}),
        )
        .await,
        200,
    );
    // Expired yesterday: a valid row past its not_after.
    let expired = issue_days(&s, a, ca_a, "expired.example.com", 5).await;
    let yesterday = chrono::Utc::now() - chrono::Duration::days(1);
    sqlx::query("UPDATE certificates SET not_after = $1 WHERE id = $2")
        .bind(yesterday.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .bind(expired)
        .execute(&mut s.database().await)
        .await
        .expect("backdate a certificate");
    let other_org = issue_days(&s, &w.admin_b.1, ca_b, "b5.example.com", 5).await;

    // Whole lists (streamed) and pages give the same rows.
    for page in ["", "&limit=100"] {
        let q = |f: &str| format!("{f}{page}");
        assert_eq!(
            listed(&s, a, &q("expiring_within_days=7&status=valid")).await,
            [soon5]
        );
        assert_eq!(
            listed(&s, a, &q("expiring_within_days=30&status=valid")).await,
            [soon5, soon20]
        );
        assert_eq!(
            listed(&s, a, &q("expiring_within_days=30")).await,
            [soon5, soon20, revoked5],
            "without status=valid, revoked certificates expiring soon are listed too; expired ones never"
        );
        assert_eq!(
            listed(&s, a, &q("status=valid")).await,
            [soon5, soon20, later]
        );
        assert_eq!(listed(&s, a, &q("status=revoked")).await, [revoked5]);
        assert_eq!(listed(&s, a, &q("status=expired")).await, [expired]);
        assert_eq!(
            listed(&s, a, &q(&format!("expiring_within_days=7&ca_id={ca_b}"))).await,
            Vec::<i64>::new(),
            "another organization's CA shows nothing"
        );
        assert_eq!(
            listed(&s, &w.root, &q("expiring_within_days=7&status=valid")).await,
            [soon5, other_org],
            "a superuser sees every organization"
        );
        assert_eq!(
            listed(
                &s,
                &w.root,
                &q(&format!("expiring_within_days=7&status=valid&ca_id={ca_b}"))
            )
            .await,
            [other_org]
        );
        assert_eq!(
            listed(&s, &w.orphan.1, &q("expiring_within_days=30")).await,
            Vec::<i64>::new()
        );
    }
    let body = expect(
        s.get(
            "/certificates/?expiring_within_days=7&status=valid",
            Some(a),
        )
        .await,
        200,
    );
    assert_eq!(body[0]["status"], "valid");
    assert_eq!(body[0]["common_name"], "in5.example.com");

    // The Link header carries the filters to the next page.
    let first = s
        .raw(
            "/certificates/?expiring_within_days=30&status=valid&limit=1",
            Some(a),
        )
        .await;
    assert_eq!(first.status, 200);
    let page: Value = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(ids(&page), [soon5]);
    let link = first.header("link").to_string();
    assert!(
        link.contains("expiring_within_days=30") && link.contains("status=valid"),
        "{link}"
    );
    let next = link
        .strip_prefix('<')
        .and_then(|l| l.split_once('>'))
        .map(|(url, _)| url.strip_prefix(&s.api).expect("under the API").to_string())
        .expect("a next URL");
    assert_eq!(
        listed(&s, a, next.trim_start_matches("/certificates/?")).await,
        [soon20]
    );
}

#[tokio::test]
async fn bad_expiry_and_status_filters_are_422() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    for q in [
        "expiring_within_days=0",
        "expiring_within_days=-3",
        "expiring_within_days=36501",
        "expiring_within_days=soon",
        "status=bogus",
        "status=VALID",
    ] {
        let v = expect(
            s.get(&format!("/certificates/?{q}"), Some(&root)).await,
            422,
        );
        let field = q.split('=').next().unwrap();
        assert_eq!(v["detail"][0]["loc"], json!(["query", field]), "{q}: {v}");
    }
    expect(
        s.get("/certificates/?expiring_within_days=36500", Some(&root))
            .await,
        200,
    );
}

/// The expiry queries read `certificates_not_after` (the migration made it on
/// both databases): the list's statement for each scope, and the per-CA counts
/// of `/metrics`, are asked for their plans. PostgreSQL is told to avoid
/// sequential scans, which on a table this small it would otherwise prefer.
#[tokio::test]
async fn expiry_queries_read_the_not_after_index() {
    use fastpki::store::certs::{Bound, CertFilter, EXPIRING_PER_ISSUER, StatusFilter, list_query};
    let s = Server::start().await;
    let mut c = s.database().await;
    let postgres = s.database_url.starts_with("postgres");
    if postgres {
        sqlx::query("SET enable_seqscan = off")
            .execute(&mut c)
            .await
            .unwrap();
    }
    let now = "2026-01-01T00:00:00.000000Z".to_string();
    let by = "2026-02-01T00:00:00.000000Z".to_string();
    let base = CertFilter {
        expires_by: Some(by.clone()),
        now: now.clone(),
        limit: 100,
        ..CertFilter::default()
    };
    let mut statements = vec![];
    for (all, org, ca, status) in [
        (true, None, None, Some(StatusFilter::Valid)),
        (true, None, None, None),
        (true, None, Some(3), Some(StatusFilter::Valid)),
        (false, Some(2), None, Some(StatusFilter::Valid)),
        (false, Some(2), Some(3), None),
    ] {
        statements.push(list_query(&CertFilter {
            all_organizations: all,
            organization_id: org,
            issuer_id: ca,
            status,
            ..base.clone()
        }));
    }
    statements.push((
        EXPIRING_PER_ISSUER.to_string(),
        vec![
            Bound::Text(now.clone()),
            Bound::Text(by.clone()),
            Bound::Text(by),
        ],
    ));
    for (sql, values) in statements {
        let explain = if postgres {
            format!("EXPLAIN {sql}")
        } else {
            format!("EXPLAIN QUERY PLAN {sql}")
        };
        let mut q = sqlx::query(sqlx::AssertSqlSafe(explain));
        for v in values {
            q = match v {
                Bound::Int(i) => q.bind(i),
                Bound::Text(t) => q.bind(t),
            };
        }
        let rows = q.fetch_all(&mut c).await.expect("explain");
        let plan: Vec<String> = rows
            .iter()
            .map(|r| {
                use sqlx::Row;
                // SQLite: (id, parent, notused, detail); PostgreSQL: one text column.
                r.try_get::<String, _>(if postgres { 0 } else { 3 })
                    .unwrap_or_default()
            })
            .collect();
        let reads_range = |l: &String| {
            l.contains("certificates_not_after")
                && (l.contains("not_after>?") || l.contains("Index Cond") || postgres)
        };
        assert!(plan.iter().any(reads_range), "{sql}\n{plan:#?}");
        assert!(
            !plan.iter().any(|l| l.starts_with("SCAN certificates")
                && !l.contains("certificates_not_after")
                || l.contains("Seq Scan")),
            "{sql}\n{plan:#?}"
        );
    }
}
