//! The way of every ACME request (RFC 8555 §6): the directory it names, its
//! URLs, then for a POST the media type, the size, the JWS, the `url`, the
//! nonce (spent once), the signer (`jwk` or an account's `kid`) and the
//! signature. Every answer, problems included, carries a fresh
//! `Replay-Nonce`, `Link: <directory>;rel="index"` and `Cache-Control: no-store`.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::jwk::Jwk;
use super::jws::{Jws, MAX_JWS_BYTES, Payload, Signer, VerifiedJws};
use crate::api::extract::BaseUrl;
use crate::service::AppState;
use crate::service::acme::{AccountRow, DirectoryRow};
use crate::service::acme::{Problem, ProblemType, accounts, directory, nonces};

/// The media type of every ACME POST body (RFC 8555 §6.2).
pub const JOSE_JSON: &str = "application/jose+json";

/// The URLs of one directory, all under `{base}/acme/{name}`.
#[derive(Clone)]
pub struct Urls {
    root: String,
}

impl Urls {
    pub fn new(base: &str, name: &str) -> Self {
        Urls {
            root: format!("{}/acme/{name}", base.trim_end_matches('/')),
        }
    }
    pub fn directory(&self) -> String {
        format!("{}/directory", self.root)
    }
    pub fn resource(&self, name: &str) -> String {
        format!("{}/{name}", self.root)
    }
    pub fn account(&self, id: i64) -> String {
        format!("{}/account/{id}", self.root)
    }
    pub fn orders(&self, account: i64) -> String {
        format!("{}/account/{account}/orders", self.root)
    }
    pub fn order(&self, id: i64) -> String {
        format!("{}/order/{id}", self.root)
    }
    pub fn finalize(&self, id: i64) -> String {
        format!("{}/order/{id}/finalize", self.root)
    }
    pub fn authz(&self, id: i64) -> String {
        format!("{}/authz/{id}", self.root)
    }
    pub fn challenge(&self, id: i64) -> String {
        format!("{}/chall/{id}", self.root)
    }
    pub fn certificate(&self, id: i64) -> String {
        format!("{}/cert/{id}", self.root)
    }
    /// The account id a `kid` names, if it is an account URL of this directory.
    pub fn account_id(&self, kid: &str) -> Option<i64> {
        let prefix = format!("{}/account/", self.root);
        let id = kid.strip_prefix(&prefix)?;
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        id.parse().ok()
    }
}

/// A request addressed to a directory.
pub struct Acme {
    pub state: AppState,
    pub dir: DirectoryRow,
    pub urls: Urls,
    /// The URL the request was sent to, which its JWS must name.
    pub url: String,
}

impl Acme {
    /// The directory `name` and the URLs seen from `base`.
    /// (`uri`: what the request was sent to, with its query: a
    /// `Link: rel="next"` has one, and the client signs it whole.)
    pub async fn open(
        state: AppState,
        base: &str,
        name: &str,
        uri: &axum::http::Uri,
    ) -> Result<Self, Problem> {
        let dir = directory::load(&state, name).await?;
        let target = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
        Ok(Acme {
            urls: Urls::new(base, &dir.name),
            url: format!("{}{target}", base.trim_end_matches('/')),
            state,
            dir,
        })
    }

    /// Parses a POST body: media type, size, JWS, `url`, then spends its nonce.
    async fn checked(&self, headers: &HeaderMap, body: Body) -> Result<Jws, Problem> {
        let media = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase());
        if media.as_deref() != Some(JOSE_JSON) {
            return Err(Problem::malformed(format!(
                "an ACME request is a JWS sent as Content-Type: {JOSE_JSON}"
            ))
            .with_status(415));
        }
        let bytes: Bytes = axum::body::to_bytes(body, MAX_JWS_BYTES)
            .await
            .map_err(|_| {
                Problem::malformed(format!("the JWS is larger than {MAX_JWS_BYTES} bytes"))
                    .with_status(413)
            })?;
        let jws = Jws::parse(&bytes)?;
        if jws.header().url != self.url {
            return Err(Problem::new(
                ProblemType::Unauthorized,
                format!(
                    "the JWS \"url\" {:?} is not the URL it was sent to ({})",
                    jws.header().url.chars().take(200).collect::<String>(),
                    self.url
                ),
            ));
        }
        nonces::spend(&self.state, &jws.header().nonce).await?;
        Ok(jws)
    }

    /// A request signed by the key it carries (new-account, revocation by
    /// certificate key).
    pub async fn with_jwk(
        &self,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<(Jwk, VerifiedJws), Problem> {
        let jws = self.checked(headers, body).await?;
        let Signer::Jwk(key) = jws.header().signer.clone() else {
            return Err(Problem::malformed(
                "this request is signed with a \"jwk\", not an account's \"kid\"",
            ));
        };
        Ok((key, jws.verify_with_jwk()?))
    }

    /// A request signed by a valid account of this directory (`kid`).
    pub async fn with_account(&self, headers: &HeaderMap, body: Body) -> Result<Signed, Problem> {
        let jws = self.checked(headers, body).await?;
        let account = self.signer_account(&jws).await?;
        self.verify_account(jws, account)
    }

    /// The account a `kid` names (not yet verified).
    pub async fn signer_account(&self, jws: &Jws) -> Result<AccountRow, Problem> {
        let Signer::Kid(kid) = &jws.header().signer else {
            return Err(Problem::malformed(
                "this request is signed by an account: its header has \"kid\", not \"jwk\"",
            ));
        };
        let id = self.urls.account_id(kid).ok_or_else(|| {
            Problem::new(
                ProblemType::AccountDoesNotExist,
                "the \"kid\" is not an account URL of this directory",
            )
        })?;
        accounts::by_id(&self.state, &self.dir, id).await
    }

    fn verify_account(&self, jws: Jws, account: AccountRow) -> Result<Signed, Problem> {
        let key = Jwk::from_json(account.jwk.as_bytes()).map_err(|e| {
            tracing::error!(error = %e, account = account.id, "a stored account key does not parse");
            Problem::internal()
        })?;
        let verified = jws.verify_with_account_key(&key)?;
        Ok(Signed {
            account,
            key,
            payload: verified.payload,
            url: verified.header.url,
        })
    }

    /// A POST with either signer (revoke-cert).
    pub async fn with_either(
        &self,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<EitherSigned, Problem> {
        let jws = self.checked(headers, body).await?;
        match jws.header().signer.clone() {
            Signer::Jwk(key) => Ok(EitherSigned::Key(key, jws.verify_with_jwk()?)),
            Signer::Kid(_) => {
                let account = self.signer_account(&jws).await?;
                Ok(EitherSigned::Account(self.verify_account(jws, account)?))
            }
        }
    }
}

/// The directory a request is addressed to (`/acme/{name}/...`), as an
/// extractor: a missing directory is answered as a problem.
impl FromRequestParts<AppState> for Acme {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let BaseUrl(base) = BaseUrl::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let name = directory_name(parts.uri.path())
            .unwrap_or_default()
            .to_owned();
        Acme::open(state.clone(), &base, &name, &parts.uri)
            .await
            .map_err(IntoResponse::into_response)
    }
}

/// The `{name}` of `/acme/{name}/...`.
fn directory_name(path: &str) -> Option<&str> {
    path.strip_prefix("/acme/")?.split('/').next()
}

/// A POST signed by a valid account of the directory (`kid`), verified.
pub struct ByAccount(pub Acme, pub Signed);

impl FromRequest<AppState> for ByAccount {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let acme = Acme::from_request_parts(&mut parts, state).await?;
        let signed = acme
            .with_account(&parts.headers, body)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(ByAccount(acme, signed))
    }
}

/// A POST signed by the key it carries (`jwk`), verified.
pub struct ByKey(pub Acme, pub Jwk, pub VerifiedJws);

impl FromRequest<AppState> for ByKey {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let acme = Acme::from_request_parts(&mut parts, state).await?;
        let (key, jws) = acme
            .with_jwk(&parts.headers, body)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(ByKey(acme, key, jws))
    }
}

/// A POST signed either way (revoke-cert), verified.
pub struct ByEither(pub Acme, pub EitherSigned);

impl FromRequest<AppState> for ByEither {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let acme = Acme::from_request_parts(&mut parts, state).await?;
        let signed = acme
            .with_either(&parts.headers, body)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(ByEither(acme, signed))
    }
}

/// A resource id from the path; a malformed one is a missing resource.
pub fn resource_id(id: &str, what: &str) -> Result<i64, Problem> {
    id.parse()
        .map_err(|_| Problem::malformed(format!("no such {what}")).with_status(404))
}

/// A request an account signed, verified.
pub struct Signed {
    pub account: AccountRow,
    pub key: Jwk,
    pub payload: Payload,
    pub url: String,
}

impl Signed {
    /// The payload as an object (`{}` for POST-as-GET is not the same: the
    /// caller decides which it accepts).
    pub fn json(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        match &self.payload {
            Payload::Json(map) => Some(map),
            Payload::PostAsGet => None,
        }
    }
}

pub enum EitherSigned {
    Key(Jwk, VerifiedJws),
    Account(Signed),
}

/// The payload as a typed request; `malformed` with the reason otherwise.
/// Members the request type does not name are ignored: clients send more
/// than RFC 8555 asks (Caddy posts a whole order object to new-order), and
/// extensions add members.
pub fn payload_as<T: serde::de::DeserializeOwned>(payload: &Payload) -> Result<T, Problem> {
    let value = match payload {
        Payload::Json(map) => serde_json::Value::Object(map.clone()),
        Payload::PostAsGet => {
            return Err(Problem::malformed(
                "this request needs a JSON payload, not POST-as-GET",
            ));
        }
    };
    serde_json::from_value(value).map_err(|e| Problem::malformed(format!("the payload: {e}")))
}

/// A JSON answer with optional `Location` and `Link` headers.
pub fn json_reply(
    status: StatusCode,
    body: &impl Serialize,
    location: Option<String>,
    links: &[String],
) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    let h = resp.headers_mut();
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(header::LOCATION, l);
    }
    for link in links {
        if let Ok(v) = HeaderValue::from_str(link) {
            h.append(header::LINK, v);
        }
    }
    resp
}

/// Adds `Retry-After` (seconds) to an answer.
pub fn retry_after(mut resp: Response, seconds: u64) -> Response {
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    resp
}

/// The headers every ACME answer carries.
pub async fn acme_headers(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    req: Request,
    next: Next,
) -> Response {
    let name = directory_name(req.uri().path()).map(str::to_owned);
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&nonces::fresh(&state)) {
        h.insert("replay-nonce", v);
    }
    if let Some(name) = name.filter(|n| {
        n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }) {
        let link = format!("<{}>;rel=\"index\"", Urls::new(&base, &name).directory());
        if let Ok(v) = HeaderValue::from_str(&link) {
            h.append(header::LINK, v);
        }
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_urls_round_trip_and_nothing_else_parses() {
        let urls = Urls::new("https://ca.test:8443/", "main");
        assert_eq!(urls.directory(), "https://ca.test:8443/acme/main/directory");
        assert_eq!(urls.account_id(&urls.account(42)), Some(42));
        for kid in [
            "https://ca.test:8443/acme/other/account/42",
            "https://ca.test:8443/acme/main/account/",
            "https://ca.test:8443/acme/main/account/4x",
            "https://ca.test:8443/acme/main/account/-1",
            "https://ca.test:8443/acme/main/account/99999999999999999999999",
            "42",
        ] {
            assert_eq!(urls.account_id(kid), None, "{kid}");
        }
    }
}
