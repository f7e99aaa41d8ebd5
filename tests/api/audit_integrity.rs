//! The audit guarantee, shown on a real database: a change and its audit entry
//! are committed together or not at all, and every route that changes
//! something writes exactly one entry naming what it changed.
//!
//! The audit insert is made to fail for real: the test opens its own
//! connection to the server's database and adds a trigger that raises on
//! `INSERT INTO audit_logs`. While it is there, each route must answer an
//! error and leave every table exactly as it was; once it is dropped, the same
//! request must succeed and add exactly one entry.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::common::*;

/// Every row of every table, each row printed as text, rows sorted.
type Snapshot = BTreeMap<String, Vec<String>>;

/// One audit entry as the tests compare it: action, resource type, resource id.
type Entry = (String, Option<String>, Option<i64>);

/// A connection of the test's own to the server's database.
struct Direct {
    c: AnyConnection,
    pg: bool,
}

impl Direct {
    async fn open(s: &Server) -> Direct {
        let pg = s.database_url.starts_with("postgres");
        Direct {
            c: s.database().await,
            pg,
        }
    }

    async fn exec(&mut self, sql: &'static str) {
        sqlx::raw_sql(sql)
            .execute(&mut self.c)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// From now on every `INSERT INTO audit_logs` fails.
    async fn audit_down(&mut self) {
        if self.pg {
            self.exec(
                "CREATE OR REPLACE FUNCTION audit_down() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'audit down'; END $$",
            )
            .await;
            self.exec(
                "CREATE TRIGGER audit_down BEFORE INSERT ON audit_logs \
                 FOR EACH ROW EXECUTE FUNCTION audit_down()",
            )
            .await;
        } else {
            self.exec(
                "CREATE TRIGGER audit_down BEFORE INSERT ON audit_logs \
                 BEGIN SELECT RAISE(ABORT, 'audit down'); END",
            )
            .await;
        }
    }

    async fn audit_up(&mut self) {
        if self.pg {
            self.exec("DROP TRIGGER audit_down ON audit_logs").await;
        } else {
            self.exec("DROP TRIGGER audit_down").await;
        }
    }

    /// Holds the write lock on the certificates until `unlock`: issuances
    /// queue up in the group-commit writer meanwhile.
    async fn lock_certificates(&mut self) {
        if self.pg {
            self.exec("BEGIN; LOCK TABLE certificates IN EXCLUSIVE MODE")
                .await;
        } else {
            self.exec("BEGIN IMMEDIATE").await;
        }
    }

    async fn unlock(&mut self) {
        self.exec("ROLLBACK").await;
    }

    async fn tables(&mut self) -> Vec<String> {
        let sql = if self.pg {
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' \
             AND tablename NOT LIKE '\\_sqlx%'"
        } else {
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_sqlx%' ESCAPE '\\'"
        };
        let rows = sqlx::query(sql).fetch_all(&mut self.c).await.unwrap();
        let tables: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
        for t in [
            "audit_logs",
            "certificates",
            "certificate_authorities",
            "users",
        ] {
            assert!(tables.iter().any(|x| x == t), "{t} not in {tables:?}");
        }
        tables
    }

    /// The whole database, table by table.
    async fn snapshot(&mut self) -> Snapshot {
        let mut out = Snapshot::new();
        for table in self.tables().await {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
                .fetch_all(&mut self.c)
                .await
                .unwrap_or_else(|e| panic!("reading {table}: {e}"));
            let mut printed: Vec<String> = rows.iter().map(print_row).collect();
            printed.sort();
            out.insert(table, printed);
        }
        out
    }

    async fn last_audit_id(&mut self) -> i64 {
        sqlx::query("SELECT COALESCE(MAX(id), 0) FROM audit_logs")
            .fetch_one(&mut self.c)
            .await
            .unwrap()
            .get::<i64, _>(0)
    }

    /// The entries written after `id`, oldest first.
    async fn audit_after(&mut self, id: i64) -> Vec<Entry> {
        sqlx::query(
            "SELECT action, resource_type, resource_id FROM audit_logs WHERE id > $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&mut self.c)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
    }

    async fn certificates(&mut self) -> i64 {
        sqlx::query("SELECT COUNT(*) FROM certificates")
            .fetch_one(&mut self.c)
            .await
            .unwrap()
            .get::<i64, _>(0)
    }
}

/// Fails naming the rows that differ, table by table.
#[track_caller]
fn assert_unchanged(what: &str, before: &Snapshot, after: &Snapshot) {
    let tables: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let mut changes = Vec::new();
    for table in tables {
        let b = before.get(table).map_or(&[][..], |v| v.as_slice());
        let a = after.get(table).map_or(&[][..], |v| v.as_slice());
        for gone in b.iter().filter(|r| !a.contains(r)) {
            changes.push(format!("{table}: - {}", short(gone)));
        }
        for new in a.iter().filter(|r| !b.contains(r)) {
            changes.push(format!("{table}: + {}", short(new)));
        }
    }
    if changes.is_empty() && before != after {
        changes.push("a row repeated".into());
    }
    assert!(
        changes.is_empty(),
        "{what}: the database changed although the request failed:\n{}",
        changes.join("\n")
    );
}

/// At most 160 characters of a text, for failure messages.
fn short(text: &str) -> String {
    let mut out: String = text.chars().take(160).collect();
    if out.len() < text.len() {
        out.push_str("...");
    }
    out
}

/// A row as text: each column decoded as the first type that fits.
fn print_row(row: &AnyRow) -> String {
    (0..row.len())
        .map(|i| print_cell(row, i))
        .collect::<Vec<_>>()
        .join(" | ")
}

fn print_cell(row: &AnyRow, i: usize) -> String {
    macro_rules! as_type {
        ($t:ty) => {
            if let Ok(v) = row.try_get::<Option<$t>, _>(i) {
                return format!("{v:?}");
            }
        };
    }
    as_type!(i64);
    as_type!(i32);
    as_type!(i16);
    as_type!(bool);
    as_type!(f64);
    as_type!(String);
    as_type!(Vec<u8>);
    panic!("column {i} of a row decodes as no known type");
}

enum Body {
    None,
    Json(Value),
    Form(Vec<(&'static str, String)>),
}

/// One request, sent as many times as a check needs.
struct Req {
    method: Method,
    path: String,
    token: Option<String>,
    body: Body,
}

impl Req {
    fn new(method: Method, path: impl Into<String>, token: &str) -> Req {
        Req {
            method,
            path: path.into(),
            token: Some(token.to_string()),
            body: Body::None,
        }
    }

    fn json(mut self, body: Value) -> Req {
        self.body = Body::Json(body);
        self
    }
}

/// The id the expected entry names.
#[derive(Clone, Copy, Debug)]
enum Rid {
    /// This id.
    Is(i64),
    /// The `id` of the object the request answered (a creation).
    New,
    /// None.
    Null,
}

/// The server, the test's connection to its database, and the routes checked so far.
struct Harness<'a> {
    s: &'a Server,
    db: Direct,
    covered: BTreeSet<String>,
}

impl Harness<'_> {
    async fn send(&self, r: &Req) -> (StatusCode, Value) {
        let mut rb = self.s.req(r.method.clone(), &r.path, r.token.as_deref());
        rb = match &r.body {
            Body::None => rb,
            Body::Json(v) => rb.json(v),
            Body::Form(f) => rb.form(f),
        };
        let resp = rb.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// With the audit table refusing inserts, the request fails and changes nothing.
    async fn refused(&mut self, route: &str, r: &Req) {
        let before = self.db.snapshot().await;
        self.db.audit_down().await;
        let (status, body) = self.send(r).await;
        self.db.audit_up().await;
        assert!(
            status.is_server_error(),
            "{route}: the audit entry could not be written, yet {status}: {}",
            short(&body.to_string())
        );
        assert!(
            !body.to_string().contains("PRIVATE KEY"),
            "{route}: a private key left without its audit entry: {body}"
        );
        let after = self.db.snapshot().await;
        assert_unchanged(route, &before, &after);
    }

    /// The request succeeds with `status` and writes exactly `want` (zero or one entry).
    async fn accepted(
        &mut self,
        route: &str,
        r: &Req,
        status: u16,
        want: Option<(&str, Option<&str>, Rid)>,
    ) -> Value {
        let last = self.db.last_audit_id().await;
        let (got, body) = self.send(r).await;
        assert_eq!(
            got.as_u16(),
            status,
            "{route}: {}",
            short(&body.to_string())
        );
        let entries = self.db.audit_after(last).await;
        let want: Vec<Entry> = want
            .into_iter()
            .map(|(action, rtype, rid)| {
                let rid = match rid {
                    Rid::Is(id) => Some(id),
                    Rid::New => Some(id(&body)),
                    Rid::Null => None,
                };
                (action.to_string(), rtype.map(str::to_string), rid)
            })
            .collect();
        assert_eq!(entries, want, "{route}: the audit entries written");
        self.covered.insert(route.to_string());
        body
    }

    /// An audited route: refused while the audit is down, then accepted with one entry.
    async fn check(
        &mut self,
        route: &str,
        r: Req,
        status: u16,
        action: &str,
        rtype: Option<&str>,
        rid: Rid,
    ) -> Value {
        self.refused(route, &r).await;
        self.accepted(route, &r, status, Some((action, rtype, rid)))
            .await
    }
}

/// The routes that change something (POST, PUT, PATCH, DELETE), as the
/// OpenAPI document of the server lists them.
async fn mutating_routes(s: &Server) -> BTreeSet<String> {
    let doc = expect(s.get("/api/v1/openapi.json", None).await, 200);
    let mut out = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().expect("operations").keys() {
            if ["post", "put", "patch", "delete"].contains(&method.as_str()) {
                out.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    out
}

/// Every mutating route under `/api/v1`, one after the other on one server: while
/// the audit insert fails, the route answers 5xx and no table changes (the first
/// user's bootstrap claim, a revocation's CRL, a login's refresh token included);
/// then it succeeds and writes exactly one entry with the right action and
/// resource. Routes that audit nothing by design are shown to write nothing.
/// Four reads that disclose private keys are audited, and refused too.
#[tokio::test]
async fn audit_integrity_every_mutating_route_writes_one_entry_or_nothing() {
    let s = Server::start_with(&[("ENABLE_DOCS", "true")]).await;
    let db = Direct::open(&s).await;
    let mut h = Harness {
        s: &s,
        db,
        covered: BTreeSet::new(),
    };
    const API: &str = "/api/v1";
    let route = |m: &str, p: &str| format!("{m} {API}{p}");

    // ---- users and sessions
    let bootstrap = Req {
        method: Method::POST,
        path: "/users/".into(),
        token: None,
        body: Body::Json(
            json!({"username": "root", "email": "root@example.com", "password": PASSWORD, "role": "superuser"}),
        ),
    };
    let root_user = h
        .check(
            &route("POST", "/users/"),
            bootstrap,
            201,
            "user_create",
            Some("user"),
            Rid::New,
        )
        .await;
    let root_id = id(&root_user);
    let login = |user: &str, password: &str| Req {
        method: Method::POST,
        path: "/auth/token".into(),
        token: None,
        body: Body::Form(vec![
            ("username", user.into()),
            ("password", password.into()),
        ]),
    };
    let pair = h
        .check(
            &route("POST", "/auth/token"),
            login("root", PASSWORD),
            200,
            "login_success",
            Some("user"),
            Rid::Is(root_id),
        )
        .await;
    let root = pair["access_token"].as_str().unwrap().to_string();
    let root = root.as_str();
    // A failed login is a 401 that writes `login_failure`, on no resource.
    let r = login("root", "wrong password");
    h.refused("POST /auth/token (failure)", &r).await;
    h.accepted(
        "POST /auth/token (failure)",
        &r,
        401,
        Some(("login_failure", None, Rid::Null)),
    )
    .await;

    // ---- organizations and their members
    let org = h
        .check(
            &route("POST", "/organizations/"),
            Req::new(Method::POST, "/organizations/", root).json(json!({"name": "org-a"})),
            201,
            "org_create",
            Some("organization"),
            Rid::New,
        )
        .await;
    let org = id(&org);
    let renamed = h
        .check(
            &route("PUT", "/organizations/{id}"),
            Req::new(Method::PUT, format!("/organizations/{org}"), root)
                .json(json!({"name": "org-a2", "description": "renamed"})),
            200,
            "org_update",
            Some("organization"),
            Rid::Is(org),
        )
        .await;
    assert_eq!(renamed["name"], "org-a2");
    let alice = h
        .check(
            &route("POST", "/users/"),
            Req::new(Method::POST, "/users/", root).json(json!({"username": "alice", "email": "alice@example.com", "password": PASSWORD, "role": "user", "organization_id": org})),
            201,
            "user_create",
            Some("user"),
            Rid::New,
        )
        .await;
    let alice = id(&alice);
    let changed = h
        .check(
            &route("PATCH", "/users/{id}"),
            Req::new(Method::PATCH, format!("/users/{alice}"), root)
                .json(json!({"email": "alice2@example.com", "can_create_cert": true})),
            200,
            "user_update",
            Some("user"),
            Rid::Is(alice),
        )
        .await;
    assert_eq!(changed["email"], "alice2@example.com");
    let (bob, _) = s.create_user(root, "bob", "user", None, json!({})).await;
    let member = format!("/organizations/{org}/users/{bob}");
    let added = h
        .check(
            &route("POST", "/organizations/{id}/users/{user_id}"),
            Req::new(Method::POST, &member, root),
            200,
            "org_add_user",
            Some("organization"),
            Rid::Is(org),
        )
        .await;
    assert_eq!(added["organization_id"], org);
    h.check(
        &route("DELETE", "/organizations/{id}/users/{user_id}"),
        Req::new(Method::DELETE, &member, root),
        200,
        "org_remove_user",
        Some("organization"),
        Rid::Is(org),
    )
    .await;
    h.check(
        &route("DELETE", "/users/{id}"),
        Req::new(Method::DELETE, format!("/users/{bob}"), root),
        204,
        "user_delete",
        Some("user"),
        Rid::Is(bob),
    )
    .await;
    expect(s.get(&format!("/users/{bob}"), Some(root)).await, 404);
    let empty = s.create_org(root, "empty").await;
    h.check(
        &route("DELETE", "/organizations/{id}"),
        Req::new(Method::DELETE, format!("/organizations/{empty}"), root),
        204,
        "org_delete",
        Some("organization"),
        Rid::Is(empty),
    )
    .await;

    // ---- CAs and certificates
    let ca = h
        .check(
            &route("POST", "/cas/"),
            Req::new(Method::POST, "/cas/", root).json(ca_body("Audit Root", json!({}))),
            201,
            "ca_create",
            Some("ca"),
            Rid::New,
        )
        .await;
    let ca = id(&ca);
    let adoptee = id(&s.create_ca(root, "Adoptee", json!({})).await);
    let moved = h
        .check(
            &route("PATCH", "/cas/{id}"),
            Req::new(Method::PATCH, format!("/cas/{adoptee}"), root)
                .json(json!({"organization_id": org})),
            200,
            "ca_update",
            Some("ca"),
            Rid::Is(adoptee),
        )
        .await;
    assert_eq!(moved["organization_id"], org);
    let cert = h
        .check(
            &route("POST", "/certificates/"),
            Req::new(Method::POST, format!("/certificates/?ca_id={ca}"), root).json(cert_body(
                "one.example.com",
                "server",
                json!({}),
            )),
            201,
            "cert_create",
            Some("certificate"),
            Rid::New,
        )
        .await;
    let cert = id(&cert);
    // Issued before any sub-CA: creating one makes its parent stop issuing leaves.
    let kept = id(&s
        .issue(root, ca, "kept.example.com", "client", json!({}))
        .await);
    let (csr, _) = make_csr("p256", "/CN=csr.example.com", &[]);
    h.check(
        &route("POST", "/certificates/sign-csr"),
        Req::new(Method::POST, "/certificates/sign-csr", root)
            .json(json!({"csr": csr, "ca_id": ca, "certificate_type": "server"})),
        201,
        "cert_create",
        Some("certificate"),
        Rid::New,
    )
    .await;
    h.check(
        &route("POST", "/certificates/{id}/renew"),
        Req::new(Method::POST, format!("/certificates/{cert}/renew"), root).json(json!({})),
        201,
        "cert_create",
        Some("certificate"),
        Rid::New,
    )
    .await;
    // A revocation that could not be audited: the certificate stays valid and
    // the CRL served is the same one, byte for byte.
    let crl_path = format!("/crl/audit-root-{ca}");
    let crl_before = s.raw(&crl_path, None).await;
    assert_eq!(crl_before.status, 200);
    let revoke = Req::new(Method::POST, format!("/certificates/{cert}/revoke"), root)
        .json(json!({"reason": "keyCompromise"}));
    let revoke_route = route("POST", "/certificates/{id}/revoke");
    h.refused(&revoke_route, &revoke).await;
    let still = expect(
        s.get(&format!("/certificates/{cert}"), Some(root)).await,
        200,
    );
    assert!(still["revoked_at"].is_null(), "{still}");
    assert_eq!(still["status"], "valid", "{still}");
    assert_eq!(s.raw(&crl_path, None).await.body, crl_before.body);
    h.accepted(
        &revoke_route,
        &revoke,
        200,
        Some(("cert_revoke", Some("certificate"), Rid::Is(cert))),
    )
    .await;
    let gone = expect(
        s.get(&format!("/certificates/{cert}"), Some(root)).await,
        200,
    );
    assert!(gone["revoked_at"].is_string(), "{gone}");
    assert_ne!(s.raw(&crl_path, None).await.body, crl_before.body);
    let sub = id(&s
        .create_ca(root, "Audit Sub", json!({"parent_ca_id": ca}))
        .await);
    h.check(
        &route("POST", "/cas/{id}/revoke"),
        Req::new(Method::POST, format!("/cas/{sub}/revoke"), root)
            .json(json!({"reason": "superseded"})),
        200,
        "ca_revoke",
        Some("ca"),
        Rid::Is(sub),
    )
    .await;
    // Deleting a CA revokes its live certificates: still one entry, `ca_delete`.
    let doomed = id(&s.create_ca(root, "Doomed", json!({})).await);
    s.issue(root, doomed, "live.example.com", "server", json!({}))
        .await;
    h.check(
        &route("DELETE", "/cas/{id}"),
        Req::new(Method::DELETE, format!("/cas/{doomed}"), root),
        204,
        "ca_delete",
        Some("ca"),
        Rid::Is(doomed),
    )
    .await;

    // ---- CAs made elsewhere: imported, or signed outside for a key kept here
    let (cert, key) = openssl_root("/CN=Audit Imported Root");
    h.check(
        &route("POST", "/cas/import"),
        Req::new(Method::POST, "/cas/import", root)
            .json(json!({"name": "Audit Import", "certificate": cert, "private_key": key})),
        201,
        "ca_import",
        Some("ca"),
        Rid::New,
    )
    .await;
    let pending = h
        .check(
            &route("POST", "/cas/csr"),
            Req::new(Method::POST, "/cas/csr", root).json(
                json!({"name": "Audit Pending", "subject_dn": "CN=Audit Pending", "key_algorithm": "ecdsa-p256"}),
            ),
            201,
            "ca_csr",
            Some("ca"),
            Rid::New,
        )
        .await;
    h.check(
        &route("POST", "/cas/{id}/csr"),
        Req::new(Method::POST, format!("/cas/{ca}/csr"), root).json(json!({})),
        200,
        "ca_csr",
        Some("ca"),
        Rid::Is(ca),
    )
    .await;
    let (outside, outside_key) = openssl_root("/CN=Audit Outside Root");
    let signed = openssl_sign_ca(pending["csr"].as_str().unwrap(), &outside, &outside_key);
    let installed = h
        .check(
            &route("PUT", "/cas/{id}/certificate"),
            Req::new(
                Method::PUT,
                format!("/cas/{}/certificate", id(&pending)),
                root,
            )
            .json(json!({"certificate": signed, "chain": outside})),
            200,
            "ca_certificate_install",
            Some("ca"),
            Rid::Is(id(&pending)),
        )
        .await;
    assert_eq!(installed["pending"], false);

    // ---- reads that disclose a private key are audited: no entry, no key
    for (path, action, rtype, rid) in [
        (
            format!("/cas/{ca}/private-key"),
            "ca_export_private_key",
            "ca",
            ca,
        ),
        (
            format!("/export/ca/{ca}/private-key"),
            "ca_export_private_key",
            "ca",
            ca,
        ),
        (
            format!("/certificates/{kept}/private-key"),
            "cert_export_private_key",
            "certificate",
            kept,
        ),
        (
            format!("/export/certificate/{kept}/private-key"),
            "cert_export_private_key",
            "certificate",
            kept,
        ),
    ] {
        let r = Req::new(Method::GET, &path, root);
        h.refused(&format!("GET {path}"), &r).await;
        let body = h
            .accepted(
                &format!("GET {path}"),
                &r,
                200,
                Some((action, Some(rtype), Rid::Is(rid))),
            )
            .await;
        assert!(
            body.to_string().contains("PRIVATE KEY"),
            "GET {path}: {body}"
        );
    }

    // ---- service accounts
    let robot = h
        .check(
            &route("POST", "/service-accounts/"),
            Req::new(Method::POST, "/service-accounts/", root)
                .json(json!({"name": "robot", "organization_id": org})),
            201,
            "service_account_create",
            Some("service_account"),
            Rid::New,
        )
        .await;
    let robot = id(&robot);
    let sa = format!("/service-accounts/{robot}");
    h.check(
        &route("PATCH", "/service-accounts/{id}"),
        Req::new(Method::PATCH, &sa, root)
            .json(json!({"description": "deploys", "can_create_cert": true})),
        200,
        "service_account_update",
        Some("service_account"),
        Rid::Is(robot),
    )
    .await;
    let token = h
        .check(
            &route("POST", "/service-accounts/{id}/tokens"),
            Req::new(Method::POST, format!("{sa}/tokens"), root).json(json!({"name": "ci"})),
            201,
            "service_account_token_create",
            Some("service_account"),
            Rid::Is(robot),
        )
        .await;
    let revoke_token = Req::new(Method::DELETE, format!("{sa}/tokens/{}", id(&token)), root);
    h.check(
        &route("DELETE", "/service-accounts/{id}/tokens/{token_id}"),
        revoke_token,
        204,
        "service_account_token_revoke",
        Some("service_account"),
        Rid::Is(robot),
    )
    .await;
    // Exception: revoking it again changes nothing, and writes nothing.
    let again = Req::new(Method::DELETE, format!("{sa}/tokens/{}", id(&token)), root);
    h.accepted("DELETE a revoked token again", &again, 204, None)
        .await;
    h.check(
        &route("PUT", "/service-accounts/{id}/policy"),
        Req::new(Method::PUT, format!("{sa}/policy"), root)
            .json(json!({"cn_patterns": ["*.svc.example.com"], "allowed_ca_ids": [ca], "allowed_certificate_types": ["server"], "max_validity_days": 30})),
        200,
        "service_account_policy_set",
        Some("service_account"),
        Rid::Is(robot),
    )
    .await;
    h.check(
        &route("DELETE", "/service-accounts/{id}/policy"),
        Req::new(Method::DELETE, format!("{sa}/policy"), root),
        204,
        "service_account_policy_clear",
        Some("service_account"),
        Rid::Is(robot),
    )
    .await;
    h.check(
        &route("DELETE", "/service-accounts/{id}"),
        Req::new(Method::DELETE, &sa, root),
        204,
        "service_account_delete",
        Some("service_account"),
        Rid::Is(robot),
    )
    .await;

    // ---- ACME directories and their EAB keys (on the CA adopted into `org`)
    let acme_sa = id(&expect(
        s.post(
            "/service-accounts/",
            Some(root),
            json!({"name": "acme", "organization_id": org}),
        )
        .await,
        201,
    ));
    let dir = h
        .check(
            &route("POST", "/acme-directories/"),
            Req::new(Method::POST, "/acme-directories/", root)
                .json(json!({"name": "audit", "ca_id": adoptee, "service_account_id": acme_sa})),
            201,
            "acme_directory_create",
            Some("acme_directory"),
            Rid::New,
        )
        .await;
    let dir = id(&dir);
    let dp = format!("/acme-directories/{dir}");
    h.check(
        &route("PATCH", "/acme-directories/{id}"),
        Req::new(Method::PATCH, &dp, root).json(json!({"require_eab": false})),
        200,
        "acme_directory_update",
        Some("acme_directory"),
        Rid::Is(dir),
    )
    .await;
    let key = h
        .check(
            &route("POST", "/acme-directories/{id}/eab-keys"),
            Req::new(Method::POST, format!("{dp}/eab-keys"), root).json(json!({})),
            201,
            "acme_eab_create",
            Some("acme_directory"),
            Rid::Is(dir),
        )
        .await;
    let revoke_key = format!("{dp}/eab-keys/{}", key["kid"].as_str().unwrap());
    h.check(
        &route("DELETE", "/acme-directories/{id}/eab-keys/{kid}"),
        Req::new(Method::DELETE, &revoke_key, root),
        204,
        "acme_eab_revoke",
        Some("acme_directory"),
        Rid::Is(dir),
    )
    .await;
    // Exception: revoking it again changes nothing, and writes nothing.
    let again = Req::new(Method::DELETE, &revoke_key, root);
    h.accepted("DELETE a revoked EAB key again", &again, 204, None)
        .await;
    h.check(
        &route("DELETE", "/acme-directories/{id}"),
        Req::new(Method::DELETE, &dp, root),
        204,
        "acme_directory_delete",
        Some("acme_directory"),
        Rid::Is(dir),
    )
    .await;

    // ---- an organization's webhooks
    let hooks = format!("/organizations/{org}/webhooks");
    let hook = h
        .check(
            &route("POST", "/organizations/{id}/webhooks"),
            Req::new(Method::POST, &hooks, root)
                .json(json!({"url": "https://hooks.example.com/fastpki"})),
            201,
            "webhook_create",
            Some("webhook"),
            Rid::New,
        )
        .await;
    let hook = id(&hook);
    h.check(
        &route(
            "POST",
            "/organizations/{id}/webhooks/{webhook_id}/rotate-secret",
        ),
        Req::new(Method::POST, format!("{hooks}/{hook}/rotate-secret"), root),
        200,
        "webhook_rotate_secret",
        Some("webhook"),
        Rid::Is(hook),
    )
    .await;
    h.check(
        &route("DELETE", "/organizations/{id}/webhooks/{webhook_id}"),
        Req::new(Method::DELETE, format!("{hooks}/{hook}"), root),
        204,
        "webhook_delete",
        Some("webhook"),
        Rid::Is(hook),
    )
    .await;

    // ---- sessions: a refresh, a logout and an invalidation audit nothing;
    // a used-up refresh token sent again writes `refresh_token_reuse`.
    let (_, refresh) = s.login_pair("alice", PASSWORD).await;
    let refresh_req = |t: &str| Req {
        method: Method::POST,
        path: "/auth/refresh".into(),
        token: None,
        body: Body::Json(json!({"refresh_token": t})),
    };
    let rotated = h
        .accepted(
            &route("POST", "/auth/refresh"),
            &refresh_req(&refresh),
            200,
            None,
        )
        .await;
    let replay = refresh_req(&refresh);
    h.refused("POST /auth/refresh (reuse)", &replay).await;
    h.accepted(
        "POST /auth/refresh (reuse)",
        &replay,
        401,
        Some(("refresh_token_reuse", Some("user"), Rid::Is(alice))),
    )
    .await;
    // The reuse ended the family: the rotated token is refused too.
    let (st, _) = h
        .send(&refresh_req(rotated["refresh_token"].as_str().unwrap()))
        .await;
    assert_eq!(st, 401);
    let (access, refresh) = s.login_pair("alice", PASSWORD).await;
    h.accepted(
        &route("POST", "/auth/logout"),
        &Req::new(Method::POST, "/auth/logout", &access).json(json!({"refresh_token": refresh})),
        204,
        None,
    )
    .await;
    let access = s.login("alice").await;
    h.accepted(
        &route("POST", "/auth/invalidate"),
        &Req::new(Method::POST, "/auth/invalidate", &access),
        204,
        None,
    )
    .await;

    // Every mutating route of the API was checked.
    let all = mutating_routes(&s).await;
    let missing: Vec<&String> = all.difference(&h.covered).collect();
    assert!(missing.is_empty(), "routes not checked: {missing:?}");
    assert_eq!(all.len(), 39, "{all:?}");
}

/// Concurrent issuances share one transaction in the group-commit writer
/// (`src/service/commit.rs`). The test holds the certificates' write lock
/// while they queue, so that they reach the writer together: a batch fails
/// on the audit insert, the writer falls back to one transaction per
/// certificate, and each fails too. Every request gets a 5xx and nothing is
/// stored. Without the trigger the same burst is stored, each certificate
/// with exactly one `cert_create` entry naming it.
#[tokio::test]
async fn audit_integrity_concurrent_issuances_commit_with_their_entries_or_not_at_all() {
    const N: usize = 24;
    let s = Server::start().await;
    let root = s.bootstrap().await;
    let ca = id(&s.create_ca(&root, "Burst CA", json!({})).await);
    let mut db = Direct::open(&s).await;
    let burst = |tag: &'static str| {
        let (s, root) = (&s, &root);
        futures::future::join_all((0..N).map(move |i| async move {
            s.post(
                &format!("/certificates/?ca_id={ca}"),
                Some(root),
                cert_body(&format!("{tag}-{i}.example.com"), "server", json!({})),
            )
            .await
        }))
    };

    let before = db.snapshot().await;
    db.audit_down().await;
    db.lock_certificates().await;
    let (answers, ()) = tokio::join!(burst("down"), async {
        // Long enough for every request to be signed and queued (a few ms each).
        tokio::time::sleep(Duration::from_secs(2)).await;
        db.unlock().await;
    });
    db.audit_up().await;
    for (status, body) in &answers {
        assert!(
            status.is_server_error(),
            "an issuance answered {status} while its audit entry could not be written: {}",
            short(&body.to_string())
        );
    }
    assert_unchanged("a failed burst", &before, &db.snapshot().await);

    let last = db.last_audit_id().await;
    let certs_before = db.certificates().await;
    db.lock_certificates().await;
    let (answers, ()) = tokio::join!(burst("up"), async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        db.unlock().await;
    });
    let mut issued: Vec<i64> = answers.into_iter().map(|a| id(&expect(a, 201))).collect();
    issued.sort_unstable();
    assert_eq!(db.certificates().await, certs_before + N as i64);
    let entries = db.audit_after(last).await;
    let mut named: Vec<i64> = entries
        .iter()
        .map(|(action, rtype, rid)| {
            assert_eq!(
                (action.as_str(), rtype.as_deref()),
                ("cert_create", Some("certificate"))
            );
            rid.expect("resource id")
        })
        .collect();
    named.sort_unstable();
    assert_eq!(named, issued, "one cert_create entry per certificate");
}
