//! ACME requests as a client signs them: ES256 account keys (their JWK and
//! RFC 7638 thumbprint), flattened JWS (signed, or deliberately broken by the
//! caller), external account bindings, and CSRs signed with the account key.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An ES256 account (or certificate) key.
pub struct AcmeKey {
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
}

impl AcmeKey {
    pub fn generate() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        AcmeKey {
            pair: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                .unwrap(),
            pkcs8: pkcs8.as_ref().to_vec(),
        }
    }

    /// A CSR for `name` signed with this very key (DER).
    pub fn csr_der(&self, name: &str) -> Vec<u8> {
        let key = rcgen::KeyPair::try_from(self.pkcs8.as_slice()).unwrap();
        let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.serialize_request(&key).unwrap().der().to_vec()
    }

    pub fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])})
    }

    /// RFC 7638 thumbprint.
    pub fn thumbprint(&self) -> String {
        let j = self.jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            j["x"].as_str().unwrap(),
            j["y"].as_str().unwrap()
        );
        b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()).as_ref())
    }

    /// A flattened JWS of `payload` (`None`: POST-as-GET) under `protected`.
    pub fn sign(&self, protected: &Value, payload: Option<&Value>) -> Value {
        let protected = b64(protected.to_string().as_bytes());
        let payload = payload
            .map(|p| b64(p.to_string().as_bytes()))
            .unwrap_or_default();
        let sig = self
            .pair
            .sign(
                &SystemRandom::new(),
                format!("{protected}.{payload}").as_bytes(),
            )
            .unwrap();
        json!({"protected": protected, "payload": payload, "signature": b64(sig.as_ref())})
    }
}

/// The `externalAccountBinding` of a new-account request (RFC 8555 §7.3.4).
pub fn eab_binding(key: &AcmeKey, kid: &str, hmac_key_b64: &str, url: &str) -> Value {
    use aws_lc_rs::hmac;
    let raw = URL_SAFE_NO_PAD.decode(hmac_key_b64).unwrap();
    let protected = b64(json!({"alg": "HS256", "kid": kid, "url": url})
        .to_string()
        .as_bytes());
    let payload = b64(key.jwk().to_string().as_bytes());
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, &raw),
        format!("{protected}.{payload}").as_bytes(),
    );
    json!({"protected": protected, "payload": payload, "signature": b64(tag.as_ref())})
}
