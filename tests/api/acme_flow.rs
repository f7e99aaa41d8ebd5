//! Whole ACME orders with a real client (the `instant-acme` crate) against
//! the server, the challenges answered by pebble-challtestsrv (Let's
//! Encrypt's challenge test server), which the server's validators reach over
//! loopback: several identifiers with http-01, dns-01 and a wildcard, an IP
//! address, the certificate in the API and verified by openssl, revocation
//! into the CRL, renewal information, and an unanswered challenge that ends
//! invalid with a problem.

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use instant_acme::{
    Account, AuthorizationStatus, BodyWrapper, ChallengeType, ExternalAccountKey, Identifier,
    NewAccount, NewOrder, OrderStatus, RetryPolicy, RevocationReason, RevocationRequest,
};
use serde_json::json;
use test_support::challtestsrv::ChallTestSrv;

use crate::acme_client::*;
use crate::common::*;

async fn server(dns: &ChallTestSrv) -> Server {
    server_with(dns, &[]).await
}

async fn server_with(dns: &ChallTestSrv, extra: &[(&str, &str)]) -> Server {
    let (resolver, http, tls) = (
        dns.dns_addr(),
        dns.http01_port.to_string(),
        dns.tlsalpn01_port.to_string(),
    );
    let mut settings = vec![
        ("ACME_DNS_RESOLVERS", resolver.as_str()),
        ("ACME_HTTP01_PORT", http.as_str()),
        ("ACME_TLSALPN01_PORT", tls.as_str()),
    ];
    settings.extend_from_slice(extra);
    Server::start_with(&settings).await
}

/// An instant-acme account over plain HTTP, bound with a fresh EAB key.
async fn account(s: &Server, aw: &AcmeWorld) -> Account {
    let (kid, hmac) = aw.eab_key(s).await;
    let raw =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &hmac).unwrap();
    let http =
        Client::builder(TokioExecutor::new()).build::<_, BodyWrapper<Bytes>>(HttpConnector::new());
    let (account, _) = Account::builder_with_http(Box::new(http))
        .create(
            &NewAccount {
                contact: &["mailto:ops@example.test"],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            format!("{}/acme/{}/directory", s.base, aw.name),
            Some(&ExternalAccountKey::new(kid, &raw)),
        )
        .await
        .expect("account");
    account
}

fn retries() -> RetryPolicy {
    RetryPolicy::new().timeout(Duration::from_secs(60))
}

/// A P-256 key and a CSR for `names` (DNS names and IP addresses).
fn csr(names: &[&str]) -> (rcgen::KeyPair, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params.serialize_request(&key).unwrap();
    (key, csr.der().to_vec())
}

#[tokio::test]
async fn an_order_with_http01_dns01_a_wildcard_and_an_address_is_issued_revoked_and_listed() {
    let dns = ChallTestSrv::start().await;
    let s = server(&dns).await;
    let aw = AcmeWorld::build(&s, true).await;
    let account = account(&s, &aw).await;
    let identifiers = [
        Identifier::Dns("www.example.test".into()),
        Identifier::Dns("*.example.test".into()),
        Identifier::Ip("127.0.0.1".parse::<IpAddr>().unwrap()),
    ];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .unwrap();
    assert_eq!(order.state().status, OrderStatus::Pending);

    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz.unwrap();
        assert_eq!(authz.status, AuthorizationStatus::Pending);
        let wildcard = authz.identifier().wildcard;
        let kind = if wildcard {
            ChallengeType::Dns01
        } else {
            ChallengeType::Http01
        };
        let mut challenge = authz
            .challenge(kind)
            .expect("the challenge type is offered");
        let key_authorization = challenge.key_authorization();
        if wildcard {
            dns.set_txt(
                "_acme-challenge.example.test.",
                &key_authorization.dns_value(),
            )
            .await;
        } else {
            dns.add_http01(&challenge.token, key_authorization.as_str())
                .await;
        }
        challenge.set_ready().await.unwrap();
    }
    assert_eq!(
        order.poll_ready(&retries()).await.unwrap(),
        OrderStatus::Ready
    );

    let (_key, der) = csr(&["www.example.test", "*.example.test", "127.0.0.1"]);
    order.finalize_csr(&der).await.unwrap();
    let chain = order.poll_certificate(&retries()).await.unwrap();
    let files = Files::new();
    let leaf_pem = pem_blocks(&chain)[0].clone();
    let leaf = files.write("leaf.pem", &leaf_pem);
    let ca = expect(
        s.get(&format!("/cas/{}", aw.ca_id), Some(&aw.w.admin_a.1))
            .await,
        200,
    );
    let root = files.write("root.pem", ca["certificate"].as_str().unwrap());
    openssl_ok(&["verify", "-CAfile", &root, &leaf]);
    let text = x509_text(&leaf_pem);
    for name in [
        "DNS:www.example.test",
        "DNS:*.example.test",
        "IP Address:127.0.0.1",
    ] {
        assert!(text.contains(name), "{name} in\n{text}");
    }

    // The certificate is in the API like any other, issued as the directory's service account.
    let serial = x509_field(&leaf_pem, "-serial")
        .trim_start_matches("serial=")
        .to_lowercase();
    let list = expect(
        s.get(
            &format!("/certificates/?ca_id={}", aw.ca_id),
            Some(&aw.w.admin_a.1),
        )
        .await,
        200,
    );
    let cert = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            serial
                .trim_start_matches('0')
                .ends_with(c["serial_number"].as_str().unwrap().trim_start_matches('0'))
        })
        .unwrap_or_else(|| panic!("serial {serial} not listed: {list}"))
        .clone();
    assert_eq!(cert["key_origin"], "csr");
    assert_eq!(cert["created_by_service_account_id"], aw.service_account_id);
    assert_eq!(cert["common_name"], "www.example.test");
    let cert_id = id(&cert);
    assert_eq!(
        s.audit_for(&aw.w.root, "cert_create", cert_id).await.len(),
        1
    );

    // Revoked over ACME: the API says so and the CRL lists it.
    let der_leaf = pem_to_der(&pem_blocks(&chain)[0]);
    account
        .revoke(&RevocationRequest {
            certificate: &der_leaf.into(),
            reason: Some(RevocationReason::KeyCompromise),
        })
        .await
        .unwrap();
    let after = expect(
        s.get(&format!("/certificates/{cert_id}"), Some(&aw.w.admin_a.1))
            .await,
        200,
    );
    assert_eq!(after["status"], "revoked", "{after}");
    assert_eq!(after["revocation_reason_code"], 1, "{after}");
}

/// The DER of a PEM certificate.
fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body).unwrap()
}

#[tokio::test]
async fn an_unanswered_challenge_ends_invalid_with_a_problem_and_counts_against_the_account() {
    let dns = ChallTestSrv::start().await;
    let s = server_with(&dns, &[("ACME_FAILED_VALIDATIONS_PER_ACCOUNT", "1/hour")]).await;
    let aw = AcmeWorld::build(&s, true).await;
    let account = account(&s, &aw).await;
    let identifiers = [Identifier::Dns("nobody.example.test".into())];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .unwrap();
    {
        let mut authorizations = order.authorizations();
        let mut authz = authorizations.next().await.unwrap().unwrap();
        let mut challenge = authz.challenge(ChallengeType::Http01).unwrap();
        // Nothing is served for its token: every attempt gets a 404.
        challenge.set_ready().await.unwrap();
    }
    // The order ends invalid, its error naming the authorization.
    let err = order.poll_ready(&retries()).await.unwrap_err();
    assert!(
        format!("{err:?}").contains("nobody.example.test is invalid"),
        "{err:?}"
    );
    let mut authorizations = order.authorizations();
    let mut authz = authorizations.next().await.unwrap().unwrap();
    let state = authz.refresh().await.unwrap();
    assert_eq!(state.status, AuthorizationStatus::Invalid);
    let challenge = state
        .challenges
        .iter()
        .find(|c| c.r#type == ChallengeType::Http01)
        .unwrap();
    let error = challenge.error.as_ref().expect("the challenge says why");
    assert!(
        format!("{error:?}").contains("404") || format!("{error:?}").contains("incorrect"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_csr_for_the_account_key_or_other_names_is_refused_and_the_order_stays_ready() {
    let dns = ChallTestSrv::start().await;
    let s = server(&dns).await;
    let aw = AcmeWorld::build(&s, false).await;
    let acme = Acme::open(&s, &aw.name).await;
    let key = AcmeKey::generate();
    let account = acme.register(&key, None).await;
    let r = acme
        .post_kid(
            &key,
            &account,
            &acme.url("newOrder"),
            Some(&json!({"identifiers": [{"type": "dns", "value": "csr.example.test"}]})),
        )
        .await;
    let order_url = r.header("location").unwrap().to_string();
    let finalize = r.body["finalize"].as_str().unwrap().to_string();
    let http01 = acme.challenge_of(&key, &account, &r.body, "http-01").await;
    let token = http01["token"].as_str().unwrap();
    dns.add_http01(token, &format!("{token}.{}", key.thumbprint()))
        .await;
    let answered = acme
        .post_kid(
            &key,
            &account,
            http01["url"].as_str().unwrap(),
            Some(&json!({})),
        )
        .await;
    assert_eq!(answered.status, 200, "{}", answered.body);
    let o = acme.poll_order(&key, &account, &order_url, "ready").await;
    assert_eq!(o["status"], "ready", "{o}");

    // Other names: badCSR; the order is still ready.
    let (_k, other) = csr(&["other.example.test"]);
    acme.post_kid(
        &key,
        &account,
        &finalize,
        Some(&json!({"csr": b64(&other)})),
    )
    .await
    .problem(400, "badCSR");
    // The account key as the certificate key: badCSR.
    let own = key.csr_der("csr.example.test");
    acme.post_kid(&key, &account, &finalize, Some(&json!({"csr": b64(&own)})))
        .await
        .problem(400, "badCSR");
    let o = acme.post_kid(&key, &account, &order_url, None).await;
    assert_eq!(o.body["status"], "ready");

    // A good CSR: valid, with a certificate URL; the chain downloads as PEM.
    let (_k, good) = csr(&["csr.example.test"]);
    let done = acme
        .post_kid(&key, &account, &finalize, Some(&json!({"csr": b64(&good)})))
        .await;
    assert_eq!(done.body["status"], "valid", "{}", done.body);
    let cert_url = done.body["certificate"].as_str().unwrap();
    let pem = acme.post_kid(&key, &account, cert_url, None).await;
    assert_eq!(
        pem.header("content-type"),
        Some("application/pem-certificate-chain")
    );
    let text = pem.body.as_str().unwrap();
    // A root issued it: the chain is the leaf and the root (certbot refuses one certificate).
    let blocks = pem_blocks(text);
    assert_eq!(blocks.len(), 2, "{text}");
    assert!(
        x509_field(&blocks[1], "-subject").contains("ACME Issuing"),
        "{}",
        blocks[1]
    );

    // Finalizing again: orderNotReady.
    acme.post_kid(&key, &account, &finalize, Some(&json!({"csr": b64(&good)})))
        .await
        .problem(403, "orderNotReady");

    // Renewal information: a window in the last third of the validity.
    let leaf = &pem_blocks(text)[0];
    let aki = x509_text(leaf);
    let aki_hex: String = aki
        .split("X509v3 Authority Key Identifier:")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .trim_start_matches("keyid:")
        .replace(':', "");
    let serial_hex = x509_field(leaf, "-serial");
    let serial_hex = serial_hex.trim_start_matches("serial=");
    let serial_hex = if serial_hex.len() % 2 == 1 {
        format!("0{serial_hex}")
    } else {
        serial_hex.to_string()
    };
    let cert_id = format!(
        "{}.{}",
        b64(&hex::decode(aki_hex).unwrap()),
        b64(&hex::decode(serial_hex).unwrap())
    );
    // A new order may name the certificate it replaces (RFC 9773 §5); only
    // this account's certificates, and only CertIDs of this directory.
    let identifiers = json!([{"type": "dns", "value": "csr.example.test"}]);
    let renewal = acme
        .post_kid(
            &key,
            &account,
            &acme.url("newOrder"),
            Some(&json!({"identifiers": identifiers, "replaces": cert_id})),
        )
        .await;
    assert_eq!(renewal.status, 201, "{}", renewal.body);
    assert_eq!(renewal.body["replaces"], cert_id.as_str());
    let bogus = format!("{}.{}", b64(b"not-an-aki"), b64(&[1, 2, 3]));
    acme.post_kid(
        &key,
        &account,
        &acme.url("newOrder"),
        Some(&json!({"identifiers": identifiers, "replaces": bogus})),
    )
    .await
    .problem(400, "malformed");
    let stranger = AcmeKey::generate();
    let stranger_account = acme.register(&stranger, None).await;
    acme.post_kid(
        &stranger,
        &stranger_account,
        &acme.url("newOrder"),
        Some(&json!({"identifiers": identifiers, "replaces": cert_id})),
    )
    .await
    .problem(403, "unauthorized");

    let ri = s
        .client
        .get(format!("{}/{cert_id}", acme.url("renewalInfo")))
        .send()
        .await
        .unwrap();
    assert_eq!(ri.status(), 200);
    assert!(ri.headers().contains_key("retry-after"));
    let window: serde_json::Value = ri.json().await.unwrap();
    assert!(
        window["suggestedWindow"]["start"].as_str().unwrap()
            < window["suggestedWindow"]["end"].as_str().unwrap()
    );

    // Revocation by another account (RFC 8555 §7.6): refused until it holds
    // valid authorizations for every name of the certificate, then accepted.
    let revoke = json!({"certificate": b64(&pem_to_der(leaf)), "reason": 4});
    acme.post_kid(
        &stranger,
        &stranger_account,
        &acme.url("revokeCert"),
        Some(&revoke),
    )
    .await
    .problem(403, "unauthorized");
    let theirs = acme
        .post_kid(
            &stranger,
            &stranger_account,
            &acme.url("newOrder"),
            Some(&json!({"identifiers": identifiers})),
        )
        .await;
    let challenge = acme
        .challenge_of(&stranger, &stranger_account, &theirs.body, "http-01")
        .await;
    let token = challenge["token"].as_str().unwrap();
    dns.add_http01(token, &format!("{token}.{}", stranger.thumbprint()))
        .await;
    acme.post_kid(
        &stranger,
        &stranger_account,
        challenge["url"].as_str().unwrap(),
        Some(&json!({})),
    )
    .await;
    let their_order = theirs.header("location").unwrap().to_string();
    let o = acme
        .poll_order(&stranger, &stranger_account, &their_order, "ready")
        .await;
    assert_eq!(o["status"], "ready", "{o}");
    let r = acme
        .post_kid(
            &stranger,
            &stranger_account,
            &acme.url("revokeCert"),
            Some(&revoke),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    acme.post_kid(&key, &account, &acme.url("revokeCert"), Some(&revoke))
        .await
        .problem(400, "alreadyRevoked");
}

/// A challenge left processing by a server that died mid-validation (its
/// lease still held) is taken up again once the lease lapses, by whichever
/// server polls: validation resumes after a restart.
#[tokio::test]
async fn a_challenge_held_by_a_dead_server_is_validated_once_its_lease_lapses() {
    let dns = ChallTestSrv::start().await;
    let s = server(&dns).await;
    let aw = AcmeWorld::build(&s, false).await;
    let acme = Acme::open(&s, &aw.name).await;
    let key = AcmeKey::generate();
    let account = acme.register(&key, None).await;
    let r = acme
        .post_kid(
            &key,
            &account,
            &acme.url("newOrder"),
            Some(&json!({"identifiers": [{"type": "dns", "value": "resume.example.test"}]})),
        )
        .await;
    let order_url = r.header("location").unwrap().to_string();
    let http01 = acme.challenge_of(&key, &account, &r.body, "http-01").await;
    let token = http01["token"].as_str().unwrap();
    dns.add_http01(token, &format!("{token}.{}", key.thumbprint()))
        .await;

    // As a server that crashed would leave it: processing, one attempt made,
    // leased for three more seconds.
    let mut c = s.database().await;
    let now = chrono::Utc::now();
    let ts =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    sqlx::query("UPDATE acme_challenges SET status = 'processing', attempts = 1, next_attempt_at = $1, lease_until = $2 WHERE token = $3")
        .bind(ts(now))
        .bind(ts(now + chrono::Duration::seconds(3)))
        .bind(token)
        .execute(&mut c)
        .await
        .unwrap();
    let chall = acme
        .post_kid(&key, &account, http01["url"].as_str().unwrap(), None)
        .await;
    assert_eq!(chall.body["status"], "processing");
    assert!(
        dns.http_request_history("resume.example.test")
            .await
            .is_empty(),
        "not while leased"
    );

    let o = acme.poll_order(&key, &account, &order_url, "ready").await;
    assert_eq!(o["status"], "ready", "{o}");
    assert_eq!(
        dns.http_request_history("resume.example.test").await.len(),
        1,
        "validated once"
    );
}
