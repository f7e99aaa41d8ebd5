//! Request extractors that fail the way FastAPI clients expect: 422 with a
//! list of `{loc, msg, type}`, 413 for oversized bodies, 401 with
//! `WWW-Authenticate: Bearer` for missing or bad credentials.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;

use crate::auth::{self, Principal};
use crate::error::{Error, FieldError};
use crate::service::AppState;

fn body_error(e: BytesRejection) -> Error {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::PayloadTooLarge("Request body too large".into())
    } else {
        Error::BadRequest("Could not read the request body".into())
    }
}

fn serde_loc(prefix: &str, path: &serde_path_to_error::Path) -> Vec<serde_json::Value> {
    let mut loc = vec![serde_json::Value::from(prefix)];
    for seg in path.iter() {
        match seg {
            serde_path_to_error::Segment::Seq { index } => loc.push((*index).into()),
            serde_path_to_error::Segment::Map { key } => loc.push(key.clone().into()),
            serde_path_to_error::Segment::Enum { variant } => loc.push(variant.clone().into()),
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    loc
}

/// A JSON body, whatever the Content-Type says (FastAPI is as lenient).
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::Validation(vec![FieldError {
                loc: vec!["body".into()],
                msg: "Field required".into(),
                kind: "missing".into(),
            }]));
        }
        parse_json(&bytes).map(Json)
    }
}

/// A JSON body that may be absent: an empty body (or `null`) is `T::default()`.
pub struct JsonOrDefault<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for JsonOrDefault<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        let text = bytes.trim_ascii();
        if text.is_empty() || text == b"null" {
            return Ok(JsonOrDefault(T::default()));
        }
        parse_json(&bytes).map(JsonOrDefault)
    }
}

/// PostgreSQL cannot store U+0000 in text: no input may carry it, on either
/// database, so it is refused here rather than failing deep in a query.
fn nul_error(place: &str) -> Error {
    Error::Validation(vec![FieldError {
        loc: vec![place.into()],
        msg: "NUL characters (U+0000) are not allowed".into(),
        kind: "string_nul".into(),
    }])
}

/// Whether a JSON text holds a `\u0000` escape (the only way JSON carries NUL).
fn json_has_nul(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes.get(i + 1) == Some(&b'u') && bytes.get(i + 2..i + 6) == Some(b"0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// Whether a URL-encoded text decodes to a NUL anywhere.
fn urlencoded_has_nul(bytes: &[u8]) -> bool {
    bytes.contains(&0) || bytes.windows(3).any(|w| w == b"%00")
}

/// Every JSON body is an object. serde would also fill a struct from an array
/// (`[null, "x"]`, field by field in order), which FastAPI refuses: so do we.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    if json_has_nul(bytes) {
        return Err(nul_error("body"));
    }
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        let (msg, kind) = match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => (
                "Input should be a valid dictionary or object to extract fields from".to_string(),
                "model_attributes_type",
            ),
            Err(e) => (e.to_string(), "json_invalid"),
        };
        return Err(Error::Validation(vec![FieldError {
            loc: vec!["body".into()],
            msg,
            kind: kind.into(),
        }]));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
        let inner = e.inner();
        let kind = if inner.is_syntax() || inner.is_eof() {
            "json_invalid"
        } else {
            "value_error"
        };
        Error::Validation(vec![FieldError {
            loc: serde_loc("body", e.path()),
            msg: inner.to_string(),
            kind: kind.into(),
        }])
    })
}

/// An `application/x-www-form-urlencoded` body.
pub struct Form<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Form<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        if urlencoded_has_nul(&bytes) {
            return Err(nul_error("body"));
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(&bytes));
        serde_path_to_error::deserialize::<_, T>(de)
            .map(Form)
            .map_err(|e| {
                Error::Validation(vec![FieldError {
                    loc: serde_loc("body", e.path()),
                    msg: e.inner().to_string(),
                    kind: "missing".into(),
                }])
            })
    }
}

/// Query parameters; a bad value is 422 with `loc = ["query", name]`.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        if urlencoded_has_nul(q.as_bytes()) {
            return Err(nul_error("query"));
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
        serde_path_to_error::deserialize::<_, T>(de)
            .map(Query)
            .map_err(|e| {
                Error::Validation(vec![FieldError {
                    loc: serde_loc("query", e.path()),
                    msg: e.inner().to_string(),
                    kind: "value_error".into(),
                }])
            })
    }
}

/// A path parameter; a non-integer id is 422 as in FastAPI.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(e) => Err(Error::Validation(vec![FieldError {
                loc: vec!["path".into()],
                msg: e.body_text(),
                kind: "int_parsing".into(),
            }])),
        }
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The authenticated, active caller.
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller
where
    AppState: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let token = bearer(parts).ok_or_else(|| Error::Unauthorized("Not authenticated".into()))?;
        let principal = auth::authenticate(
            &state.jwt,
            &state.db,
            &state.settings.service_account_token_pepper,
            token,
        )
        .await?;
        if principal.user().is_some_and(|u| !u.is_active) {
            return Err(Error::BadRequest("Inactive user".into()));
        }
        Ok(Caller(principal))
    }
}

/// The authenticated, active caller, who must be a person: service-account
/// tokens are for CAs, certificates and exports, and get 403 everywhere else
/// (users, organizations, audit log, service accounts, sessions).
pub struct UserCaller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for UserCaller
where
    AppState: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        principal.require_user()?;
        Ok(UserCaller(principal))
    }
}

/// A person's token when one is presented; None without one. A bad token is
/// still 401, a service-account token 403.
pub struct MaybeUserCaller(pub Option<Principal>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeUserCaller
where
    AppState: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if bearer(parts).is_none() {
            return Ok(MaybeUserCaller(None));
        }
        UserCaller::from_request_parts(parts, state)
            .await
            .map(|c| MaybeUserCaller(Some(c.0)))
    }
}

/// The server's public base URL, as CDP and AIA URLs and `Link` headers need
/// it: `PUBLIC_BASE_URL`; else the request's scheme (`X-Forwarded-Proto`
/// honoured) and `Host`, but only a host the server trusts (its own listening
/// address, or one in `ALLOWED_HOSTS`): any other `Host` would let a requester
/// point its own certificate's revocation check at a server it controls, so
/// the listening address is used instead.
pub struct BaseUrl(pub String);

/// Marks a request that came over the server's own HTTPS listener.
#[derive(Clone, Copy, Debug)]
pub struct ServedOverTls;

impl<S: Send + Sync> FromRequestParts<S> for BaseUrl
where
    AppState: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        if let Some(base) = &state.settings.public_base_url {
            return Ok(BaseUrl(base.clone()));
        }
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let host = header("host")
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .filter(|h| {
                !h.is_empty()
                    && h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
            })
            .ok_or_else(|| Error::BadRequest("Missing or invalid Host header".into()))?;
        let scheme = match header("x-forwarded-proto") {
            _ if parts.extensions.get::<ServedOverTls>().is_some() => "https",
            Some("https") => "https",
            _ => "http",
        };
        let host = if trusted_host(host, &state.settings.allowed_hosts, state.listen_addr) {
            host.to_ascii_lowercase()
        } else {
            listening_host(state.listen_addr)
        };
        Ok(BaseUrl(format!("{scheme}://{host}")))
    }
}

/// Whether a `Host` header names this server: an `ALLOWED_HOSTS` entry (a bare
/// host there allows any port), the listening address itself, or, when
/// listening on loopback or on every address, a loopback name with its port.
fn trusted_host(host: &str, allowed: &[String], listen: Option<std::net::SocketAddr>) -> bool {
    let host = host.to_ascii_lowercase();
    let (name, port) = split_port(&host);
    if allowed
        .iter()
        .any(|a| *a == host || (split_port(a).1.is_none() && a == name))
    {
        return true;
    }
    let Some(listen) = listen else {
        return false;
    };
    if host.parse::<std::net::SocketAddr>().ok() == Some(listen) {
        return true;
    }
    let loopback_name = name == "localhost"
        || name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (listen.ip().is_loopback() || listen.ip().is_unspecified())
        && loopback_name
        && port == Some(listen.port())
}

/// `host` and its port, if any (`[::1]:8000` is `[::1]` and 8000).
fn split_port(host: &str) -> (&str, Option<u16>) {
    match host.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && (!name.contains(':') || name.ends_with(']')) => {
            (name, port.parse().ok())
        }
        _ => (host, None),
    }
}

/// The listening address as a URL host; every-address binds become loopback.
fn listening_host(listen: Option<std::net::SocketAddr>) -> String {
    match listen {
        Some(mut addr) => {
            if addr.ip().is_unspecified() {
                addr.set_ip(match addr.ip() {
                    std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            addr.to_string()
        }
        None => "localhost".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_servers_hosts_are_trusted() {
        let listen: std::net::SocketAddr = "127.0.0.1:8000".parse().unwrap();
        let none: Vec<String> = vec![];
        assert!(trusted_host("127.0.0.1:8000", &none, Some(listen)));
        assert!(trusted_host("localhost:8000", &none, Some(listen)));
        assert!(trusted_host("[::1]:8000", &none, Some(listen)));
        assert!(!trusted_host("localhost:9000", &none, Some(listen)));
        assert!(!trusted_host("evil.example.com", &none, Some(listen)));
        assert!(!trusted_host("evil.example.com:8000", &none, Some(listen)));
        let allowed = vec![
            "pki.example.com".to_string(),
            "alt.example.com:8443".to_string(),
        ];
        assert!(trusted_host("PKI.example.com", &allowed, Some(listen)));
        assert!(trusted_host("pki.example.com:443", &allowed, Some(listen)));
        assert!(trusted_host("alt.example.com:8443", &allowed, Some(listen)));
        assert!(!trusted_host("alt.example.com", &allowed, Some(listen)));
        // Listening on a public address: loopback names are not it.
        let public: std::net::SocketAddr = "192.0.2.10:8000".parse().unwrap();
        assert!(trusted_host("192.0.2.10:8000", &none, Some(public)));
        assert!(!trusted_host("localhost:8000", &none, Some(public)));
        assert!(!trusted_host("127.0.0.1:8000", &none, None));
    }

    #[test]
    fn the_fallback_is_the_listening_address() {
        assert_eq!(
            listening_host(Some("0.0.0.0:8000".parse().unwrap())),
            "127.0.0.1:8000"
        );
        assert_eq!(
            listening_host(Some("[::]:8000".parse().unwrap())),
            "[::1]:8000"
        );
        assert_eq!(
            listening_host(Some("192.0.2.10:80".parse().unwrap())),
            "192.0.2.10:80"
        );
    }
}
