//! The challenge validators: http-01 and dns-01 (RFC 8555 §8.3, §8.4),
//! tls-alpn-01 (RFC 8737), and IP identifiers (RFC 8738: http-01 and
//! tls-alpn-01 only).
//!
//! One attempt is bounded: 10 s in all, 5 s per TCP connection, 8 KiB of
//! http-01 body. Every address is checked against the allow and deny lists
//! (`targets.rs`) before a connection is opened, including those of redirect
//! targets; names are resolved by the validator's own resolver
//! (`resolver.rs`), never by the system's or an HTTP library's.
//!
//! - `targets.rs`: the allowed addresses, and connecting to one;
//! - `resolver.rs`: DNS lookups (addresses, TXT);
//! - `http01.rs`, `dns01.rs`, `tls_alpn01.rs`: one challenge type each.
//!
//! Which challenge may validate which authorization (a wildcard: dns-01
//! only) is the caller's rule; this module only validates.

mod dns01;
mod http01;
mod resolver;
mod targets;
mod tls_alpn01;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls::ClientConfig;

use self::resolver::Resolver;
use self::targets::{Host, Targets};
use crate::config::Settings;
use crate::service::acme::identifier::Identifier;
use crate::service::acme::problem::{Problem, ProblemType};

/// The most one validation attempt takes, DNS lookups included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest text quoted from a response in a problem's detail.
const QUOTE_CHARS: usize = 128;

/// Validates challenges. Cheap to clone (one `Arc`); build one at start.
#[derive(Clone)]
pub struct Validator {
    inner: Arc<Inner>,
}

struct Inner {
    resolver: Resolver,
    targets: Targets,
    http01_port: u16,
    tlsalpn01_port: u16,
    /// Offers ALPN `acme-tls/1` only; accepts any certificate.
    tls_alpn: Arc<ClientConfig>,
    /// For an http-01 redirect to `https://`; accepts any certificate.
    https: Arc<ClientConfig>,
    timeout: Duration,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("http01_port", &self.inner.http01_port)
            .field("tlsalpn01_port", &self.inner.tlsalpn01_port)
            .finish_non_exhaustive()
    }
}

impl Validator {
    /// A validator with the `ACME_*` settings; fails when the system's DNS
    /// configuration is needed (`ACME_DNS_RESOLVERS` empty) and unreadable.
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        Ok(Validator {
            inner: Arc::new(Inner {
                resolver: Resolver::new(&settings.acme_dns_resolvers)?,
                targets: Targets::new(
                    settings.acme_validation_deny_cidrs.clone(),
                    settings.acme_validation_allow_cidrs.clone(),
                ),
                http01_port: settings.acme_http01_port,
                tlsalpn01_port: settings.acme_tlsalpn01_port,
                tls_alpn: tls_alpn01::insecure_client_config(&[tls_alpn01::ACME_TLS_1])?,
                https: tls_alpn01::insecure_client_config(&[b"http/1.1"])?,
                timeout: ATTEMPT_TIMEOUT,
            }),
        })
    }

    /// One validation attempt of a challenge.
    ///
    /// `kind`: "http-01" | "dns-01" | "tls-alpn-01"; `identifier`: the
    /// authorization's identifier (type "dns" or "ip"; for a wildcard
    /// authorization the base domain without "*.").
    pub async fn validate(
        &self,
        kind: &str,
        identifier: &Identifier,
        token: &str,
        key_authorization: &str,
    ) -> Result<(), Problem> {
        let host = host_of(identifier)?;
        let v = &*self.inner;
        let attempt = async {
            match (kind, &host) {
                ("http-01", _) => {
                    check_token(token)?;
                    http01::validate(v, &host, token, key_authorization).await
                }
                ("dns-01", Host::Name(domain)) => {
                    dns01::validate(v, domain, key_authorization).await
                }
                ("dns-01", Host::Ip(_)) => Err(Problem::malformed(
                    "dns-01 cannot validate an IP identifier (RFC 8738 §7)",
                )),
                ("tls-alpn-01", _) => tls_alpn01::validate(v, &host, key_authorization).await,
                _ => Err(Problem::malformed(format!(
                    "unknown challenge type {}",
                    quote_truncated(kind.as_bytes())
                ))),
            }
        };
        match tokio::time::timeout(v.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(Problem::new(
                ProblemType::Connection,
                format!(
                    "{kind} validation of {} did not finish within {} s",
                    identifier.value,
                    v.timeout.as_secs()
                ),
            )),
        }
    }
}

/// Where an identifier is validated: its DNS name or its address.
fn host_of(identifier: &Identifier) -> Result<Host, Problem> {
    let value = identifier.value.as_str();
    match identifier.kind.as_str() {
        "ip" => value.parse::<IpAddr>().map(Host::Ip).map_err(|_| {
            Problem::malformed(format!(
                "{} is not an IP address",
                quote_truncated(value.as_bytes())
            ))
        }),
        "dns" => {
            let name = value.trim_end_matches('.');
            if name.starts_with("*.") {
                return Err(Problem::malformed(
                    "a wildcard authorization is validated for its base domain, without \"*.\"",
                ));
            }
            let label_ok = |l: &str| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            };
            if name.len() > 253 || !name.split('.').all(label_ok) {
                return Err(Problem::malformed(format!(
                    "{} is not a DNS name",
                    quote_truncated(value.as_bytes())
                )));
            }
            if name.parse::<IpAddr>().is_ok() {
                return Err(Problem::malformed(format!(
                    "{name} is an IP address: its identifier type is \"ip\""
                )));
            }
            Ok(Host::Name(name.to_ascii_lowercase()))
        }
        other => Err(Problem::new(
            ProblemType::UnsupportedIdentifier,
            format!(
                "identifiers of type {} cannot be validated",
                quote_truncated(other.as_bytes())
            ),
        )),
    }
}

/// A token is base64url (RFC 8555 §8.1); it becomes a URL path segment.
fn check_token(token: &str) -> Result<(), Problem> {
    let ok = !token.is_empty()
        && token.len() <= 256
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Problem::malformed("the challenge token is not base64url"))
    }
}

/// SHA-256 of the key authorization: the dns-01 TXT value (base64url) and
/// the tls-alpn-01 extension's content.
fn key_authorization_digest(key_authorization: &str) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key_authorization.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Received bytes for a problem's detail: quoted and escaped, at most 128
/// characters.
fn quote_truncated(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(QUOTE_CHARS).collect();
    if chars.next().is_some() {
        format!("{head:?} (truncated)")
    } else {
        format!("{head:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_become_hosts() {
        assert!(matches!(
            host_of(&Identifier::dns("Example.TEST.")),
            Ok(Host::Name(n)) if n == "example.test"
        ));
        assert!(matches!(
            host_of(&Identifier::ip("::1")),
            Ok(Host::Ip(ip)) if ip.is_loopback()
        ));
        for bad in [
            Identifier::dns("*.example.test"),
            Identifier::dns("a..b"),
            Identifier::dns("a b.test"),
            Identifier::dns("127.0.0.1"),
            Identifier::ip("example.test"),
        ] {
            let p = host_of(&bad).unwrap_err();
            assert_eq!(p.kind, ProblemType::Malformed, "{bad:?}");
        }
        let p = host_of(&Identifier {
            kind: "email".into(),
            value: "a@b.test".into(),
        })
        .unwrap_err();
        assert_eq!(p.kind, ProblemType::UnsupportedIdentifier);
    }

    #[test]
    fn tokens_are_base64url() {
        assert!(check_token("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0").is_ok());
        for bad in ["", "../etc", "a/b", "a?b", "a%2e"] {
            assert!(check_token(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quotes_are_escaped_and_bounded() {
        assert_eq!(quote_truncated(b"ok\n"), "\"ok\\n\"");
        let long = quote_truncated(&[b'x'; 500]);
        assert!(long.ends_with("(truncated)") && long.len() < 150, "{long}");
    }

    #[test]
    fn the_digest_is_sha256() {
        // RFC 8555 §8.4's example would need the account key; a known vector instead.
        assert_eq!(
            hex::encode(key_authorization_digest("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[tokio::test]
    async fn unknown_kinds_are_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().display().to_string();
        let settings = Settings::from_lookup(&|name| match name {
            "FASTPKI_DATA_DIR" => Some(data.clone()),
            "ACME_DNS_RESOLVERS" => Some("127.0.0.1:9".into()),
            _ => None,
        })
        .unwrap();
        let v = Validator::new(&settings).unwrap();
        let p = v
            .validate("http-02", &Identifier::dns("a.test"), "tok", "tok.x")
            .await
            .unwrap_err();
        assert_eq!(p.kind, ProblemType::Malformed);
        assert_eq!(p.detail, "unknown challenge type \"http-02\"");
        let p = v
            .validate("dns-01", &Identifier::ip("127.0.0.1"), "tok", "tok.x")
            .await
            .unwrap_err();
        assert_eq!(p.kind, ProblemType::Malformed);
    }
}
