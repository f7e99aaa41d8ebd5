//! The ACME wire protocol from RFC 8555, request by request, with a raw
//! client: the directory, nonces, accounts (EAB, onlyReturnExisting,
//! update, deactivation, key rollover), orders refused by identifier or
//! policy, and every malformed, replayed or forged request refused with
//! the RFC's problem type.

use serde_json::{Value, json};

use crate::acme_client::*;
use crate::common::*;

#[tokio::test]
async fn directory_and_nonces() {
    let s = Server::start().await;
    let aw = AcmeWorld::build(&s, true).await;
    let acme = Acme::open(&s, &aw.name).await;
    for name in [
        "newNonce",
        "newAccount",
        "newOrder",
        "revokeCert",
        "keyChange",
        "renewalInfo",
    ] {
        assert!(
            acme.url(name)
                .starts_with(&format!("{}/acme/main/", s.base)),
            "{name}: {}",
            acme.dir
        );
    }
    assert_eq!(acme.dir["meta"]["externalAccountRequired"], true);

    let get = s.client.get(acme.url("newNonce")).send().await.unwrap();
    assert_eq!(get.status(), 204);
    assert_eq!(get.headers()["cache-control"], "no-store");
    let link = get.headers()["link"].to_str().unwrap().to_string();
    assert_eq!(
        link,
        format!("<{}/acme/main/directory>;rel=\"index\"", s.base)
    );
    let (a, b) = (acme.nonce().await, acme.nonce().await);
    assert_ne!(a, b, "each answer carries a fresh nonce");

    let missing = s
        .client
        .get(format!("{}/acme/nope/directory", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.headers().contains_key("replay-nonce"));
}

#[tokio::test]
async fn accounts_with_external_account_binding() {
    let s = Server::start().await;
    let aw = AcmeWorld::build(&s, true).await;
    let acme = Acme::open(&s, &aw.name).await;
    let key = AcmeKey::generate();
    let url = acme.url("newAccount");

    // Required and missing.
    let r = acme
        .post_jwk(&key, &url, Some(&json!({"termsOfServiceAgreed": true})))
        .await;
    r.problem(400, "externalAccountRequired");

    // A binding MAC'd with another key is refused; nothing is created.
    let (kid, hmac) = aw.eab_key(&s).await;
    let wrong = b64(&[7u8; 32]);
    let payload = json!({"externalAccountBinding": eab_binding(&key, &kid, &wrong, &url)});
    acme.post_jwk(&key, &url, Some(&payload))
        .await
        .problem(403, "unauthorized");

    // Bound: 201 with Location; the same key again: 200, same account.
    let account = acme.register(&key, Some((&kid, &hmac))).await;
    let again = acme
        .post_jwk(&key, &url, Some(&json!({"onlyReturnExisting": true})))
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.header("location"), Some(account.as_str()));
    assert_eq!(again.body["status"], "valid");

    // One key binds one account.
    let other = AcmeKey::generate();
    let payload = json!({"externalAccountBinding": eab_binding(&other, &kid, &hmac, &url)});
    acme.post_jwk(&other, &url, Some(&payload))
        .await
        .problem(403, "unauthorized");
    // onlyReturnExisting for an unknown key.
    acme.post_jwk(&other, &url, Some(&json!({"onlyReturnExisting": true})))
        .await
        .problem(400, "accountDoesNotExist");

    // The account's audit entry names the directory's service account.
    let entries = s
        .audit_for(&aw.w.root, "acme_account_create", account_id(&account))
        .await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["service_account_id"], aw.service_account_id);
}

/// The id at the end of an account URL.
pub fn account_id(url: &str) -> i64 {
    url.rsplit('/').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn forged_replayed_and_malformed_requests_are_refused() {
    let s = Server::start().await;
    let aw = AcmeWorld::build(&s, false).await;
    let acme = Acme::open(&s, &aw.name).await;
    let key = AcmeKey::generate();
    let account = acme.register(&key, None).await;
    let new_order = acme.url("newOrder");
    let order = json!({"identifiers": [{"type": "dns", "value": "a.example.test"}]});

    // A nonce is single-use: the replay is badNonce, with a fresh nonce to retry with.
    let nonce = acme.nonce().await;
    let protected = json!({"alg": "ES256", "kid": account, "nonce": nonce, "url": new_order});
    let jws = key.sign(&protected, Some(&order));
    assert_eq!(acme.post_jws(&new_order, &jws).await.status, 201);
    let replay = acme.post_jws(&new_order, &jws).await;
    replay.problem(400, "badNonce");
    assert_ne!(replay.header("replay-nonce"), Some(nonce.as_str()));

    // Nonces that were never ours.
    for bad in ["AAAA", "not base64!", ""] {
        let protected = json!({"alg": "ES256", "kid": account, "nonce": bad, "url": new_order});
        let r = acme
            .post_jws(&new_order, &key.sign(&protected, Some(&order)))
            .await;
        r.problem(400, "badNonce");
    }

    // The signed url must be where the request went.
    let protected = json!({"alg": "ES256", "kid": account, "nonce": acme.nonce().await, "url": acme.url("revokeCert")});
    acme.post_jws(&new_order, &key.sign(&protected, Some(&order)))
        .await
        .problem(403, "unauthorized");

    // alg none and HS256 are not signature algorithms here.
    for alg in ["none", "HS256"] {
        let protected =
            json!({"alg": alg, "kid": account, "nonce": acme.nonce().await, "url": new_order});
        let r = acme
            .post_jws(&new_order, &key.sign(&protected, Some(&order)))
            .await;
        let p = r.problem(400, "badSignatureAlgorithm");
        assert!(
            p["algorithms"]
                .as_array()
                .is_some_and(|a| a.contains(&json!("ES256"))),
            "{p}"
        );
    }

    // jwk where kid is required; kid where jwk is required.
    acme.post_jwk(&key, &new_order, Some(&order))
        .await
        .problem(400, "malformed");
    acme.post_kid(&key, &account, &acme.url("newAccount"), Some(&json!({})))
        .await
        .problem(400, "malformed");

    // Unknown and foreign accounts.
    let unknown = format!("{}/acme/main/account/999999", s.base);
    acme.post_kid(&key, &unknown, &new_order, Some(&order))
        .await
        .problem(400, "accountDoesNotExist");

    // A signature by another key.
    let intruder = AcmeKey::generate();
    acme.post_kid(&intruder, &account, &new_order, Some(&order))
        .await
        .problem(400, "malformed");

    // Media type, size.
    let jws = key.sign(
        &json!({"alg": "ES256", "kid": account, "nonce": acme.nonce().await, "url": new_order}),
        Some(&order),
    );
    acme.post_body(&new_order, jws.to_string(), "application/json")
        .await
        .problem(415, "malformed");
    let huge = json!({"identifiers": [{"type": "dns", "value": "x".repeat(70_000)}]});
    acme.post_kid(&key, &account, &new_order, Some(&huge))
        .await
        .problem(413, "malformed");

    // A deactivated account can do nothing more.
    let r = acme
        .post_kid(
            &key,
            &account,
            &account,
            Some(&json!({"status": "deactivated"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "deactivated");
    acme.post_kid(&key, &account, &new_order, Some(&order))
        .await
        .problem(403, "unauthorized");
}

#[tokio::test]
async fn orders_are_checked_against_identifiers_and_policy() {
    let s = Server::start().await;
    let aw = AcmeWorld::build(&s, false).await;
    let acme = Acme::open(&s, &aw.name).await;
    let key = AcmeKey::generate();
    let account = acme.register(&key, None).await;
    let new_order = acme.url("newOrder");

    // Outside the policy, unsupported type, not a name: one subproblem each.
    let r = acme
        .post_kid(
            &key,
            &account,
            &new_order,
            Some(&json!({"identifiers": [
                {"type": "dns", "value": "ok.example.test"},
                {"type": "dns", "value": "evil.example.com"},
                {"type": "email", "value": "a@example.test"},
                {"type": "dns", "value": "bad_name.example.test"},
            ]})),
        )
        .await;
    let p = r.problem(400, "compound");
    let subs = p["subproblems"].as_array().unwrap();
    assert_eq!(subs.len(), 3, "{p}");
    assert_eq!(
        subs[0]["type"],
        "urn:ietf:params:acme:error:rejectedIdentifier"
    );
    assert_eq!(subs[0]["identifier"]["value"], "evil.example.com");
    assert_eq!(
        subs[1]["type"],
        "urn:ietf:params:acme:error:unsupportedIdentifier"
    );
    assert_eq!(subs[2]["identifier"]["value"], "bad_name.example.test");

    // One refusal: its own type, with its subproblem.
    let r = acme
        .post_kid(
            &key,
            &account,
            &new_order,
            Some(&json!({"identifiers": [{"type": "ip", "value": "10.1.2.3"}]})),
        )
        .await;
    r.problem(400, "rejectedIdentifier");

    // A good order: pending, one authorization per identifier (the wildcard's
    // offers dns-01 only, the address's no dns-01), finalize before ready refused.
    let r = acme
        .post_kid(
            &key,
            &account,
            &new_order,
            Some(&json!({"identifiers": [
                {"type": "dns", "value": "WWW.example.test"},
                {"type": "dns", "value": "*.example.test"},
                {"type": "ip", "value": "127.0.0.1"},
            ]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let order_url = r.header("location").unwrap().to_string();
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["identifiers"][0]["value"], "www.example.test");
    let authzs: Vec<String> = r.body["authorizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect();
    assert_eq!(authzs.len(), 3);
    let types = |a: &Value| -> Vec<String> {
        a["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap().to_string())
            .collect()
    };
    let www = acme.post_kid(&key, &account, &authzs[0], None).await;
    assert_eq!(
        www.body["identifier"],
        json!({"type": "dns", "value": "www.example.test"})
    );
    assert_eq!(types(&www.body), ["http-01", "dns-01", "tls-alpn-01"]);
    let wild = acme.post_kid(&key, &account, &authzs[1], None).await;
    assert_eq!(wild.body["identifier"]["value"], "example.test");
    assert_eq!(wild.body["wildcard"], true);
    assert_eq!(types(&wild.body), ["dns-01"]);
    let ip = acme.post_kid(&key, &account, &authzs[2], None).await;
    assert_eq!(types(&ip.body), ["http-01", "tls-alpn-01"]);
    for c in www.body["challenges"].as_array().unwrap() {
        assert!(c["token"].as_str().unwrap().len() >= 43, "{c}");
        assert_eq!(c["status"], "pending");
    }

    let finalize = r.body["finalize"].as_str().unwrap();
    acme.post_kid(
        &key,
        &account,
        finalize,
        Some(&json!({"csr": b64(b"not yet")})),
    )
    .await
    .problem(403, "orderNotReady");

    // Another account cannot read it.
    let other = AcmeKey::generate();
    let other_account = acme.register(&other, None).await;
    acme.post_kid(&other, &other_account, &order_url, None)
        .await
        .problem(403, "unauthorized");

    // A second order reuses the pending authorization.
    let again = acme
        .post_kid(
            &key,
            &account,
            &new_order,
            Some(&json!({"identifiers": [{"type": "dns", "value": "www.example.test"}]})),
        )
        .await;
    assert_eq!(again.body["authorizations"][0], authzs[0].as_str());

    // Deactivating an authorization makes the first order invalid.
    let r = acme
        .post_kid(
            &key,
            &account,
            &authzs[0],
            Some(&json!({"status": "deactivated"})),
        )
        .await;
    assert_eq!(r.body["status"], "deactivated", "{}", r.body);
    let order = acme.post_kid(&key, &account, &order_url, None).await;
    assert_eq!(order.body["status"], "invalid", "{}", order.body);
    assert!(
        order.body["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("www.example.test")
    );

    // The account's orders list both, newest first.
    let list = acme
        .post_kid(&key, &account, &format!("{account}/orders"), None)
        .await;
    assert_eq!(
        list.body["orders"].as_array().unwrap().len(),
        2,
        "{}",
        list.body
    );
}

#[tokio::test]
async fn key_rollover_moves_the_account_to_the_new_key() {
    let s = Server::start().await;
    let aw = AcmeWorld::build(&s, false).await;
    let acme = Acme::open(&s, &aw.name).await;
    let old = AcmeKey::generate();
    let account = acme.register(&old, None).await;
    let new = AcmeKey::generate();
    let url = acme.url("keyChange");
    let inner = new.sign(
        &json!({"alg": "ES256", "jwk": new.jwk(), "url": url}),
        Some(&json!({"account": account, "oldKey": old.jwk()})),
    );
    let r = acme.post_kid(&old, &account, &url, Some(&inner)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The old key no longer signs for the account; the new one does.
    acme.post_kid(&old, &account, &account, None)
        .await
        .problem(400, "malformed");
    assert_eq!(
        acme.post_kid(&new, &account, &account, None).await.status,
        200
    );

    // A key already in use by another account: 409 with its Location.
    let third = AcmeKey::generate();
    let third_account = acme.register(&third, None).await;
    let inner = third.sign(
        &json!({"alg": "ES256", "jwk": third.jwk(), "url": url}),
        Some(&json!({"account": account, "oldKey": new.jwk()})),
    );
    let r = acme.post_kid(&new, &account, &url, Some(&inner)).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.header("location"), Some(third_account.as_str()));
}

#[tokio::test]
async fn new_orders_are_limited_per_account_with_retry_after() {
    let s = Server::start_with(&[("ACME_ORDERS_PER_ACCOUNT", "2/hour")]).await;
    let aw = AcmeWorld::build(&s, false).await;
    let acme = Acme::open(&s, &aw.name).await;
    let key = AcmeKey::generate();
    let account = acme.register(&key, None).await;
    let order = json!({"identifiers": [{"type": "dns", "value": "limited.example.test"}]});
    for _ in 0..2 {
        let r = acme
            .post_kid(&key, &account, &acme.url("newOrder"), Some(&order))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = acme
        .post_kid(&key, &account, &acme.url("newOrder"), Some(&order))
        .await;
    r.problem(429, "rateLimited");
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&wait), "{wait}");
    // Another account is not held back.
    let other = AcmeKey::generate();
    let other_account = acme.register(&other, None).await;
    let r = acme
        .post_kid(&other, &other_account, &acme.url("newOrder"), Some(&order))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// Orders and authorizations expire (RFC 8555 §7.1.6): an order past its
/// `expires` is invalid with a problem, an authorization past its own is
/// `expired`, and a new order no longer reuses it.
#[tokio::test]
async fn orders_and_authorizations_expire() {
    let s = Server::start().await;
    let aw = AcmeWorld::build(&s, false).await;
    let acme = Acme::open(&s, &aw.name).await;
    let key = AcmeKey::generate();
    let account = acme.register(&key, None).await;
    let order = json!({"identifiers": [{"type": "dns", "value": "old.example.test"}]});
    let r = acme
        .post_kid(&key, &account, &acme.url("newOrder"), Some(&order))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let order_url = r.header("location").unwrap().to_string();
    let authz_url = r.body["authorizations"][0].as_str().unwrap().to_string();

    // A day passes for both, in the database.
    let mut c = s.database().await;
    let past = "2020-01-01T00:00:00.000000Z";
    for table in ["acme_orders", "acme_authorizations"] {
        let sql = format!("UPDATE {table} SET expires_at = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(past)
            .execute(&mut c)
            .await
            .unwrap();
    }

    let o = acme.post_kid(&key, &account, &order_url, None).await;
    assert_eq!(o.body["status"], "invalid", "{}", o.body);
    assert!(
        o.body["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{}",
        o.body
    );
    let a = acme.post_kid(&key, &account, &authz_url, None).await;
    assert_eq!(a.body["status"], "expired", "{}", a.body);
    // Its challenges cannot be answered any more.
    let chall = a.body["challenges"][0]["url"].as_str().unwrap().to_string();
    acme.post_kid(&key, &account, &chall, Some(&json!({})))
        .await
        .problem(400, "malformed");

    // A new order gets a new authorization.
    let again = acme
        .post_kid(&key, &account, &acme.url("newOrder"), Some(&order))
        .await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_ne!(again.body["authorizations"][0], authz_url.as_str());
    assert_eq!(again.body["status"], "pending");
}
