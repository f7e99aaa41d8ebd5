//! ACME problem documents (RFC 8555 §6.7, RFC 7807): the error types of
//! `urn:ietf:params:acme:error:*` and the HTTP status each answers with by
//! default. The ACME use cases fail with a `Problem`; `api::acme` renders it
//! as `application/problem+json`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::identifier::Identifier;

/// The namespace of the ACME error types (RFC 8555 §6.7).
pub const ERROR_NAMESPACE: &str = "urn:ietf:params:acme:error:";

/// One of the error types registered by RFC 8555 §6.7 (and §9.7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProblemType {
    AccountDoesNotExist,
    AlreadyRevoked,
    BadCsr,
    BadNonce,
    BadPublicKey,
    BadRevocationReason,
    BadSignatureAlgorithm,
    Caa,
    Compound,
    Connection,
    Dns,
    ExternalAccountRequired,
    IncorrectResponse,
    InvalidContact,
    Malformed,
    OrderNotReady,
    RateLimited,
    RejectedIdentifier,
    ServerInternal,
    Tls,
    Unauthorized,
    UnsupportedContact,
    UnsupportedIdentifier,
    UserActionRequired,
}

impl ProblemType {
    /// Every type, in the RFC's order.
    pub const ALL: [ProblemType; 24] = [
        ProblemType::AccountDoesNotExist,
        ProblemType::AlreadyRevoked,
        ProblemType::BadCsr,
        ProblemType::BadNonce,
        ProblemType::BadPublicKey,
        ProblemType::BadRevocationReason,
        ProblemType::BadSignatureAlgorithm,
        ProblemType::Caa,
        ProblemType::Compound,
        ProblemType::Connection,
        ProblemType::Dns,
        ProblemType::ExternalAccountRequired,
        ProblemType::IncorrectResponse,
        ProblemType::InvalidContact,
        ProblemType::Malformed,
        ProblemType::OrderNotReady,
        ProblemType::RateLimited,
        ProblemType::RejectedIdentifier,
        ProblemType::ServerInternal,
        ProblemType::Tls,
        ProblemType::Unauthorized,
        ProblemType::UnsupportedContact,
        ProblemType::UnsupportedIdentifier,
        ProblemType::UserActionRequired,
    ];

    /// The name after the namespace, as the RFC spells it (`badCSR`).
    pub fn name(self) -> &'static str {
        match self {
            ProblemType::AccountDoesNotExist => "accountDoesNotExist",
            ProblemType::AlreadyRevoked => "alreadyRevoked",
            ProblemType::BadCsr => "badCSR",
            ProblemType::BadNonce => "badNonce",
            ProblemType::BadPublicKey => "badPublicKey",
            ProblemType::BadRevocationReason => "badRevocationReason",
            ProblemType::BadSignatureAlgorithm => "badSignatureAlgorithm",
            ProblemType::Caa => "caa",
            ProblemType::Compound => "compound",
            ProblemType::Connection => "connection",
            ProblemType::Dns => "dns",
            ProblemType::ExternalAccountRequired => "externalAccountRequired",
            ProblemType::IncorrectResponse => "incorrectResponse",
            ProblemType::InvalidContact => "invalidContact",
            ProblemType::Malformed => "malformed",
            ProblemType::OrderNotReady => "orderNotReady",
            ProblemType::RateLimited => "rateLimited",
            ProblemType::RejectedIdentifier => "rejectedIdentifier",
            ProblemType::ServerInternal => "serverInternal",
            ProblemType::Tls => "tls",
            ProblemType::Unauthorized => "unauthorized",
            ProblemType::UnsupportedContact => "unsupportedContact",
            ProblemType::UnsupportedIdentifier => "unsupportedIdentifier",
            ProblemType::UserActionRequired => "userActionRequired",
        }
    }

    /// `urn:ietf:params:acme:error:<name>`.
    pub fn urn(self) -> String {
        format!("{ERROR_NAMESPACE}{}", self.name())
    }

    /// The type a URN names, if it is one of the RFC's.
    pub fn from_urn(urn: &str) -> Option<Self> {
        let name = urn.strip_prefix(ERROR_NAMESPACE)?;
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The HTTP status a problem of this type answers with unless the
    /// problem says otherwise. What the client did wrong is 400; what it may
    /// not do is 403 (RFC 8555 §7.3.3 for `userActionRequired`, §7.4 for
    /// `orderNotReady`, as Boulder and Pebble answer); a limit is 429.
    pub fn default_status(self) -> u16 {
        match self {
            ProblemType::Unauthorized
            | ProblemType::Caa
            | ProblemType::OrderNotReady
            | ProblemType::UserActionRequired => 403,
            ProblemType::RateLimited => 429,
            ProblemType::ServerInternal => 500,
            ProblemType::AccountDoesNotExist
            | ProblemType::AlreadyRevoked
            | ProblemType::BadCsr
            | ProblemType::BadNonce
            | ProblemType::BadPublicKey
            | ProblemType::BadRevocationReason
            | ProblemType::BadSignatureAlgorithm
            | ProblemType::Compound
            | ProblemType::Connection
            | ProblemType::Dns
            | ProblemType::ExternalAccountRequired
            | ProblemType::IncorrectResponse
            | ProblemType::InvalidContact
            | ProblemType::Malformed
            | ProblemType::RejectedIdentifier
            | ProblemType::Tls
            | ProblemType::UnsupportedContact
            | ProblemType::UnsupportedIdentifier => 400,
        }
    }
}

impl fmt::Display for ProblemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ERROR_NAMESPACE}{}", self.name())
    }
}

impl Serialize for ProblemType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ProblemType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let urn = String::deserialize(d)?;
        ProblemType::from_urn(&urn)
            .ok_or_else(|| serde::de::Error::custom(format!("{urn:?} is not an ACME error type")))
    }
}

/// A problem about one identifier of a request (RFC 8555 §6.7.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subproblem {
    #[serde(rename = "type")]
    pub kind: ProblemType,
    pub detail: String,
    pub identifier: Identifier,
}

/// An ACME problem document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: ProblemType,
    pub detail: String,
    /// The HTTP status, repeated in the body as RFC 7807 §3.1 allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subproblems: Vec<Subproblem>,
    /// With `badSignatureAlgorithm`: the `alg` values the server accepts
    /// (RFC 8555 §6.2 requires the list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub algorithms: Vec<String>,
    /// With `rateLimited`: seconds until a retry can succeed (the
    /// `Retry-After` header, not a member of the document).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem answered with its type's default status.
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        Problem {
            kind,
            detail: detail.into(),
            status: Some(kind.default_status()),
            subproblems: Vec::new(),
            algorithms: Vec::new(),
            retry_after: None,
        }
    }

    /// `rateLimited`, to be retried after `seconds`.
    pub fn rate_limited(detail: impl Into<String>, seconds: u64) -> Self {
        Problem {
            retry_after: Some(seconds),
            ..Problem::new(ProblemType::RateLimited, detail)
        }
    }

    /// `malformed`: the request does not follow the protocol.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Problem::new(ProblemType::Malformed, detail)
    }

    /// `serverInternal`, with a detail that says nothing of the cause (the
    /// cause belongs in the log, not in the answer).
    pub fn internal() -> Self {
        Problem::new(ProblemType::ServerInternal, "internal server error")
    }

    /// `serverInternal` answered 503 with `Retry-After`: the database cannot
    /// be reached now, and the same request may succeed shortly.
    pub fn database_unavailable() -> Self {
        Problem {
            retry_after: Some(crate::error::DATABASE_RETRY_AFTER_SECS),
            ..Problem::new(
                ProblemType::ServerInternal,
                "The database is unavailable; retry shortly",
            )
            .with_status(503)
        }
    }

    /// A `compound` problem: one subproblem per identifier at fault.
    pub fn compound(detail: impl Into<String>, subproblems: Vec<Subproblem>) -> Self {
        Problem {
            subproblems,
            ..Problem::new(ProblemType::Compound, detail)
        }
    }

    /// The same problem listing the signature algorithms accepted.
    pub fn with_algorithms<S: Into<String>>(mut self, algs: impl IntoIterator<Item = S>) -> Self {
        self.algorithms = algs.into_iter().map(Into::into).collect();
        self
    }

    /// The same problem answered with another status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// The status the answer carries: the problem's own, else the type's.
    pub fn http_status(&self) -> u16 {
        self.status
            .filter(|s| (400..600).contains(s))
            .unwrap_or_else(|| self.kind.default_status())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.detail)
    }
}

impl std::error::Error for Problem {}

/// A database failure: logged here, answered as `serverInternal` without its
/// cause (503 with `Retry-After` while the database cannot be reached).
impl From<sqlx::Error> for Problem {
    fn from(e: sqlx::Error) -> Self {
        if crate::error::database_unreachable(&e) {
            tracing::warn!(error = %e, "ACME request: the database is unavailable");
            return Problem::database_unavailable();
        }
        tracing::error!(error = %e, "ACME request failed on the database");
        Problem::internal()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_type_round_trips_through_its_urn() {
        for t in ProblemType::ALL {
            let urn = t.urn();
            assert!(urn.starts_with("urn:ietf:params:acme:error:"), "{urn}");
            assert_eq!(ProblemType::from_urn(&urn), Some(t));
            assert_eq!(t.to_string(), urn);
            let v = serde_json::to_value(t).unwrap();
            assert_eq!(v, json!(urn));
            assert_eq!(serde_json::from_value::<ProblemType>(v).unwrap(), t);
        }
        assert_eq!(
            ProblemType::BadCsr.urn(),
            "urn:ietf:params:acme:error:badCSR"
        );
        assert_eq!(
            ProblemType::from_urn("urn:ietf:params:acme:error:nope"),
            None
        );
        assert_eq!(ProblemType::from_urn("badNonce"), None);
        assert!(serde_json::from_value::<ProblemType>(json!("urn:acme:error:malformed")).is_err());
    }

    #[test]
    fn names_are_distinct() {
        let mut names: Vec<_> = ProblemType::ALL.iter().map(|t| t.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ProblemType::ALL.len());
    }

    #[test]
    fn default_statuses() {
        use ProblemType as T;
        for (t, status) in [
            (T::BadNonce, 400),
            (T::Malformed, 400),
            (T::BadSignatureAlgorithm, 400),
            (T::BadPublicKey, 400),
            (T::AccountDoesNotExist, 400),
            (T::RejectedIdentifier, 400),
            (T::Unauthorized, 403),
            (T::OrderNotReady, 403),
            (T::UserActionRequired, 403),
            (T::Caa, 403),
            (T::RateLimited, 429),
            (T::ServerInternal, 500),
        ] {
            assert_eq!(t.default_status(), status, "{t}");
        }
    }

    #[test]
    fn serializes_as_rfc_8555_document() {
        let p = Problem::new(ProblemType::BadNonce, "the nonce was already used");
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({
                "type": "urn:ietf:params:acme:error:badNonce",
                "detail": "the nonce was already used",
                "status": 400,
            })
        );
        let c = Problem::compound(
            "some identifiers were refused",
            vec![Subproblem {
                kind: ProblemType::RejectedIdentifier,
                detail: "policy forbids this name".into(),
                identifier: Identifier::dns("evil.example"),
            }],
        );
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v,
            json!({
                "type": "urn:ietf:params:acme:error:compound",
                "detail": "some identifiers were refused",
                "status": 400,
                "subproblems": [{
                    "type": "urn:ietf:params:acme:error:rejectedIdentifier",
                    "detail": "policy forbids this name",
                    "identifier": {"type": "dns", "value": "evil.example"},
                }],
            })
        );
        assert_eq!(serde_json::from_value::<Problem>(v).unwrap(), c);
    }

    #[test]
    fn status_override_and_fallback() {
        let p = Problem::malformed("too big").with_status(413);
        assert_eq!(p.http_status(), 413);
        let p = Problem {
            status: None,
            ..Problem::new(ProblemType::RateLimited, "slow down")
        };
        assert_eq!(p.http_status(), 429);
        let v = serde_json::to_value(&p).unwrap();
        assert!(v.get("status").is_none());
        assert_eq!(Problem::internal().http_status(), 500);
    }

    #[test]
    fn bad_signature_algorithm_lists_algorithms() {
        let p = Problem::new(ProblemType::BadSignatureAlgorithm, "HS256 is not supported")
            .with_algorithms(["RS256", "ES256"]);
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({
                "type": "urn:ietf:params:acme:error:badSignatureAlgorithm",
                "detail": "HS256 is not supported",
                "status": 400,
                "algorithms": ["RS256", "ES256"],
            })
        );
    }
}
