//! The JWS envelope of every ACME request (RFC 8555 §6.2): the flattened
//! JSON serialization (RFC 7515 §7.2.2) parsed strictly, the protected
//! header's `alg`, `nonce`, `url` and exactly one of `jwk` / `kid`, and the
//! signature verified (RS256, ES256, ES384, EdDSA) before the payload is
//! read. Pure: the nonce is only checked for syntax and the `url` is only
//! read; the handler checks both against the server's state.

use serde_json::{Map, Value};

use super::encoding::{b64url_decode, shorten, strict_json};
use super::jwk::{Algorithm, Jwk, JwkError};
use crate::service::acme::{Problem, ProblemType};

/// The largest request body read as a JWS. A finalize with a CSR of a
/// hundred names is about 10 KiB of JWS; a bound keeps parsing and hashing
/// of hostile input cheap.
pub const MAX_JWS_BYTES: usize = 64 * 1024;

/// The longest `nonce` accepted; the server's own are far shorter.
const MAX_NONCE_CHARS: usize = 256;

/// Why a JWS is refused. [`Problem::from`] gives the ACME problem:
/// `badSignatureAlgorithm` for algorithms, `badNonce` for the nonce,
/// `badPublicKey` for the key, `malformed` for the rest.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("the JWS is {size} bytes; at most {MAX_JWS_BYTES} are accepted")]
    TooLarge { size: usize },
    #[error("the request body is not a JWS: {0}")]
    NotJson(String),
    #[error("the JWS must be a JSON object in the flattened JSON serialization")]
    NotAnObject,
    #[error(
        "the general JWS JSON serialization (\"signatures\") is not accepted: send one flattened JWS (RFC 8555 §6.2)"
    )]
    GeneralSerialization,
    #[error(
        "an unprotected header (\"header\") is not accepted: every header parameter goes in \"protected\" (RFC 8555 §6.2)"
    )]
    UnprotectedHeader,
    #[error("the JWS has no \"{0}\" member")]
    MissingMember(&'static str),
    #[error("JWS member \"{0}\" must be a string")]
    NotAString(&'static str),
    #[error("JWS member \"{member}\": {reason}")]
    Encoding {
        member: &'static str,
        reason: String,
    },
    #[error("the protected header is not a JSON object: {0}")]
    BadHeader(String),
    #[error(
        "header parameter \"{0}\" is not supported: ACME uses no JWS extensions and no unencoded payloads (RFC 8555 §6.2)"
    )]
    UnsupportedHeaderParameter(&'static str),
    #[error("the protected header has no \"{0}\"")]
    MissingHeaderParameter(&'static str),
    #[error("header parameter \"{0}\" must be a non-empty string")]
    BadHeaderParameter(&'static str),
    #[error("signature algorithm {0:?} is not supported: use RS256, ES256, ES384 or EdDSA")]
    UnsupportedAlgorithm(String),
    #[error("the protected header has both \"jwk\" and \"kid\": exactly one is allowed")]
    BothJwkAndKid,
    #[error("the protected header has neither \"jwk\" nor \"kid\": exactly one is required")]
    NeitherJwkNorKid,
    #[error("{0}")]
    BadNonce(String),
    #[error("the \"jwk\" header parameter: {0}")]
    Jwk(#[from] JwkError),
    #[error("the JWS is signed with {alg}, which the key cannot sign with: it signs with {key}")]
    AlgorithmKeyMismatch { alg: Algorithm, key: Algorithm },
    #[error(
        "this request must be signed with the account key named by \"kid\", not with a \"jwk\" (RFC 8555 §6.2)"
    )]
    JwkNotAllowed,
    #[error("this request must carry its key as \"jwk\", not a \"kid\" (RFC 8555 §6.2)")]
    KidNotAllowed,
    #[error("an {alg} signature is {expected} bytes (for ECDSA, r||s, not DER); this one is {got}")]
    SignatureLength {
        alg: Algorithm,
        expected: usize,
        got: usize,
    },
    #[error("the JWS signature does not verify")]
    BadSignature,
    #[error("the payload must be empty (POST-as-GET) or a JSON object: {0}")]
    BadPayload(String),
}

impl From<JwsError> for Problem {
    fn from(e: JwsError) -> Self {
        match e {
            JwsError::Jwk(ref inner) => Problem {
                detail: e.to_string(),
                ..Problem::from(inner.clone())
            },
            JwsError::TooLarge { .. } => Problem::malformed(e.to_string())
                .with_status(413),
            JwsError::UnsupportedAlgorithm(_) | JwsError::AlgorithmKeyMismatch { .. } => {
                Problem::new(ProblemType::BadSignatureAlgorithm, e.to_string())
                    .with_algorithms(Algorithm::ALL.map(Algorithm::name))
            }
            JwsError::BadNonce(_) => Problem::new(ProblemType::BadNonce, e.to_string()),
            _ => Problem::malformed(e.to_string()),
        }
    }
}

/// A flattened JWS with its members checked and decoded, not yet verified.
/// The lower layer of [`Jws`], also the shape of nested JWS (key change,
/// external account binding), whose header rules differ.
#[derive(Clone, Debug)]
pub struct Envelope {
    protected: String,
    protected_json: Vec<u8>,
    payload_text: String,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl Envelope {
    /// Parses a request body: at most [`MAX_JWS_BYTES`], one JSON object.
    pub fn parse(body: &[u8]) -> Result<Self, JwsError> {
        if body.len() > MAX_JWS_BYTES {
            return Err(JwsError::TooLarge { size: body.len() });
        }
        let value = strict_json(body).map_err(JwsError::NotJson)?;
        Envelope::from_value(&value)
    }

    /// Reads the flattened serialization from a JSON value. `protected`,
    /// `payload` and `signature` are required strings of base64url; the
    /// general serialization and the unprotected header are refused; other
    /// members are ignored (RFC 7515 §7.2.1).
    pub fn from_value(value: &Value) -> Result<Self, JwsError> {
        let obj = value.as_object().ok_or(JwsError::NotAnObject)?;
        if obj.contains_key("signatures") {
            return Err(JwsError::GeneralSerialization);
        }
        if obj.contains_key("header") {
            return Err(JwsError::UnprotectedHeader);
        }
        let protected = member(obj, "protected")?;
        let payload_text = member(obj, "payload")?;
        let signature = member(obj, "signature")?;
        Ok(Envelope {
            protected_json: decode(protected, "protected")?,
            payload: decode(payload_text, "payload")?,
            signature: decode(signature, "signature")?,
            protected: protected.to_owned(),
            payload_text: payload_text.to_owned(),
        })
    }

    /// The protected header as a JSON object (duplicate names refused).
    pub fn header(&self) -> Result<Map<String, Value>, JwsError> {
        match strict_json(&self.protected_json).map_err(JwsError::BadHeader)? {
            Value::Object(map) => Ok(map),
            _ => Err(JwsError::BadHeader("it is not an object".into())),
        }
    }

    /// Verifies the signature over `protected || '.' || payload`, as sent,
    /// with `key`, which must be a key for `alg`.
    pub fn verify(&self, alg: Algorithm, key: &Jwk) -> Result<(), JwsError> {
        if key.algorithm() != alg {
            return Err(JwsError::AlgorithmKeyMismatch {
                alg,
                key: key.algorithm(),
            });
        }
        if let Some(expected) = alg.fixed_signature_len()
            && self.signature.len() != expected
        {
            return Err(JwsError::SignatureLength {
                alg,
                expected,
                got: self.signature.len(),
            });
        }
        key.verifier()
            .verify_sig(&self.signing_input(), &self.signature)
            .map_err(|_| JwsError::BadSignature)
    }

    /// [`Envelope::verify`], then the payload bytes as decoded: for nested
    /// JWS, whose payload is read by rules of their own.
    pub fn verify_payload(&self, alg: Algorithm, key: &Jwk) -> Result<&[u8], JwsError> {
        self.verify(alg, key)?;
        Ok(&self.payload)
    }

    /// Verifies a MAC (`HS256` / `HS384` / `HS512`, as in an external
    /// account binding) with `key`, in constant time, then gives the
    /// payload bytes. A wrong MAC is [`JwsError::BadSignature`].
    pub fn verify_mac_payload(
        &self,
        alg: aws_lc_rs::hmac::Algorithm,
        key: &[u8],
    ) -> Result<&[u8], JwsError> {
        let key = aws_lc_rs::hmac::Key::new(alg, key);
        aws_lc_rs::hmac::verify(&key, &self.signing_input(), &self.signature)
            .map_err(|_| JwsError::BadSignature)?;
        Ok(&self.payload)
    }

    /// `protected || '.' || payload`, as sent (RFC 7515 §5.2).
    fn signing_input(&self) -> Vec<u8> {
        let mut input = Vec::with_capacity(self.protected.len() + 1 + self.payload_text.len());
        input.extend_from_slice(self.protected.as_bytes());
        input.push(b'.');
        input.extend_from_slice(self.payload_text.as_bytes());
        input
    }
}

fn member<'a>(obj: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, JwsError> {
    match obj.get(name) {
        None => Err(JwsError::MissingMember(name)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(JwsError::NotAString(name)),
    }
}

fn decode(text: &str, member: &'static str) -> Result<Vec<u8>, JwsError> {
    b64url_decode(text).map_err(|reason| JwsError::Encoding { member, reason })
}

/// Who signed a request: a new key (`jwk`: new-account, revocation by
/// certificate key) or an account (`kid`: its URL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signer {
    Jwk(Jwk),
    Kid(String),
}

/// The protected header of an ACME request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtectedHeader {
    pub alg: Algorithm,
    /// Syntactically a base64url string; whether it is a live nonce is the
    /// handler's question.
    pub nonce: String,
    /// To be compared with the URL the request was sent to.
    pub url: String,
    pub signer: Signer,
}

impl ProtectedHeader {
    /// Applies RFC 8555 §6.2 to a decoded header. Parameters not named here
    /// (`typ`, `cty`, ...) are ignored, as RFC 7515 §4 asks; `crit` and `b64`
    /// are refused rather than half understood.
    pub fn from_map(map: &Map<String, Value>) -> Result<Self, JwsError> {
        for name in ["crit", "b64"] {
            if map.contains_key(name) {
                return Err(JwsError::UnsupportedHeaderParameter(name));
            }
        }
        let alg = match map.get("alg") {
            None => return Err(JwsError::MissingHeaderParameter("alg")),
            Some(Value::String(name)) => Algorithm::from_name(name)
                .ok_or_else(|| JwsError::UnsupportedAlgorithm(shorten(name)))?,
            Some(_) => return Err(JwsError::BadHeaderParameter("alg")),
        };
        let signer = match (map.get("jwk"), map.get("kid")) {
            (Some(_), Some(_)) => return Err(JwsError::BothJwkAndKid),
            (None, None) => return Err(JwsError::NeitherJwkNorKid),
            (Some(jwk), None) => Signer::Jwk(Jwk::from_value(jwk)?),
            (None, Some(Value::String(kid))) if !kid.is_empty() => Signer::Kid(kid.clone()),
            (None, Some(_)) => return Err(JwsError::BadHeaderParameter("kid")),
        };
        if let Signer::Jwk(key) = &signer
            && key.algorithm() != alg
        {
            return Err(JwsError::AlgorithmKeyMismatch {
                alg,
                key: key.algorithm(),
            });
        }
        let nonce = match map.get("nonce") {
            None => {
                return Err(JwsError::BadNonce(
                    "the protected header has no \"nonce\": get one from newNonce".into(),
                ));
            }
            Some(Value::String(nonce)) => check_nonce(nonce)?,
            Some(_) => return Err(JwsError::BadNonce("\"nonce\" must be a string".into())),
        };
        let url = match map.get("url") {
            None => return Err(JwsError::MissingHeaderParameter("url")),
            Some(Value::String(url)) if !url.is_empty() => url.clone(),
            Some(_) => return Err(JwsError::BadHeaderParameter("url")),
        };
        Ok(ProtectedHeader {
            alg,
            nonce,
            url,
            signer,
        })
    }
}

/// RFC 8555 §6.5.1: a nonce is a non-empty base64url string.
fn check_nonce(nonce: &str) -> Result<String, JwsError> {
    if nonce.is_empty() || nonce.len() > MAX_NONCE_CHARS {
        return Err(JwsError::BadNonce(format!(
            "\"nonce\" must be 1 to {MAX_NONCE_CHARS} characters of base64url"
        )));
    }
    b64url_decode(nonce).map_err(|reason| JwsError::BadNonce(format!("\"nonce\": {reason}")))?;
    Ok(nonce.to_owned())
}

/// An ACME request's JWS, parsed and its header checked; the payload can
/// only be read after [`Jws::verify_with_jwk`] or
/// [`Jws::verify_with_account_key`].
#[derive(Clone, Debug)]
pub struct Jws {
    envelope: Envelope,
    header: ProtectedHeader,
}

impl Jws {
    /// Parses a request body. Everything that can be checked without
    /// the server's state is checked here.
    pub fn parse(body: &[u8]) -> Result<Self, JwsError> {
        let envelope = Envelope::parse(body)?;
        let header = ProtectedHeader::from_map(&envelope.header()?)?;
        Ok(Jws { envelope, header })
    }

    /// The protected header: which key to verify with, the nonce, the URL.
    pub fn header(&self) -> &ProtectedHeader {
        &self.header
    }

    /// Verifies a request signed with the key it carries (`jwk`).
    pub fn verify_with_jwk(self) -> Result<VerifiedJws, JwsError> {
        let Signer::Jwk(key) = &self.header.signer else {
            return Err(JwsError::KidNotAllowed);
        };
        self.envelope.verify(self.header.alg, key)?;
        self.into_verified()
    }

    /// Verifies a request signed by an account (`kid`) with that account's
    /// key, which the caller looked up by the `kid` URL.
    pub fn verify_with_account_key(self, key: &Jwk) -> Result<VerifiedJws, JwsError> {
        if !matches!(self.header.signer, Signer::Kid(_)) {
            return Err(JwsError::JwkNotAllowed);
        }
        self.envelope.verify(self.header.alg, key)?;
        self.into_verified()
    }

    fn into_verified(self) -> Result<VerifiedJws, JwsError> {
        let payload = if self.envelope.payload.is_empty() {
            Payload::PostAsGet
        } else {
            match strict_json(&self.envelope.payload).map_err(JwsError::BadPayload)? {
                Value::Object(map) => Payload::Json(map),
                _ => return Err(JwsError::BadPayload("it is not an object".into())),
            }
        };
        Ok(VerifiedJws {
            header: self.header,
            payload,
        })
    }
}

/// What a verified request carries.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// The empty payload: a POST-as-GET (RFC 8555 §6.3).
    PostAsGet,
    /// A JSON object, `{}` included (which is not a POST-as-GET).
    Json(Map<String, Value>),
}

/// A request whose signature verified.
#[derive(Clone, Debug)]
pub struct VerifiedJws {
    pub header: ProtectedHeader,
    pub payload: Payload,
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::OnceLock;

    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
        Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
    };
    use serde_json::json;

    use super::super::encoding::b64url_encode;
    use super::super::jwk::tests::{A3_X, A3_Y, ec_jwk, ed25519_jwk, rsa_jwk};
    use super::*;

    // RFC 7515 Appendix A.2 and A.3, RFC 8037 Appendix A.4, in compact form.
    const A2_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
    const A2: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
    const A3: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const RFC8037_A4: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

    pub(crate) const URL: &str = "https://ca.example/acme/test/new-account";
    pub(crate) const NONCE: &str = "oFvnlFP1wIhRlYS2jTaXbA";

    /// A compact JWS re-encoded as the flattened JSON serialization.
    fn flatten(compact: &str) -> Value {
        let parts: Vec<&str> = compact.split('.').collect();
        assert_eq!(parts.len(), 3);
        json!({"protected": parts[0], "payload": parts[1], "signature": parts[2]})
    }

    /// Verifies an RFC example the way any JWS is verified: envelope, `alg`
    /// from the protected header, signature with the given key.
    fn verify_example(compact: &str, jwk: Value) -> Result<(), JwsError> {
        let body = flatten(compact).to_string();
        let env = Envelope::parse(body.as_bytes())?;
        let alg = env.header()?["alg"]
            .as_str()
            .and_then(Algorithm::from_name)
            .unwrap();
        env.verify(alg, &Jwk::from_value(&jwk).unwrap())
    }

    /// Flips one bit of the signature of a compact JWS.
    fn flip_signature_bit(compact: &str) -> String {
        let (head, sig) = compact.rsplit_once('.').unwrap();
        let mut bytes = b64url_decode(sig).unwrap();
        bytes[5] ^= 0x01;
        format!("{head}.{}", b64url_encode(&bytes))
    }

    #[test]
    fn rfc7515_a2_rs256_example_verifies() {
        let jwk = json!({"kty": "RSA", "n": A2_N, "e": "AQAB"});
        verify_example(A2, jwk.clone()).unwrap();
        assert_eq!(
            verify_example(&flip_signature_bit(A2), jwk.clone()),
            Err(JwsError::BadSignature)
        );
        // An ES256 key cannot verify an RS256 JWS, whatever the bytes.
        let ec = json!({"kty": "EC", "crv": "P-256", "x": A3_X, "y": A3_Y});
        assert!(matches!(
            verify_example(A2, ec),
            Err(JwsError::AlgorithmKeyMismatch {
                alg: Algorithm::Rs256,
                key: Algorithm::Es256
            })
        ));
    }

    #[test]
    fn rfc7515_a3_es256_example_verifies() {
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": A3_X, "y": A3_Y});
        verify_example(A3, jwk.clone()).unwrap();
        assert_eq!(
            verify_example(&flip_signature_bit(A3), jwk),
            Err(JwsError::BadSignature)
        );
    }

    #[test]
    fn rfc8037_a4_ed25519_example_verifies() {
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X});
        verify_example(RFC8037_A4, jwk.clone()).unwrap();
        assert_eq!(
            verify_example(&flip_signature_bit(RFC8037_A4), jwk),
            Err(JwsError::BadSignature)
        );
    }

    #[test]
    fn rfc_examples_lack_acme_header_parameters() {
        // Valid JWS, but no nonce, url, jwk or kid: not an ACME request.
        let err = Jws::parse(flatten(A3).to_string().as_bytes()).unwrap_err();
        assert_eq!(err, JwsError::NeitherJwkNorKid);
    }

    /// A key generated for the test, with its JWK and its signing.
    pub(crate) enum TestKey {
        Rsa(RsaKeyPair),
        P256(EcdsaKeyPair),
        P384(EcdsaKeyPair),
        Ed25519(Ed25519KeyPair),
    }

    impl TestKey {
        pub(crate) fn alg(&self) -> &'static str {
            match self {
                TestKey::Rsa(_) => "RS256",
                TestKey::P256(_) => "ES256",
                TestKey::P384(_) => "ES384",
                TestKey::Ed25519(_) => "EdDSA",
            }
        }

        pub(crate) fn jwk(&self) -> Value {
            match self {
                TestKey::Rsa(k) => rsa_jwk(k),
                TestKey::P256(k) => ec_jwk(k, "P-256"),
                TestKey::P384(k) => ec_jwk(k, "P-384"),
                TestKey::Ed25519(k) => ed25519_jwk(k),
            }
        }

        pub(crate) fn sign(&self, input: &[u8]) -> Vec<u8> {
            let rng = SystemRandom::new();
            match self {
                TestKey::Rsa(k) => {
                    let mut sig = vec![0; k.public_modulus_len()];
                    k.sign(&RSA_PKCS1_SHA256, &rng, input, &mut sig).unwrap();
                    sig
                }
                TestKey::P256(k) | TestKey::P384(k) => {
                    k.sign(&rng, input).unwrap().as_ref().to_vec()
                }
                TestKey::Ed25519(k) => k.sign(input).as_ref().to_vec(),
            }
        }
    }

    /// One key of each kind, generated once for all tests.
    pub(crate) fn keys() -> &'static [TestKey; 4] {
        static KEYS: OnceLock<[TestKey; 4]> = OnceLock::new();
        KEYS.get_or_init(|| {
            [
                TestKey::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).unwrap()),
                TestKey::P256(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap()),
                TestKey::P384(EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap()),
                TestKey::Ed25519(Ed25519KeyPair::generate().unwrap()),
            ]
        })
    }

    pub(crate) fn p256() -> &'static TestKey {
        &keys()[1]
    }

    /// The ACME header of a new-account request signed by `key`.
    pub(crate) fn jwk_header(key: &TestKey) -> Value {
        json!({"alg": key.alg(), "nonce": NONCE, "url": URL, "jwk": key.jwk()})
    }

    /// A flattened JWS with this header and payload text, signed by `key`.
    pub(crate) fn signed(key: &TestKey, header: &Value, payload: &str) -> Value {
        let protected = b64url_encode(header.to_string().as_bytes());
        let payload = b64url_encode(payload.as_bytes());
        let sig = key.sign(format!("{protected}.{payload}").as_bytes());
        json!({"protected": protected, "payload": payload, "signature": b64url_encode(&sig)})
    }

    fn parse(body: &Value) -> Result<Jws, JwsError> {
        Jws::parse(body.to_string().as_bytes())
    }

    fn problem_of(body: &Value) -> Problem {
        Problem::from(parse(body).and_then(Jws::verify_with_jwk).unwrap_err())
    }

    #[test]
    fn fresh_keys_of_every_algorithm_verify() {
        for key in keys() {
            let body = signed(key, &jwk_header(key), r#"{"termsOfServiceAgreed":true}"#);
            let jws = parse(&body).unwrap();
            assert_eq!(jws.header().alg.name(), key.alg());
            assert_eq!(jws.header().nonce, NONCE);
            assert_eq!(jws.header().url, URL);
            let verified = jws.verify_with_jwk().unwrap();
            let Payload::Json(payload) = verified.payload else {
                panic!("{}: expected a JSON payload", key.alg());
            };
            assert_eq!(payload["termsOfServiceAgreed"], json!(true));

            // The same key as an account key, named by kid.
            let account = Jwk::from_value(&key.jwk()).unwrap();
            let header = json!({"alg": key.alg(), "nonce": NONCE, "url": URL,
                "kid": "https://ca.example/acme/test/acct/1"});
            let jws = parse(&signed(key, &header, "")).unwrap();
            assert_eq!(
                jws.header().signer,
                Signer::Kid("https://ca.example/acme/test/acct/1".into())
            );
            let verified = jws.verify_with_account_key(&account).unwrap();
            assert_eq!(verified.payload, Payload::PostAsGet);
        }
    }

    #[test]
    fn flipped_signature_byte_is_refused() {
        for key in keys() {
            let mut body = signed(key, &jwk_header(key), "{}");
            let mut sig = b64url_decode(body["signature"].as_str().unwrap()).unwrap();
            sig[0] ^= 0x80;
            body["signature"] = json!(b64url_encode(&sig));
            let err = parse(&body).unwrap().verify_with_jwk().unwrap_err();
            assert_eq!(err, JwsError::BadSignature, "{}", key.alg());
            assert_eq!(Problem::from(err).kind, ProblemType::Malformed);
        }
        // A change to the signed header breaks the signature too.
        let key = p256();
        let mut body = signed(key, &jwk_header(key), "{}");
        let mut header = jwk_header(key);
        header["url"] = json!("https://ca.example/acme/test/new-order");
        body["protected"] = json!(b64url_encode(header.to_string().as_bytes()));
        assert_eq!(
            parse(&body).unwrap().verify_with_jwk().unwrap_err(),
            JwsError::BadSignature
        );
    }

    #[test]
    fn algorithm_must_match_the_key() {
        let [rsa, p256, p384, ed] = keys();
        for (key, alg) in [
            (rsa, "ES256"),
            (p256, "ES384"),
            (p384, "ES256"),
            (ed, "RS256"),
            (p256, "EdDSA"),
        ] {
            let mut header = jwk_header(key);
            header["alg"] = json!(alg);
            let body = signed(key, &header, "{}");
            let err = parse(&body).unwrap_err();
            assert!(
                matches!(err, JwsError::AlgorithmKeyMismatch { .. }),
                "{alg}: {err}"
            );
            let problem = Problem::from(err);
            assert_eq!(problem.kind, ProblemType::BadSignatureAlgorithm);
            assert_eq!(problem.algorithms, ["RS256", "ES256", "ES384", "EdDSA"]);
        }
        // With kid, the account key decides: an ES256 JWS and an RSA account.
        let header = json!({"alg": "ES256", "nonce": NONCE, "url": URL, "kid": "acct"});
        let jws = parse(&signed(p256, &header, "{}")).unwrap();
        let rsa_account = Jwk::from_value(&rsa.jwk()).unwrap();
        assert_eq!(
            jws.verify_with_account_key(&rsa_account).unwrap_err(),
            JwsError::AlgorithmKeyMismatch {
                alg: Algorithm::Es256,
                key: Algorithm::Rs256
            }
        );
    }

    #[test]
    fn unsupported_algorithms_are_refused() {
        let key = p256();
        for alg in [
            "none", "HS256", "HS512", "RS512", "PS256", "ES512", "es256", "Ed25519", "",
        ] {
            let mut header = jwk_header(key);
            header["alg"] = json!(alg);
            let err = parse(&signed(key, &header, "{}")).unwrap_err();
            assert_eq!(err, JwsError::UnsupportedAlgorithm(alg.into()));
            let problem = Problem::from(err);
            assert_eq!(problem.kind, ProblemType::BadSignatureAlgorithm, "{alg}");
            assert_eq!(problem.http_status(), 400);
            assert!(!problem.algorithms.is_empty());
        }
        // alg none with an empty signature, the classic bypass.
        let mut header = jwk_header(key);
        header["alg"] = json!("none");
        let mut body = signed(key, &header, "{}");
        body["signature"] = json!("");
        assert_eq!(problem_of(&body).kind, ProblemType::BadSignatureAlgorithm);
    }

    #[test]
    fn exactly_one_of_jwk_and_kid() {
        let key = p256();
        let mut both = jwk_header(key);
        both["kid"] = json!("https://ca.example/acme/test/acct/1");
        assert_eq!(
            parse(&signed(key, &both, "{}")).unwrap_err(),
            JwsError::BothJwkAndKid
        );
        assert_eq!(
            problem_of(&signed(key, &both, "{}")).kind,
            ProblemType::Malformed
        );

        let mut neither = jwk_header(key);
        neither.as_object_mut().unwrap().remove("jwk");
        assert_eq!(
            parse(&signed(key, &neither, "{}")).unwrap_err(),
            JwsError::NeitherJwkNorKid
        );
        assert_eq!(
            problem_of(&signed(key, &neither, "{}")).kind,
            ProblemType::Malformed
        );

        let mut empty_kid = neither.clone();
        empty_kid["kid"] = json!("");
        assert_eq!(
            parse(&signed(key, &empty_kid, "{}")).unwrap_err(),
            JwsError::BadHeaderParameter("kid")
        );

        // The request kind decides which of the two it must be.
        let account = Jwk::from_value(&key.jwk()).unwrap();
        let jws = parse(&signed(key, &jwk_header(key), "{}")).unwrap();
        assert_eq!(
            jws.verify_with_account_key(&account).unwrap_err(),
            JwsError::JwkNotAllowed
        );
        let mut with_kid = neither;
        with_kid["kid"] = json!("https://ca.example/acme/test/acct/1");
        let jws = parse(&signed(key, &with_kid, "{}")).unwrap();
        assert_eq!(jws.verify_with_jwk().unwrap_err(), JwsError::KidNotAllowed);
    }

    #[test]
    fn bad_jwk_in_header_is_bad_public_key() {
        let key = p256();
        let mut header = jwk_header(key);
        header["jwk"]["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
        let err = parse(&signed(key, &header, "{}")).unwrap_err();
        assert_eq!(err, JwsError::Jwk(JwkError::PrivateMember("d")));
        let problem = Problem::from(err);
        assert_eq!(problem.kind, ProblemType::BadPublicKey);
        assert!(
            problem.detail.starts_with("the \"jwk\" header parameter: "),
            "{}",
            problem.detail
        );

        let mut header = jwk_header(key);
        let mut y = b64url_decode(header["jwk"]["y"].as_str().unwrap()).unwrap();
        y[0] ^= 0x40;
        header["jwk"]["y"] = json!(b64url_encode(&y));
        let err = parse(&signed(key, &header, "{}")).unwrap_err();
        assert_eq!(err, JwsError::Jwk(JwkError::NotOnCurve("P-256")));
    }

    #[test]
    fn base64url_must_be_unpadded_and_url_safe() {
        let key = p256();
        let body = signed(key, &jwk_header(key), r#"{"a":1}"#);
        for member in ["protected", "payload", "signature"] {
            let text = body[member].as_str().unwrap();
            for bad in [
                format!("{text}="),
                format!("{text}+"),
                format!(" {text}"),
                format!("{text}/"),
            ] {
                let mut b = body.clone();
                b[member] = json!(bad);
                let err = parse(&b).unwrap_err();
                assert!(
                    matches!(&err, JwsError::Encoding { member: m, .. } if *m == member),
                    "{member} {bad:?}: {err}"
                );
                assert_eq!(problem_of(&b).kind, ProblemType::Malformed);
            }
        }
    }

    #[test]
    fn oversize_jws_is_refused() {
        let key = p256();
        let big = format!(r#"{{"csr":"{}"}}"#, "A".repeat(MAX_JWS_BYTES));
        let body = signed(key, &jwk_header(key), &big).to_string();
        assert!(body.len() > MAX_JWS_BYTES);
        let err = Jws::parse(body.as_bytes()).unwrap_err();
        assert_eq!(err, JwsError::TooLarge { size: body.len() });
        let problem = Problem::from(err);
        assert_eq!(problem.kind, ProblemType::Malformed);
        assert_eq!(problem.http_status(), 413);
        // Just under the bound is read.
        let fits = format!(r#"{{"csr":"{}"}}"#, "A".repeat(MAX_JWS_BYTES / 2));
        let body = signed(key, &jwk_header(key), &fits).to_string();
        assert!(body.len() <= MAX_JWS_BYTES);
        assert!(
            Jws::parse(body.as_bytes())
                .unwrap()
                .verify_with_jwk()
                .is_ok()
        );
    }

    #[test]
    fn envelope_shape() {
        let key = p256();
        let body = signed(key, &jwk_header(key), "{}");
        let with = |name: &str, value: Value| {
            let mut b = body.clone();
            b[name] = value;
            b
        };
        let without = |name: &str| {
            let mut b = body.clone();
            b.as_object_mut().unwrap().remove(name);
            b
        };
        let general = json!({"payload": body["payload"], "signatures": [
            {"protected": body["protected"], "signature": body["signature"]}]});
        let cases: Vec<(Value, JwsError)> = vec![
            (json!([body.clone()]), JwsError::NotAnObject),
            (json!("jws"), JwsError::NotAnObject),
            (general, JwsError::GeneralSerialization),
            (
                with("signatures", json!([])),
                JwsError::GeneralSerialization,
            ),
            (
                with("header", json!({"kid": "x"})),
                JwsError::UnprotectedHeader,
            ),
            (without("protected"), JwsError::MissingMember("protected")),
            (without("payload"), JwsError::MissingMember("payload")),
            (without("signature"), JwsError::MissingMember("signature")),
            (with("payload", json!({})), JwsError::NotAString("payload")),
            (
                with("signature", Value::Null),
                JwsError::NotAString("signature"),
            ),
        ];
        for (b, want) in cases {
            assert_eq!(parse(&b).unwrap_err(), want, "{b}");
        }
        // An empty protected header is no header at all.
        assert!(matches!(
            parse(&with("protected", json!(""))),
            Err(JwsError::BadHeader(_))
        ));
        // Members RFC 7515 does not define are ignored.
        assert!(
            parse(&with("x-extra", json!(1)))
                .unwrap()
                .verify_with_jwk()
                .is_ok()
        );
        // Not JSON at all, and a duplicated member.
        assert!(matches!(
            Jws::parse(b"protected=x"),
            Err(JwsError::NotJson(_))
        ));
        let p = body["protected"].as_str().unwrap();
        let dup = format!(
            r#"{{"protected":"{p}","payload":"","payload":{},"signature":{}}}"#,
            body["payload"], body["signature"]
        );
        let err = Jws::parse(dup.as_bytes()).unwrap_err();
        assert!(
            matches!(&err, JwsError::NotJson(d) if d.contains("duplicate member \"payload\"")),
            "{err}"
        );
    }

    #[test]
    fn protected_header_rules() {
        let key = p256();
        // Sets (Some) or removes (None) one header parameter, then signs.
        let with_param = |name: &str, value: Option<Value>| {
            let mut header = jwk_header(key);
            let h = header.as_object_mut().unwrap();
            match value {
                Some(v) => h.insert(name.into(), v),
                None => h.remove(name),
            };
            parse(&signed(key, &header, "{}"))
        };
        let cases = [
            ("alg", None, JwsError::MissingHeaderParameter("alg")),
            ("alg", Some(json!(256)), JwsError::BadHeaderParameter("alg")),
            ("url", None, JwsError::MissingHeaderParameter("url")),
            ("url", Some(json!("")), JwsError::BadHeaderParameter("url")),
            (
                "url",
                Some(json!(["a"])),
                JwsError::BadHeaderParameter("url"),
            ),
            (
                "crit",
                Some(json!(["b64"])),
                JwsError::UnsupportedHeaderParameter("crit"),
            ),
            (
                "b64",
                Some(json!(false)),
                JwsError::UnsupportedHeaderParameter("b64"),
            ),
            (
                "b64",
                Some(json!(true)),
                JwsError::UnsupportedHeaderParameter("b64"),
            ),
        ];
        for (name, value, want) in cases {
            let err = with_param(name, value).unwrap_err();
            assert_eq!(err, want);
            assert_eq!(Problem::from(err).kind, ProblemType::Malformed);
        }
        // Nonce: missing, not a string, empty, not base64url, too long.
        for nonce in [
            None,
            Some(json!(5)),
            Some(json!("")),
            Some(json!("abc=")),
            Some(json!("a.b")),
            Some(json!("A".repeat(300))),
        ] {
            let err = with_param("nonce", nonce.clone()).unwrap_err();
            assert!(matches!(err, JwsError::BadNonce(_)), "{nonce:?}: {err}");
            let problem = Problem::from(err);
            assert_eq!(problem.kind, ProblemType::BadNonce);
            assert_eq!(problem.http_status(), 400);
        }
        // Unknown parameters are ignored; typ is common.
        assert!(with_param("typ", Some(json!("JWT"))).is_ok());
        // A protected header that is not an object, or repeats a name.
        let protected = b64url_encode(b"[1]");
        let body = json!({"protected": protected, "payload": "", "signature": ""});
        assert!(matches!(parse(&body), Err(JwsError::BadHeader(_))));
        let text =
            format!(r#"{{"alg":"ES256","alg":"none","nonce":"{NONCE}","url":"{URL}","kid":"a"}}"#);
        let body =
            json!({"protected": b64url_encode(text.as_bytes()), "payload": "", "signature": ""});
        assert!(
            matches!(parse(&body), Err(JwsError::BadHeader(d)) if d.contains("duplicate member \"alg\""))
        );
    }

    #[test]
    fn post_as_get_is_distinct_from_empty_object() {
        let key = p256();
        let get = parse(&signed(key, &jwk_header(key), ""))
            .unwrap()
            .verify_with_jwk()
            .unwrap();
        assert_eq!(get.payload, Payload::PostAsGet);
        let empty = parse(&signed(key, &jwk_header(key), "{}"))
            .unwrap()
            .verify_with_jwk()
            .unwrap();
        assert_eq!(empty.payload, Payload::Json(Map::new()));
        for bad in ["[]", "null", "\"\"", "{", r#"{"a":1,"a":2}"#, " "] {
            let err = parse(&signed(key, &jwk_header(key), bad))
                .unwrap()
                .verify_with_jwk()
                .unwrap_err();
            assert!(matches!(err, JwsError::BadPayload(_)), "{bad:?}: {err}");
            assert_eq!(Problem::from(err).kind, ProblemType::Malformed);
        }
    }

    #[test]
    fn der_ecdsa_signature_is_refused_with_a_clear_detail() {
        let key = p256();
        let mut body = signed(key, &jwk_header(key), "{}");
        // A DER ECDSA-Sig-Value is 70 to 72 bytes, not 64.
        body["signature"] = json!(b64url_encode(&[0x30; 71]));
        let err = parse(&body).unwrap().verify_with_jwk().unwrap_err();
        assert_eq!(
            err,
            JwsError::SignatureLength {
                alg: Algorithm::Es256,
                expected: 64,
                got: 71
            }
        );
        assert!(err.to_string().contains("r||s, not DER"));
    }
}
