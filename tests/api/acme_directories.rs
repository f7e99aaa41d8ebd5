//! `/acme-directories` and their EAB keys: the admin side of the ACME server.
//! Fields and defaults, name rules, the service account's organization, who
//! may manage them, EAB keys shown once and sealed at rest, revocation, the
//! audit entries, and the cascade of a deletion.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sqlx::{AnyConnection, Row};

use crate::common::{Server, World, expect};

const FERNET: &str = "ZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmQ=";

/// A CA of the caller's organization (leaves allowed) and a service account
/// of it: (ca id, service account id).
async fn ca_and_account(s: &Server, admin: &str, name: &str) -> (i64, i64) {
    let ca = s.create_ca(admin, &format!("{name} CA"), json!({})).await;
    let sa = expect(
        s.post(
            "/service-accounts/",
            Some(admin),
            json!({"name": format!("{name}-acme")}),
        )
        .await,
        201,
    );
    (ca["id"].as_i64().unwrap(), sa["id"].as_i64().unwrap())
}

async fn directory(s: &Server, token: &str, name: &str, ca: i64, sa: i64) -> Value {
    expect(
        s.post(
            "/acme-directories/",
            Some(token),
            json!({"name": name, "ca_id": ca, "service_account_id": sa}),
        )
        .await,
        201,
    )
}

/// The `hmac_key` column of key `kid`, as stored.
async fn stored_hmac(c: &mut AnyConnection, kid: &str) -> String {
    sqlx::query("SELECT hmac_key FROM acme_eab_keys WHERE kid = $1")
        .bind(kid)
        .fetch_one(c)
        .await
        .unwrap()
        .get(0)
}

async fn count(c: &mut AnyConnection, sql: &'static str, id: i64) -> i64 {
    sqlx::query(sql)
        .bind(id)
        .fetch_one(c)
        .await
        .unwrap()
        .get::<i64, _>(0)
}

#[tokio::test]
async fn acme_directories_create_list_read_update_delete() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let adm = &w.admin_a.1;
    let (ca, sa) = ca_and_account(&s, adm, "a").await;
    let d = directory(&s, adm, "prod", ca, sa).await;
    let id = d["id"].as_i64().unwrap();
    assert_eq!(d["name"], "prod");
    assert_eq!(d["ca_id"], ca);
    assert_eq!(d["organization_id"], w.org_a);
    assert_eq!(d["service_account_id"], sa);
    assert_eq!(d["require_eab"], true);
    assert_eq!(
        d["challenge_types"],
        json!(["http-01", "dns-01", "tls-alpn-01"])
    );
    assert_eq!(d["certificate_type"], "server");
    assert_eq!(d["url"], format!("{}/acme/prod/directory", s.base));
    assert!(d["created_at"].is_string() && d["updated_at"].is_string());

    // Every field given.
    let d2 = expect(
        s.post(
            "/acme-directories/",
            Some(adm),
            json!({"name": "clients-2", "ca_id": ca, "service_account_id": sa, "require_eab": false,
                   "challenge_types": ["dns-01"], "certificate_type": "client"}),
        )
        .await,
        201,
    );
    assert_eq!(d2["require_eab"], false);
    assert_eq!(d2["challenge_types"], json!(["dns-01"]));
    assert_eq!(d2["certificate_type"], "client");

    // Lists are scoped: a superuser sees all, an admin its organization's.
    let (b_ca, b_sa) = ca_and_account(&s, &w.admin_b.1, "b").await;
    directory(&s, &w.admin_b.1, "b-dir", b_ca, b_sa).await;
    let names = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect()
    };
    let all = expect(s.get("/acme-directories/", Some(&w.root)).await, 200);
    assert_eq!(names(all), ["prod", "clients-2", "b-dir"]);
    let mine = expect(s.get("/acme-directories/", Some(adm)).await, 200);
    assert_eq!(names(mine), ["prod", "clients-2"]);
    let page = expect(
        s.get("/acme-directories/?skip=1&limit=1", Some(&w.root))
            .await,
        200,
    );
    assert_eq!(names(page), ["clients-2"]);
    expect(s.get("/acme-directories/?limit=0", Some(adm)).await, 422);

    let got = expect(
        s.get(&format!("/acme-directories/{id}"), Some(adm)).await,
        200,
    );
    assert_eq!(got, d);

    // A partial change; the URL follows the name.
    let (ca2, _) = ca_and_account(&s, adm, "a2").await;
    let p = expect(
        s.patch(
            &format!("/acme-directories/{id}"),
            Some(adm),
            json!({"name": "production", "require_eab": false, "challenge_types": ["http-01", "tls-alpn-01"],
                   "certificate_type": "dual_purpose", "ca_id": ca2}),
        )
        .await,
        200,
    );
    assert_eq!(p["name"], "production");
    assert_eq!(p["require_eab"], false);
    assert_eq!(p["challenge_types"], json!(["http-01", "tls-alpn-01"]));
    assert_eq!(p["certificate_type"], "dual_purpose");
    assert_eq!(p["ca_id"], ca2);
    assert_eq!(p["service_account_id"], sa);
    assert_eq!(p["url"], format!("{}/acme/production/directory", s.base));
    assert_eq!(p["created_at"], d["created_at"]);
    // Renaming onto another directory's name.
    let dup = expect(
        s.patch(
            &format!("/acme-directories/{id}"),
            Some(adm),
            json!({"name": "clients-2"}),
        )
        .await,
        400,
    );
    assert!(dup["detail"].as_str().unwrap().contains("already exists"));
    // Its own name again is no conflict.
    expect(
        s.patch(
            &format!("/acme-directories/{id}"),
            Some(adm),
            json!({"name": "production"}),
        )
        .await,
        200,
    );

    expect(
        s.delete(&format!("/acme-directories/{id}"), Some(adm))
            .await,
        204,
    );
    expect(
        s.get(&format!("/acme-directories/{id}"), Some(adm)).await,
        404,
    );
    expect(
        s.delete(&format!("/acme-directories/{id}"), Some(adm))
            .await,
        404,
    );

    // One audit entry per change, on the directory, in its organization.
    for (action, n) in [
        ("acme_directory_create", 1),
        ("acme_directory_update", 2),
        ("acme_directory_delete", 1),
    ] {
        let entries = s.audit_for(&w.root, action, id).await;
        assert_eq!(entries.len(), n, "{action}: {entries:?}");
        let e = &entries[0];
        assert_eq!(e["resource_type"], "acme_directory");
        assert_eq!(e["organization_id"], w.org_a);
        assert_eq!(e["username"], "admin_a");
    }
    let upd = s.audit_for(&w.root, "acme_directory_update", id).await;
    assert!(
        upd.iter().any(|e| e["detail"]
            .as_str()
            .unwrap()
            .contains("name, challenge_types, certificate_type, ca_id, require_eab")),
        "{upd:?}"
    );
}

#[tokio::test]
async fn acme_directories_check_names_fields_ca_and_service_account() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let adm = &w.admin_a.1;
    let (ca, sa) = ca_and_account(&s, adm, "a").await;
    let (b_ca, b_sa) = ca_and_account(&s, &w.admin_b.1, "b").await;
    let post = |body: Value| s.post("/acme-directories/", Some(adm), body);
    let with = |extra: Value| {
        let mut b = json!({"name": "ok", "ca_id": ca, "service_account_id": sa});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let long = "a".repeat(64);
    for bad in ["", "Prod", "a_b", "a.b", "a b", "é", "a/b", long.as_str()] {
        let v = expect(post(with(json!({"name": bad}))).await, 422);
        assert_eq!(v["detail"][0]["loc"], json!(["body", "name"]), "{v}");
    }
    for bad in [
        json!([]),
        json!(["http-01", "http-01"]),
        json!(["tls-sni-01"]),
        json!(["HTTP-01"]),
    ] {
        let v = expect(post(with(json!({"challenge_types": bad}))).await, 422);
        assert_eq!(
            v["detail"][0]["loc"],
            json!(["body", "challenge_types"]),
            "{v}"
        );
    }
    for bad in ["ca", "bogus"] {
        expect(post(with(json!({"certificate_type": bad}))).await, 422);
    }
    expect(post(json!({"name": "x", "ca_id": ca})).await, 422);

    // The service account must be of the CA's organization.
    for other in [b_sa, 999_999] {
        let v = expect(post(with(json!({"service_account_id": other}))).await, 400);
        assert!(
            v["detail"].as_str().unwrap().contains("organization"),
            "{v}"
        );
    }
    // Even a superuser cannot pair organization A's CA with B's account.
    expect(
        s.post(
            "/acme-directories/",
            Some(&w.root),
            with(json!({"service_account_id": b_sa})),
        )
        .await,
        400,
    );
    expect(post(with(json!({"ca_id": 999_999}))).await, 404);
    // A CA that issues no leaves.
    let parent = s.create_ca(adm, "Parent", json!({})).await["id"]
        .as_i64()
        .unwrap();
    s.create_ca(adm, "Child", json!({"parent_ca_id": parent}))
        .await;
    let v = expect(post(with(json!({"ca_id": parent}))).await, 400);
    assert!(v["detail"].as_str().unwrap().contains("leaf"), "{v}");

    let a63 = "a".repeat(63);
    for good in ["a", "web-01", "0", a63.as_str()] {
        expect(post(with(json!({"name": good}))).await, 201);
    }
    let v = expect(post(with(json!({"name": "web-01"}))).await, 400);
    assert_eq!(
        v["detail"],
        "An ACME directory with this name already exists"
    );
    // Names are global: organization B cannot take one either.
    expect(
        s.post(
            "/acme-directories/",
            Some(&w.admin_b.1),
            json!({"name": "web-01", "ca_id": b_ca, "service_account_id": b_sa}),
        )
        .await,
        400,
    );

    // PATCH checks the same rules; moving the CA keeps the account's organization.
    let id = directory(&s, adm, "patched", ca, sa).await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/acme-directories/{id}");
    expect(s.patch(&path, Some(adm), json!({"name": "Bad"})).await, 422);
    expect(
        s.patch(&path, Some(adm), json!({"challenge_types": []}))
            .await,
        422,
    );
    expect(
        s.patch(&path, Some(adm), json!({"certificate_type": "ca"}))
            .await,
        422,
    );
    expect(
        s.patch(&path, Some(adm), json!({"service_account_id": b_sa}))
            .await,
        400,
    );
    expect(
        s.patch(&path, Some(&w.root), json!({"ca_id": b_ca})).await,
        400,
    );
    let moved = expect(
        s.patch(
            &path,
            Some(&w.root),
            json!({"ca_id": b_ca, "service_account_id": b_sa}),
        )
        .await,
        200,
    );
    assert_eq!(moved["organization_id"], w.org_b);
    // Now organization B's: A's admin lost it, B's admin has it.
    expect(s.get(&path, Some(adm)).await, 403);
    expect(s.get(&path, Some(&w.admin_b.1)).await, 200);
}

#[tokio::test]
async fn acme_directories_belong_to_admins_of_the_cas_organization() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let adm = &w.admin_a.1;
    let (ca, sa) = ca_and_account(&s, adm, "a").await;
    let id = directory(&s, adm, "prod", ca, sa).await["id"]
        .as_i64()
        .unwrap();
    let (_, sa_token) = s
        .service_account(
            adm,
            "robot",
            json!({"can_create_ca": true, "can_create_cert": true}),
        )
        .await;
    let d = format!("/acme-directories/{id}");
    let keys = format!("{d}/eab-keys");
    let create = json!({"name": "new", "ca_id": ca, "service_account_id": sa});
    // Plain users (even with every flag), users without an organization,
    // service-account tokens: 403 on every route; another organization's admin: 403 on A's.
    let all_flags = s
        .create_user(
            &w.root,
            "flags_a",
            "user",
            Some(w.org_a),
            json!({"can_create_ca": true, "can_create_cert": true, "can_revoke_cert": true,
                   "can_export_private_key": true, "can_delete_ca": true}),
        )
        .await
        .1;
    let (_, orgless_admin) = s
        .create_user(&w.root, "adm_none", "admin", None, json!({}))
        .await;
    for (who, token) in [
        ("user_a", w.user_a.1.as_str()),
        ("flags_a", all_flags.as_str()),
        ("orphan", w.orphan.1.as_str()),
        ("orgless admin", orgless_admin.as_str()),
        ("service account", sa_token.as_str()),
    ] {
        for (status, body) in [
            s.post("/acme-directories/", Some(token), create.clone())
                .await,
            s.get("/acme-directories/", Some(token)).await,
            s.get(&d, Some(token)).await,
            s.patch(&d, Some(token), json!({"require_eab": false}))
                .await,
            s.post(&keys, Some(token), json!({})).await,
            s.get(&keys, Some(token)).await,
            s.delete(&format!("{keys}/nope"), Some(token)).await,
            s.delete(&d, Some(token)).await,
        ] {
            assert_eq!(status, 403, "{who}: {body}");
        }
    }
    let b = &w.admin_b.1;
    for (status, body) in [
        s.post("/acme-directories/", Some(b), create.clone()).await,
        s.get(&d, Some(b)).await,
        s.patch(&d, Some(b), json!({"require_eab": false})).await,
        s.post(&keys, Some(b), json!({})).await,
        s.get(&keys, Some(b)).await,
        s.delete(&format!("{keys}/nope"), Some(b)).await,
        s.delete(&d, Some(b)).await,
    ] {
        assert_eq!(status, 403, "admin_b: {body}");
    }
    assert_eq!(
        expect(s.get("/acme-directories/", Some(b)).await, 200),
        json!([])
    );
    for (status, _) in [
        s.get("/acme-directories/", None).await,
        s.get(&d, None).await,
        s.post("/acme-directories/", None, create.clone()).await,
    ] {
        assert_eq!(status, 401);
    }
    expect(s.get("/acme-directories/999999", Some(adm)).await, 404);
    expect(
        s.get("/acme-directories/999999/eab-keys", Some(adm)).await,
        404,
    );
    // The directory is untouched; the superuser manages it too.
    let v = expect(s.get(&d, Some(&w.root)).await, 200);
    assert_eq!(v["require_eab"], true);
    expect(
        s.patch(&d, Some(&w.root), json!({"require_eab": false}))
            .await,
        200,
    );
    expect(s.delete(&d, Some(&w.root)).await, 204);
}

#[tokio::test]
async fn acme_eab_keys_are_shown_once_sealed_at_rest_and_revoked() {
    let s = Server::start_with(&[("PRIVATE_KEY_ENCRYPTION_KEY", FERNET)]).await;
    let w = World::build(&s).await;
    let adm = &w.admin_a.1;
    let (ca, sa) = ca_and_account(&s, adm, "a").await;
    let (_, b_sa) = ca_and_account(&s, &w.admin_b.1, "b").await;
    let other_sa = expect(
        s.post("/service-accounts/", Some(adm), json!({"name": "other"}))
            .await,
        201,
    )["id"]
        .as_i64()
        .unwrap();
    let dir = directory(&s, adm, "prod", ca, sa).await;
    let id = dir["id"].as_i64().unwrap();
    let keys = format!("/acme-directories/{id}/eab-keys");

    // No body at all, or an empty one: the directory's service account.
    let resp = s
        .req(reqwest::Method::POST, &keys, Some(adm))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let k1: Value = resp.json().await.unwrap();
    let k2 = expect(
        s.post(&keys, Some(adm), json!({"service_account_id": other_sa}))
            .await,
        201,
    );
    for k in [&k1, &k2] {
        let hmac = k["hmac_key"].as_str().unwrap();
        assert_eq!(hmac.len(), 43, "{k}");
        assert!(!hmac.contains('=') && !hmac.contains('+') && !hmac.contains('/'));
        assert_eq!(URL_SAFE_NO_PAD.decode(hmac).unwrap().len(), 32);
        let kid = k["kid"].as_str().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(kid).unwrap().len(), 16);
        assert_eq!(k["directory_url"], dir["url"]);
        assert!(k["created_at"].is_string());
    }
    assert_eq!(k1["service_account_id"], Value::Null);
    assert_eq!(k2["service_account_id"], other_sa);
    assert_ne!(k1["kid"], k2["kid"]);
    assert_ne!(k1["hmac_key"], k2["hmac_key"]);
    expect(
        s.post(&keys, Some(adm), json!({"service_account_id": b_sa}))
            .await,
        400,
    );
    expect(
        s.post(&keys, Some(adm), json!({"service_account_id": "x"}))
            .await,
        422,
    );

    // Listed without the HMAC key, not yet bound.
    let list = expect(s.get(&keys, Some(adm)).await, 200);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["kid"], k1["kid"]);
    assert_eq!(list[0]["directory_id"], id);
    for k in list {
        assert!(k.get("hmac_key").is_none(), "{k}");
        assert!(k["bound_at"].is_null() && k["revoked_at"].is_null() && k["account_id"].is_null());
    }
    assert!(
        !serde_json::to_string(list)
            .unwrap()
            .contains(k1["hmac_key"].as_str().unwrap())
    );
    let page = expect(
        s.get(&format!("{keys}?skip=1&limit=5"), Some(adm)).await,
        200,
    );
    assert_eq!(page[0]["kid"], k2["kid"]);

    // At rest: a Fernet token under PRIVATE_KEY_ENCRYPTION_KEY, never the key itself.
    let mut c = s.database().await;
    let stored = stored_hmac(&mut c, k1["kid"].as_str().unwrap()).await;
    assert!(stored.starts_with("gAAAAA"), "{stored}");
    assert!(!stored.contains(k1["hmac_key"].as_str().unwrap()));
    let ks = fastpki::service::keystore::KeyStore::new(Some(FERNET)).unwrap();
    assert_eq!(ks.open(&stored).unwrap(), k1["hmac_key"].as_str().unwrap());
    assert_eq!(
        fastpki::service::acme::eab_keys::open_hmac_key(&ks, &stored).unwrap(),
        URL_SAFE_NO_PAD
            .decode(k1["hmac_key"].as_str().unwrap())
            .unwrap()
    );

    // Key 1 registers an account (as the protocol will); revoking the key deactivates it.
    let now = chrono::Utc::now().to_rfc3339();
    let account: i64 = sqlx::query(
        "INSERT INTO acme_accounts (directory_id, thumbprint, jwk, status, contact, eab_kid, created_at, updated_at) \
         VALUES ($1, 'tp', '{}', 'valid', '[]', $2, $3, $3) RETURNING id",
    )
    .bind(id)
    .bind(k1["kid"].as_str().unwrap())
    .bind(&now)
    .fetch_one(&mut c)
    .await
    .unwrap()
    .get(0);
    sqlx::query("UPDATE acme_eab_keys SET account_id = $1, bound_at = $2 WHERE kid = $3")
        .bind(account)
        .bind(&now)
        .bind(k1["kid"].as_str().unwrap())
        .execute(&mut c)
        .await
        .unwrap();
    let kid1 = k1["kid"].as_str().unwrap();
    expect(s.delete(&format!("{keys}/{kid1}"), Some(adm)).await, 204);
    let status: String = sqlx::query("SELECT status FROM acme_accounts WHERE id = $1")
        .bind(account)
        .fetch_one(&mut c)
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "deactivated");
    let list = expect(s.get(&keys, Some(adm)).await, 200);
    assert!(list[0]["revoked_at"].is_string(), "{list}");
    assert_eq!(list[0]["account_id"], account);
    assert!(list[0]["bound_at"].is_string());
    assert!(list[1]["revoked_at"].is_null());
    // Again: nothing changes, nothing is written.
    expect(s.delete(&format!("{keys}/{kid1}"), Some(adm)).await, 204);
    expect(
        s.delete(&format!("{keys}/no-such-kid"), Some(adm)).await,
        404,
    );
    // Another directory's key is not found under this one.
    let (ca2, sa2) = ca_and_account(&s, adm, "a2").await;
    let other = directory(&s, adm, "other", ca2, sa2).await["id"]
        .as_i64()
        .unwrap();
    let kid2 = k2["kid"].as_str().unwrap();
    expect(
        s.delete(
            &format!("/acme-directories/{other}/eab-keys/{kid2}"),
            Some(adm),
        )
        .await,
        404,
    );
    expect(s.delete(&format!("{keys}/{kid2}"), Some(adm)).await, 204);

    // The audit: two keys made, two revoked (the repeat wrote nothing); never a key.
    let made = s.audit_for(&w.root, "acme_eab_create", id).await;
    let revoked = s.audit_for(&w.root, "acme_eab_revoke", id).await;
    assert_eq!((made.len(), revoked.len()), (2, 2), "{made:?} {revoked:?}");
    assert!(
        revoked.iter().any(|e| e["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("deactivated ACME account {account}"))),
        "{revoked:?}"
    );
    for e in made.iter().chain(&revoked) {
        assert_eq!(e["resource_type"], "acme_directory");
        assert_eq!(e["organization_id"], w.org_a);
        let text = e.to_string();
        for k in [&k1, &k2] {
            assert!(!text.contains(k["hmac_key"].as_str().unwrap()), "{text}");
        }
    }

    // Deleting the directory takes its keys and accounts with it.
    expect(
        s.delete(&format!("/acme-directories/{id}"), Some(adm))
            .await,
        204,
    );
    let q = "SELECT COUNT(*) FROM acme_eab_keys WHERE directory_id = $1";
    assert_eq!(count(&mut c, q, id).await, 0);
    let q = "SELECT COUNT(*) FROM acme_accounts WHERE directory_id = $1";
    assert_eq!(count(&mut c, q, id).await, 0);
}

#[tokio::test]
async fn acme_eab_keys_without_an_encryption_key_are_stored_as_made() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let root = w.root.clone();
    let (ca, sa) = ca_and_account(&s, &w.admin_a.1, "a").await;
    // A CA of no organization has no service account to pair with.
    let orphan_ca = s.create_ca(&root, "Orphan", json!({})).await["id"]
        .as_i64()
        .unwrap();
    expect(
        s.post(
            "/acme-directories/",
            Some(&root),
            json!({"name": "orphan", "ca_id": orphan_ca, "service_account_id": sa}),
        )
        .await,
        400,
    );
    let id = directory(&s, &root, "plain", ca, sa).await["id"]
        .as_i64()
        .unwrap();
    let k = expect(
        s.post(
            &format!("/acme-directories/{id}/eab-keys"),
            Some(&root),
            json!({}),
        )
        .await,
        201,
    );
    let mut c = s.database().await;
    let stored = stored_hmac(&mut c, k["kid"].as_str().unwrap()).await;
    let ks = fastpki::service::keystore::KeyStore::new(None).unwrap();
    assert_eq!(
        fastpki::service::acme::eab_keys::open_hmac_key(&ks, &stored).unwrap(),
        URL_SAFE_NO_PAD
            .decode(k["hmac_key"].as_str().unwrap())
            .unwrap()
    );
}

/// EAB keys are keys at rest like private keys: a start with
/// `PRIVATE_KEY_ENCRYPTION_KEY` seals those stored without it, and
/// `rotate-key` re-seals them under the new key.
#[tokio::test]
async fn acme_eab_keys_are_sealed_at_start_and_rotated() {
    use fastpki::service::acme::eab_keys::open_hmac_key;
    use fastpki::service::key_rotation::{check_at_start, rotate};
    use fastpki::service::keystore::KeyStore;
    const OTHER: &str = "YWJjZGFiY2RhYmNkYWJjZGFiY2RhYmNkYWJjZGFiY2Q=";
    let s = Server::start().await;
    let w = World::build(&s).await;
    let (ca, sa) = ca_and_account(&s, &w.admin_a.1, "a").await;
    let id = directory(&s, &w.admin_a.1, "keys", ca, sa).await["id"]
        .as_i64()
        .unwrap();
    let k = expect(
        s.post(
            &format!("/acme-directories/{id}/eab-keys"),
            Some(&w.admin_a.1),
            json!({}),
        )
        .await,
        201,
    );
    let raw = URL_SAFE_NO_PAD
        .decode(k["hmac_key"].as_str().unwrap())
        .unwrap();
    let mut c = s.database().await;
    let kid = k["kid"].as_str().unwrap();
    assert_eq!(
        stored_hmac(&mut c, kid).await,
        k["hmac_key"].as_str().unwrap()
    );

    let a = KeyStore::new(Some(FERNET)).unwrap();
    check_at_start(&mut c, &a).await.unwrap();
    let sealed = stored_hmac(&mut c, kid).await;
    assert!(sealed.starts_with("gAAAAA"), "{sealed}");
    assert_eq!(open_hmac_key(&a, &sealed).unwrap(), raw);

    let backend = if s.database_url.starts_with("postgres") {
        fastpki::config::Backend::Postgres
    } else {
        fastpki::config::Backend::Sqlite
    };
    let pool = fastpki::store::Db::connect(&s.database_url, backend)
        .await
        .unwrap();
    let b = KeyStore::new(Some(OTHER)).unwrap();
    // The wrong current key changes nothing.
    let err = rotate(&pool, &b, &a).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("certificate authority"),
        "{err:#}"
    );
    assert_eq!(stored_hmac(&mut c, kid).await, sealed);
    rotate(&pool, &a, &b).await.unwrap();
    let rotated = stored_hmac(&mut c, kid).await;
    assert!(rotated.starts_with("gAAAAA") && rotated != sealed);
    assert_eq!(open_hmac_key(&b, &rotated).unwrap(), raw);
    assert!(open_hmac_key(&a, &rotated).is_err());
}
