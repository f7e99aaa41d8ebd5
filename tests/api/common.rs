//! Test harness: a real server on a real TCP port, on a fresh SQLite file or,
//! when `FASTPKI_TEST_DATABASE_URL` is set, a fresh PostgreSQL database.

use std::collections::HashMap;
use std::net::SocketAddr;

use fastpki::config::Settings;
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use test_support::database::fresh_database;

// The shared helpers the suite's files use through `crate::common::*`.
pub use test_support::csr::make_csr;
pub use test_support::openssl::{
    cert_public_key, key_public_key, openssl, openssl_ok, pem_blocks, text_section, x509_field,
    x509_text,
};
pub use test_support::process::Files;

pub const PASSWORD: &str = "correct horse battery";

pub struct Server {
    pub base: String,
    pub api: String,
    pub client: Client,
    /// The server's database, for tests that open their own connection to it.
    pub database_url: String,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Server {
    pub async fn start() -> Server {
        Server::start_with(&[]).await
    }

    /// Starts a server with extra settings (name, value).
    pub async fn start_with(extra: &[(&str, &str)]) -> Server {
        Server::start_tweaked(extra, |_| {}).await
    }

    /// Starts a server with extra settings and a change to its state before it serves.
    pub async fn start_tweaked(
        extra: &[(&str, &str)],
        tweak: impl FnOnce(&mut fastpki::service::AppState),
    ) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = fresh_database(dir.path(), "the HTTP suite").await;
        Server::start_in(dir, db, extra, tweak).await
    }

    /// Starts a server on the database at `db` (a test that puts something
    /// between the server and its database), with extra settings.
    pub async fn start_on(db: String, extra: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        Server::start_in(dir, db, extra, |_| {}).await
    }

    async fn start_in(
        dir: tempfile::TempDir,
        db: String,
        extra: &[(&str, &str)],
        tweak: impl FnOnce(&mut fastpki::service::AppState),
    ) -> Server {
        let mut env: HashMap<String, String> = [
            ("DATABASE_URL", db.as_str()),
            (
                "SECRET_KEY",
                "test-secret-key-that-is-long-enough-0123456789",
            ),
            (
                "SERVICE_ACCOUNT_TOKEN_PEPPER",
                "test-pepper-0123456789-0123456789",
            ),
            ("BCRYPT_COST", "4"),
            ("AUTH_RATE_LIMIT", "10000/minute"),
            ("CA_KEY_SIZE", "2048"),
            // Tests turn the background key pool off unless they test it: it burns CPU.
            ("KEY_POOL_SIZE", "0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.insert(
            "FASTPKI_DATA_DIR".into(),
            dir.path().join("data").display().to_string(),
        );
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        let settings = Settings::from_lookup(&|name| env.get(name).cloned()).expect("settings");
        let mut state = fastpki::server::prepare(settings.clone())
            .await
            .expect("server prepares");
        tweak(&mut state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(fastpki::server::serve_on(state, listener, async move {
            let _ = rx.await;
        }));
        let base = format!("http://{addr}");
        Server {
            api: format!("{base}{}", settings.api_prefix),
            base,
            client: Client::new(),
            database_url: db,
            _dir: dir,
            shutdown: Some(tx),
        }
    }

    /// The test's own connection to the server's database, to reach under the API
    /// (SQLite waits for the server's writer rather than failing on its lock).
    pub async fn database(&self) -> sqlx::AnyConnection {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(&self.database_url)
            .await
            .expect("a connection to the test database");
        if !self.database_url.starts_with("postgres") {
            sqlx::raw_sql("PRAGMA busy_timeout = 10000")
                .execute(&mut c)
                .await
                .expect("busy_timeout");
        }
        c
    }

    pub fn req(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        const API_ROOTS: [&str; 9] = [
            "/acme-directories",
            "/auth",
            "/users",
            "/organizations",
            "/audit-logs",
            "/cas",
            "/certificates",
            "/export",
            "/service-accounts",
        ];
        let url = if API_ROOTS.iter().any(|r| path.starts_with(r)) {
            format!("{}{}", self.api, path)
        } else {
            format!("{}{}", self.base, path)
        };
        let rb = self.client.request(method, url);
        match token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// Sends a request and returns status and JSON body (Null when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut rb = self.req(method, path, token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
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

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, token, None).await
    }

    /// Logs in; returns (access, refresh).
    pub async fn login_pair(&self, username: &str, password: &str) -> (String, String) {
        let resp = self
            .req(Method::POST, "/auth/token", None)
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .expect("login sent");
        assert_eq!(resp.status(), StatusCode::OK, "login of {username}");
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["token_type"], "bearer");
        (
            v["access_token"].as_str().unwrap().to_string(),
            v["refresh_token"].as_str().unwrap().to_string(),
        )
    }

    pub async fn login(&self, username: &str) -> String {
        self.login_pair(username, PASSWORD).await.0
    }

    /// Creates the first user (a superuser) and returns its token.
    pub async fn bootstrap(&self) -> String {
        let (s, v) = self
            .post("/users/", None, json!({"username": "root", "email": "root@example.com", "password": PASSWORD, "role": "superuser"}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        self.login("root").await
    }

    pub async fn create_org(&self, token: &str, name: &str) -> i64 {
        let (s, v) = self
            .post("/organizations/", Some(token), json!({"name": name}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_i64().unwrap()
    }

    /// Creates a user as `token`'s owner, with extra JSON fields; returns (id, access token).
    pub async fn create_user(
        &self,
        token: &str,
        username: &str,
        role: &str,
        org: Option<i64>,
        extra: Value,
    ) -> (i64, String) {
        let mut body = json!({"username": username, "email": format!("{username}@example.com"), "password": PASSWORD, "role": role, "organization_id": org});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let (s, v) = self.post("/users/", Some(token), body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        (v["id"].as_i64().unwrap(), self.login(username).await)
    }
}

/// Asserts the status, printing the body when it differs.
#[track_caller]
pub fn expect(got: (StatusCode, Value), status: u16) -> Value {
    assert_eq!(got.0.as_u16(), status, "body: {}", got.1);
    got.1
}

/// A typical world: root, two organizations, an admin and a user in each, and an orphan user.
pub struct World {
    pub root: String,
    pub org_a: i64,
    pub org_b: i64,
    pub admin_a: (i64, String),
    pub user_a: (i64, String),
    pub admin_b: (i64, String),
    pub user_b: (i64, String),
    pub orphan: (i64, String),
}

impl World {
    pub async fn build(s: &Server) -> World {
        let root = s.bootstrap().await;
        let org_a = s.create_org(&root, "org-a").await;
        let org_b = s.create_org(&root, "org-b").await;
        World {
            admin_a: s
                .create_user(&root, "admin_a", "admin", Some(org_a), json!({}))
                .await,
            user_a: s
                .create_user(&root, "user_a", "user", Some(org_a), json!({}))
                .await,
            admin_b: s
                .create_user(&root, "admin_b", "admin", Some(org_b), json!({}))
                .await,
            user_b: s
                .create_user(&root, "user_b", "user", Some(org_b), json!({}))
                .await,
            orphan: s
                .create_user(&root, "orphan", "user", None, json!({}))
                .await,
            root,
            org_a,
            org_b,
        }
    }
}

/// Tokens that must all be refused with 401.
pub fn bad_tokens(valid: &str) -> Vec<String> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = valid.split('.').collect();
    let mut payload: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    payload["role"] = "superuser".into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(payload.to_string()),
        parts[2]
    );
    let none = format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(payload.to_string())
    );
    let forged = {
        let key =
            jsonwebtoken::EncodingKey::from_secret(b"some-other-secret-key-of-32-chars-or-more")
                .unwrap();
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &payload, &key).unwrap()
    };
    let expired = {
        let mut p = payload.clone();
        p["role"] = "user".into();
        p["exp"] = (chrono::Utc::now().timestamp() - 60).into();
        let key = jsonwebtoken::EncodingKey::from_secret(
            b"test-secret-key-that-is-long-enough-0123456789",
        )
        .unwrap();
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &p, &key).unwrap()
    };
    vec!["garbage".into(), tampered, none, forged, expired]
}

// ---------------------------------------------------------------------------
// PKI helpers: CAs, certificates, raw downloads, audit look-ups.
// ---------------------------------------------------------------------------

/// `base` with the fields of `extra` added or replaced.
pub fn merged(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

/// A CA request: `CN=<name>`, ECDSA P-256 (fast), then `extra`.
pub fn ca_body(name: &str, extra: Value) -> Value {
    merged(
        json!({"name": name, "subject_dn": format!("CN={name}"), "key_algorithm": "ecdsa-p256", "valid_days": 3650}),
        extra,
    )
}

/// A certificate request of `cert_type` with ECDSA P-256 (fast), then `extra`.
pub fn cert_body(common_name: &str, cert_type: &str, extra: Value) -> Value {
    merged(
        json!({"common_name": common_name, "certificate_type": cert_type, "key_algorithm": "ecdsa-p256", "valid_days": 90}),
        extra,
    )
}

/// A raw HTTP answer (downloads, public routes).
pub struct Raw {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .expect("ASCII header")
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }
}

impl Server {
    /// Creates a CA (201 expected) from `ca_body(name, extra)`.
    pub async fn create_ca(&self, token: &str, name: &str, extra: Value) -> Value {
        expect(
            self.post("/cas/", Some(token), ca_body(name, extra)).await,
            201,
        )
    }

    /// Issues a certificate (201 expected) from `cert_body(cn, cert_type, extra)`.
    pub async fn issue(
        &self,
        token: &str,
        ca_id: i64,
        common_name: &str,
        cert_type: &str,
        extra: Value,
    ) -> Value {
        expect(
            self.post(
                &format!("/certificates/?ca_id={ca_id}"),
                Some(token),
                cert_body(common_name, cert_type, extra),
            )
            .await,
            201,
        )
    }

    /// A service account made by `admin` with the flags in `extra`, and a
    /// token of it: (account id, token).
    pub async fn service_account(&self, admin: &str, name: &str, extra: Value) -> (i64, String) {
        let a = expect(
            self.post(
                "/service-accounts/",
                Some(admin),
                merged(json!({"name": name}), extra),
            )
            .await,
            201,
        );
        let id = a["id"].as_i64().expect("account id");
        let t = expect(
            self.post(
                &format!("/service-accounts/{id}/tokens"),
                Some(admin),
                json!({}),
            )
            .await,
            201,
        );
        (id, t["token"].as_str().expect("token").to_string())
    }

    /// GET returning status, headers and bytes.
    pub async fn raw(&self, path: &str, token: Option<&str>) -> Raw {
        let resp = self
            .req(Method::GET, path, token)
            .send()
            .await
            .expect("request sent");
        Raw {
            status: resp.status(),
            headers: resp.headers().clone(),
            body: resp.bytes().await.expect("body").to_vec(),
        }
    }

    /// Audit entries with `action` about `resource_id` (read as superuser `root`).
    pub async fn audit_for(&self, root: &str, action: &str, resource_id: i64) -> Vec<Value> {
        let v = expect(
            self.get(
                &format!("/audit-logs/?action={action}&resource_id={resource_id}&limit=1000"),
                Some(root),
            )
            .await,
            200,
        );
        v.as_array().expect("audit list").clone()
    }
}

/// The `id` of a created resource.
pub fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

/// Ids of a JSON list of objects.
pub fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|v| v["id"].as_i64().expect("id"))
        .collect()
}

/// A root CA made by `openssl req -x509` with an EC P-256 key as `openssl ecparam
/// -genkey` writes it (SEC1, after an `EC PARAMETERS` block), the way step-ca's roots
/// are made: (certificate PEM, key PEM).
pub fn openssl_root(subject: &str) -> (String, String) {
    let f = Files::new();
    let (key, cert) = (f.path("root.key"), f.path("root.pem"));
    openssl_ok(&["ecparam", "-genkey", "-name", "prime256v1", "-out", &key]);
    #[rustfmt::skip]
    openssl_ok(&["req", "-x509", "-new", "-key", &key, "-days", "30", "-subj", subject,
        "-addext", "basicConstraints=critical,CA:TRUE,pathlen:1",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", &cert]);
    (f.read("root.pem"), f.read("root.key"))
}

/// Signs a CSR for a CA as an outside root does (`openssl x509 -req` with CA:TRUE and
/// keyCertSign, cRLSign): the certificate PEM.
pub fn openssl_sign_ca(csr: &str, root_cert: &str, root_key: &str) -> String {
    let f = Files::new();
    let csr = f.write("ca.csr", csr);
    let (cert, key) = (
        f.write("root.pem", root_cert),
        f.write("root.key", root_key),
    );
    let ext = f.write(
        "ext.cnf",
        "[v3]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
    );
    let out = f.path("ca.pem");
    #[rustfmt::skip]
    openssl_ok(&["x509", "-req", "-in", &csr, "-CA", &cert, "-CAkey", &key, "-set_serial",
        &format!("0x{:016x}", rand_u64()), "-days", "20", "-extfile", &ext, "-extensions", "v3",
        "-out", &out]);
    f.read("ca.pem")
}

/// 64 random bits (for serials of certificates the tests sign with openssl).
fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b).expect("random");
    u64::from_be_bytes(b) >> 1
}
