//! The HTTP side of the client: bearer authentication, transparent renewal of an
//! expired access token with the stored refresh token, and server errors turned
//! into [`Failure::Api`] with the server's `detail`.
//!
//! Where the server and token come from, first match wins: `FASTPKI_URL` /
//! `FASTPKI_TOKEN`, then `server.url` / `auth.token` in the configuration file.
//! A token from the environment is never refreshed and never written anywhere.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use reqwest::Method;
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

use super::config::{Config, DEFAULT_SERVER_URL};
use super::{Failure, Res};

/// Where the API lives under the server URL; the Python client hard-codes it too.
pub const API_PREFIX: &str = "/api/v1";

/// Renew a little before `exp` so the request does not race the expiry.
const EXPIRY_MARGIN_SECS: i64 = 10;

pub enum Body {
    None,
    Json(Value),
    Form(Vec<(String, String)>),
}

pub struct Api {
    cfg: Config,
    base: String,
    client: Client,
    token: Option<String>,
    token_from_env: bool,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The claims of a JWT, read without checking its signature (only to decide when to renew).
fn jwt_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The message of an error and of its causes ("error sending request: connection refused").
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// The server's `detail`, readable: text as is, validation lists as `loc: msg`, objects as JSON.
pub fn render_detail(detail: &Value) -> String {
    match detail {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                let loc = i
                    .get("loc")
                    .and_then(Value::as_array)
                    .map(|l| {
                        l.iter()
                            .map(|p| match p {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            })
                            .collect::<Vec<_>>()
                            .join(".")
                    })
                    .unwrap_or_default();
                let msg = i.get("msg").and_then(Value::as_str);
                match (loc.is_empty(), msg) {
                    (false, Some(m)) => format!("{loc}: {m}"),
                    (true, Some(m)) => m.to_string(),
                    _ => i.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// Turns an error response into [`Failure::Api`].
fn api_failure(resp: Response) -> Failure {
    let status = resp.status();
    let text = resp.text().unwrap_or_default();
    let detail = match serde_json::from_str::<Value>(&text) {
        Ok(v) => match v.get("detail") {
            Some(d) => render_detail(d),
            None => text.trim().to_string(),
        },
        Err(_) if text.trim().is_empty() => status.canonical_reason().unwrap_or("").to_string(),
        Err(_) => text.trim().to_string(),
    };
    Failure::Api {
        status: status.as_u16(),
        detail,
    }
}

impl Api {
    pub fn new(cfg: Config) -> Res<Api> {
        let base = env("FASTPKI_URL")
            .or_else(|| cfg.get_str("server.url"))
            .unwrap_or_else(|| DEFAULT_SERVER_URL.to_string())
            .trim()
            .trim_end_matches('/')
            .to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Failure::Usage(format!(
                "server URL {base:?} must start with http:// or https://"
            )));
        }
        let (token, token_from_env) = match env("FASTPKI_TOKEN") {
            Some(t) => (Some(t.trim().to_string()), true),
            None => (cfg.get_str("auth.token"), false),
        };
        let mut builder = Client::builder()
            .user_agent(concat!("fastpki-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            // Large RSA keys are made while we wait: be patient, not endless.
            .timeout(Duration::from_secs(600));
        // A private CA's server often has a certificate from that very CA.
        if let Some(bundle) = env("FASTPKI_CA_BUNDLE").or_else(|| cfg.get_str("server.ca_bundle")) {
            let pem = std::fs::read(&bundle)
                .map_err(|e| Failure::Other(format!("cannot read the CA bundle {bundle}: {e}")))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Failure::Other(format!("{bundle} is not a PEM certificate bundle: {e}"))
            })?;
            builder = builder.tls_certs_merge(certs);
        }
        let client = builder
            .build()
            .map_err(|e| Failure::Other(format!("cannot set up HTTP: {}", chain(&e))))?;
        Ok(Api {
            cfg,
            base,
            client,
            token,
            token_from_env,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn token_from_env(&self) -> bool {
        self.token_from_env
    }

    fn url(&self, path: &str) -> String {
        format!("{}{API_PREFIX}{path}", self.base)
    }

    fn send_raw(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        body: &Body,
        auth: bool,
    ) -> Res<Response> {
        let mut rb = self.client.request(method.clone(), self.url(path));
        if !query.is_empty() {
            rb = rb.query(query);
        }
        rb = match body {
            Body::None => rb,
            Body::Json(v) => rb.json(v),
            Body::Form(f) => rb.form(f),
        };
        if auth && let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        rb.send().map_err(|e| {
            Failure::Other(format!(
                "cannot reach the FastPKI server at {}: {}",
                self.base,
                chain(&e)
            ))
        })
    }

    /// Sends a request; with `auth`, renews an expired session once, transparently.
    pub fn send(
        &mut self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Body,
        auth: bool,
    ) -> Res<Response> {
        let mut renewed = false;
        if auth {
            if self.token.is_none() {
                return Err(Failure::Other(
                    "Not authenticated. Run 'fastpki auth login' first.".into(),
                ));
            }
            if self.token_expired() && self.can_renew() {
                self.renew()?;
                renewed = true;
            }
        }
        loop {
            let resp = self.send_raw(&method, path, query, &body, auth)?;
            if auth
                && resp.status() == reqwest::StatusCode::UNAUTHORIZED
                && !renewed
                && self.can_renew()
            {
                self.renew()?;
                renewed = true;
                continue;
            }
            if resp.status().is_client_error() || resp.status().is_server_error() {
                return Err(api_failure(resp));
            }
            return Ok(resp);
        }
    }

    /// Sends and reads a JSON answer (Null for an empty one, such as a 204).
    pub fn call(
        &mut self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Body,
    ) -> Res<Value> {
        let resp = self.send(method, path, query, body, true)?;
        let text = resp
            .text()
            .map_err(|e| Failure::Other(format!("reading the answer: {}", chain(&e))))?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|e| Failure::Other(format!("the server's answer is not JSON: {e}")))
    }

    pub fn get(&mut self, path: &str, query: &[(&str, String)]) -> Res<Value> {
        self.call(Method::GET, path, query, Body::None)
    }

    pub fn post(&mut self, path: &str, body: Value) -> Res<Value> {
        self.call(Method::POST, path, &[], Body::Json(body))
    }

    /// POST with the token when there is one, anonymously otherwise: the very first
    /// user of a new server is created without a token.
    pub fn post_maybe_anonymous(&mut self, path: &str, body: Value) -> Res<Value> {
        if self.token.is_some() {
            return self.post(path, body);
        }
        let resp = self.send(Method::POST, path, &[], Body::Json(body), false)?;
        resp.json()
            .map_err(|e| Failure::Other(format!("the server's answer is not JSON: {e}")))
    }

    pub fn post_query(&mut self, path: &str, query: &[(&str, String)], body: Value) -> Res<Value> {
        self.call(Method::POST, path, query, Body::Json(body))
    }

    pub fn post_empty(&mut self, path: &str) -> Res<Value> {
        self.call(Method::POST, path, &[], Body::None)
    }

    pub fn put(&mut self, path: &str, body: Value) -> Res<Value> {
        self.call(Method::PUT, path, &[], Body::Json(body))
    }

    pub fn patch(&mut self, path: &str, body: Value) -> Res<Value> {
        self.call(Method::PATCH, path, &[], Body::Json(body))
    }

    pub fn delete(&mut self, path: &str) -> Res<Value> {
        self.call(Method::DELETE, path, &[], Body::None)
    }

    /// The raw body of a download (PEM exports).
    pub fn download(&mut self, path: &str) -> Res<Vec<u8>> {
        let resp = self.send(Method::GET, path, &[], Body::None, true)?;
        resp.bytes()
            .map(|b| b.to_vec())
            .map_err(|e| Failure::Other(format!("reading the download: {}", chain(&e))))
    }

    /// `POST /auth/token`; keeps both tokens, and to whom and where they belong.
    pub fn login(&mut self, username: &str, password: &str) -> Res<Value> {
        let form = Body::Form(vec![
            ("username".into(), username.into()),
            ("password".into(), password.into()),
        ]);
        let resp = self.send(Method::POST, "/auth/token", &[], form, false)?;
        let pair: Value = resp
            .json()
            .map_err(|e| Failure::Other(format!("the server's answer is not JSON: {e}")))?;
        let access = pair
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| Failure::Other("the server sent no access_token".into()))?
            .to_string();
        let mut cfg = Config::load()?;
        cfg.set("auth.token", access.clone().into());
        match pair.get("refresh_token").and_then(Value::as_str) {
            Some(r) => cfg.set("auth.refresh_token", r.into()),
            None => {
                cfg.unset("auth.refresh_token");
            }
        }
        cfg.set("auth.username", username.into());
        cfg.set("auth.server", self.base.clone().into());
        cfg.save()?;
        self.cfg = cfg;
        self.token = Some(access);
        self.token_from_env = false;
        Ok(pair)
    }

    /// Ends the session on the server (best effort) and forgets the tokens locally.
    /// Returns whether the server confirmed the logout.
    pub fn logout(&mut self) -> Res<bool> {
        let mut confirmed = false;
        if !self.token_from_env
            && let (Some(_), Some(refresh)) =
                (self.token.clone(), self.cfg.get_str("auth.refresh_token"))
        {
            let body = Body::Json(json!({ "refresh_token": refresh }));
            // No renewal here: an expired session is over anyway.
            if let Ok(resp) = self.send_raw(&Method::POST, "/auth/logout", &[], &body, true) {
                confirmed = resp.status().is_success();
            }
        }
        let mut cfg = Config::load()?;
        let mut changed = false;
        for key in [
            "auth.token",
            "auth.refresh_token",
            "auth.username",
            "auth.server",
        ] {
            changed |= cfg.unset(key);
        }
        if changed {
            cfg.save()?;
        }
        self.cfg = cfg;
        if !self.token_from_env {
            self.token = None;
        }
        Ok(confirmed)
    }

    fn token_expired(&self) -> bool {
        self.token
            .as_deref()
            .and_then(jwt_claims)
            .and_then(|c| c.get("exp").and_then(Value::as_i64))
            .is_some_and(|exp| exp <= now_secs() + EXPIRY_MARGIN_SECS)
    }

    /// Only the session we logged in ourselves is renewed: not a token from the
    /// environment, not one for another server, not one another client stored for
    /// another user (the Python client overwrites `auth.token` but not our refresh token).
    fn can_renew(&self) -> bool {
        if self.token_from_env || self.cfg.get_str("auth.refresh_token").is_none() {
            return false;
        }
        if let Some(server) = self.cfg.get_str("auth.server")
            && server.trim_end_matches('/') != self.base
        {
            return false;
        }
        let sub = self
            .token
            .as_deref()
            .and_then(jwt_claims)
            .and_then(|c| c.get("sub").and_then(Value::as_str).map(str::to_string));
        match (self.cfg.get_str("auth.username"), sub) {
            (Some(user), Some(sub)) => user == sub,
            _ => true,
        }
    }

    /// `POST /auth/refresh` with the stored refresh token; stores the new pair (mode 0600).
    fn renew(&mut self) -> Res<()> {
        let refresh = self
            .cfg
            .get_str("auth.refresh_token")
            .ok_or_else(|| Failure::Other("no refresh token".into()))?;
        let body = Body::Json(json!({ "refresh_token": refresh }));
        let resp = self.send_raw(&Method::POST, "/auth/refresh", &[], &body, false)?;
        if resp.status().is_success() {
            let pair: Value = resp
                .json()
                .map_err(|e| Failure::Other(format!("the server's answer is not JSON: {e}")))?;
            let access = pair.get("access_token").and_then(Value::as_str);
            let new_refresh = pair.get("refresh_token").and_then(Value::as_str);
            let (Some(access), Some(new_refresh)) = (access, new_refresh) else {
                return Err(Failure::Other(
                    "the server's refresh answer has no tokens".into(),
                ));
            };
            let mut cfg = Config::load()?;
            cfg.set("auth.token", access.into());
            cfg.set("auth.refresh_token", new_refresh.into());
            cfg.save()?;
            self.cfg = cfg;
            self.token = Some(access.to_string());
            return Ok(());
        }
        let failure = api_failure(resp);
        // A refresh token works once: another fastpki process may have renewed first.
        let fresh = Config::load()?;
        let stored = fresh.get_str("auth.token");
        if stored.is_some() && stored != self.token {
            self.token = stored;
            self.cfg = fresh;
            return Ok(());
        }
        let mut cfg = fresh;
        if cfg.unset("auth.refresh_token") {
            cfg.save()?;
        }
        self.cfg = cfg;
        let why = match failure {
            Failure::Api { detail, .. } | Failure::Other(detail) | Failure::Usage(detail) => detail,
            Failure::Aborted | Failure::Silent => String::new(),
        };
        Err(Failure::Api {
            status: 401,
            detail: format!(
                "your session has expired and could not be renewed ({why}). \
                 Run 'fastpki auth login'."
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_read_well() {
        assert_eq!(render_detail(&json!("CA not found")), "CA not found");
        assert_eq!(
            render_detail(&json!([{"loc": ["body", "email"], "msg": "bad email", "type": "x"}])),
            "body.email: bad email"
        );
        assert_eq!(
            render_detail(&json!({"code": "policy_violation"})),
            r#"{"code":"policy_violation"}"#
        );
    }

    #[test]
    fn claims_are_read_without_verification() {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let t = format!("x.{}.y", b64.encode(br#"{"sub":"a","exp":5}"#));
        assert_eq!(jwt_claims(&t).unwrap()["sub"], "a");
        assert!(jwt_claims("fpki_sa_abc.def").is_none());
        assert!(jwt_claims("garbage").is_none());
    }
}
