//! An ACME identifier (RFC 8555 §7.1.3, §9.7.7; RFC 8738): what an order,
//! an authorization or a subproblem is about, as `{"type", "value"}`.
//!
//! The type stays a string so a problem can name an identifier of a type the
//! server does not support (`unsupportedIdentifier` about `"email"`).

use serde::{Deserialize, Serialize};

/// `{"type": "dns" | "ip" | ..., "value": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identifier {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

impl Identifier {
    /// A DNS name (RFC 8555 §9.7.7).
    pub fn dns(value: impl Into<String>) -> Self {
        Identifier {
            kind: "dns".into(),
            value: value.into(),
        }
    }

    /// An IP address in its textual form (RFC 8738).
    pub fn ip(value: impl Into<String>) -> Self {
        Identifier {
            kind: "ip".into(),
            value: value.into(),
        }
    }
}

/// What an order asks for, checked and in canonical form: a lower-case DNS
/// name (the `*.` of a wildcard taken off and flagged) or an IP address in
/// its RFC 5952 / dotted-quad text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Requested {
    pub kind: &'static str,
    pub value: String,
    pub wildcard: bool,
}

impl Requested {
    /// The identifier as the order lists it (`*.` back on a wildcard).
    pub fn as_identifier(&self) -> Identifier {
        let value = if self.wildcard {
            format!("*.{}", self.value)
        } else {
            self.value.clone()
        };
        Identifier {
            kind: self.kind.to_owned(),
            value,
        }
    }

    /// The identifier of its authorization (no `*.`, RFC 8555 §7.1.4).
    pub fn authorization_identifier(&self) -> Identifier {
        Identifier {
            kind: self.kind.to_owned(),
            value: self.value.clone(),
        }
    }
}

/// Why an identifier cannot be ordered, as the RFC names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A type other than `dns` and `ip`.
    Unsupported(String),
    /// Not a DNS name / IP address the CA can put in a certificate.
    Rejected(String),
}

/// Checks one identifier of a new order.
pub fn check(id: &Identifier) -> Result<Requested, Refusal> {
    match id.kind.as_str() {
        "dns" => check_dns(&id.value),
        "ip" => {
            let ip: std::net::IpAddr = id.value.parse().map_err(|_| {
                Refusal::Rejected(format!("{:?} is not an IP address", cut(&id.value)))
            })?;
            Ok(Requested {
                kind: "ip",
                value: ip.to_string(),
                wildcard: false,
            })
        }
        other => Err(Refusal::Unsupported(format!(
            "identifier type {:?} is not supported (dns and ip are)",
            cut(other)
        ))),
    }
}

fn check_dns(value: &str) -> Result<Requested, Refusal> {
    let lower = value.to_ascii_lowercase();
    let (wildcard, name) = match lower.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, lower.as_str()),
    };
    let bad = |why: &str| Refusal::Rejected(format!("{:?} is not a DNS name: {why}", cut(value)));
    if name.is_empty() || name.len() > 253 {
        return Err(bad("1 to 253 characters"));
    }
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Err(bad("an IP address is an identifier of type \"ip\""));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad("each label is 1 to 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(bad(
                "letters, digits and hyphens only (IDNs in their xn-- form)",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad("a label neither starts nor ends with a hyphen"));
        }
    }
    if name
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad("the last label is not all digits"));
    }
    Ok(Requested {
        kind: "dns",
        value: name.to_owned(),
        wildcard,
    })
}

fn cut(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_type_and_value() {
        let id = Identifier::dns("example.com");
        assert_eq!(
            serde_json::to_value(&id).unwrap(),
            serde_json::json!({"type": "dns", "value": "example.com"})
        );
        let back: Identifier =
            serde_json::from_str(r#"{"type":"email","value":"a@example.com"}"#).unwrap();
        assert_eq!(back.kind, "email");
        assert_eq!(Identifier::ip("192.0.2.1").kind, "ip");
    }

    #[test]
    fn names_are_checked_and_made_canonical() {
        let ok = check(&Identifier::dns("WWW.Example.test")).unwrap();
        assert_eq!(
            (ok.value.as_str(), ok.wildcard),
            ("www.example.test", false)
        );
        let wild = check(&Identifier::dns("*.example.test")).unwrap();
        assert_eq!((wild.value.as_str(), wild.wildcard), ("example.test", true));
        assert_eq!(wild.as_identifier(), Identifier::dns("*.example.test"));
        assert_eq!(
            wild.authorization_identifier(),
            Identifier::dns("example.test")
        );
        assert!(check(&Identifier::dns("localhost")).is_ok());
        for bad in [
            "",
            "a..b",
            "-a.test",
            "a-.test",
            "a_b.test",
            "*.*.test",
            "a.*.test",
            "192.0.2.1",
            "a.123",
            "exa mple.test",
        ] {
            assert!(
                matches!(check(&Identifier::dns(bad)), Err(Refusal::Rejected(_))),
                "{bad:?}"
            );
        }
        assert!(check(&Identifier::dns("a".repeat(64))).is_err());
    }

    #[test]
    fn addresses_are_written_canonically() {
        assert_eq!(
            check(&Identifier::ip("2001:DB8:0::1")).unwrap().value,
            "2001:db8::1"
        );
        assert_eq!(
            check(&Identifier::ip("127.0.0.1")).unwrap().value,
            "127.0.0.1"
        );
        assert!(matches!(
            check(&Identifier::ip("1.2.3")),
            Err(Refusal::Rejected(_))
        ));
        let email = Identifier {
            kind: "email".into(),
            value: "a@b.test".into(),
        };
        assert!(matches!(check(&email), Err(Refusal::Unsupported(_))));
    }
}
