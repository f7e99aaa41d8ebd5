//! Account key rollover (RFC 8555 §7.3.5): the inner JWS that a verified
//! `key-change` request carries as its payload, signed by the new key and
//! naming the account and its current key. Pure: the caller verified the
//! outer JWS with the account key (`kid`), and after this checks that no
//! other account has the new key (`409 Conflict`) before storing it.

use serde_json::{Map, Value};

use super::encoding::{shorten, strict_json};
use super::jwk::{Algorithm, Jwk, JwkError};
use super::jws::{Envelope, JwsError, Payload};
use crate::service::acme::Problem;

/// Why a key change is refused. [`Problem::from`] gives `malformed` for all
/// but the inner JWS's key and algorithm, which keep their
/// `badPublicKey` / `badSignatureAlgorithm` as in any JWS.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyChangeError {
    #[error(
        "a key-change request carries the inner JWS as its payload: an empty payload (POST-as-GET) is not one"
    )]
    NoInnerJws,
    #[error("the inner JWS: {0}")]
    Inner(#[from] JwsError),
    #[error("the inner JWS must not have a \"nonce\" (RFC 8555 §7.3.5)")]
    InnerNonce,
    #[error("the inner JWS has \"url\" {inner:?}, the outer {outer:?}: they must be equal")]
    UrlMismatch { inner: String, outer: String },
    #[error("the inner JWS payload must be {{\"account\", \"oldKey\"}}: {0}")]
    BadPayload(String),
    #[error(
        "the inner JWS names account {named:?}, not the account that signed the request ({signer:?})"
    )]
    AccountMismatch { named: String, signer: String },
    #[error("\"oldKey\": {0}")]
    OldKey(JwkError),
    #[error("\"oldKey\" is not the account's current key")]
    OldKeyMismatch,
    #[error("the new key is the account's current key")]
    SameKey,
}

impl From<KeyChangeError> for Problem {
    fn from(e: KeyChangeError) -> Self {
        match e {
            KeyChangeError::Inner(ref inner) => Problem {
                detail: e.to_string(),
                ..Problem::from(inner.clone())
            },
            _ => Problem::malformed(e.to_string()),
        }
    }
}

/// Checks the inner JWS of a key change and returns the new key.
///
/// `outer_payload` is the payload of the outer JWS, verified with the
/// account key; `outer_url` its `url`; `account_url` the account that
/// signed it (its `kid`); `account_key` that account's current key. The
/// inner JWS must be signed by the key in its `jwk`, have no `nonce`, the
/// outer `url`, and the payload `{"account": account_url, "oldKey":
/// account_key}` (keys compared by RFC 7638 thumbprint).
pub fn verify_key_change(
    outer_payload: &Payload,
    outer_url: &str,
    account_url: &str,
    account_key: &Jwk,
) -> Result<Jwk, KeyChangeError> {
    let Payload::Json(outer) = outer_payload else {
        return Err(KeyChangeError::NoInnerJws);
    };
    let envelope = Envelope::from_value(&Value::Object(outer.clone()))?;
    let (alg, new_key) = inner_header(&envelope.header()?, outer_url)?;
    let payload = envelope.verify_payload(alg, &new_key)?;

    let request = match strict_json(payload).map_err(KeyChangeError::BadPayload)? {
        Value::Object(map) => map,
        _ => return Err(KeyChangeError::BadPayload("it is not an object".into())),
    };
    let named = match request.get("account") {
        None => return Err(KeyChangeError::BadPayload("it has no \"account\"".into())),
        Some(Value::String(url)) => url,
        Some(_) => {
            return Err(KeyChangeError::BadPayload(
                "\"account\" must be a string".into(),
            ));
        }
    };
    if named != account_url {
        return Err(KeyChangeError::AccountMismatch {
            named: shorten(named),
            signer: account_url.to_owned(),
        });
    }
    let old_key = request
        .get("oldKey")
        .ok_or_else(|| KeyChangeError::BadPayload("it has no \"oldKey\"".into()))
        .and_then(|v| Jwk::from_value(v).map_err(KeyChangeError::OldKey))?;
    if old_key.thumbprint() != account_key.thumbprint() {
        return Err(KeyChangeError::OldKeyMismatch);
    }
    if new_key.thumbprint() == account_key.thumbprint() {
        return Err(KeyChangeError::SameKey);
    }
    Ok(new_key)
}

/// The inner protected header: `alg` and the new key as `jwk` (not `kid`),
/// the outer `url`, no `nonce`. `crit` and `b64` are refused as in any JWS.
fn inner_header(
    map: &Map<String, Value>,
    outer_url: &str,
) -> Result<(Algorithm, Jwk), KeyChangeError> {
    for name in ["crit", "b64"] {
        if map.contains_key(name) {
            return Err(JwsError::UnsupportedHeaderParameter(name).into());
        }
    }
    let alg = match map.get("alg") {
        None => return Err(JwsError::MissingHeaderParameter("alg").into()),
        Some(Value::String(name)) => Algorithm::from_name(name)
            .ok_or_else(|| JwsError::UnsupportedAlgorithm(shorten(name)))?,
        Some(_) => return Err(JwsError::BadHeaderParameter("alg").into()),
    };
    let key = match (map.get("jwk"), map.contains_key("kid")) {
        (Some(_), true) => return Err(JwsError::BothJwkAndKid.into()),
        (None, true) => return Err(JwsError::KidNotAllowed.into()),
        (None, false) => return Err(JwsError::MissingHeaderParameter("jwk").into()),
        (Some(jwk), false) => Jwk::from_value(jwk).map_err(JwsError::Jwk)?,
    };
    if key.algorithm() != alg {
        return Err(JwsError::AlgorithmKeyMismatch {
            alg,
            key: key.algorithm(),
        }
        .into());
    }
    if map.contains_key("nonce") {
        return Err(KeyChangeError::InnerNonce);
    }
    match map.get("url") {
        None => Err(JwsError::MissingHeaderParameter("url").into()),
        Some(Value::String(url)) if url == outer_url => Ok((alg, key)),
        Some(Value::String(url)) if !url.is_empty() => Err(KeyChangeError::UrlMismatch {
            inner: shorten(url),
            outer: outer_url.to_owned(),
        }),
        Some(_) => Err(JwsError::BadHeaderParameter("url").into()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::jws::tests::{NONCE, TestKey, keys, signed};
    use super::super::jws::{Jws, VerifiedJws};
    use super::*;
    use crate::service::acme::ProblemType;

    const KEY_CHANGE: &str = "https://ca.example/acme/test/key-change";
    const ACCOUNT: &str = "https://ca.example/acme/test/acct/1";

    fn jwk(key: &TestKey) -> Jwk {
        Jwk::from_value(&key.jwk()).unwrap()
    }

    fn inner_header_of(new: &TestKey) -> Value {
        json!({"alg": new.alg(), "jwk": new.jwk(), "url": KEY_CHANGE})
    }

    fn inner_payload(old: &TestKey) -> String {
        json!({"account": ACCOUNT, "oldKey": old.jwk()}).to_string()
    }

    /// The outer request: `inner` as payload, signed by `old` with `kid`,
    /// verified the way the handler will, before the key change itself.
    fn outer(old: &TestKey, inner: &Value) -> VerifiedJws {
        let header = json!({"alg": old.alg(), "nonce": NONCE, "url": KEY_CHANGE, "kid": ACCOUNT});
        let body = signed(old, &header, &inner.to_string());
        Jws::parse(body.to_string().as_bytes())
            .unwrap()
            .verify_with_account_key(&jwk(old))
            .unwrap()
    }

    fn change(old: &TestKey, inner: &Value) -> Result<Jwk, KeyChangeError> {
        let outer = outer(old, inner);
        verify_key_change(&outer.payload, &outer.header.url, ACCOUNT, &jwk(old))
    }

    #[test]
    fn rollover_to_every_kind_of_key() {
        let [rsa, p256, p384, ed] = keys();
        for (old, new) in [
            (p256, rsa),
            (rsa, p256),
            (p256, ed),
            (ed, p384),
            (p384, p256),
        ] {
            let inner = signed(new, &inner_header_of(new), &inner_payload(old));
            let got = change(old, &inner).unwrap();
            assert_eq!(got.thumbprint(), jwk(new).thumbprint(), "{}", new.alg());
            assert_eq!(got.algorithm().name(), new.alg());
        }
    }

    #[test]
    fn inner_with_a_nonce_is_refused() {
        let [_, p256, _, ed] = keys();
        let mut header = inner_header_of(ed);
        header["nonce"] = json!(NONCE);
        let inner = signed(ed, &header, &inner_payload(p256));
        let err = change(p256, &inner).unwrap_err();
        assert_eq!(err, KeyChangeError::InnerNonce);
        assert_eq!(Problem::from(err).kind, ProblemType::Malformed);
    }

    #[test]
    fn inner_url_must_be_the_outer_url() {
        let [_, p256, _, ed] = keys();
        for (url, want) in [
            (
                json!("https://ca.example/acme/test/new-order"),
                KeyChangeError::UrlMismatch {
                    inner: "https://ca.example/acme/test/new-order".into(),
                    outer: KEY_CHANGE.into(),
                },
            ),
            (json!(""), JwsError::BadHeaderParameter("url").into()),
            (json!(7), JwsError::BadHeaderParameter("url").into()),
        ] {
            let mut header = inner_header_of(ed);
            header["url"] = url;
            let inner = signed(ed, &header, &inner_payload(p256));
            let err = change(p256, &inner).unwrap_err();
            assert_eq!(err, want);
            assert_eq!(Problem::from(err).kind, ProblemType::Malformed);
        }
        let mut header = inner_header_of(ed);
        header.as_object_mut().unwrap().remove("url");
        let inner = signed(ed, &header, &inner_payload(p256));
        assert_eq!(
            change(p256, &inner).unwrap_err(),
            JwsError::MissingHeaderParameter("url").into()
        );
    }

    #[test]
    fn inner_must_name_the_signing_account() {
        let [_, p256, _, ed] = keys();
        let payload =
            json!({"account": "https://ca.example/acme/test/acct/2", "oldKey": p256.jwk()});
        let inner = signed(ed, &inner_header_of(ed), &payload.to_string());
        let err = change(p256, &inner).unwrap_err();
        assert_eq!(
            err,
            KeyChangeError::AccountMismatch {
                named: "https://ca.example/acme/test/acct/2".into(),
                signer: ACCOUNT.into()
            }
        );
        assert_eq!(Problem::from(err).kind, ProblemType::Malformed);
    }

    #[test]
    fn old_key_must_be_the_current_key() {
        let [rsa, p256, _, ed] = keys();
        // Another valid key.
        let inner = signed(ed, &inner_header_of(ed), &inner_payload(rsa));
        let err = change(p256, &inner).unwrap_err();
        assert_eq!(err, KeyChangeError::OldKeyMismatch);
        assert_eq!(Problem::from(err).kind, ProblemType::Malformed);
        // The same key written differently (extra members) is the same key.
        let mut old = p256.jwk();
        old["kid"] = json!("mine");
        old["alg"] = json!("ES256");
        let payload = json!({"account": ACCOUNT, "oldKey": old});
        let inner = signed(ed, &inner_header_of(ed), &payload.to_string());
        assert!(change(p256, &inner).is_ok());
        // Not a key at all.
        let payload = json!({"account": ACCOUNT, "oldKey": {"kty": "EC"}});
        let inner = signed(ed, &inner_header_of(ed), &payload.to_string());
        let err = change(p256, &inner).unwrap_err();
        assert!(matches!(err, KeyChangeError::OldKey(_)), "{err}");
        assert_eq!(Problem::from(err).kind, ProblemType::Malformed);
    }

    #[test]
    fn inner_must_be_signed_by_its_jwk() {
        let [_, p256, _, ed] = keys();
        // The header names `ed`; another Ed25519 key signs.
        let other = TestKey::Ed25519(aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap());
        let inner = signed(&other, &inner_header_of(ed), &inner_payload(p256));
        let err = change(p256, &inner).unwrap_err();
        assert_eq!(err, JwsError::BadSignature.into());
        assert_eq!(Problem::from(err).kind, ProblemType::Malformed);
        // The old (account) key signs, claiming to be the new one.
        let inner = signed(p256, &inner_header_of(ed), &inner_payload(p256));
        assert_eq!(
            change(p256, &inner).unwrap_err(),
            JwsError::BadSignature.into()
        );
        // An `alg` the new key cannot sign with.
        let mut header = inner_header_of(ed);
        header["alg"] = json!("ES256");
        let inner = signed(p256, &header, &inner_payload(p256));
        let err = change(p256, &inner).unwrap_err();
        assert!(
            matches!(
                err,
                KeyChangeError::Inner(JwsError::AlgorithmKeyMismatch { .. })
            ),
            "{err}"
        );
        assert_eq!(Problem::from(err).kind, ProblemType::BadSignatureAlgorithm);
    }

    #[test]
    fn inner_header_shape() {
        let [_, p256, _, ed] = keys();
        let with = |edit: &dyn Fn(&mut Map<String, Value>)| {
            let mut header = inner_header_of(ed);
            edit(header.as_object_mut().unwrap());
            change(p256, &signed(ed, &header, &inner_payload(p256))).unwrap_err()
        };
        assert_eq!(
            with(&|h| {
                h.remove("jwk");
                h.insert("kid".into(), json!(ACCOUNT));
            }),
            JwsError::KidNotAllowed.into()
        );
        assert_eq!(
            with(&|h| {
                h.insert("kid".into(), json!(ACCOUNT));
            }),
            JwsError::BothJwkAndKid.into()
        );
        assert_eq!(
            with(&|h| {
                h.remove("jwk");
            }),
            JwsError::MissingHeaderParameter("jwk").into()
        );
        assert_eq!(
            with(&|h| {
                h.insert("alg".into(), json!("HS256"));
            }),
            JwsError::UnsupportedAlgorithm("HS256".into()).into()
        );
        assert_eq!(
            with(&|h| {
                h.insert("crit".into(), json!(["b64"]));
            }),
            JwsError::UnsupportedHeaderParameter("crit").into()
        );
        // A private key in jwk: badPublicKey, as in any JWS.
        let err = with(&|h| {
            h.insert(
                "jwk".into(),
                json!({"kty": "OKP", "crv": "Ed25519", "x": "AA", "d": "AA"}),
            );
        });
        assert_eq!(err, JwsError::Jwk(JwkError::PrivateMember("d")).into());
        let problem = Problem::from(err);
        assert_eq!(problem.kind, ProblemType::BadPublicKey);
        assert!(
            problem.detail.starts_with("the inner JWS: "),
            "{}",
            problem.detail
        );
    }

    #[test]
    fn outer_payload_must_be_a_jws_and_inner_payload_the_request() {
        let [_, p256, _, ed] = keys();
        let err = verify_key_change(&Payload::PostAsGet, KEY_CHANGE, ACCOUNT, &jwk(p256));
        assert_eq!(err.unwrap_err(), KeyChangeError::NoInnerJws);
        let err = change(p256, &json!({"account": ACCOUNT})).unwrap_err();
        assert_eq!(err, JwsError::MissingMember("protected").into());
        for (payload, needle) in [
            ("[]", "not an object"),
            ("", "EOF"),
            (r#"{"oldKey": {}}"#, "no \"account\""),
            (r#"{"account": 1}"#, "must be a string"),
            (&format!(r#"{{"account": "{ACCOUNT}"}}"#), "no \"oldKey\""),
        ] {
            let inner = signed(ed, &inner_header_of(ed), payload);
            let err = change(p256, &inner).unwrap_err();
            assert!(
                matches!(&err, KeyChangeError::BadPayload(d) if d.contains(needle)),
                "{payload}: {err}"
            );
        }
        // Rolling over to the key the account already has.
        let inner = signed(p256, &inner_header_of(p256), &inner_payload(p256));
        assert_eq!(change(p256, &inner).unwrap_err(), KeyChangeError::SameKey);
    }
}
