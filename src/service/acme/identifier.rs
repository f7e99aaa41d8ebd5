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
}
