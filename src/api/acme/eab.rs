//! External account binding (RFC 8555 §7.3.4): the `externalAccountBinding`
//! member of a new-account request, a flattened JWS MAC'd (HS256, HS384 or
//! HS512) with a key the CA gave out, whose `kid` names that key and whose
//! payload is the account key being registered. Pure: the caller looks the
//! key up by [`ExternalAccountBinding::kid`] and, after
//! [`ExternalAccountBinding::verify`], binds it to the new account once.

use serde_json::{Map, Value};

use super::encoding::shorten;
use super::jwk::Jwk;
use super::jws::{Envelope, JwsError};
use crate::service::acme::{Problem, ProblemType};

/// The shortest EAB key accepted: 256 bits, as the CA hands out.
pub const MIN_EAB_KEY_BYTES: usize = 32;

/// The MAC algorithms of an external account binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MacAlgorithm {
    Hs256,
    Hs384,
    Hs512,
}

impl MacAlgorithm {
    /// Every accepted algorithm.
    pub const ALL: [MacAlgorithm; 3] = [
        MacAlgorithm::Hs256,
        MacAlgorithm::Hs384,
        MacAlgorithm::Hs512,
    ];

    /// The algorithm of a JWS `alg` name (RFC 7518 §3.2), case-sensitive.
    pub fn from_name(name: &str) -> Option<Self> {
        MacAlgorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The JWS `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            MacAlgorithm::Hs256 => "HS256",
            MacAlgorithm::Hs384 => "HS384",
            MacAlgorithm::Hs512 => "HS512",
        }
    }

    fn hmac(self) -> aws_lc_rs::hmac::Algorithm {
        match self {
            MacAlgorithm::Hs256 => aws_lc_rs::hmac::HMAC_SHA256,
            MacAlgorithm::Hs384 => aws_lc_rs::hmac::HMAC_SHA384,
            MacAlgorithm::Hs512 => aws_lc_rs::hmac::HMAC_SHA512,
        }
    }
}

/// Why an external account binding is refused. [`Problem::from`] gives
/// `unauthorized` when the binding does not authorize this account (unknown
/// key, wrong MAC, another account key), `externalAccountRequired` when it
/// is missing but required, `serverInternal` for a key too short (the
/// server's fault), and `malformed` for the rest, as Pebble does.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EabError {
    #[error(
        "this ACME directory requires an external account binding (\"externalAccountBinding\")"
    )]
    Required,
    #[error("\"externalAccountBinding\": {0}")]
    Jws(#[from] JwsError),
    #[error("\"externalAccountBinding\" must be MAC'd with HS256, HS384 or HS512, not {0:?}")]
    UnsupportedAlgorithm(String),
    #[error(
        "\"externalAccountBinding\" must not have a \"{0}\" header parameter (RFC 8555 §7.3.4)"
    )]
    ForbiddenHeaderParameter(&'static str),
    #[error("\"externalAccountBinding\" has \"url\" {eab:?}; the request was sent to {request:?}")]
    UrlMismatch { eab: String, request: String },
    #[error("the external account binding key {0:?} is unknown, revoked or already used")]
    UnknownKey(String),
    #[error(
        "the external account binding key is {len} bytes; at least {MIN_EAB_KEY_BYTES} are required"
    )]
    ShortKey { len: usize },
    #[error("the external account binding MAC does not verify")]
    BadMac,
    #[error("the \"externalAccountBinding\" payload must be the account key as a JWK: {0}")]
    BadPayload(String),
    #[error("the \"externalAccountBinding\" payload is not the key that signed the request")]
    KeyMismatch,
}

impl From<EabError> for Problem {
    fn from(e: EabError) -> Self {
        match e {
            EabError::Required => Problem::new(ProblemType::ExternalAccountRequired, e.to_string()),
            EabError::UnknownKey(_) | EabError::BadMac | EabError::KeyMismatch => {
                Problem::new(ProblemType::Unauthorized, e.to_string())
            }
            EabError::ShortKey { .. } => Problem::internal(),
            _ => Problem::malformed(e.to_string()),
        }
    }
}

/// A parsed `externalAccountBinding`, its MAC not yet verified.
#[derive(Clone, Debug)]
pub struct ExternalAccountBinding {
    envelope: Envelope,
    alg: MacAlgorithm,
    kid: String,
    url: String,
}

impl ExternalAccountBinding {
    /// Parses the `externalAccountBinding` member of a new-account payload:
    /// a flattened JWS whose protected header has `alg` (an HMAC), a
    /// non-empty `kid` and `url`, and neither `nonce` nor `jwk`.
    pub fn parse(value: &Value) -> Result<Self, EabError> {
        let envelope = Envelope::from_value(value)?;
        let header = envelope.header()?;
        for name in ["crit", "b64"] {
            if header.contains_key(name) {
                return Err(JwsError::UnsupportedHeaderParameter(name).into());
            }
        }
        let alg = match header.get("alg") {
            None => return Err(JwsError::MissingHeaderParameter("alg").into()),
            Some(Value::String(name)) => MacAlgorithm::from_name(name)
                .ok_or_else(|| EabError::UnsupportedAlgorithm(shorten(name)))?,
            Some(_) => return Err(JwsError::BadHeaderParameter("alg").into()),
        };
        for name in ["nonce", "jwk"] {
            if header.contains_key(name) {
                return Err(EabError::ForbiddenHeaderParameter(name));
            }
        }
        Ok(ExternalAccountBinding {
            kid: required(&header, "kid")?,
            url: required(&header, "url")?,
            envelope,
            alg,
        })
    }

    /// The EAB key id, to look the key up by.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The MAC algorithm.
    pub fn alg(&self) -> MacAlgorithm {
        self.alg
    }

    /// Verifies the binding of a new-account request sent to
    /// `new_account_url` and signed by `account_key` (its `jwk`), with the
    /// EAB key `hmac_key` (raw bytes) the caller looked up by `kid`: the
    /// `url`, the MAC (in constant time), then the payload, which must be
    /// `account_key` (compared by RFC 7638 thumbprint).
    pub fn verify(
        &self,
        hmac_key: &[u8],
        new_account_url: &str,
        account_key: &Jwk,
    ) -> Result<(), EabError> {
        if self.url != new_account_url {
            return Err(EabError::UrlMismatch {
                eab: shorten(&self.url),
                request: new_account_url.to_owned(),
            });
        }
        if hmac_key.len() < MIN_EAB_KEY_BYTES {
            return Err(EabError::ShortKey {
                len: hmac_key.len(),
            });
        }
        let payload = self
            .envelope
            .verify_mac_payload(self.alg.hmac(), hmac_key)
            .map_err(|_| EabError::BadMac)?;
        let key = Jwk::from_json(payload).map_err(|e| EabError::BadPayload(e.to_string()))?;
        if key.thumbprint() != account_key.thumbprint() {
            return Err(EabError::KeyMismatch);
        }
        Ok(())
    }
}

/// A required, non-empty string header parameter.
fn required(header: &Map<String, Value>, name: &'static str) -> Result<String, EabError> {
    match header.get(name) {
        None => Err(JwsError::MissingHeaderParameter(name).into()),
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(JwsError::BadHeaderParameter(name).into()),
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::hmac;
    use serde_json::json;

    use super::super::encoding::b64url_encode;
    use super::super::jws::tests::{NONCE, TestKey, URL, keys, p256};
    use super::*;

    const KID: &str = "kid-1";
    const HMAC_KEY: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

    fn jwk(key: &TestKey) -> Jwk {
        Jwk::from_value(&key.jwk()).unwrap()
    }

    fn header(alg: &str) -> Value {
        json!({"alg": alg, "kid": KID, "url": URL})
    }

    /// A flattened JWS MAC'd with `key` under `alg`.
    fn mac_signed(alg: MacAlgorithm, key: &[u8], header: &Value, payload: &str) -> Value {
        let protected = b64url_encode(header.to_string().as_bytes());
        let payload = b64url_encode(payload.as_bytes());
        let tag = hmac::sign(
            &hmac::Key::new(alg.hmac(), key),
            format!("{protected}.{payload}").as_bytes(),
        );
        json!({"protected": protected, "payload": payload, "signature": b64url_encode(tag.as_ref())})
    }

    /// The binding a client sends for `account`, HS256 with the test key.
    fn binding(account: &TestKey) -> Value {
        mac_signed(
            MacAlgorithm::Hs256,
            HMAC_KEY,
            &header("HS256"),
            &account.jwk().to_string(),
        )
    }

    fn verify(body: &Value, account: &TestKey) -> Result<(), EabError> {
        ExternalAccountBinding::parse(body)?.verify(HMAC_KEY, URL, &jwk(account))
    }

    #[test]
    fn every_mac_algorithm_and_account_key_binds() {
        for alg in MacAlgorithm::ALL {
            for account in keys() {
                let body = mac_signed(
                    alg,
                    HMAC_KEY,
                    &header(alg.name()),
                    &account.jwk().to_string(),
                );
                let eab = ExternalAccountBinding::parse(&body).unwrap();
                assert_eq!(eab.kid(), KID);
                assert_eq!(eab.alg(), alg);
                eab.verify(HMAC_KEY, URL, &jwk(account))
                    .unwrap_or_else(|e| panic!("{} {}: {e}", alg.name(), account.alg()));
            }
        }
        // A longer key is fine.
        let long = [7u8; 64];
        let body = mac_signed(
            MacAlgorithm::Hs512,
            &long,
            &header("HS512"),
            &p256().jwk().to_string(),
        );
        let eab = ExternalAccountBinding::parse(&body).unwrap();
        assert!(eab.verify(&long, URL, &jwk(p256())).is_ok());
    }

    #[test]
    fn wrong_mac_is_unauthorized() {
        let account = p256();
        let other_key = [0x42u8; 32];
        let body = mac_signed(
            MacAlgorithm::Hs256,
            &other_key,
            &header("HS256"),
            &account.jwk().to_string(),
        );
        let err = verify(&body, account).unwrap_err();
        assert_eq!(err, EabError::BadMac);
        assert_eq!(Problem::from(err).kind, ProblemType::Unauthorized);
        // A truncated tag, an empty one, and a payload changed after MAC.
        let good = binding(account);
        let sig = good["signature"].as_str().unwrap();
        for bad in [&sig[..20], ""] {
            let mut body = good.clone();
            body["signature"] = json!(bad);
            assert_eq!(verify(&body, account).unwrap_err(), EabError::BadMac);
        }
        let mut body = good.clone();
        body["payload"] = json!(b64url_encode(keys()[3].jwk().to_string().as_bytes()));
        assert_eq!(verify(&body, account).unwrap_err(), EabError::BadMac);
        // The header claims HS384 over an HS256 tag.
        let mut h = header("HS384");
        let body = mac_signed(
            MacAlgorithm::Hs256,
            HMAC_KEY,
            &h,
            &account.jwk().to_string(),
        );
        assert_eq!(verify(&body, account).unwrap_err(), EabError::BadMac);
        h["alg"] = json!("HS256");
        let body = mac_signed(
            MacAlgorithm::Hs256,
            HMAC_KEY,
            &h,
            &account.jwk().to_string(),
        );
        assert!(verify(&body, account).is_ok());
    }

    #[test]
    fn url_must_be_the_new_account_url() {
        let account = p256();
        let mut h = header("HS256");
        h["url"] = json!("https://ca.example/acme/other/new-account");
        let body = mac_signed(
            MacAlgorithm::Hs256,
            HMAC_KEY,
            &h,
            &account.jwk().to_string(),
        );
        let err = verify(&body, account).unwrap_err();
        assert_eq!(
            err,
            EabError::UrlMismatch {
                eab: "https://ca.example/acme/other/new-account".into(),
                request: URL.into()
            }
        );
        assert_eq!(Problem::from(err).kind, ProblemType::Malformed);
    }

    #[test]
    fn payload_must_be_the_account_key() {
        let [rsa, p256, _, ed] = keys();
        let err = verify(&binding(ed), p256).unwrap_err();
        assert_eq!(err, EabError::KeyMismatch);
        assert_eq!(Problem::from(err).kind, ProblemType::Unauthorized);
        assert_eq!(
            verify(&binding(rsa), ed).unwrap_err(),
            EabError::KeyMismatch
        );
        // The same key with other members is the same key.
        let mut key = p256.jwk();
        key["use"] = json!("sig");
        let body = mac_signed(
            MacAlgorithm::Hs256,
            HMAC_KEY,
            &header("HS256"),
            &key.to_string(),
        );
        assert!(verify(&body, p256).is_ok());
        // Not a JWK.
        for payload in [
            "",
            "{}",
            "[]",
            r#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}"#,
        ] {
            let body = mac_signed(MacAlgorithm::Hs256, HMAC_KEY, &header("HS256"), payload);
            let err = verify(&body, p256).unwrap_err();
            assert!(matches!(err, EabError::BadPayload(_)), "{payload:?}: {err}");
            assert_eq!(Problem::from(err).kind, ProblemType::Malformed);
        }
    }

    #[test]
    fn only_hmac_algorithms() {
        let account = p256();
        for alg in ["none", "RS256", "ES256", "EdDSA", "hs256", "HS1", ""] {
            let body = mac_signed(
                MacAlgorithm::Hs256,
                HMAC_KEY,
                &header(alg),
                &account.jwk().to_string(),
            );
            let err = ExternalAccountBinding::parse(&body).unwrap_err();
            assert_eq!(err, EabError::UnsupportedAlgorithm(alg.into()));
            assert_eq!(Problem::from(err).kind, ProblemType::Malformed);
        }
        // alg none with no MAC at all.
        let mut body = mac_signed(MacAlgorithm::Hs256, HMAC_KEY, &header("none"), "{}");
        body["signature"] = json!("");
        assert!(matches!(
            ExternalAccountBinding::parse(&body),
            Err(EabError::UnsupportedAlgorithm(_))
        ));
        // An RS256 binding really signed by the account key.
        let [rsa, ..] = keys();
        let h = header("RS256");
        let body = super::super::jws::tests::signed(rsa, &h, &rsa.jwk().to_string());
        assert_eq!(
            ExternalAccountBinding::parse(&body).unwrap_err(),
            EabError::UnsupportedAlgorithm("RS256".into())
        );
    }

    #[test]
    fn header_shape() {
        let account = p256().jwk().to_string();
        let with = |edit: &Edit| {
            let mut h = header("HS256");
            edit(h.as_object_mut().unwrap());
            ExternalAccountBinding::parse(&mac_signed(MacAlgorithm::Hs256, HMAC_KEY, &h, &account))
        };
        type Edit = dyn Fn(&mut Map<String, Value>);
        let cases: Vec<(&Edit, EabError)> = vec![
            (
                &|h| {
                    h.remove("kid");
                },
                JwsError::MissingHeaderParameter("kid").into(),
            ),
            (
                &|h| {
                    h.insert("kid".into(), json!(""));
                },
                JwsError::BadHeaderParameter("kid").into(),
            ),
            (
                &|h| {
                    h.insert("kid".into(), json!(1));
                },
                JwsError::BadHeaderParameter("kid").into(),
            ),
            (
                &|h| {
                    h.remove("url");
                },
                JwsError::MissingHeaderParameter("url").into(),
            ),
            (
                &|h| {
                    h.remove("alg");
                },
                JwsError::MissingHeaderParameter("alg").into(),
            ),
            (
                &|h| {
                    h.insert("nonce".into(), json!(NONCE));
                },
                EabError::ForbiddenHeaderParameter("nonce"),
            ),
            (
                &|h| {
                    h.insert("jwk".into(), p256().jwk());
                },
                EabError::ForbiddenHeaderParameter("jwk"),
            ),
            (
                &|h| {
                    h.insert("crit".into(), json!(["b64"]));
                },
                JwsError::UnsupportedHeaderParameter("crit").into(),
            ),
        ];
        for (edit, want) in cases {
            let err = with(edit).unwrap_err();
            assert_eq!(err, want);
            assert_eq!(Problem::from(err).kind, ProblemType::Malformed);
        }
        // Not a flattened JWS.
        for value in [json!("jws"), json!({"protected": "e30", "payload": ""})] {
            let err = ExternalAccountBinding::parse(&value).unwrap_err();
            assert!(matches!(err, EabError::Jws(_)), "{value}: {err}");
            assert_eq!(Problem::from(err).kind, ProblemType::Malformed);
        }
    }

    #[test]
    fn problems_for_the_caller() {
        let p = Problem::from(EabError::Required);
        assert_eq!(p.kind, ProblemType::ExternalAccountRequired);
        let p = Problem::from(EabError::UnknownKey(KID.into()));
        assert_eq!(p.kind, ProblemType::Unauthorized);
        // A key shorter than 256 bits is the server's fault, and refused
        // before any MAC is computed with it.
        let short = [1u8; 16];
        let body = mac_signed(
            MacAlgorithm::Hs256,
            &short,
            &header("HS256"),
            &p256().jwk().to_string(),
        );
        let err = ExternalAccountBinding::parse(&body)
            .unwrap()
            .verify(&short, URL, &jwk(p256()))
            .unwrap_err();
        assert_eq!(err, EabError::ShortKey { len: 16 });
        assert_eq!(Problem::from(err).kind, ProblemType::ServerInternal);
    }
}
