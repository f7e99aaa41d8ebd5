//! Certificate lists by keyset cursor: `after_id` and the `Link: rel="next"`
//! header, which must walk every row of the caller's scope exactly once.

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
