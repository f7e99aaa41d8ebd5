//! A raw ACME client for protocol tests: ES256 account keys, flattened JWS
//! (signed or deliberately broken), nonces, and the world an ACME test needs
//! (a CA, a service account with a policy, a directory).

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub use test_support::acme::{AcmeKey, b64, eab_binding};

use crate::common::*;

/// An answer: status, headers and the body as JSON (or text in `Value::String`).
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem document of `kind` (`urn:ietf:params:acme:error:<kind>`).
    pub fn problem(&self, status: u16, kind: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.body
        );
        assert_eq!(
            self.body["type"],
            format!("urn:ietf:params:acme:error:{kind}"),
            "{}",
            self.body
        );
        assert!(
            self.header("replay-nonce").is_some(),
            "a problem carries a fresh nonce"
        );
        &self.body
    }
}

/// A client of one directory.
pub struct Acme<'a> {
    pub s: &'a Server,
    pub dir: Value,
}

impl<'a> Acme<'a> {
    pub async fn open(s: &'a Server, name: &str) -> Acme<'a> {
        let r = s
            .client
            .get(format!("{}/acme/{name}/directory", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        Acme {
            s,
            dir: r.json().await.unwrap(),
        }
    }

    pub fn url(&self, name: &str) -> String {
        self.dir[name].as_str().unwrap().to_string()
    }

    pub async fn nonce(&self) -> String {
        let r = self
            .s
            .client
            .head(self.url("newNonce"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "new-nonce: {:?}", r.headers());
        r.headers()["replay-nonce"].to_str().unwrap().to_string()
    }

    /// POSTs a body as `application/jose+json`.
    pub async fn post_body(&self, url: &str, body: String, content_type: &str) -> Reply {
        let r = self
            .s
            .client
            .post(url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn post_jws(&self, url: &str, jws: &Value) -> Reply {
        self.post_body(url, jws.to_string(), "application/jose+json")
            .await
    }

    /// A request signed with the key it carries (`jwk`).
    pub async fn post_jwk(&self, key: &AcmeKey, url: &str, payload: Option<&Value>) -> Reply {
        let protected =
            json!({"alg": "ES256", "jwk": key.jwk(), "nonce": self.nonce().await, "url": url});
        self.post_jws(url, &key.sign(&protected, payload)).await
    }

    /// A request signed by the account `kid`.
    pub async fn post_kid(
        &self,
        key: &AcmeKey,
        kid: &str,
        url: &str,
        payload: Option<&Value>,
    ) -> Reply {
        let protected =
            json!({"alg": "ES256", "kid": kid, "nonce": self.nonce().await, "url": url});
        self.post_jws(url, &key.sign(&protected, payload)).await
    }

    /// The challenge of type `kind` of an order's first authorization.
    pub async fn challenge_of(&self, key: &AcmeKey, kid: &str, order: &Value, kind: &str) -> Value {
        let authz_url = order["authorizations"][0]
            .as_str()
            .expect("an authorization");
        let authz = self.post_kid(key, kid, authz_url, None).await;
        authz.body["challenges"]
            .as_array()
            .expect("challenges")
            .iter()
            .find(|c| c["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} challenge in {}", authz.body))
            .clone()
    }

    /// Reads the order every 100 ms until it is `status` (10 s at most); its last state.
    pub async fn poll_order(&self, key: &AcmeKey, kid: &str, url: &str, status: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..100 {
            last = self.post_kid(key, kid, url, None).await.body;
            if last["status"] == status {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        last
    }

    /// Registers `key` (`eab`: kid and base64url HMAC key); the account URL.
    pub async fn register(&self, key: &AcmeKey, eab: Option<(&str, &str)>) -> String {
        let url = self.url("newAccount");
        let mut payload =
            json!({"termsOfServiceAgreed": true, "contact": ["mailto:ops@example.test"]});
        if let Some((kid, hmac_key)) = eab {
            payload["externalAccountBinding"] = eab_binding(key, kid, hmac_key, &url);
        }
        let r = self.post_jwk(key, &url, Some(&payload)).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.header("location").unwrap().to_string()
    }
}

/// What ACME tests stand on: org A's CA, a service account with a policy
/// for `*.example.test`, `example.test` and loopback addresses, and a
/// directory `name` over them.
pub struct AcmeWorld {
    pub w: World,
    pub ca_id: i64,
    pub service_account_id: i64,
    pub directory_id: i64,
    pub name: String,
}

impl AcmeWorld {
    pub async fn build(s: &Server, require_eab: bool) -> AcmeWorld {
        let w = World::build(s).await;
        let ca = s.create_ca(&w.admin_a.1, "ACME Issuing", json!({})).await;
        let ca_id = id(&ca);
        let (sa, _) = s
            .service_account(&w.admin_a.1, "acme-robot", json!({"can_create_cert": true}))
            .await;
        expect(
            s.put(
                &format!("/service-accounts/{sa}/policy"),
                Some(&w.admin_a.1),
                json!({
                "cn_patterns": ["*"],
                "san_dns_patterns": ["*.example.test", "example.test"],
                "san_ip_cidrs": ["127.0.0.0/8", "::1/128"],
                "san_email_domains": [],
                "allowed_ca_ids": [ca_id],
                "allowed_certificate_types": ["server"],
                "max_validity_days": 90,
                "allow_wildcards": true}),
            )
            .await,
            200,
        );
        let name = "main".to_string();
        let dir = expect(
            s.post(
                "/acme-directories/",
                Some(&w.admin_a.1),
                json!({
                "name": name, "ca_id": ca_id, "service_account_id": sa,
                "require_eab": require_eab}),
            )
            .await,
            201,
        );
        AcmeWorld {
            ca_id,
            service_account_id: sa,
            directory_id: id(&dir),
            name,
            w,
        }
    }

    /// A new EAB key of the directory: (kid, base64url HMAC key).
    pub async fn eab_key(&self, s: &Server) -> (String, String) {
        let v = expect(
            s.post(
                &format!("/acme-directories/{}/eab-keys", self.directory_id),
                Some(&self.w.admin_a.1),
                json!({}),
            )
            .await,
            201,
        );
        (
            v["kid"].as_str().unwrap().to_string(),
            v["hmac_key"].as_str().unwrap().to_string(),
        )
    }
}
