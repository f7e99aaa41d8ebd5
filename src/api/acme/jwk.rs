//! Public JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037) as ACME account
//! keys: parsing with the checks an account key needs, the RFC 7638
//! thumbprint that key authorizations are built from, and the parsed key
//! `jws.rs` verifies signatures with.
//!
//! Accepted: RSA of 2048 to 4096 bits (RS256), EC P-256 (ES256) and P-384
//! (ES384), OKP Ed25519 (EdDSA). A key signs with exactly one algorithm.
//! Encodings must be canonical (minimal integers, exact coordinate lengths,
//! strict base64url), so one key has one thumbprint.

use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ED25519, ParsedPublicKey,
    RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
};
use serde_json::{Map, Value};

use super::encoding::{b64url_decode, b64url_encode, shorten, strict_json};
use crate::service::acme::{Problem, ProblemType};

/// The smallest RSA modulus accepted, in bits.
pub const RSA_MIN_BITS: usize = 2048;
/// The largest RSA modulus accepted, in bits: bigger keys cost verification
/// time and no client needs them for an account key.
pub const RSA_MAX_BITS: usize = 4096;

/// Members that only a private key has (RFC 7518 §6.2.2, §6.3.2, §6.4;
/// RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A JWS signature algorithm this server verifies (RFC 7518 §3.1, RFC 8037 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA P-256 with SHA-256, signature r||s (64 bytes).
    Es256,
    /// ECDSA P-384 with SHA-384, signature r||s (96 bytes).
    Es384,
    /// EdDSA; Ed25519 is the only curve accepted.
    EdDsa,
}

impl Algorithm {
    /// Every algorithm accepted, as a `badSignatureAlgorithm` problem lists them.
    pub const ALL: [Algorithm; 4] = [
        Algorithm::Rs256,
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::EdDsa,
    ];

    /// The algorithm an `alg` header value names, if it is one of ours.
    /// Names are case-sensitive (RFC 7515 §4.1.1).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Algorithm::Rs256),
            "ES256" => Some(Algorithm::Es256),
            "ES384" => Some(Algorithm::Es384),
            "EdDSA" => Some(Algorithm::EdDsa),
            _ => None,
        }
    }

    /// The `alg` value.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    /// The kind of key that signs with it, for error details.
    fn key_kind(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "an RSA key",
            Algorithm::Es256 => "an EC P-256 key",
            Algorithm::Es384 => "an EC P-384 key",
            Algorithm::EdDsa => "an Ed25519 key",
        }
    }

    /// The exact signature length when the algorithm fixes it.
    pub fn fixed_signature_len(self) -> Option<usize> {
        match self {
            Algorithm::Rs256 => None,
            Algorithm::Es256 => Some(64),
            Algorithm::Es384 => Some(96),
            Algorithm::EdDsa => Some(64),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a JWK is refused. Every variant answers `badPublicKey`, except a
/// declared `alg` the key cannot sign with (`badSignatureAlgorithm`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    #[error("the JWK is not valid JSON: {0}")]
    NotJson(String),
    #[error("the JWK must be a JSON object")]
    NotAnObject,
    #[error("the JWK has no \"{0}\" member")]
    MissingMember(&'static str),
    #[error("JWK member \"{0}\" must be a string")]
    NotAString(&'static str),
    #[error("JWK member \"{member}\": {reason}")]
    Encoding {
        member: &'static str,
        reason: String,
    },
    #[error(
        "the JWK carries the private key member \"{0}\": send the public key only, and treat this private key as disclosed"
    )]
    PrivateMember(&'static str),
    #[error("JWK key type {0:?} is not supported: use RSA, EC (P-256, P-384) or OKP (Ed25519)")]
    UnsupportedKeyType(String),
    #[error("{kty} curve {crv:?} is not supported: use {supported}")]
    UnsupportedCurve {
        kty: &'static str,
        crv: String,
        supported: &'static str,
    },
    #[error(
        "an RSA modulus of {0} bits is not accepted: use {RSA_MIN_BITS} to {RSA_MAX_BITS} bits"
    )]
    RsaModulusSize(usize),
    #[error(
        "RSA member \"{0}\" has a leading zero octet: integers must be minimal (RFC 7518 §6.3.1)"
    )]
    NotMinimal(&'static str),
    #[error("the RSA public exponent must be odd, at least 3 and at most 32 bits")]
    RsaExponent,
    #[error("EC member \"{member}\" must be {expected} bytes for {crv}, got {got}")]
    CoordinateLength {
        member: &'static str,
        crv: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("the point (x, y) is not on the {0} curve")]
    NotOnCurve(&'static str),
    #[error("{0} rejected the key: it is not a valid public key")]
    Rejected(&'static str),
    #[error("the JWK declares \"alg\" {declared:?} but {} signs with {}", .key.key_kind(), .key)]
    AlgorithmMismatch { declared: String, key: Algorithm },
    #[error("the JWK declares \"use\" {0:?}: an account key must be for signatures (\"sig\")")]
    NotForSignatures(String),
}

impl From<JwkError> for Problem {
    fn from(e: JwkError) -> Self {
        match e {
            JwkError::AlgorithmMismatch { .. } => {
                Problem::new(ProblemType::BadSignatureAlgorithm, e.to_string())
                    .with_algorithms(Algorithm::ALL.map(Algorithm::name))
            }
            _ => Problem::new(ProblemType::BadPublicKey, e.to_string()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
}

impl Curve {
    fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
        }
    }

    fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }
}

/// The public parameters, decoded.
#[derive(Clone, PartialEq, Eq)]
enum Params {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Ec {
        curve: Curve,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    Ed25519 {
        x: Vec<u8>,
    },
}

/// A public key from a JWK, checked and ready to verify signatures.
#[derive(Clone)]
pub struct Jwk {
    params: Params,
    key: ParsedPublicKey,
    thumbprint: String,
}

impl Jwk {
    /// Parses a JWK from JSON text (duplicate members refused).
    pub fn from_json(text: &[u8]) -> Result<Self, JwkError> {
        let value = strict_json(text).map_err(JwkError::NotJson)?;
        Jwk::from_value(&value)
    }

    /// Parses a JWK from a JSON value, such as the `jwk` header parameter.
    /// Members other than the key's own, `alg` and `use` (`kid`, `key_ops`,
    /// `x5c`, ...) are ignored, as RFC 7517 §4 asks.
    pub fn from_value(value: &Value) -> Result<Self, JwkError> {
        let obj = value.as_object().ok_or(JwkError::NotAnObject)?;
        if let Some(member) = PRIVATE_MEMBERS.into_iter().find(|m| obj.contains_key(*m)) {
            return Err(JwkError::PrivateMember(member));
        }
        if let Some(usage) = optional_str(obj, "use")?
            && usage != "sig"
        {
            return Err(JwkError::NotForSignatures(shorten(usage)));
        }
        let kty = required_str(obj, "kty")?;
        let (params, key) = match kty {
            "RSA" => rsa(obj)?,
            "EC" => ec(obj)?,
            "OKP" => okp(obj)?,
            other => return Err(JwkError::UnsupportedKeyType(shorten(other))),
        };
        let jwk = Jwk {
            thumbprint: b64url_encode(
                digest::digest(&digest::SHA256, canonical_json(&params).as_bytes()).as_ref(),
            ),
            params,
            key,
        };
        if let Some(declared) = optional_str(obj, "alg")?
            && declared != jwk.algorithm().name()
        {
            return Err(JwkError::AlgorithmMismatch {
                declared: shorten(declared),
                key: jwk.algorithm(),
            });
        }
        Ok(jwk)
    }

    /// The one algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self.params {
            Params::Rsa { .. } => Algorithm::Rs256,
            Params::Ec {
                curve: Curve::P256, ..
            } => Algorithm::Es256,
            Params::Ec {
                curve: Curve::P384, ..
            } => Algorithm::Es384,
            Params::Ed25519 { .. } => Algorithm::EdDsa,
        }
    }

    /// The RFC 7638 thumbprint: base64url of the SHA-256 of the canonical
    /// JSON of the required members. Key authorizations end with it
    /// (RFC 8555 §8.1); two JWKs of the same key have the same one.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The canonical JSON of the key: the required members only, in
    /// lexicographic order, without whitespace (RFC 7638 §3.2). A form to
    /// store and compare.
    pub fn canonical_json(&self) -> String {
        canonical_json(&self.params)
    }

    /// True when `spki` (SubjectPublicKeyInfo DER, e.g. a CSR's) is this
    /// very key: finalize refuses a CSR for the account key (RFC 8555 §11.1).
    pub fn is_key_of(&self, spki: &[u8]) -> bool {
        use x509_parser::prelude::FromDer;
        use x509_parser::public_key::PublicKey;
        use x509_parser::x509::SubjectPublicKeyInfo;
        let Ok((_, info)) = SubjectPublicKeyInfo::from_der(spki) else {
            return false;
        };
        let trim = |b: &[u8]| -> Vec<u8> {
            let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
            b[start..].to_vec()
        };
        match (&self.params, info.parsed()) {
            (Params::Rsa { n, e }, Ok(PublicKey::RSA(rsa))) => {
                trim(rsa.modulus) == trim(n) && trim(rsa.exponent) == trim(e)
            }
            (Params::Ec { x, y, .. }, Ok(PublicKey::EC(point))) => {
                let data = point.data();
                data.len() == 1 + x.len() + y.len()
                    && data[0] == 4
                    && data[1..1 + x.len()] == x[..]
                    && data[1 + x.len()..] == y[..]
            }
            (Params::Ed25519 { x }, _) => *info.subject_public_key.data == x[..],
            _ => false,
        }
    }

    /// The key as a JWK object with its required members.
    pub fn to_value(&self) -> Value {
        let mut obj = Map::new();
        match &self.params {
            Params::Rsa { n, e } => {
                obj.insert("kty".into(), "RSA".into());
                obj.insert("n".into(), b64url_encode(n).into());
                obj.insert("e".into(), b64url_encode(e).into());
            }
            Params::Ec { curve, x, y } => {
                obj.insert("kty".into(), "EC".into());
                obj.insert("crv".into(), curve.name().into());
                obj.insert("x".into(), b64url_encode(x).into());
                obj.insert("y".into(), b64url_encode(y).into());
            }
            Params::Ed25519 { x } => {
                obj.insert("kty".into(), "OKP".into());
                obj.insert("crv".into(), "Ed25519".into());
                obj.insert("x".into(), b64url_encode(x).into());
            }
        }
        Value::Object(obj)
    }

    /// The parsed key, bound to [`Self::algorithm`], that verifies signatures.
    pub(super) fn verifier(&self) -> &ParsedPublicKey {
        &self.key
    }
}

impl PartialEq for Jwk {
    fn eq(&self, other: &Self) -> bool {
        self.params == other.params
    }
}

impl Eq for Jwk {}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("algorithm", &self.algorithm())
            .field("thumbprint", &self.thumbprint)
            .finish()
    }
}

fn required_str<'a>(
    obj: &'a Map<String, Value>,
    member: &'static str,
) -> Result<&'a str, JwkError> {
    optional_str(obj, member)?.ok_or(JwkError::MissingMember(member))
}

fn optional_str<'a>(
    obj: &'a Map<String, Value>,
    member: &'static str,
) -> Result<Option<&'a str>, JwkError> {
    match obj.get(member) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JwkError::NotAString(member)),
    }
}

fn bytes(obj: &Map<String, Value>, member: &'static str) -> Result<Vec<u8>, JwkError> {
    let text = required_str(obj, member)?;
    b64url_decode(text).map_err(|reason| JwkError::Encoding { member, reason })
}

fn rsa(obj: &Map<String, Value>) -> Result<(Params, ParsedPublicKey), JwkError> {
    let n = bytes(obj, "n")?;
    let e = bytes(obj, "e")?;
    let bits = match n.first() {
        None => 0,
        Some(0) => return Err(JwkError::NotMinimal("n")),
        Some(&first) => n.len() * 8 - first.leading_zeros() as usize,
    };
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(JwkError::RsaModulusSize(bits));
    }
    match e.first() {
        Some(0) => return Err(JwkError::NotMinimal("e")),
        None => return Err(JwkError::RsaExponent),
        Some(_) if e.len() > 4 => return Err(JwkError::RsaExponent),
        Some(_) => {}
    }
    let exponent = e.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
    if exponent < 3 || exponent.is_multiple_of(2) {
        return Err(JwkError::RsaExponent);
    }
    let key = RsaPublicKeyComponents { n: &n, e: &e }
        .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
        .map_err(|_| JwkError::Rejected("RSA"))?;
    Ok((Params::Rsa { n, e }, key))
}

fn ec(obj: &Map<String, Value>) -> Result<(Params, ParsedPublicKey), JwkError> {
    let curve = match required_str(obj, "crv")? {
        "P-256" => Curve::P256,
        "P-384" => Curve::P384,
        other => {
            return Err(JwkError::UnsupportedCurve {
                kty: "EC",
                crv: shorten(other),
                supported: "P-256 or P-384",
            });
        }
    };
    let x = coordinate(obj, "x", curve)?;
    let y = coordinate(obj, "y", curve)?;
    // SEC 1 uncompressed point; aws-lc checks the coordinates are below p
    // and that the point satisfies the curve equation.
    let mut point = Vec::with_capacity(1 + x.len() + y.len());
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    let algorithm = match curve {
        Curve::P256 => &ECDSA_P256_SHA256_FIXED,
        Curve::P384 => &ECDSA_P384_SHA384_FIXED,
    };
    let key =
        ParsedPublicKey::new(algorithm, &point).map_err(|_| JwkError::NotOnCurve(curve.name()))?;
    Ok((Params::Ec { curve, x, y }, key))
}

fn coordinate(
    obj: &Map<String, Value>,
    member: &'static str,
    curve: Curve,
) -> Result<Vec<u8>, JwkError> {
    let value = bytes(obj, member)?;
    if value.len() != curve.coordinate_len() {
        return Err(JwkError::CoordinateLength {
            member,
            crv: curve.name(),
            expected: curve.coordinate_len(),
            got: value.len(),
        });
    }
    Ok(value)
}

fn okp(obj: &Map<String, Value>) -> Result<(Params, ParsedPublicKey), JwkError> {
    let crv = required_str(obj, "crv")?;
    if crv != "Ed25519" {
        return Err(JwkError::UnsupportedCurve {
            kty: "OKP",
            crv: shorten(crv),
            supported: "Ed25519",
        });
    }
    let x = bytes(obj, "x")?;
    if x.len() != 32 {
        return Err(JwkError::CoordinateLength {
            member: "x",
            crv: "Ed25519",
            expected: 32,
            got: x.len(),
        });
    }
    let key = ParsedPublicKey::new(&ED25519, &x).map_err(|_| JwkError::Rejected("Ed25519"))?;
    Ok((Params::Ed25519 { x }, key))
}

/// RFC 7638 §3.2: the required members in lexicographic order, no
/// whitespace. Every value is base64url or a fixed name, so nothing needs
/// escaping.
fn canonical_json(params: &Params) -> String {
    match params {
        Params::Rsa { n, e } => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            b64url_encode(e),
            b64url_encode(n)
        ),
        Params::Ec { curve, x, y } => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            curve.name(),
            b64url_encode(x),
            b64url_encode(y)
        ),
        Params::Ed25519 { x } => format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            b64url_encode(x)
        ),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
        Ed25519KeyPair, KeyPair, RsaKeyPair,
    };
    use serde_json::json;

    use super::*;

    /// RFC 7638 §3.1.
    pub const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

    /// RFC 7515 Appendix A.3 (also RFC 7517 A.1's first key).
    pub const A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    pub const A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    /// The public JWK of a freshly generated RSA key pair.
    pub fn rsa_jwk(pair: &RsaKeyPair) -> Value {
        let public = pair.public_key();
        json!({
            "kty": "RSA",
            "n": b64url_encode(public.modulus().big_endian_without_leading_zero()),
            "e": b64url_encode(public.exponent().big_endian_without_leading_zero()),
        })
    }

    /// The public JWK of a freshly generated ECDSA key pair.
    pub fn ec_jwk(pair: &EcdsaKeyPair, crv: &str) -> Value {
        let point = pair.public_key().as_ref();
        let len = (point.len() - 1) / 2;
        json!({
            "kty": "EC",
            "crv": crv,
            "x": b64url_encode(&point[1..1 + len]),
            "y": b64url_encode(&point[1 + len..]),
        })
    }

    /// The public JWK of a freshly generated Ed25519 key pair.
    pub fn ed25519_jwk(pair: &Ed25519KeyPair) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(pair.public_key().as_ref())})
    }

    fn err(v: Value) -> JwkError {
        Jwk::from_value(&v).unwrap_err()
    }

    #[test]
    fn rfc7638_thumbprint_example() {
        let jwk = Jwk::from_value(&json!({
            "kty": "RSA",
            "n": RFC7638_N,
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29",
        }))
        .unwrap();
        assert_eq!(
            jwk.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(jwk.algorithm(), Algorithm::Rs256);
        assert_eq!(
            jwk.canonical_json(),
            format!(r#"{{"e":"AQAB","kty":"RSA","n":"{RFC7638_N}"}}"#)
        );
        // The same key from its canonical JSON: same key, same thumbprint.
        let again = Jwk::from_json(jwk.canonical_json().as_bytes()).unwrap();
        assert_eq!(again, jwk);
        assert_eq!(again.thumbprint(), jwk.thumbprint());
    }

    #[test]
    fn ec_and_okp_thumbprints_follow_rfc7638_member_order() {
        let jwk =
            Jwk::from_value(&json!({"kty": "EC", "crv": "P-256", "x": A3_X, "y": A3_Y})).unwrap();
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{A3_X}","y":"{A3_Y}"}}"#);
        assert_eq!(jwk.canonical_json(), canonical);
        let expected =
            b64url_encode(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref());
        assert_eq!(jwk.thumbprint(), expected);
        assert_eq!(jwk.algorithm(), Algorithm::Es256);
        assert_eq!(Jwk::from_value(&jwk.to_value()).unwrap(), jwk);

        // RFC 8037 Appendix A.3 gives this key's thumbprint.
        let ed = Jwk::from_value(&json!({
            "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        }))
        .unwrap();
        assert_eq!(
            ed.thumbprint(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        assert_eq!(ed.algorithm(), Algorithm::EdDsa);
    }

    #[test]
    fn generated_keys_parse_with_their_algorithm() {
        let rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        assert_eq!(
            Jwk::from_value(&rsa_jwk(&rsa)).unwrap().algorithm(),
            Algorithm::Rs256
        );
        let p256 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        assert_eq!(
            Jwk::from_value(&ec_jwk(&p256, "P-256"))
                .unwrap()
                .algorithm(),
            Algorithm::Es256
        );
        let p384 = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
        assert_eq!(
            Jwk::from_value(&ec_jwk(&p384, "P-384"))
                .unwrap()
                .algorithm(),
            Algorithm::Es384
        );
        let ed = Ed25519KeyPair::generate().unwrap();
        assert_eq!(
            Jwk::from_value(&ed25519_jwk(&ed)).unwrap().algorithm(),
            Algorithm::EdDsa
        );
        // A P-256 point claimed to be P-384 has the wrong coordinate length.
        assert!(matches!(
            err(ec_jwk(&p256, "P-384")),
            JwkError::CoordinateLength {
                expected: 48,
                got: 32,
                ..
            }
        ));
    }

    #[test]
    fn private_members_are_refused() {
        let mut v = json!({"kty": "EC", "crv": "P-256", "x": A3_X, "y": A3_Y,
            "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"});
        assert_eq!(err(v.clone()), JwkError::PrivateMember("d"));
        let problem = Problem::from(err(v.clone()));
        assert_eq!(problem.kind, ProblemType::BadPublicKey);
        assert!(problem.detail.contains("\"d\""), "{}", problem.detail);
        v.as_object_mut().unwrap().remove("d");
        for member in ["p", "q", "dp", "dq", "qi", "oth", "k"] {
            let mut with = v.clone();
            with[member] = json!("AQAB");
            assert_eq!(err(with), JwkError::PrivateMember(member));
        }
        assert!(Jwk::from_value(&v).is_ok());
    }

    #[test]
    fn ec_point_not_on_curve_is_refused() {
        let mut y = b64url_decode(A3_Y).unwrap();
        y[31] ^= 1;
        let v = json!({"kty": "EC", "crv": "P-256", "x": A3_X, "y": b64url_encode(&y)});
        assert_eq!(err(v), JwkError::NotOnCurve("P-256"));
        // A coordinate equal to p (beyond the field) is refused as well.
        let p = b64url_encode(&[
            0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff,
        ]);
        let v = json!({"kty": "EC", "crv": "P-256", "x": p, "y": A3_Y});
        assert_eq!(err(v), JwkError::NotOnCurve("P-256"));
    }

    #[test]
    fn malformed_and_unsupported_keys_are_refused() {
        let ec = |extra: Value| {
            let mut v = json!({"kty": "EC", "crv": "P-256", "x": A3_X, "y": A3_Y});
            for (k, val) in extra.as_object().unwrap() {
                v[k] = val.clone();
            }
            v
        };
        let cases: Vec<(Value, &str)> = vec![
            (json!("RSA"), "JSON object"),
            (json!({"n": RFC7638_N, "e": "AQAB"}), "no \"kty\""),
            (json!({"kty": 1}), "\"kty\" must be a string"),
            (json!({"kty": "oct", "kid": "x"}), "key type \"oct\""),
            (
                json!({"kty": "rsa", "n": RFC7638_N, "e": "AQAB"}),
                "key type \"rsa\"",
            ),
            (ec(json!({"crv": "P-521"})), "curve \"P-521\""),
            (ec(json!({"crv": "secp256k1"})), "curve \"secp256k1\""),
            (
                json!({"kty": "OKP", "crv": "X25519", "x": A3_X}),
                "curve \"X25519\"",
            ),
            (
                json!({"kty": "OKP", "crv": "Ed448", "x": A3_X}),
                "curve \"Ed448\"",
            ),
            (ec(json!({"x": format!("{A3_X}=")})), "padding"),
            (ec(json!({"y": A3_Y.replace('_', "/")})), "not base64url"),
            (ec(json!({"y": null})), "\"y\" must be a string"),
            (
                ec(json!({"x": "AQAB"})),
                "must be 32 bytes for P-256, got 3",
            ),
            (ec(json!({"alg": "ES384"})), "declares \"alg\" \"ES384\""),
            (ec(json!({"use": "enc"})), "\"use\" \"enc\""),
            (
                json!({"kty": "OKP", "crv": "Ed25519", "x": "AQAB"}),
                "32 bytes for Ed25519",
            ),
            (json!({"kty": "RSA", "e": "AQAB"}), "no \"n\""),
            (json!({"kty": "RSA", "n": RFC7638_N}), "no \"e\""),
            (
                json!({"kty": "RSA", "n": b64url_encode(&[&[0u8][..], &b64url_decode(RFC7638_N).unwrap()].concat()), "e": "AQAB"}),
                "leading zero",
            ),
            (
                json!({"kty": "RSA", "n": RFC7638_N, "e": "AAEAAQ"}),
                "leading zero",
            ),
            (json!({"kty": "RSA", "n": RFC7638_N, "e": "AQ"}), "exponent"),
            (
                json!({"kty": "RSA", "n": RFC7638_N, "e": "AQAA"}),
                "exponent",
            ),
            (
                json!({"kty": "RSA", "n": RFC7638_N, "e": "AQAAAAE"}),
                "exponent",
            ),
            (json!({"kty": "RSA", "n": RFC7638_N, "e": ""}), "exponent"),
        ];
        for (v, want) in cases {
            let e = err(v.clone());
            assert!(e.to_string().contains(want), "{v}: {e}");
        }
        assert_eq!(
            Problem::from(err(ec(json!({"alg": "RS256"})))).kind,
            ProblemType::BadSignatureAlgorithm
        );
        assert!(
            matches!(Jwk::from_json(br#"{"kty":"EC","kty":"EC"}"#), Err(JwkError::NotJson(d)) if d.contains("duplicate"))
        );
    }

    #[test]
    fn rsa_modulus_bounds() {
        let modulus = |bits: usize| {
            let mut n = vec![0xffu8; bits.div_ceil(8)];
            if !bits.is_multiple_of(8) {
                n[0] = (1u8 << (bits % 8)) - 1;
            }
            // Odd, as a modulus is; the size check comes before aws-lc's.
            json!({"kty": "RSA", "n": b64url_encode(&n), "e": "AQAB"})
        };
        assert_eq!(err(modulus(1024)), JwkError::RsaModulusSize(1024));
        assert_eq!(err(modulus(2047)), JwkError::RsaModulusSize(2047));
        assert_eq!(err(modulus(4097)), JwkError::RsaModulusSize(4097));
        assert_eq!(err(modulus(8192)), JwkError::RsaModulusSize(8192));
        assert_eq!(
            err(json!({"kty": "RSA", "n": "", "e": "AQAB"})),
            JwkError::RsaModulusSize(0)
        );
        let rsa4096 = RsaKeyPair::generate(KeySize::Rsa4096).unwrap();
        assert!(Jwk::from_value(&rsa_jwk(&rsa4096)).is_ok());
    }

    #[test]
    fn equality_is_by_key() {
        let a = Jwk::from_value(
            &json!({"kty": "EC", "crv": "P-256", "x": A3_X, "y": A3_Y, "kid": "1"}),
        )
        .unwrap();
        let b = Jwk::from_value(
            &json!({"y": A3_Y, "x": A3_X, "crv": "P-256", "kty": "EC", "use": "sig"}),
        )
        .unwrap();
        assert_eq!(a, b);
        let other = Ed25519KeyPair::generate().unwrap();
        assert_ne!(a, Jwk::from_value(&ed25519_jwk(&other)).unwrap());
        assert!(format!("{a:?}").contains(a.thumbprint()));
    }
}
