//! Lists: by keyset cursor (`after_id` and the `Link: rel="next"` header,
//! which must walk every row of the caller's scope exactly once), and whole
//! (no `limit`: every row in scope, streamed, as FastPKI 0.4 answers).

use serde_json::{Value, json};

use crate::common::*;

/// The URL of `rel="next"`, if the answer has one.
fn next_link(r: &Raw) -> Option<String> {
    let link = r.headers.get("link")?.to_str().expect("ASCII Link");
    let url = link
        .strip_prefix('<')
        .and_then(|l| l.strip_suffix(">; rel=\"next\""))
        .unwrap_or_else(|| panic!("unexpected Link header {link:?}"));
    Some(url.to_string())
}

/// Follows `rel="next"` from `first` and returns every id seen, page by page.
async fn walk(s: &Server, token: &str, first: &str) -> Vec<Vec<i64>> {
    let mut pages = vec![];
    let mut path = first.to_string();
    loop {
        let r = s.raw(&path, Some(token)).await;
        assert_eq!(
            r.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let page: Value = serde_json::from_slice(&r.body).expect("JSON list");
        pages.push(ids(&page));
        match next_link(&r) {
            Some(url) => {
                path = url
                    .strip_prefix(&s.api)
                    .unwrap_or_else(|| panic!("{url} is not under {}", s.api))
                    .to_string();
            }
            None => return pages,
        }
        assert!(pages.len() < 20, "the Link chain does not end");
    }
}

#[tokio::test]
async fn the_cursor_walks_each_scope_once_and_stops() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a1 = id(&s.create_ca(&w.admin_a.1, "A1", json!({})).await);
    let a2 = id(&s.create_ca(&w.admin_a.1, "A2", json!({})).await);
    let b1 = id(&s.create_ca(&w.admin_b.1, "B1", json!({})).await);
    let mut a = vec![];
    let mut on_a1 = vec![];
    for i in 0..7 {
        let ca = if i % 3 == 0 { a2 } else { a1 };
        let cert = id(&s
            .issue(
                &w.admin_a.1,
                ca,
                &format!("a{i}.example.com"),
                "server",
                json!({}),
            )
            .await);
        a.push(cert);
        if ca == a1 {
            on_a1.push(cert);
        }
        // Interleave another organization's rows.
        s.issue(
            &w.admin_b.1,
            b1,
            &format!("b{i}.example.com"),
            "server",
            json!({}),
        )
        .await;
    }

    // Organization A, 3 per page: 3 + 3 + 1, no link after the short page.
    let pages = walk(&s, &w.user_a.1, "/certificates/?limit=3").await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    assert_eq!(pages.concat(), a);
    // Filtered by CA: the link keeps the filter (on_a1 has 4 rows: 2 + 2 + an empty last page).
    let pages = walk(
        &s,
        &w.user_a.1,
        &format!("/certificates/?ca_id={a1}&limit=2"),
    )
    .await;
    assert_eq!(pages.concat(), on_a1);
    assert_eq!(pages.last(), Some(&vec![]));
    // The superuser's walk covers both organizations, in id order.
    let all = walk(&s, &w.root, "/certificates/?limit=5").await.concat();
    assert_eq!(all.len(), 14);
    assert!(all.windows(2).all(|p| p[0] < p[1]), "{all:?}");

    // A cursor never leaks past the caller's scope: B's ids from A's cursor.
    let after = a[0];
    let from_b = walk(
        &s,
        &w.user_b.1,
        &format!("/certificates/?after_id={after}&limit=100"),
    )
    .await;
    assert!(from_b.concat().iter().all(|c| !a.contains(c)));
    assert_eq!(from_b.concat().len(), 7);
    // A cursor combines with skip (skip counts after the cursor).
    let got = ids(&expect(
        s.get(
            &format!("/certificates/?after_id={}&skip=1&limit=2", a[1]),
            Some(&w.user_a.1),
        )
        .await,
        200,
    ));
    assert_eq!(got, a[3..5].to_vec());
    // Past the end: empty, no link.
    let r = s
        .raw(
            &format!("/certificates/?after_id={}", i64::MAX),
            Some(&w.root),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"[]");
    assert!(next_link(&r).is_none());

    for bad in [
        "after_id=-1",
        "after_id=x",
        "after_id=1e3",
        "after_id=99999999999999999999",
    ] {
        expect(
            s.get(&format!("/certificates/?{bad}"), Some(&w.root)).await,
            422,
        );
    }
}

#[tokio::test]
async fn the_next_link_uses_the_public_base_url() {
    let s = Server::start_with(&[("PUBLIC_BASE_URL", "https://pki.example.com")]).await;
    let root = s.bootstrap().await;
    let ca = id(&s.create_ca(&root, "R", json!({})).await);
    let first = id(&s
        .issue(&root, ca, "one.example.com", "server", json!({}))
        .await);
    s.issue(&root, ca, "two.example.com", "server", json!({}))
        .await;
    let r = s
        .raw(&format!("/certificates/?limit=1&ca_id={ca}"), Some(&root))
        .await;
    assert_eq!(
        next_link(&r).as_deref(),
        Some(
            format!(
                "https://pki.example.com/api/v1/certificates/?after_id={first}&limit=1&ca_id={ca}"
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn the_audit_log_walks_newest_first_by_cursor_with_its_filters() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = id(&s.create_ca(&w.admin_a.1, "A", json!({})).await);
    let b = id(&s.create_ca(&w.admin_b.1, "B", json!({})).await);
    for i in 0..5 {
        s.issue(
            &w.admin_a.1,
            a,
            &format!("a{i}.example.com"),
            "server",
            json!({}),
        )
        .await;
        if i < 3 {
            s.issue(
                &w.admin_b.1,
                b,
                &format!("b{i}.example.com"),
                "server",
                json!({}),
            )
            .await;
        }
    }
    let full = |token: &str, q: &str| {
        let path = format!("/audit-logs/?{q}&limit=1000");
        let token = token.to_string();
        let s = &s;
        async move { ids(&expect(s.get(&path, Some(&token)).await, 200)) }
    };

    // A filter whose value needs escaping (`+` in the offset) survives the link.
    let filter = "action=cert_create&since=2000-01-01T00:00:00%2B00:00";
    let all = full(&w.root, filter).await;
    assert_eq!(all.len(), 8);
    assert!(all.windows(2).all(|p| p[0] > p[1]), "newest first: {all:?}");
    let pages = walk(&s, &w.root, &format!("/audit-logs/?{filter}&limit=3")).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 2]);
    assert_eq!(pages.concat(), all);

    // An admin's walk stays in the organization.
    let mine = full(&w.admin_a.1, "action=cert_create").await;
    assert_eq!(mine.len(), 5);
    let pages = walk(&s, &w.admin_a.1, "/audit-logs/?action=cert_create&limit=5").await;
    assert_eq!(pages.concat(), mine);
    assert_eq!(pages.last(), Some(&vec![]));

    // The cursor by hand; combined with skip.
    let after_two = ids(&expect(
        s.get(
            &format!("/audit-logs/?{filter}&before_id={}&skip=1&limit=2", all[1]),
            Some(&w.root),
        )
        .await,
        200,
    ));
    assert_eq!(after_two, all[3..5].to_vec());
    for bad in ["before_id=0", "before_id=-5", "before_id=x"] {
        expect(
            s.get(&format!("/audit-logs/?{bad}"), Some(&w.root)).await,
            422,
        );
    }
}

/// Issues `n` certificates on `ca`, a few at a time; returns their ids in order.
async fn issue_many(s: &Server, token: &str, ca: i64, prefix: &str, n: usize) -> Vec<i64> {
    let mut out = vec![];
    for batch in (0..n).collect::<Vec<_>>().chunks(16) {
        let made = futures::future::join_all(batch.iter().map(|i| {
            let cn = format!("{prefix}{i}.example.com");
            async move { s.issue(token, ca, &cn, "server", json!({})).await }
        }))
        .await;
        out.extend(made.iter().map(id));
    }
    out.sort_unstable();
    out
}

/// A whole list: 200, JSON, no `Link`; its ids.
async fn whole(s: &Server, token: &str, path: &str) -> Vec<i64> {
    let r = s.raw(path, Some(token)).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    assert_eq!(r.header("content-type"), "application/json");
    assert!(
        next_link(&r).is_none(),
        "{path}: a whole list has no next page"
    );
    let list: Value = serde_json::from_slice(&r.body).expect("a JSON array");
    ids(&list)
}

#[tokio::test]
async fn without_a_limit_every_certificate_in_scope_comes_back() {
    // Small read windows: the list crosses many of them, at odd places.
    let s = Server::start_tweaked(&[], |state| state.list_window = 7).await;
    let w = World::build(&s).await;
    let a1 = id(&s.create_ca(&w.admin_a.1, "A1", json!({})).await);
    let b1 = id(&s.create_ca(&w.admin_b.1, "B1", json!({})).await);
    // More than the 100 a page holds by default.
    let a = issue_many(&s, &w.admin_a.1, a1, "a", 130).await;
    let b = issue_many(&s, &w.admin_b.1, b1, "b", 5).await;
    // Renewals: their lineage comes with each row, across window boundaries.
    for old in [a[6], a[7], a[6]] {
        let (st, v) = s
            .post(
                &format!("/certificates/{old}/renew"),
                Some(&w.admin_a.1),
                json!({}),
            )
            .await;
        assert_eq!(st, 201, "{v}");
    }

    let mine = whole(&s, &w.user_a.1, "/certificates/").await;
    assert_eq!(mine.len(), 133);
    assert_eq!(mine[..130], a[..]);
    assert!(mine.windows(2).all(|p| p[0] < p[1]), "id order");
    assert_eq!(whole(&s, &w.user_b.1, "/certificates/").await, b);
    assert_eq!(
        whole(&s, &w.orphan.1, "/certificates/").await,
        Vec::<i64>::new()
    );
    assert_eq!(whole(&s, &w.root, "/certificates/").await.len(), 138);
    // Filters and scope together; the cursor and skip without a limit.
    let on_a1 = whole(&s, &w.user_a.1, &format!("/certificates/?ca_id={a1}")).await;
    assert_eq!(on_a1, mine);
    let path = format!("/certificates/?ca_id={a1}");
    assert_eq!(whole(&s, &w.user_b.1, &path).await, Vec::<i64>::new());
    assert_eq!(
        whole(&s, &w.user_a.1, "/certificates/?skip=120").await,
        mine[120..]
    );
    let path = format!("/certificates/?after_id={}", a[9]);
    assert_eq!(whole(&s, &w.user_a.1, &path).await, mine[10..]);
    let path = format!("/certificates/?after_id={}&skip=8", a[9]);
    assert_eq!(whole(&s, &w.user_a.1, &path).await, mine[18..]);
    let path = format!("/certificates/?ca_id={b1}&skip=3");
    assert_eq!(whole(&s, &w.root, &path).await, b[3..]);

    // The same objects as the paged list gives, renewals included.
    let streamed = expect(s.get("/certificates/", Some(&w.user_a.1)).await, 200);
    let paged = expect(
        s.get("/certificates/?limit=1000", Some(&w.user_a.1)).await,
        200,
    );
    assert_eq!(streamed, paged);
    let renewed = streamed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == a[6])
        .unwrap();
    assert_eq!(renewed["renewed_to_ids"].as_array().unwrap().len(), 2);

    // With a limit: pages as before.
    let r = s.raw("/certificates/?limit=100", Some(&w.user_a.1)).await;
    assert_eq!(ids(&serde_json::from_slice(&r.body).unwrap()), mine[..100]);
    assert!(next_link(&r).is_some());
    for bad in ["skip=-1", "limit=0", "limit=1001", "after_id=-1", "ca_id=0"] {
        expect(
            s.get(&format!("/certificates/?{bad}"), Some(&w.user_a.1))
                .await,
            422,
        );
    }
}

#[tokio::test]
async fn without_a_limit_every_ca_in_scope_comes_back() {
    let s = Server::start_tweaked(&[], |state| state.list_window = 9).await;
    let w = World::build(&s).await;
    let mut a = vec![];
    for batch in (0..104).collect::<Vec<_>>().chunks(8) {
        let made = futures::future::join_all(batch.iter().map(|i| {
            let (s, name, token) = (&s, format!("A{i}"), &w.admin_a.1);
            async move { s.create_ca(token, &name, json!({})).await }
        }))
        .await;
        a.extend(made.iter().map(id));
    }
    // One more under the first: 105 in organization A.
    a.push(id(&s
        .create_ca(&w.admin_a.1, "A-sub", json!({"parent_ca_id": a[0]}))
        .await));
    a.sort_unstable();
    let b = id(&s.create_ca(&w.admin_b.1, "B", json!({})).await);
    let none = id(&s.create_ca(&w.root, "No organization", json!({})).await);

    assert_eq!(whole(&s, &w.user_a.1, "/cas/").await, a);
    assert_eq!(whole(&s, &w.user_b.1, "/cas/").await, [b]);
    assert_eq!(whole(&s, &w.orphan.1, "/cas/").await, Vec::<i64>::new());
    let all = whole(&s, &w.root, "/cas/").await;
    assert_eq!(all.len(), 107);
    assert!(all.contains(&none) && all.contains(&b));
    assert_eq!(whole(&s, &w.user_a.1, "/cas/?skip=100").await, a[100..]);
    // No private key in a list.
    let list = expect(s.get("/cas/", Some(&w.user_a.1)).await, 200);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|ca| ca.get("private_key").is_none())
    );

    // With a limit: pages as before.
    let page = expect(s.get("/cas/?limit=100", Some(&w.user_a.1)).await, 200);
    assert_eq!(ids(&page), a[..100]);
    let page = expect(
        s.get("/cas/?skip=104&limit=5", Some(&w.user_a.1)).await,
        200,
    );
    assert_eq!(ids(&page), a[104..]);
    for bad in ["skip=-1", "limit=0", "limit=1001", "skip=x"] {
        expect(s.get(&format!("/cas/?{bad}"), Some(&w.user_a.1)).await, 422);
    }
}

/// A row the database cannot give back half-way through a whole list must not
/// yield a shorter list that looks complete: the transfer breaks. Before the
/// first row, it is an ordinary 500. (SQLite only: a column of the wrong type
/// needs its dynamic typing.)
#[tokio::test]
async fn a_database_failure_mid_list_breaks_the_transfer() {
    if std::env::var("FASTPKI_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        return;
    }
    let s = Server::start_tweaked(&[], |state| state.list_window = 2).await;
    let root = s.bootstrap().await;
    let ca = id(&s.create_ca(&root, "R", json!({})).await);
    // Enough rows that the first chunks of the body are out before the bad row.
    let certs = issue_many(&s, &root, ca, "c", 40).await;
    let corrupt = |cert: i64| {
        let url = s.database_url.clone();
        async move {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(&url).await.expect("open");
            sqlx::query("UPDATE certificates SET key_size = 'not a number' WHERE id = $1")
                .bind(cert)
                .execute(&mut c)
                .await
                .expect("corrupt a row");
        }
    };
    corrupt(certs[35]).await;
    let resp = s
        .req(reqwest::Method::GET, "/certificates/", Some(&root))
        .send()
        .await
        .expect("the answer starts");
    assert_eq!(resp.status(), 200);
    let body = resp.bytes().await;
    assert!(body.is_err(), "the body must break, got {body:?}");
    // The paged list fails as a whole, as before.
    let r = s.raw("/certificates/?limit=100", Some(&root)).await;
    assert_eq!(r.status, 500);
    // A failure on the first row: a plain 500 with its JSON detail.
    corrupt(certs[0]).await;
    let r = s.raw("/certificates/", Some(&root)).await;
    assert_eq!(r.status, 500);
    let v: Value = serde_json::from_slice(&r.body).expect("JSON error");
    assert_eq!(v["detail"], "Internal server error");
}

#[tokio::test]
async fn the_openapi_document_describes_whole_lists_and_the_ca_assignment() {
    let s = Server::start_with(&[("ENABLE_DOCS", "true")]).await;
    let spec = expect(s.get("/api/v1/openapi.json", None).await, 200);
    let path = |p: &str| {
        let v = &spec["paths"][p];
        if v.is_object() {
            v.clone()
        } else {
            spec["paths"][p.trim_end_matches('/')].clone()
        }
    };
    for route in ["/api/v1/certificates/", "/api/v1/cas/"] {
        let get = &path(route)["get"];
        let limit = get["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{route}: {get}"))
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap_or_else(|| panic!("{route} has no limit parameter"));
        assert_eq!(limit["required"], false);
        assert!(
            limit["description"]
                .as_str()
                .unwrap_or("")
                .contains("every"),
            "{route}: {limit}"
        );
        assert!(get["responses"]["200"].is_object());
    }
    let patch = &path("/api/v1/cas/{id}")["patch"];
    assert!(patch["responses"]["400"].is_object() && patch["responses"]["404"].is_object());
    let update = &spec["components"]["schemas"]["CaUpdate"];
    assert_eq!(update["required"], json!(["organization_id"]), "{update}");
}
