//! The ACME challenge validators against a real peer: Let's Encrypt's
//! `pebble-challtestsrv` (Debian package `pebble`) answers DNS (every name is
//! 127.0.0.1 unless told otherwise), http-01 and tls-alpn-01 on free loopback
//! ports, which the validator is pointed at through its settings.
//! Without the binary these tests fail, saying what to install.

use base64::Engine;
use fastpki::config::Settings;
use fastpki::service::acme::Identifier;
use fastpki::service::acme::problem::{Problem, ProblemType};
use fastpki::service::acme::validate::Validator;
use test_support::challtestsrv::ChallTestSrv;

/// A challenge test server and a validator pointed at it (with `extra` settings).
struct Peer {
    srv: ChallTestSrv,
    validator: Validator,
    _dir: tempfile::TempDir,
}

async fn peer(extra: &[(&str, &str)]) -> Peer {
    let srv = ChallTestSrv::start().await;
    let validator = validator_for(&srv, extra);
    Peer {
        srv,
        validator: validator.0,
        _dir: validator.1,
    }
}

fn validator_for(srv: &ChallTestSrv, extra: &[(&str, &str)]) -> (Validator, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env: std::collections::HashMap<String, String> = [
        ("FASTPKI_DATA_DIR", dir.path().display().to_string()),
        ("ACME_DNS_RESOLVERS", srv.dns_addr()),
        ("ACME_HTTP01_PORT", srv.http01_port.to_string()),
        ("ACME_TLSALPN01_PORT", srv.tlsalpn01_port.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    let settings = Settings::from_lookup(&|name| env.get(name).cloned()).expect("settings");
    (Validator::new(&settings).expect("validator"), dir)
}

/// The key authorization of `token` for a made-up account key thumbprint.
fn key_authorization(token: &str) -> String {
    format!("{token}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI")
}

fn dns01_value(key_authorization: &str) -> String {
    let digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key_authorization.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

impl Peer {
    async fn validate(&self, kind: &str, id: &Identifier, token: &str) -> Result<(), Problem> {
        self.validator
            .validate(kind, id, token, &key_authorization(token))
            .await
    }
}

#[track_caller]
fn assert_problem(got: Result<(), Problem>, kind: ProblemType, detail_has: &[&str]) -> Problem {
    let p = got.expect_err("validation must fail");
    assert_eq!(p.kind, kind, "{p}");
    for part in detail_has {
        assert!(p.detail.contains(part), "{part:?} not in: {p}");
    }
    p
}

// ---- http-01 ----

#[tokio::test]
async fn http01_accepts_the_key_authorization() {
    let p = peer(&[]).await;
    p.srv
        .add_http01("tok-ok", &key_authorization("tok-ok"))
        .await;
    p.validate("http-01", &Identifier::dns("example.test"), "tok-ok")
        .await
        .expect("valid");
    let seen = p.srv.http_request_history("example.test").await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["URL"], "/.well-known/acme-challenge/tok-ok");
}

#[tokio::test]
async fn http01_refuses_wrong_content() {
    let p = peer(&[]).await;
    p.srv.add_http01("tok-wrong", "something else").await;
    assert_problem(
        p.validate("http-01", &Identifier::dns("example.test"), "tok-wrong")
            .await,
        ProblemType::IncorrectResponse,
        &[
            "/.well-known/acme-challenge/tok-wrong",
            "\"something else\"",
        ],
    );
}

#[tokio::test]
async fn http01_refuses_an_empty_answer() {
    // challtestsrv answers an unknown token with 200 and no body.
    let p = peer(&[]).await;
    assert_problem(
        p.validate("http-01", &Identifier::dns("example.test"), "tok-absent")
            .await,
        ProblemType::IncorrectResponse,
        &["http://example.test:", "got \"\""],
    );
}

#[tokio::test]
async fn http01_refuses_a_404() {
    // challtestsrv's management server answers 404 to the challenge path.
    let srv = ChallTestSrv::start().await;
    let port = srv.management_port.to_string();
    let (validator, _dir) = validator_for(&srv, &[("ACME_HTTP01_PORT", &port)]);
    let got = validator
        .validate(
            "http-01",
            &Identifier::dns("example.test"),
            "tok-absent",
            &key_authorization("tok-absent"),
        )
        .await;
    assert_problem(
        got,
        ProblemType::IncorrectResponse,
        &[
            &format!("GET http://example.test:{port}/.well-known/acme-challenge/tok-absent"),
            "404 Not Found",
        ],
    );
}

#[tokio::test]
async fn http01_follows_a_redirect_on_the_allowed_port() {
    let p = peer(&[]).await;
    let target = format!(
        "http://other.test:{}/.well-known/acme-challenge/tok-target",
        p.srv.http01_port
    );
    p.srv
        .add_redirect("/.well-known/acme-challenge/tok-redir", &target)
        .await;
    p.srv
        .add_http01("tok-target", &key_authorization("tok-redir"))
        .await;
    p.validate("http-01", &Identifier::dns("example.test"), "tok-redir")
        .await
        .expect("valid through the redirect");
    assert_eq!(p.srv.http_request_history("other.test").await.len(), 1);
}

#[tokio::test]
async fn http01_follows_a_redirect_to_https_without_verifying_its_certificate() {
    // An https redirect may lead to ACME_TLSALPN01_PORT: here challtestsrv's
    // HTTPS http-01 server, with a self-signed certificate.
    let srv = ChallTestSrv::start().await;
    let https_port = srv.https01_port.to_string();
    let (validator, _dir) = validator_for(&srv, &[("ACME_TLSALPN01_PORT", &https_port)]);
    let target = format!("https://secure.test:{https_port}/.well-known/acme-challenge/tok-target");
    srv.add_redirect("/.well-known/acme-challenge/tok-redir", &target)
        .await;
    srv.add_http01("tok-target", &key_authorization("tok-redir"))
        .await;
    validator
        .validate(
            "http-01",
            &Identifier::dns("example.test"),
            "tok-redir",
            &key_authorization("tok-redir"),
        )
        .await
        .expect("valid through the https redirect");
    let seen = srv.http_request_history("secure.test").await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["HTTPS"], true);
}

#[tokio::test]
async fn http01_refuses_a_redirect_to_another_port() {
    let p = peer(&[]).await;
    let target = format!(
        "http://other.test:{}/.well-known/acme-challenge/tok-target",
        p.srv.management_port
    );
    p.srv
        .add_redirect("/.well-known/acme-challenge/tok-redir", &target)
        .await;
    assert_problem(
        p.validate("http-01", &Identifier::dns("example.test"), "tok-redir")
            .await,
        ProblemType::Connection,
        &["redirected to", &format!("port {}", p.srv.http01_port)],
    );
}

#[tokio::test]
async fn http01_refuses_a_redirect_to_a_denied_address() {
    let p = peer(&[]).await;
    p.srv.add_a("metadata.test.", &["169.254.169.254"]).await;
    let target = format!(
        "http://metadata.test:{}/latest/meta-data/",
        p.srv.http01_port
    );
    p.srv
        .add_redirect("/.well-known/acme-challenge/tok-redir", &target)
        .await;
    assert_problem(
        p.validate("http-01", &Identifier::dns("example.test"), "tok-redir")
            .await,
        ProblemType::Connection,
        &["169.254.169.254", "not an allowed validation target"],
    );
}

#[tokio::test]
async fn http01_refuses_an_oversized_body() {
    let p = peer(&[]).await;
    let big = format!("{}{}", key_authorization("tok-big"), " ".repeat(9000));
    p.srv.add_http01("tok-big", &big).await;
    assert_problem(
        p.validate("http-01", &Identifier::dns("example.test"), "tok-big")
            .await,
        ProblemType::IncorrectResponse,
        &["larger than 8192 bytes"],
    );
}

// ---- dns-01 ----

#[tokio::test]
async fn dns01_accepts_the_digest() {
    let p = peer(&[]).await;
    let value = dns01_value(&key_authorization("tok-dns"));
    p.srv.set_txt("_acme-challenge.example.test.", &value).await;
    p.validate("dns-01", &Identifier::dns("example.test"), "tok-dns")
        .await
        .expect("valid");
}

#[tokio::test]
async fn dns01_refuses_a_wrong_value_and_sees_a_corrected_one() {
    let p = peer(&[]).await;
    p.srv
        .set_txt("_acme-challenge.example.test.", "not-the-digest")
        .await;
    assert_problem(
        p.validate("dns-01", &Identifier::dns("example.test"), "tok-dns")
            .await,
        ProblemType::IncorrectResponse,
        &["_acme-challenge.example.test", "\"not-the-digest\""],
    );
    // Nothing is cached: the corrected record is seen at once.
    let value = dns01_value(&key_authorization("tok-dns"));
    p.srv.set_txt("_acme-challenge.example.test.", &value).await;
    p.validate("dns-01", &Identifier::dns("example.test"), "tok-dns")
        .await
        .expect("valid once corrected");
}

#[tokio::test]
async fn dns01_refuses_a_missing_record() {
    let p = peer(&[]).await;
    assert_problem(
        p.validate("dns-01", &Identifier::dns("example.test"), "tok-dns")
            .await,
        ProblemType::Dns,
        &["_acme-challenge.example.test"],
    );
}

#[tokio::test]
async fn dns01_follows_a_cname() {
    let p = peer(&[]).await;
    p.srv
        .set_cname(
            "_acme-challenge.example.test.",
            "_acme-challenge.delegated.test.",
        )
        .await;
    let value = dns01_value(&key_authorization("tok-cname"));
    p.srv
        .set_txt("_acme-challenge.delegated.test.", &value)
        .await;
    p.validate("dns-01", &Identifier::dns("example.test"), "tok-cname")
        .await
        .expect("valid through the CNAME");
}

// ---- tls-alpn-01 ----

#[tokio::test]
async fn tls_alpn01_accepts_the_certificate() {
    let p = peer(&[]).await;
    p.srv
        .add_tlsalpn01("example.test", &key_authorization("tok-tls"))
        .await;
    p.validate("tls-alpn-01", &Identifier::dns("example.test"), "tok-tls")
        .await
        .expect("valid");
}

#[tokio::test]
async fn tls_alpn01_refuses_a_certificate_for_another_key_authorization() {
    let p = peer(&[]).await;
    p.srv
        .add_tlsalpn01("example.test", &key_authorization("tok-other"))
        .await;
    assert_problem(
        p.validate("tls-alpn-01", &Identifier::dns("example.test"), "tok-tls")
            .await,
        ProblemType::Unauthorized,
        &["id-pe-acmeIdentifier", "example.test"],
    );
}

#[tokio::test]
async fn tls_alpn01_refuses_a_server_without_tls() {
    let srv = ChallTestSrv::start().await;
    // The http-01 port speaks plain HTTP.
    let port = srv.http01_port.to_string();
    let (validator, _dir) = validator_for(&srv, &[("ACME_TLSALPN01_PORT", &port)]);
    let got = validator
        .validate(
            "tls-alpn-01",
            &Identifier::dns("example.test"),
            "tok-tls",
            &key_authorization("tok-tls"),
        )
        .await;
    let p = got.expect_err("no TLS there");
    assert!(
        matches!(p.kind, ProblemType::Tls | ProblemType::Connection),
        "{p}"
    );
    assert!(p.detail.contains("example.test"), "{p}");
}

// ---- IP identifiers (RFC 8738) ----

#[tokio::test]
async fn ip_identifiers_by_http01() {
    let p = peer(&[]).await;
    let ip = Identifier::ip("127.0.0.1");
    p.srv
        .add_http01("tok-ip", &key_authorization("tok-ip"))
        .await;
    p.validate("http-01", &ip, "tok-ip").await.expect("http-01");
    // RFC 8738 §4: the Host header is the address.
    assert_eq!(p.srv.http_request_history("127.0.0.1").await.len(), 1);

    assert_problem(
        p.validate("dns-01", &ip, "tok-ip").await,
        ProblemType::Malformed,
        &["IP identifier"],
    );
}

/// A tls-alpn-01 responder for one IP identifier (RFC 8738 §6), made here:
/// pebble-challtestsrv 2.4.0 answers a reverse-DNS SNI with a dNSName SAN,
/// not the iPAddress the RFC requires. It serves one handshake and reports
/// the SNI and ALPN protocols the client offered.
async fn ip_tls_alpn01_responder(
    ip: std::net::IpAddr,
    key_authorization: &str,
) -> (u16, tokio::task::JoinHandle<(Option<String>, Vec<Vec<u8>>)>) {
    use std::sync::Arc;
    use tokio_rustls::rustls;

    let digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key_authorization.as_bytes());
    let mut params = rcgen::CertificateParams::default();
    params.subject_alt_names = vec![rcgen::SanType::IpAddress(ip)];
    params
        .custom_extensions
        .push(rcgen::CustomExtension::new_acme_identifier(digest.as_ref()));
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("certificate");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    // Not `with_single_cert`: it parses the certificate with webpki, which
    // refuses the critical acmeIdentifier extension it does not know.
    let signing_key = provider
        .key_provider
        .load_private_key(rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into())
        .expect("signing key");
    let certified = Arc::new(rustls::sign::CertifiedKey::new(
        vec![cert.der().clone()],
        signing_key,
    ));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(OneCertificate(certified)));
    config.alpn_protocols = vec![b"acme-tls/1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let served = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let start = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp)
            .await
            .expect("client hello");
        let hello = start.client_hello();
        let sni = hello.server_name().map(str::to_string);
        let alpn: Vec<Vec<u8>> = hello
            .alpn()
            .map(|protocols| protocols.map(<[u8]>::to_vec).collect())
            .unwrap_or_default();
        let _ = start.into_stream(acceptor.config().clone()).await;
        (sni, alpn)
    });
    (port, served)
}

#[derive(Debug)]
struct OneCertificate(std::sync::Arc<tokio_rustls::rustls::sign::CertifiedKey>);

impl tokio_rustls::rustls::server::ResolvesServerCert for OneCertificate {
    fn resolve(
        &self,
        _: tokio_rustls::rustls::server::ClientHello<'_>,
    ) -> Option<std::sync::Arc<tokio_rustls::rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}

#[tokio::test]
async fn ip_identifiers_by_tls_alpn01() {
    let srv = ChallTestSrv::start().await;
    let ka = key_authorization("tok-ip");
    let (port, served) = ip_tls_alpn01_responder("127.0.0.1".parse().unwrap(), &ka).await;
    let port = port.to_string();
    let (validator, _dir) = validator_for(&srv, &[("ACME_TLSALPN01_PORT", &port)]);
    validator
        .validate("tls-alpn-01", &Identifier::ip("127.0.0.1"), "tok-ip", &ka)
        .await
        .expect("tls-alpn-01");
    let (sni, alpn) = served.await.expect("responder");
    // RFC 8738 §6: the SNI of an address is its reverse-DNS name.
    assert_eq!(sni.as_deref(), Some("1.0.0.127.in-addr.arpa"));
    assert_eq!(alpn, [b"acme-tls/1".to_vec()]);
}

// ---- validation targets ----

#[tokio::test]
async fn a_denied_target_is_never_connected_to() {
    let p = peer(&[("ACME_VALIDATION_DENY_CIDRS", "127.0.0.0/8")]).await;
    p.srv
        .add_http01("tok-deny", &key_authorization("tok-deny"))
        .await;
    assert_problem(
        p.validate("http-01", &Identifier::dns("example.test"), "tok-deny")
            .await,
        ProblemType::Connection,
        &[
            "example.test resolves to 127.0.0.1",
            "not an allowed validation target",
        ],
    );
    let p2 = assert_problem(
        p.validate("http-01", &Identifier::ip("127.0.0.1"), "tok-deny")
            .await,
        ProblemType::Connection,
        &[],
    );
    assert_eq!(p2.detail, "127.0.0.1 is not an allowed validation target");
    p.srv
        .add_tlsalpn01("example.test", &key_authorization("tok-deny"))
        .await;
    assert_problem(
        p.validate("tls-alpn-01", &Identifier::dns("example.test"), "tok-deny")
            .await,
        ProblemType::Connection,
        &["not an allowed validation target"],
    );
    assert!(p.srv.http_request_history("example.test").await.is_empty());
    assert!(p.srv.http_request_history("127.0.0.1").await.is_empty());
    assert!(
        p.srv
            .tlsalpn01_request_history("example.test")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn an_allow_list_admits_only_its_networks() {
    let p = peer(&[("ACME_VALIDATION_ALLOW_CIDRS", "10.0.0.0/8")]).await;
    assert_problem(
        p.validate("http-01", &Identifier::ip("127.0.0.1"), "tok-allow")
            .await,
        ProblemType::Connection,
        &["127.0.0.1 is not an allowed validation target"],
    );
}

#[tokio::test]
async fn the_metadata_address_is_refused_by_default() {
    let p = peer(&[]).await;
    p.srv.add_a("metadata.test.", &["169.254.169.254"]).await;
    assert_problem(
        p.validate("http-01", &Identifier::dns("metadata.test"), "tok-meta")
            .await,
        ProblemType::Connection,
        &[
            "metadata.test resolves to 169.254.169.254",
            "not an allowed validation target",
        ],
    );
    assert_problem(
        p.validate(
            "tls-alpn-01",
            &Identifier::ip("169.254.169.254"),
            "tok-meta",
        )
        .await,
        ProblemType::Connection,
        &["169.254.169.254 is not an allowed validation target"],
    );
}

#[tokio::test]
async fn a_resolver_that_does_not_answer_is_a_dns_problem() {
    let srv = ChallTestSrv::start().await;
    let dead = format!("127.0.0.1:{}", test_support::ports::free_port());
    let (validator, _dir) = validator_for(&srv, &[("ACME_DNS_RESOLVERS", &dead)]);
    let got = validator
        .validate(
            "http-01",
            &Identifier::dns("example.test"),
            "tok-dead",
            &key_authorization("tok-dead"),
        )
        .await;
    assert_problem(got, ProblemType::Dns, &["example.test", "timed out"]);
}
