//! The hostile-input battery: what an attacker (or a broken client) may send,
//! route by route. Every answer is a 4xx with a `detail` (never a 5xx), fast,
//! and after each battery the server still answers `/healthz` with its data
//! intact. `conventions.rs`, `cas.rs`, `certs.rs`, `public.rs` and `auth.rs`
//! hold the first cases of each kind; this file goes wider and nastier.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{Files, Server, bad_tokens, expect, ids, make_csr, openssl_ok};

/// How long a refusal of a huge input may take. Refusals take milliseconds; the bound
/// is there to catch work that grows with the square of the input (minutes at these
/// sizes) or a hang, not to time the server, so a loaded two-core machine cannot fail it.
const REFUSAL_BOUND: Duration = Duration::from_secs(10);

/// Everything a superuser can list, to compare before and after a battery.
async fn snapshot(s: &Server, root: &str) -> Value {
    let mut out = serde_json::Map::new();
    for path in [
        "/users/",
        "/organizations/",
        "/cas/",
        "/certificates/",
        "/service-accounts/",
    ] {
        out.insert(path.into(), expect(s.get(path, Some(root)).await, 200));
    }
    Value::Object(out)
}

/// The server still answers, and nothing it stored changed.
async fn still_intact(s: &Server, root: &str, before: &Value) {
    expect(s.get("/healthz", None).await, 200);
    assert_eq!(&snapshot(s, root).await, before, "stored data changed");
}

/// A server with a superuser, an organization, a CA with a certificate, and a
/// service account; returns the superuser's token and the CA id.
async fn populated(s: &Server) -> (String, i64) {
    let root = s.bootstrap().await;
    let org = s.create_org(&root, "hostile-org").await;
    s.create_user(&root, "member", "user", Some(org), json!({}))
        .await;
    let ca = s.create_ca(&root, "Hostile CA", json!({})).await;
    let ca_id = ca["id"].as_i64().unwrap();
    s.issue(&root, ca_id, "seed.example.com", "server", json!({}))
        .await;
    expect(
        s.post(
            "/service-accounts/",
            Some(&root),
            json!({"name": "hostile-sa", "organization_id": org}),
        )
        .await,
        201,
    );
    (root, ca_id)
}

/// Asserts a 4xx answer whose body is JSON with a `detail`.
#[track_caller]
fn assert_clean_4xx(got: &(reqwest::StatusCode, Value), what: &str) {
    assert!(
        got.0.is_client_error(),
        "{what}: expected a 4xx, got {} {}",
        got.0,
        got.1
    );
    assert!(
        got.1.get("detail").is_some(),
        "{what}: no detail in {}",
        got.1
    );
}

/// Sends raw bytes over TCP (no client-side URL normalization, any framing)
/// and returns the status code and the whole answer; None when the server
/// closed the connection without one (it may answer 413 and close while the
/// upload is still going).
async fn raw_exchange(s: &Server, request: &[u8]) -> Option<(u16, String)> {
    let addr = s.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(request).await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf))
        .await
        .expect("answer within 10 s");
    if read.is_err() && buf.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    Some((status, text))
}

/// A raw GET of `path`, sent as is.
async fn raw_http(s: &Server, path: &str) -> (u16, String) {
    let addr = s.base.trim_start_matches("http://");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    raw_exchange(s, req.as_bytes())
        .await
        .unwrap_or_else(|| panic!("no answer to GET {path}"))
}

/// `body` sent with `Transfer-Encoding: chunked` (no length announced) to
/// `path` (as `Server::req` resolves it), with a bearer token.
async fn chunked_upload(
    s: &Server,
    m: &Method,
    path: &str,
    token: &str,
    body: &[u8],
) -> Option<(u16, String)> {
    let url = s.req(m.clone(), path, None).build().unwrap().url().clone();
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let addr = s.base.trim_start_matches("http://");
    let mut req = format!(
        "{m} {target} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.chunks(8192) {
        req.extend(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend(chunk);
        req.extend(b"\r\n");
    }
    req.extend(b"0\r\n\r\n");
    raw_exchange(s, &req).await
}

// ------------------------------------------------------------------ bodies

#[tokio::test]
async fn hostile_oversized_bodies_are_413_on_every_body_route() {
    let s = Server::start_with(&[("MAX_BODY_BYTES", "65536")]).await;
    let (root, ca_id) = populated(&s).await;
    let before = snapshot(&s, &root).await;
    let big = "x".repeat(100 * 1024);
    let routes = [
        (Method::POST, "/users/".to_string()),
        (Method::PATCH, "/users/1".to_string()),
        (Method::POST, "/organizations/".to_string()),
        (Method::POST, "/cas/".to_string()),
        (Method::POST, format!("/certificates/?ca_id={ca_id}")),
        (Method::POST, "/certificates/sign-csr".to_string()),
        (Method::POST, "/certificates/1/renew".to_string()),
        (Method::POST, "/auth/refresh".to_string()),
        (Method::POST, "/service-accounts/".to_string()),
        (Method::PUT, "/service-accounts/1/policy".to_string()),
    ];
    let (mut sized, mut chunked) = (0, 0);
    for (m, path) in &routes {
        let body = format!("{{\"name\":\"{big}\",\"csr\":\"{big}\"}}");
        // A declared length over the limit. The server may answer before
        // reading the whole upload; a cut-off upload is not an answer, so
        // only answers are checked.
        if let Ok(r) = s
            .req(m.clone(), path, Some(&root))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
        {
            assert_eq!(r.status(), 413, "{m} {path}");
            let v: Value = r.json().await.unwrap();
            assert!(v["detail"].is_string(), "{v}");
            sized += 1;
        }
        // No length announced: chunks until the limit is crossed.
        if let Some((status, text)) = chunked_upload(&s, m, path, &root, body.as_bytes()).await {
            assert_eq!(status, 413, "{m} {path} chunked: {text}");
            assert!(text.contains("\"detail\""), "{text}");
            chunked += 1;
        }
    }
    assert!(
        sized > 0 && chunked > 0,
        "answers: {sized} sized, {chunked} chunked"
    );
    // The form-encoded login too.
    if let Ok(r) = s
        .req(Method::POST, "/auth/token", None)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username=root&password={big}"))
        .send()
        .await
    {
        assert_eq!(r.status(), 413);
    }
    still_intact(&s, &root, &before).await;
}

#[tokio::test]
async fn hostile_deeply_nested_json_is_refused_fast() {
    let s = Server::start().await;
    let (root, ca_id) = populated(&s).await;
    let before = snapshot(&s, &root).await;
    let n = 100_000;
    let bodies = [
        format!("{}{}", "[".repeat(n), "]".repeat(n)),
        "[".repeat(n),
        "{\"a\":".repeat(n),
        format!("{{\"name\":{}}}", "[".repeat(n)),
        format!("{{\"san_dns_names\":{}}}", "[".repeat(n)),
    ];
    for path in [
        "/organizations/".to_string(),
        "/users/".to_string(),
        "/cas/".to_string(),
        format!("/certificates/?ca_id={ca_id}"),
        "/service-accounts/1/policy".to_string(),
    ] {
        for body in &bodies {
            let m = if path.ends_with("policy") {
                Method::PUT
            } else {
                Method::POST
            };
            let start = Instant::now();
            let r = s
                .req(m, &path, Some(&root))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = r.status();
            let v: Value = r.json().await.unwrap();
            assert_eq!(status, 422, "{path} {}...: {v}", &body[..12]);
            assert!(v["detail"].is_array(), "{v}");
            assert!(
                start.elapsed() < REFUSAL_BOUND,
                "{path}: {:?}",
                start.elapsed()
            );
        }
    }
    still_intact(&s, &root, &before).await;
}

// ------------------------------------------------------------------ numbers

#[tokio::test]
async fn hostile_pagination_extremes_are_422() {
    let s = Server::start().await;
    let (root, ca_id) = populated(&s).await;
    let before = snapshot(&s, &root).await;
    let lists = [
        "/users/".to_string(),
        "/organizations/".to_string(),
        "/organizations/1/users".to_string(),
        "/cas/".to_string(),
        "/certificates/".to_string(),
        format!("/certificates/?ca_id={ca_id}"),
        "/audit-logs/".to_string(),
        "/service-accounts/".to_string(),
    ];
    let i64_max = i64::MAX.to_string();
    let i64_min = i64::MIN.to_string();
    for list in &lists {
        let sep = if list.contains('?') { '&' } else { '?' };
        for (param, value) in [
            ("limit", i64_max.as_str()),
            ("limit", i64_min.as_str()),
            ("limit", "9223372036854775808"),
            ("limit", "1e30"),
            ("limit", "-1"),
            ("limit", "0"),
            ("limit", "1001"),
            ("limit", "1.5"),
            ("limit", "NaN"),
            ("limit", ""),
            ("limit", "%00"),
            ("limit", "10%20OR%201%3D1"),
            ("skip", i64_min.as_str()),
            ("skip", "-1"),
            ("skip", "1e30"),
            ("skip", "99999999999999999999999"),
            ("skip", "0x10"),
        ] {
            let got = s
                .get(&format!("{list}{sep}{param}={value}"), Some(&root))
                .await;
            assert_eq!(got.0, 422, "{list} {param}={value}: {}", got.1);
            let loc = &got.1["detail"][0]["loc"];
            assert_eq!(loc[0], "query", "{list} {param}={value}: {}", got.1);
        }
        // The largest skip is no error: an empty page.
        let got = expect(
            s.get(
                &format!("{list}{sep}skip={i64_max}&limit=1000"),
                Some(&root),
            )
            .await,
            200,
        );
        assert_eq!(got, json!([]), "{list}");
    }
    // ca_id and the audit filters are numbers too.
    for path in [
        "/certificates/?ca_id=9223372036854775808",
        "/certificates/?ca_id=1e30",
        "/audit-logs/?user_id=-9223372036854775809",
        "/audit-logs/?resource_id=1e30",
        "/audit-logs/?since=not-a-date",
        "/audit-logs/?until=99999-99-99T99:99:99",
    ] {
        let got = s.get(path, Some(&root)).await;
        assert_eq!(got.0, 422, "{path}: {}", got.1);
    }
    still_intact(&s, &root, &before).await;
}

#[tokio::test]
async fn hostile_negative_and_huge_ids_in_every_path() {
    let s = Server::start().await;
    let (root, _) = populated(&s).await;
    let before = snapshot(&s, &root).await;
    let templates = [
        (Method::GET, "/users/{}"),
        (Method::DELETE, "/users/{}"),
        (Method::GET, "/organizations/{}"),
        (Method::DELETE, "/organizations/{}"),
        (Method::GET, "/organizations/{}/users"),
        (Method::POST, "/organizations/1/users/{}"),
        (Method::DELETE, "/organizations/{}/users/1"),
        (Method::GET, "/cas/{}"),
        (Method::DELETE, "/cas/{}"),
        (Method::GET, "/cas/{}/private-key"),
        (Method::GET, "/cas/{}/chain"),
        (Method::GET, "/cas/{}/children"),
        (Method::GET, "/certificates/{}"),
        (Method::GET, "/certificates/{}/private-key"),
        (Method::POST, "/certificates/{}/revoke"),
        (Method::POST, "/certificates/{}/renew"),
        (Method::GET, "/export/ca/{}/certificate"),
        (Method::GET, "/export/ca/{}/private-key"),
        (Method::GET, "/export/certificate/{}"),
        (Method::GET, "/export/certificate/{}/private-key"),
        (Method::GET, "/export/certificate/{}/chain"),
        (Method::GET, "/service-accounts/{}"),
        (Method::DELETE, "/service-accounts/{}"),
        (Method::GET, "/service-accounts/{}/tokens"),
        (Method::DELETE, "/service-accounts/1/tokens/{}"),
        (Method::GET, "/service-accounts/{}/policy"),
        (Method::DELETE, "/service-accounts/{}/policy"),
    ];
    let max = i64::MAX.to_string();
    let min = i64::MIN.to_string();
    for (m, template) in &templates {
        // Integers no row has: 404.
        for id in ["-1", "0", max.as_str(), min.as_str()] {
            let path = template.replace("{}", id);
            let got = s.call(m.clone(), &path, Some(&root), Some(json!({}))).await;
            assert_eq!(got.0, 404, "{m} {path}: {}", got.1);
        }
        // Not an i64: 422, with where it went wrong.
        for id in [
            "9223372036854775808",
            "-9223372036854775809",
            "1e3",
            "1.0",
            "0x1",
            "abc",
            "%00",
            "%F0%9F%94%90",
            "1%20OR%201=1",
        ] {
            let path = template.replace("{}", id);
            let got = s.call(m.clone(), &path, Some(&root), Some(json!({}))).await;
            assert_eq!(got.0, 422, "{m} {path}: {}", got.1);
            assert_eq!(got.1["detail"][0]["loc"][0], "path", "{}", got.1);
        }
    }
    // Ids inside bodies as well.
    for body in [
        json!({"name": "n", "subject_dn": "CN=n", "parent_ca_id": i64::MAX}),
        json!({"name": "n", "subject_dn": "CN=n", "parent_ca_id": -1}),
    ] {
        let got = s.post("/cas/", Some(&root), body.clone()).await;
        assert_clean_4xx(&got, &body.to_string());
    }
    for body in [
        json!({"name": "n", "subject_dn": "CN=n", "parent_ca_id": 9223372036854775808u64}),
        json!({"name": "n", "subject_dn": "CN=n", "parent_ca_id": 1e30}),
    ] {
        let got = s.post("/cas/", Some(&root), body.clone()).await;
        assert_eq!(got.0, 422, "{body}: {}", got.1);
    }
    still_intact(&s, &root, &before).await;
}

// ------------------------------------------------------------------ text

/// Names no one should send, and some everyone should be able to.
fn hostile_names() -> Vec<String> {
    vec![
        "\u{202E}gnp.exe\u{202C}".into(),           // right-to-left override
        "שלום עולם".into(),                         // RTL script
        "مرحبا".into(),                             // Arabic
        "🔐🦀👨‍👩‍👧‍👦".into(),                            // emoji, ZWJ sequence
        "e\u{301}\u{301}\u{301}\u{301}".into(),     // stacked combining marks
        "Z\u{351}\u{34d}\u{32d}\u{300}algo".into(), // zalgo
        "nul\u{0}byte".into(),                      // NUL
        "tab\tnew\nline\r".into(),                  // control characters
        "\u{feff}bom".into(),                       // byte-order mark
        "\u{200b}".into(),                          // zero-width space only
        "a\u{2028}b".into(),                        // line separator
        "x".repeat(10 * 1024),                      // 10 KB
        "🦀".repeat(2600),                          // 10 KB of 4-byte characters
        "'; DROP TABLE users; --".into(),           // SQL
        "<script>alert(1)</script>".into(),         // HTML
        "${jndi:ldap://x}".into(),                  // log injection
        "%s%n%x".into(),                            // format string
        "../../etc/passwd".into(),                  // path
    ]
}

/// POSTs `body` to `path`: accepted (201, then `read` must give `field` back
/// unchanged) or refused with a 4xx and a detail. Returns the created id.
async fn accepted_intact_or_refused(
    s: &Server,
    token: &str,
    path: &str,
    body: Value,
    field: &str,
    read: &str,
) -> Option<i64> {
    let sent = body[field].clone();
    let got = s.post(path, Some(token), body).await;
    if got.0 == 201 {
        assert_eq!(got.1[field], sent, "{path}: the answer changed {field}");
        let id = got.1["id"].as_i64().unwrap();
        let again = expect(
            s.get(&read.replace("{}", &id.to_string()), Some(token))
                .await,
            200,
        );
        assert_eq!(again[field], sent, "{path}: the stored {field} changed");
        Some(id)
    } else {
        assert_clean_4xx(&got, &format!("{path} {field}={sent}"));
        None
    }
}

#[tokio::test]
async fn hostile_unicode_names_round_trip_or_are_refused() {
    let s = Server::start().await;
    let (root, _) = populated(&s).await;
    let org = s.create_org(&root, "unicode-home").await;
    for (i, name) in hostile_names().into_iter().enumerate() {
        // Organizations: name and description.
        accepted_intact_or_refused(
            &s,
            &root,
            "/organizations/",
            json!({"name": name, "description": name}),
            "name",
            "/organizations/{}",
        )
        .await;
        accepted_intact_or_refused(
            &s,
            &root,
            "/organizations/",
            json!({"name": format!("org-{i}"), "description": name}),
            "description",
            "/organizations/{}",
        )
        .await;
        // Users: username.
        accepted_intact_or_refused(
            &s,
            &root,
            "/users/",
            json!({"username": name, "email": format!("u{i}@example.com"), "password": "a-good-password"}),
            "username",
            "/users/{}",
        )
        .await;
        // Service accounts: name and description.
        accepted_intact_or_refused(
            &s,
            &root,
            "/service-accounts/",
            json!({"name": name, "description": name, "organization_id": org}),
            "name",
            "/service-accounts/{}",
        )
        .await;
        // CAs: name, description and the DN's common name.
        let ca = accepted_intact_or_refused(
            &s,
            &root,
            "/cas/",
            json!({"name": name, "description": name, "subject_dn": format!("CN=ca {i}"), "key_algorithm": "ecdsa-p256"}),
            "name",
            "/cas/{}",
        )
        .await;
        // Escaped as the server prints (RFC 4514), so that the answer is the text sent.
        let mut escaped = String::new();
        for c in name.chars() {
            if matches!(c, '\\' | ',' | '+' | '"' | ';' | '<' | '>') {
                escaped.push('\\');
            }
            escaped.push(c);
        }
        accepted_intact_or_refused(
            &s,
            &root,
            "/cas/",
            json!({"name": format!("dn {i}"), "subject_dn": format!("CN={escaped},O={escaped}"), "key_algorithm": "ecdsa-p256"}),
            "subject_dn",
            "/cas/{}",
        )
        .await;
        if let Some(ca) = ca {
            // A CA with such a name still publishes under its slug, and the
            // public routes of such names never fail.
            let listed = expect(s.get("/cas/", Some(&root)).await, 200);
            assert!(ids(&listed).contains(&ca));
            let got = s
                .post(
                    &format!("/certificates/?ca_id={ca}"),
                    Some(&root),
                    json!({"common_name": name, "certificate_type": "client", "key_algorithm": "ecdsa-p256"}),
                )
                .await;
            if got.0 == 201 {
                assert_eq!(got.1["common_name"], json!(name));
            } else {
                assert_clean_4xx(&got, &format!("certificate CN {name:?}"));
            }
        }
    }
    // Invalid UTF-8 and lone surrogates never reach a handler: 422.
    for raw in [
        b"{\"name\":\"\xff\xfe\"}".to_vec(),
        b"{\"name\":\"\\ud800\"}".to_vec(),
        b"{\"name\":\"\\udfff\\ud800\"}".to_vec(),
        b"{\"name\":\"\xc0\x80\"}".to_vec(),
    ] {
        let r = s
            .req(Method::POST, "/organizations/", Some(&root))
            .header("content-type", "application/json")
            .body(raw.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{}", String::from_utf8_lossy(&raw));
    }
    // The audit log, which records all these names, still lists.
    expect(s.get("/audit-logs/?limit=1000", Some(&root)).await, 200);
    expect(s.get("/healthz", None).await, 200);
}

// ------------------------------------------------------------------ CSRs

/// A structurally valid CSR with an RSA key of `bits` bits and a junk
/// signature: generating a real 16384-bit key takes minutes.
fn fake_rsa_csr_pem(bits: usize) -> String {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let b = len.to_be_bytes();
            let skip = b.iter().take_while(|x| **x == 0).count();
            out.push(0x80 | (b.len() - skip) as u8);
            out.extend_from_slice(&b[skip..]);
        }
        out.extend_from_slice(content);
        out
    }
    let cat = |parts: &[&[u8]]| parts.concat();
    let mut modulus = vec![0u8];
    modulus.extend(std::iter::repeat_n(0xc3, bits / 8));
    let rsa_key = tlv(0x30, &cat(&[&tlv(0x02, &modulus), &tlv(0x02, &[1, 0, 1])]));
    let mut bitstring = vec![0u8];
    bitstring.extend_from_slice(&rsa_key);
    let rsa_oid = [0x06, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 1];
    let alg = tlv(0x30, &cat(&[&rsa_oid, &[0x05, 0x00]]));
    let spki = tlv(0x30, &cat(&[&alg, &tlv(0x03, &bitstring)]));
    let cn = tlv(
        0x31,
        &tlv(0x30, &cat(&[&[0x06, 3, 0x55, 4, 3], &tlv(0x0c, b"big")])),
    );
    let cri = tlv(
        0x30,
        &cat(&[&[0x02, 1, 0], &tlv(0x30, &cn), &spki, &[0xa0, 0]]),
    );
    let sha256_rsa = [0x06, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 11];
    let sig_alg = tlv(0x30, &cat(&[&sha256_rsa, &[0x05, 0x00]]));
    let mut sig = vec![0u8];
    sig.extend(std::iter::repeat_n(0x5a, bits / 8));
    let der = tlv(0x30, &cat(&[&cri, &sig_alg, &tlv(0x03, &sig)]));
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        lines.join("\n")
    )
}

/// A real CSR (P-256, made by openssl) with `n` DNS SANs `h<i>.example`.
fn csr_with_sans(n: usize) -> String {
    let f = Files::new();
    let names: Vec<String> = (0..n).map(|i| format!("DNS.{i} = h{i}.example")).collect();
    let conf = format!(
        "[req]\ndistinguished_name = dn\nreq_extensions = ext\nprompt = no\n[dn]\nCN = many\n[ext]\nsubjectAltName = @alt\n[alt]\n{}\n",
        names.join("\n")
    );
    let conf = f.write("req.cnf", conf);
    let key = f.path("key.pem");
    let csr = f.path("csr.pem");
    openssl_ok(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &key,
    ]);
    openssl_ok(&["req", "-new", "-key", &key, "-config", &conf, "-out", &csr]);
    f.read("csr.pem")
}

#[tokio::test]
async fn hostile_csrs_are_refused_without_quadratic_work() {
    let s = Server::start().await;
    let (root, ca_id) = populated(&s).await;
    // A certificate issued from a CSR, which renews only with a CSR.
    let (csr, _) = make_csr("p256", "/CN=renew.example.com", &[]);
    let from_csr = expect(
        s.post(
            "/certificates/sign-csr",
            Some(&root),
            json!({"csr": csr, "ca_id": ca_id, "certificate_type": "server"}),
        )
        .await,
        201,
    )["id"]
        .as_i64()
        .unwrap();
    let renew = format!("/certificates/{from_csr}/renew");
    let before = snapshot(&s, &root).await;
    let cases = [
        ("10,000 SANs", csr_with_sans(10_000)),
        ("1,001 SANs", csr_with_sans(1_001)),
        ("a 16384-bit RSA key", fake_rsa_csr_pem(16384)),
        ("a 65536-bit RSA key", fake_rsa_csr_pem(65536)),
    ];
    for (what, csr) in &cases {
        for route in ["/certificates/sign-csr", renew.as_str()] {
            let body = if route.ends_with("sign-csr") {
                json!({"csr": csr, "ca_id": ca_id, "certificate_type": "server"})
            } else {
                json!({"csr": csr})
            };
            let start = Instant::now();
            let got = s.post(route, Some(&root), body).await;
            let took = start.elapsed();
            assert_clean_4xx(&got, &format!("{route} with {what}"));
            assert!(took < REFUSAL_BOUND, "{route} with {what} took {took:?}");
        }
    }
    // And 10,000 SANs in a JSON issuance request.
    let names: Vec<String> = (0..10_000).map(|i| format!("h{i}.example")).collect();
    let start = Instant::now();
    let got = s
        .post(
            &format!("/certificates/?ca_id={ca_id}"),
            Some(&root),
            json!({"common_name": "many", "certificate_type": "server", "key_algorithm": "ecdsa-p256", "san_dns_names": names}),
        )
        .await;
    assert_clean_4xx(&got, "10,000 san_dns_names");
    assert!(start.elapsed() < REFUSAL_BOUND, "{:?}", start.elapsed());
    still_intact(&s, &root, &before).await;
}

// ------------------------------------------------------------------ public routes

#[tokio::test]
async fn hostile_path_traversal_in_public_slugs_is_404() {
    let s = Server::start().await;
    let (root, _) = populated(&s).await;
    let before = snapshot(&s, &root).await;
    let long = "a".repeat(8 * 1024);
    let slugs = [
        "..%2f..%2fetc%2fpasswd".to_string(),
        "..%2F..%2F..%2F..%2Fetc%2Fpasswd".to_string(),
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd".to_string(),
        "%252e%252e%252fetc%252fpasswd".to_string(),
        "..%5c..%5cwindows%5cwin.ini".to_string(),
        "....%2f%2f....%2f%2fetc%2fpasswd".to_string(),
        "%2fetc%2fpasswd".to_string(),
        "hostile-ca-1%00".to_string(),
        "hostile-ca-1%00.txt".to_string(),
        "%00".to_string(),
        "%c0%ae%c0%ae%c0%af".to_string(),
        "~root".to_string(),
        "hostile-ca-1;ls".to_string(),
        format!("{long}-1"),
        format!("hostile-ca-{long}"),
        "-".repeat(8 * 1024),
    ];
    for slug in &slugs {
        for path in [
            format!("/crl/{slug}"),
            format!("/crl/{slug}.pem"),
            format!("/ca/{slug}.pem"),
            format!("/ca/{slug}.crt"),
        ] {
            let r = s.raw(&path, None).await;
            let body = String::from_utf8_lossy(&r.body);
            assert_eq!(r.status, 404, "{}: {body}", &path[..path.len().min(80)]);
            assert!(!body.contains("root:"), "{path}: {body}");
            assert_eq!(r.header("content-type"), "application/json");
        }
    }
    // Unencoded dot segments, which HTTP clients normalize away, sent raw.
    for path in [
        "/crl/../../../../etc/passwd",
        "/ca/../../../../etc/passwd.pem",
        "/ca/./hostile-ca-1/../../etc/passwd.crt",
        "//etc/passwd",
        "/crl/hostile-ca-1/../../../etc/passwd",
    ] {
        let (status, text) = raw_http(&s, path).await;
        assert_eq!(status, 404, "{path}: {text}");
        assert!(!text.contains("root:"), "{path}: {text}");
    }
    // Bytes HTTP does not allow in a path: refused by the HTTP layer (400) or not found.
    for path in ["/crl/..\\..\\etc\\passwd", "/ca/\x7f.pem", "/crl/a\"b"] {
        let (status, text) = raw_http(&s, path).await;
        assert!(status == 400 || status == 404, "{path}: {text}");
        assert!(!text.contains("root:"), "{path}: {text}");
    }
    // The real slug still works.
    let r = s.raw("/crl/hostile-ca-1", None).await;
    assert_eq!(r.status, 200);
    still_intact(&s, &root, &before).await;
}

// ------------------------------------------------------------------ credentials

/// Whether an Authorization value presents a bearer token at all.
fn presents_bearer(header: &str) -> bool {
    header.split_once(' ').is_some_and(|(scheme, token)| {
        scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()
    })
}

#[tokio::test]
async fn hostile_authorization_headers_are_401() {
    use base64::Engine;
    let s = Server::start().await;
    let (root, _) = populated(&s).await;
    let before = snapshot(&s, &root).await;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = |extra: Value| {
        let now = chrono::Utc::now().timestamp();
        let mut c = json!({"sub": "root", "id": 1, "role": "superuser", "iat": now, "exp": now + 600, "jti": "x"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let server_key = b"test-secret-key-that-is-long-enough-0123456789";
    let sign = |alg: jsonwebtoken::Algorithm, c: &Value| {
        let key = jsonwebtoken::EncodingKey::from_secret(server_key).unwrap();
        jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), c, &key).unwrap()
    };
    let unsigned = |header: &str, c: &Value| {
        format!(
            "{}.{}.",
            b64.encode(header.as_bytes()),
            b64.encode(c.to_string())
        )
    };
    let mut headers: Vec<String> = bad_tokens(&root)
        .into_iter()
        .map(|t| format!("Bearer {t}"))
        .collect();
    headers.extend([
        "Bearer".to_string(),
        "Bearer ".to_string(),
        "Bearer \t ".to_string(),
        "Basic cm9vdDpjb3JyZWN0IGhvcnNlIGJhdHRlcnk=".to_string(),
        "Token abc".to_string(),
        format!("Bearer{root}"),
        format!("Bearer {root} {root}"),
        format!("Bearer {root}.extra"),
        format!("Bearer {}", "A".repeat(16 * 1024)),
        format!(
            "Bearer {}.{}.{}",
            "a".repeat(4000),
            "b".repeat(4000),
            "c".repeat(4000)
        ),
        "Bearer a.b.c".to_string(),
        "Bearer ...".to_string(),
        "Bearer e30.e30.".to_string(),
        "Bearer null".to_string(),
        // alg none and variants, with the claims of a superuser.
        format!(
            "Bearer {}",
            unsigned(r#"{"alg":"none","typ":"JWT"}"#, &claims(json!({})))
        ),
        format!(
            "Bearer {}",
            unsigned(r#"{"alg":"None"}"#, &claims(json!({})))
        ),
        format!(
            "Bearer {}",
            unsigned(r#"{"alg":"NONE"}"#, &claims(json!({})))
        ),
        format!(
            "Bearer {}",
            unsigned(r#"{"typ":"JWT"}"#, &claims(json!({})))
        ),
        // The right key, another HMAC than the configured HS256.
        format!(
            "Bearer {}",
            sign(jsonwebtoken::Algorithm::HS512, &claims(json!({})))
        ),
        format!(
            "Bearer {}",
            sign(jsonwebtoken::Algorithm::HS384, &claims(json!({})))
        ),
        // The right key and algorithm, claims missing or wrong.
        format!(
            "Bearer {}",
            sign(
                jsonwebtoken::Algorithm::HS256,
                &claims(json!({"exp": null}))
            )
        ),
        format!(
            "Bearer {}",
            sign(
                jsonwebtoken::Algorithm::HS256,
                &claims(json!({"exp": "never"}))
            )
        ),
        format!(
            "Bearer {}",
            sign(jsonwebtoken::Algorithm::HS256, &claims(json!({"exp": 1})))
        ),
        format!(
            "Bearer {}",
            sign(
                jsonwebtoken::Algorithm::HS256,
                &claims(json!({"id": 999_999}))
            )
        ),
        format!(
            "Bearer {}",
            sign(jsonwebtoken::Algorithm::HS256, &claims(json!({"id": "1"})))
        ),
        format!(
            "Bearer {}",
            sign(
                jsonwebtoken::Algorithm::HS256,
                &claims(json!({"sub": "nobody", "id": -1}))
            )
        ),
        // Service-account look-alikes.
        "Bearer fpki_sa_".to_string(),
        "Bearer fpki_sa_.".to_string(),
        "Bearer fpki_sa_x.y".to_string(),
        "Bearer fpki_sa_../../etc.passwd".to_string(),
        format!("Bearer fpki_sa_{}.{}", "x".repeat(8000), "y".repeat(8000)),
        "Bearer fpki_sa_%00.%00".to_string(),
    ]);
    let routes = [
        (Method::GET, "/users/me"),
        (Method::GET, "/cas/"),
        (Method::GET, "/certificates/1"),
        (Method::GET, "/export/ca/1/private-key"),
        (Method::GET, "/service-accounts/"),
        (Method::POST, "/auth/invalidate"),
        // Token optional here, but a bad one is still refused.
        (Method::POST, "/users/"),
    ];
    for header in &headers {
        for (m, path) in &routes {
            let r = s
                .req(m.clone(), path, None)
                .header("authorization", header.as_str())
                .json(&json!({"username": "intruder", "email": "i@example.com", "password": "a-good-password", "role": "superuser"}))
                .send()
                .await
                .unwrap();
            let shown = &header[..header.len().min(60)];
            // Registration takes a request without a bearer token as anonymous
            // (FastAPI's optional OAuth2 scheme does the same): 403, since the
            // first user exists and open registration is off.
            let status = if *path == "/users/" && !presents_bearer(header) {
                403
            } else {
                401
            };
            assert_eq!(r.status(), status, "{m} {path} with {shown}");
            if status == 401 {
                assert_eq!(r.headers()["www-authenticate"], "Bearer");
            }
            let v: Value = r.json().await.unwrap();
            assert!(v["detail"].is_string(), "{v}");
        }
    }
    // Bytes that are not valid header text, and two Authorization headers.
    let r = s
        .req(Method::GET, "/users/me", None)
        .header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = s
        .req(Method::GET, "/users/me", None)
        .header("authorization", "Bearer garbage")
        .header("authorization", format!("Bearer {root}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the first Authorization header counts");
    // The scheme is case-insensitive: the real token still works.
    let r = s
        .req(Method::GET, "/users/me", None)
        .header("authorization", format!("bEaReR {root}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    still_intact(&s, &root, &before).await;
}

// ------------------------------------------------------------------ fuzzer findings

/// Found by scripts/schemathesis.sh: serde fills a struct from a JSON array,
/// field by field, so `PUT /organizations/1` with `[null, null]` was a 200.
#[tokio::test]
async fn hostile_json_bodies_must_be_objects() {
    let s = Server::start().await;
    let (root, _) = populated(&s).await;
    let before = snapshot(&s, &root).await;
    for (m, path) in [
        (Method::PUT, "/organizations/1"),
        (Method::POST, "/organizations/"),
        (Method::POST, "/users/"),
        (Method::PATCH, "/users/2"),
        (Method::POST, "/cas/"),
        (Method::POST, "/service-accounts/"),
        (Method::POST, "/service-accounts/1/tokens"),
        (Method::POST, "/certificates/1/revoke"),
        (Method::POST, "/auth/refresh"),
    ] {
        for body in [
            "[null, null]",
            "[\"evil\", \"CN=evil\"]",
            "[\"evil\", \"e@example.com\", \"a-good-password\", \"superuser\"]",
            "[]",
            "\"text\"",
            "42",
            "true",
            " [{}]",
        ] {
            let r = s
                .req(m.clone(), path, Some(&root))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let v: Value = r.json().await.unwrap();
            assert_eq!(status, 422, "{m} {path} {body}: {v}");
            assert_eq!(v["detail"][0]["loc"], json!(["body"]), "{v}");
            assert_eq!(v["detail"][0]["type"], "model_attributes_type", "{v}");
        }
        // Not JSON at all stays json_invalid.
        let r = s
            .req(m.clone(), path, Some(&root))
            .header("content-type", "application/json")
            .body("[nope")
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["detail"][0]["type"], "json_invalid", "{m} {path}: {v}");
    }
    still_intact(&s, &root, &before).await;
}

/// Found by scripts/schemathesis.sh: what the OpenAPI document says about
/// 422 bodies, optional bodies and optional authentication, and pagination
/// bounds, now matches what the server does.
#[tokio::test]
async fn hostile_openapi_document_matches_the_server() {
    let s = Server::start_with(&[("ENABLE_DOCS", "true")]).await;
    let doc = expect(s.get("/api/v1/openapi.json", None).await, 200);
    // A 422 `loc` holds names and list indexes.
    let loc = &doc["components"]["schemas"]["FieldError"]["properties"]["loc"];
    let item = &loc["items"];
    let item = if let Some(r) = item["$ref"].as_str() {
        &doc["components"]["schemas"][r.rsplit('/').next().unwrap()]
    } else {
        item
    };
    let types: Vec<&str> = item["oneOf"]
        .as_array()
        .unwrap_or_else(|| panic!("loc items: {item}"))
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["string", "integer"], "{item}");
    // The first user registers without a token.
    let security = &doc["paths"]["/api/v1/users/"]["post"]["security"];
    assert!(
        security.as_array().unwrap().contains(&json!({})),
        "{security}"
    );
    // Bodies that may be left out.
    for path in [
        "/api/v1/service-accounts/{id}/tokens",
        "/api/v1/certificates/{id}/revoke",
        "/api/v1/certificates/{id}/renew",
    ] {
        let body = &doc["paths"][path]["post"]["requestBody"];
        assert_ne!(body["required"], json!(true), "{path}: {body}");
    }
    // Pagination bounds.
    for path in [
        "/api/v1/users/",
        "/api/v1/cas/",
        "/api/v1/certificates/",
        "/api/v1/audit-logs/",
        "/api/v1/organizations/",
        "/api/v1/service-accounts/",
    ] {
        let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
        let find = |name: &str| {
            params
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("{path}: no {name}"))["schema"]
                .clone()
        };
        assert_eq!(find("skip")["minimum"], 0, "{path}");
        assert_eq!(find("limit")["minimum"], 1, "{path}");
        assert_eq!(find("limit")["maximum"], 1000, "{path}");
    }
}

/// PostgreSQL refuses U+0000 in text, so a NUL in a description, a login
/// name or an audit filter failed deep in a query there (500), while SQLite
/// stored it. Now refused up front, the same on both: 422.
#[tokio::test]
async fn hostile_nul_characters_are_422_on_both_databases() {
    let s = Server::start().await;
    let (root, _) = populated(&s).await;
    let before = snapshot(&s, &root).await;
    for (m, path, body) in [
        (
            Method::POST,
            "/organizations/",
            json!({"name": "n", "description": "a\u{0}b"}),
        ),
        (
            Method::PUT,
            "/organizations/1",
            json!({"name": "hostile-org", "description": "\u{0}"}),
        ),
        (
            Method::POST,
            "/users/",
            json!({"username": "nul\u{0}", "email": "nul@example.com", "password": "a-good-password"}),
        ),
        (
            Method::PATCH,
            "/users/2",
            json!({"email": "a\u{0}@example.com"}),
        ),
        (
            Method::POST,
            "/cas/",
            json!({"name": "n", "subject_dn": "CN=n", "description": "\u{0}", "key_algorithm": "ecdsa-p256"}),
        ),
        (
            Method::POST,
            "/service-accounts/",
            json!({"name": "n", "organization_id": 1, "description": "\u{0}"}),
        ),
        (
            Method::POST,
            "/service-accounts/1/tokens",
            json!({"name": "\u{0}"}),
        ),
        (
            Method::POST,
            "/certificates/1/revoke",
            json!({"reason": "key\u{0}Compromise"}),
        ),
        (
            Method::POST,
            "/auth/refresh",
            json!({"refresh_token": "\u{0}"}),
        ),
    ] {
        let got = s
            .call(m.clone(), path, Some(&root), Some(body.clone()))
            .await;
        assert_eq!(got.0, 422, "{m} {path} {body}: {}", got.1);
        assert_eq!(got.1["detail"][0]["type"], "string_nul", "{}", got.1);
    }
    // An escaped backslash followed by "u0000" is text, not a NUL.
    expect(
        s.post(
            "/organizations/",
            Some(&root),
            json!({"name": "slash", "description": "\\u0000"}),
        )
        .await,
        201,
    );
    for path in [
        "/audit-logs/?action=%00",
        "/audit-logs/?resource_type=ca%00",
        "/certificates/?ca_id=1%00",
    ] {
        let got = s.get(path, Some(&root)).await;
        assert_eq!(got.0, 422, "{path}: {}", got.1);
    }
    let r = s
        .req(Method::POST, "/auth/token", None)
        .form(&[("username", "root\u{0}"), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    expect(s.get("/healthz", None).await, 200);
    // Everything but the one organization with a literal backslash is as before.
    let orgs = expect(s.get("/organizations/", Some(&root)).await, 200);
    assert_eq!(
        orgs.as_array().unwrap().len(),
        before["/organizations/"].as_array().unwrap().len() + 1
    );
}
