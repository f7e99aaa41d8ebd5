//! Key algorithms, private key generation/loading/export, signing, and SubjectPublicKeyInfo checks.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_SIG_ED25519,
};
use x509_parser::prelude::{FromDer, SubjectPublicKeyInfo};

use crate::der;
use crate::error::PkiError;

/// Smallest accepted RSA modulus, in bits.
pub const RSA_MIN_BITS: u32 = 2048;
/// Largest accepted RSA modulus, in bits.
pub const RSA_MAX_BITS: u32 = 8192;

/// A public key algorithm (and size) this CA can issue for and sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// RSA with the given modulus size in bits.
    Rsa {
        /// Modulus size in bits.
        bits: u32,
    },
    /// ECDSA on NIST P-256 (signs with SHA-256).
    EcdsaP256,
    /// ECDSA on NIST P-384 (signs with SHA-384).
    EcdsaP384,
    /// Ed25519.
    Ed25519,
}

impl KeyAlgorithm {
    /// Parses an API algorithm name (`rsa`, `ecdsa-p256`, `ecdsa-p384`, `ed25519`); `rsa_bits` sizes RSA.
    pub fn parse(name: &str, rsa_bits: u32) -> Result<Self, PkiError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "rsa" => {
                if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&rsa_bits) || !rsa_bits.is_multiple_of(8)
                {
                    return Err(PkiError::InvalidInput(format!(
                        "RSA key size must be a multiple of 8 between {RSA_MIN_BITS} and \
                         {RSA_MAX_BITS} bits, got {rsa_bits}"
                    )));
                }
                Ok(Self::Rsa { bits: rsa_bits })
            }
            "ecdsa-p256" => Ok(Self::EcdsaP256),
            "ecdsa-p384" => Ok(Self::EcdsaP384),
            "ed25519" => Ok(Self::Ed25519),
            other => Err(PkiError::InvalidInput(format!(
                "unknown key algorithm {other:?}; expected one of rsa, ecdsa-p256, ecdsa-p384, \
                 ed25519"
            ))),
        }
    }

    /// The API name: `rsa`, `ecdsa-p256`, `ecdsa-p384` or `ed25519`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Rsa { .. } => "rsa",
            Self::EcdsaP256 => "ecdsa-p256",
            Self::EcdsaP384 => "ecdsa-p384",
            Self::Ed25519 => "ed25519",
        }
    }

    /// Key size in bits: the RSA modulus size, 256 for P-256 and Ed25519, 384 for P-384.
    pub fn key_size(&self) -> u32 {
        match self {
            Self::Rsa { bits } => *bits,
            Self::EcdsaP256 | Self::Ed25519 => 256,
            Self::EcdsaP384 => 384,
        }
    }

    /// True for RSA (whose leaf certificates also get keyEncipherment).
    pub fn is_rsa(&self) -> bool {
        matches!(self, Self::Rsa { .. })
    }

    /// The DER AlgorithmIdentifier of the signature this key makes on certificates and CRLs.
    pub(crate) fn signature_algorithm_der(&self) -> Vec<u8> {
        match self {
            // sha256WithRSAEncryption, parameters NULL (RFC 4055)
            Self::Rsa { .. } => der::seq(&[
                &der::oid(&[1, 2, 840, 113549, 1, 1, 11]),
                &der::tlv(der::NULL, &[]),
            ]),
            // ecdsa-with-SHA256 / SHA384, parameters absent (RFC 5758)
            Self::EcdsaP256 => der::seq(&[&der::oid(&[1, 2, 840, 10045, 4, 3, 2])]),
            Self::EcdsaP384 => der::seq(&[&der::oid(&[1, 2, 840, 10045, 4, 3, 3])]),
            // id-Ed25519, parameters absent (RFC 8410)
            Self::Ed25519 => der::seq(&[&der::oid(&[1, 3, 101, 112])]),
        }
    }
}

/// The name with the RSA size: `rsa-2048`, `ecdsa-p256`, ... (as `KEY_POOL_ALGORITHMS`
/// spells it).
impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rsa { bits } => write!(f, "rsa-{bits}"),
            other => f.write_str(other.name()),
        }
    }
}

/// A private key (RSA, ECDSA P-256/P-384 or Ed25519) held as PKCS#8 v1 DER.
///
/// Deliberately not `PartialEq`: comparing secrets byte by byte is not constant-time.
#[derive(Clone)]
pub struct PrivateKey {
    pkcs8: Vec<u8>,
    algorithm: KeyAlgorithm,
    spki: Vec<u8>,
    /// Parsed once: loading an RSA key validates it, which costs more than a signature.
    loaded: std::sync::Arc<LoadedKey>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// A key pair parsed into aws-lc-rs, ready to sign.
enum LoadedKey {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

fn crypto_err(what: &str) -> PkiError {
    PkiError::Crypto(what.to_string())
}

fn ec_alg(alg: KeyAlgorithm) -> Option<&'static EcdsaSigningAlgorithm> {
    match alg {
        KeyAlgorithm::EcdsaP256 => Some(&ECDSA_P256_SHA256_ASN1_SIGNING),
        KeyAlgorithm::EcdsaP384 => Some(&ECDSA_P384_SHA384_ASN1_SIGNING),
        _ => None,
    }
}

impl PrivateKey {
    /// Generates a fresh key. RSA generation supports 2048, 3072, 4096 and 8192 bits (aws-lc-rs).
    pub fn generate(alg: KeyAlgorithm) -> Result<Self, PkiError> {
        let loaded = match alg {
            KeyAlgorithm::Rsa { bits } => {
                let size = match bits {
                    2048 => KeySize::Rsa2048,
                    3072 => KeySize::Rsa3072,
                    4096 => KeySize::Rsa4096,
                    8192 => KeySize::Rsa8192,
                    other => {
                        return Err(PkiError::InvalidInput(format!(
                            "RSA key generation supports 2048, 3072, 4096 or 8192 bits, \
                             got {other}"
                        )));
                    }
                };
                LoadedKey::Rsa(
                    RsaKeyPair::generate(size).map_err(|_| crypto_err("RSA key generation"))?,
                )
            }
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
                let ec = ec_alg(alg).ok_or_else(|| crypto_err("EC algorithm"))?;
                LoadedKey::Ecdsa(
                    EcdsaKeyPair::generate(ec).map_err(|_| crypto_err("EC key generation"))?,
                )
            }
            KeyAlgorithm::Ed25519 => LoadedKey::Ed25519(
                Ed25519KeyPair::generate().map_err(|_| crypto_err("Ed25519 key generation"))?,
            ),
        };
        Self::from_loaded(loaded)
    }

    /// Builds the canonical form (PKCS#8 v1 + SPKI) from a parsed key pair.
    fn from_loaded(loaded: LoadedKey) -> Result<Self, PkiError> {
        let bad = || PkiError::InvalidKey("could not serialize the key".into());
        let (pkcs8, spki): (Vec<u8>, PublicKeyX509Der<'static>) = match &loaded {
            LoadedKey::Rsa(k) => (
                AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(k)
                    .map_err(|_| bad())?
                    .as_ref()
                    .to_vec(),
                k.public_key().as_der().map_err(|_| bad())?,
            ),
            LoadedKey::Ecdsa(k) => (
                k.to_pkcs8v1().map_err(|_| bad())?.as_ref().to_vec(),
                k.public_key().as_der().map_err(|_| bad())?,
            ),
            LoadedKey::Ed25519(k) => (
                k.to_pkcs8v1().map_err(|_| bad())?.as_ref().to_vec(),
                k.public_key().as_der().map_err(|_| bad())?,
            ),
        };
        let spki = spki.as_ref().to_vec();
        let info = parse_spki(&spki).map_err(PkiError::InvalidKey)?;
        check_supported(info.algorithm).map_err(PkiError::InvalidKey)?;
        Ok(Self {
            pkcs8,
            algorithm: info.algorithm,
            spki,
            loaded: std::sync::Arc::new(loaded),
        })
    }

    /// Loads a PEM key: PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`.
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        let blocks = ::pem::parse_many(pem)
            .map_err(|_| PkiError::InvalidKey("not a PEM document".into()))?;
        // `openssl ecparam -genkey` writes an `EC PARAMETERS` block first: skip it.
        let block = blocks
            .iter()
            .find(|b| b.tag() != "EC PARAMETERS")
            .ok_or_else(|| PkiError::InvalidKey("no private key in the PEM document".into()))?;
        match block.tag() {
            "PRIVATE KEY" => Self::from_pkcs8_der(block.contents()),
            "RSA PRIVATE KEY" => {
                let k = RsaKeyPair::from_der(block.contents()).map_err(|e| {
                    PkiError::InvalidKey(format!(
                        "unusable PKCS#1 RSA key ({e}); RSA keys must be 2048-8192 bits"
                    ))
                })?;
                Self::from_loaded(LoadedKey::Rsa(k))
            }
            "EC PRIVATE KEY" => {
                let k = EcdsaKeyPair::from_private_key_der(
                    &ECDSA_P256_SHA256_ASN1_SIGNING,
                    block.contents(),
                )
                .or_else(|_| {
                    EcdsaKeyPair::from_private_key_der(
                        &ECDSA_P384_SHA384_ASN1_SIGNING,
                        block.contents(),
                    )
                })
                .map_err(|_| {
                    PkiError::InvalidKey(
                        "unusable SEC1 EC key; only P-256 and P-384 are supported".into(),
                    )
                })?;
                Self::from_loaded(LoadedKey::Ecdsa(k))
            }
            "ENCRYPTED PRIVATE KEY" => Err(PkiError::InvalidKey(
                "encrypted private keys are not supported; decrypt it first".into(),
            )),
            other => Err(PkiError::InvalidKey(format!(
                "unexpected PEM label {other:?}; expected PRIVATE KEY, RSA PRIVATE KEY or EC \
                 PRIVATE KEY"
            ))),
        }
    }

    /// Loads an unencrypted PKCS#8 (v1 or v2) DER private key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, PkiError> {
        let loaded = if let Ok(k) = RsaKeyPair::from_pkcs8(der) {
            LoadedKey::Rsa(k)
        } else if let Ok(k) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der) {
            LoadedKey::Ecdsa(k)
        } else if let Ok(k) = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, der) {
            LoadedKey::Ecdsa(k)
        } else if let Ok(k) = Ed25519KeyPair::from_pkcs8(der) {
            LoadedKey::Ed25519(k)
        } else {
            return Err(PkiError::InvalidKey(
                "unsupported or malformed PKCS#8 key; supported: RSA 2048-8192, EC P-256, EC \
                 P-384, Ed25519"
                    .into(),
            ));
        };
        Self::from_loaded(loaded)
    }

    /// The key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn to_pem(&self) -> String {
        crate::codec::der_to_pem(&self.pkcs8, "PRIVATE KEY")
    }

    /// The key as PKCS#8 v1 DER.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The key's algorithm and size.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The public key as SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.spki.clone()
    }

    /// Borrowed SubjectPublicKeyInfo DER.
    pub(crate) fn spki(&self) -> &[u8] {
        &self.spki
    }

    /// Signs a TBSCertificate / TBSCertList: `SEQUENCE { tbs, signatureAlgorithm, signature }`.
    pub(crate) fn sign_tbs(&self, tbs: &[u8]) -> Result<Vec<u8>, PkiError> {
        let signature = self.sign(tbs)?;
        let alg = self.algorithm.signature_algorithm_der();
        Ok(der::seq(&[tbs, &alg, &der::bit_string(&signature)]))
    }

    /// Signs `msg` with this key's certificate signature algorithm (see `signature_algorithm_der`).
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, PkiError> {
        let rng = SystemRandom::new();
        match self.loaded.as_ref() {
            LoadedKey::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, msg, &mut sig)
                    .map_err(|_| crypto_err("RSA signing"))?;
                Ok(sig)
            }
            LoadedKey::Ecdsa(k) => Ok(k
                .sign(&rng, msg)
                .map_err(|_| crypto_err("ECDSA signing"))?
                .as_ref()
                .to_vec()),
            LoadedKey::Ed25519(k) => Ok(k
                .try_sign(msg)
                .map_err(|_| crypto_err("Ed25519 signing"))?
                .as_ref()
                .to_vec()),
        }
    }
}

/// What this crate needs to know about a SubjectPublicKeyInfo (equal = same public key).
#[derive(PartialEq, Eq)]
pub(crate) struct SpkiInfo {
    /// The key's algorithm and size.
    pub(crate) algorithm: KeyAlgorithm,
    /// The subjectPublicKey BIT STRING contents (what the SKI hashes).
    pub(crate) key_bits: Vec<u8>,
}

/// Parses and sanity-checks a SubjectPublicKeyInfo; the error is a human-readable reason.
pub(crate) fn parse_spki(der: &[u8]) -> Result<SpkiInfo, String> {
    let (rest, spki) = SubjectPublicKeyInfo::from_der(der)
        .map_err(|_| "malformed SubjectPublicKeyInfo".to_string())?;
    if !rest.is_empty() {
        return Err("trailing data after SubjectPublicKeyInfo".into());
    }
    let key_bits: &[u8] = &spki.subject_public_key.data;
    if spki.subject_public_key.unused_bits != 0 {
        return Err("public key BIT STRING has unused bits".into());
    }
    let alg = &spki.algorithm.algorithm;
    let algorithm = if *alg == OID_PKCS1_RSAENCRYPTION {
        let bits = rsa_modulus_bits(key_bits)?;
        KeyAlgorithm::Rsa { bits }
    } else if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .ok_or_else(|| "EC key without a named curve".to_string())?;
        let (algorithm, len) = if curve == OID_EC_P256 {
            (KeyAlgorithm::EcdsaP256, 65)
        } else if curve == OID_NIST_EC_P384 {
            (KeyAlgorithm::EcdsaP384, 97)
        } else {
            return Err(format!(
                "unsupported EC curve {}; supported: P-256, P-384",
                curve.to_id_string()
            ));
        };
        if key_bits.len() != len || key_bits.first() != Some(&4) {
            return Err("EC public key must be an uncompressed point on its curve".into());
        }
        algorithm
    } else if *alg == OID_SIG_ED25519 {
        if spki.algorithm.parameters.is_some() {
            return Err("Ed25519 key with parameters".into());
        }
        if key_bits.len() != 32 {
            return Err("Ed25519 public key must be 32 bytes".into());
        }
        KeyAlgorithm::Ed25519
    } else {
        return Err(format!(
            "unsupported public key algorithm {}; supported: RSA, EC P-256, EC P-384, Ed25519",
            alg.to_id_string()
        ));
    };
    Ok(SpkiInfo {
        algorithm,
        key_bits: key_bits.to_vec(),
    })
}

/// Returns the bit length of the modulus in a DER RSAPublicKey, checking the structure.
fn rsa_modulus_bits(rsa_public_key: &[u8]) -> Result<u32, String> {
    let (rest, key) = x509_parser::public_key::RSAPublicKey::from_der(rsa_public_key)
        .map_err(|_| "malformed RSA public key".to_string())?;
    if !rest.is_empty() {
        return Err("trailing data after RSA public key".into());
    }
    let m = key.modulus;
    let skip = m.iter().take_while(|b| **b == 0).count();
    let m = &m[skip..];
    let Some(first) = m.first() else {
        return Err("RSA modulus is zero".into());
    };
    let bits = (m.len() as u64 - 1) * 8 + u64::from(8 - first.leading_zeros());
    let e = key.exponent;
    if e.last().is_none_or(|b| b & 1 == 0) {
        return Err("RSA public exponent must be odd".into());
    }
    u32::try_from(bits).map_err(|_| "RSA modulus too large".to_string())
}

impl SpkiInfo {
    /// Canonical DER SubjectPublicKeyInfo for this key (what certificates carry).
    pub(crate) fn to_der(&self) -> Vec<u8> {
        let alg = match self.algorithm {
            KeyAlgorithm::Rsa { .. } => der::seq(&[
                &der::oid(&[1, 2, 840, 113549, 1, 1, 1]),
                &der::tlv(der::NULL, &[]),
            ]),
            KeyAlgorithm::EcdsaP256 => der::seq(&[
                &der::oid(&[1, 2, 840, 10045, 2, 1]),
                &der::oid(&[1, 2, 840, 10045, 3, 1, 7]),
            ]),
            KeyAlgorithm::EcdsaP384 => der::seq(&[
                &der::oid(&[1, 2, 840, 10045, 2, 1]),
                &der::oid(&[1, 3, 132, 0, 34]),
            ]),
            KeyAlgorithm::Ed25519 => der::seq(&[&der::oid(&[1, 3, 101, 112])]),
        };
        der::seq(&[&alg, &der::bit_string(&self.key_bits)])
    }
}

/// Rejects key sizes outside what the CA accepts (RSA 2048..=8192 bits).
pub(crate) fn check_supported(alg: KeyAlgorithm) -> Result<(), String> {
    match alg {
        KeyAlgorithm::Rsa { bits } if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) => Err(
            format!("RSA key of {bits} bits; accepted sizes are {RSA_MIN_BITS}-{RSA_MAX_BITS}"),
        ),
        _ => Ok(()),
    }
}

/// RFC 5280 key identifier, method 1: SHA-1 of the subjectPublicKey BIT STRING contents.
pub(crate) fn key_identifier(key_bits: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, key_bits)
        .as_ref()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::ALL_ALGS;

    #[test]
    fn rsa_modulus_sizes_are_counted_in_bits() {
        let public_key = |modulus: &[u8], exponent: &[u8]| {
            der::seq(&[&der::tlv(0x02, modulus), &der::tlv(0x02, exponent)])
        };
        // 0x01 then 255 octets, one of them zero: 2041 bits.
        let mut m = vec![0x01];
        m.extend([0xff; 100]);
        m.push(0x00);
        m.extend([0xff; 154]);
        assert_eq!(
            rsa_modulus_bits(&public_key(&m, &[0x01, 0x00, 0x01])),
            Ok(2041)
        );
        // A leading zero octet (the modulus is positive) is not counted.
        let mut m = vec![0x00, 0x80];
        m.extend([0u8; 255]);
        assert_eq!(rsa_modulus_bits(&public_key(&m, &[0x03])), Ok(2048));
        assert!(
            rsa_modulus_bits(&public_key(&m, &[0x01, 0x00, 0x00])).is_err(),
            "even exponent"
        );
        assert!(
            rsa_modulus_bits(&public_key(&[0x00], &[0x03])).is_err(),
            "zero modulus"
        );
    }

    #[test]
    fn ec_points_must_be_uncompressed() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let mut spki = key.spki().to_vec();
        assert!(parse_spki(&spki).is_ok());
        // The point's first octet follows the BIT STRING's unused-bits octet.
        let at = spki.len() - 65;
        assert_eq!(spki[at], 0x04);
        spki[at] = 0x02;
        let Err(e) = parse_spki(&spki) else {
            panic!("a compressed point was read")
        };
        assert!(e.contains("uncompressed point"), "{e}");
    }

    #[test]
    fn display_names_carry_the_rsa_size() {
        assert_eq!(KeyAlgorithm::Rsa { bits: 3072 }.to_string(), "rsa-3072");
        assert_eq!(KeyAlgorithm::EcdsaP256.to_string(), "ecdsa-p256");
        assert_eq!(KeyAlgorithm::EcdsaP384.to_string(), "ecdsa-p384");
        assert_eq!(KeyAlgorithm::Ed25519.to_string(), "ed25519");
    }

    #[test]
    fn parse_names_and_sizes() {
        assert_eq!(
            KeyAlgorithm::parse("rsa", 4096).unwrap(),
            KeyAlgorithm::Rsa { bits: 4096 }
        );
        assert_eq!(
            KeyAlgorithm::parse("RSA", 2056).unwrap(),
            KeyAlgorithm::Rsa { bits: 2056 }
        );
        assert_eq!(
            KeyAlgorithm::parse("ecdsa-p256", 0).unwrap(),
            KeyAlgorithm::EcdsaP256
        );
        assert_eq!(
            KeyAlgorithm::parse("ecdsa-p384", 0).unwrap(),
            KeyAlgorithm::EcdsaP384
        );
        assert_eq!(
            KeyAlgorithm::parse("ed25519", 1).unwrap(),
            KeyAlgorithm::Ed25519
        );
        for bad in [1024, 2047, 2049, 8200, 16384, 0] {
            let e = KeyAlgorithm::parse("rsa", bad).unwrap_err();
            assert!(
                matches!(&e, PkiError::InvalidInput(m) if m.contains("multiple of 8")),
                "{e}"
            );
        }
        assert!(KeyAlgorithm::parse("dsa", 2048).is_err());
        assert!(KeyAlgorithm::parse("", 2048).is_err());
        for alg in ALL_ALGS {
            assert_eq!(KeyAlgorithm::parse(alg.name(), 2048).unwrap(), alg);
        }
        assert_eq!(KeyAlgorithm::Ed25519.key_size(), 256);
        assert_eq!(KeyAlgorithm::EcdsaP384.key_size(), 384);
        assert_eq!(KeyAlgorithm::Rsa { bits: 3072 }.key_size(), 3072);
    }

    #[test]
    fn generate_and_pem_round_trip_all_algorithms() {
        for alg in ALL_ALGS {
            let key = PrivateKey::generate(alg).unwrap();
            assert_eq!(key.algorithm(), alg);
            let pem = key.to_pem();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
            let again = PrivateKey::from_pem(&pem).unwrap();
            assert_eq!(again.pkcs8_der(), key.pkcs8_der());
            assert_eq!(again.public_key_der(), key.public_key_der());
            let info = parse_spki(&key.public_key_der()).unwrap();
            assert_eq!(info.algorithm, alg);
            // Our canonical SPKI encoding matches aws-lc-rs byte for byte.
            assert_eq!(info.to_der(), key.public_key_der());
            // The key signs, and the signature verifies against its SPKI.
            let sig = key.sign(b"hello").unwrap();
            assert!(!sig.is_empty());
            assert!(format!("{key:?}").contains("algorithm"));
            assert!(!format!("{key:?}").contains("pkcs8"));
        }
    }

    #[test]
    fn generate_rejects_unsupported_rsa_sizes() {
        let e = PrivateKey::generate(KeyAlgorithm::Rsa { bits: 2056 }).unwrap_err();
        assert!(matches!(e, PkiError::InvalidInput(_)));
    }

    #[test]
    fn pkcs1_and_sec1_test_keys_load() {
        let rsa = PrivateKey::from_pem(include_str!("../tests/data/rsa2048_pkcs1.pem")).unwrap();
        assert_eq!(rsa.algorithm(), KeyAlgorithm::Rsa { bits: 2048 });
        let p256 = PrivateKey::from_pem(include_str!("../tests/data/p256_sec1.pem")).unwrap();
        assert_eq!(p256.algorithm(), KeyAlgorithm::EcdsaP256);
        let p384 = PrivateKey::from_pem(include_str!("../tests/data/p384_sec1.pem")).unwrap();
        assert_eq!(p384.algorithm(), KeyAlgorithm::EcdsaP384);
        let ed = PrivateKey::from_pem(include_str!("../tests/data/ed25519_pkcs8.pem")).unwrap();
        assert_eq!(ed.algorithm(), KeyAlgorithm::Ed25519);
        // Re-exported as PKCS#8 and loadable again.
        for k in [rsa, p256, p384, ed] {
            let again = PrivateKey::from_pem(&k.to_pem()).unwrap();
            assert_eq!(again.pkcs8_der(), k.pkcs8_der());
        }
    }

    #[test]
    fn bad_keys_are_errors() {
        for bad in [
            "",
            "garbage",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ] {
            assert!(
                matches!(PrivateKey::from_pem(bad), Err(PkiError::InvalidKey(_))),
                "{bad}"
            );
        }
        let small = include_str!("../tests/data/rsa1024_pkcs1.pem");
        assert!(matches!(
            PrivateKey::from_pem(small),
            Err(PkiError::InvalidKey(_))
        ));
        let k1 = include_str!("../tests/data/secp256k1_sec1.pem");
        assert!(matches!(
            PrivateKey::from_pem(k1),
            Err(PkiError::InvalidKey(_))
        ));
    }

    #[test]
    fn key_identifier_is_sha1_of_key_bits() {
        let id = key_identifier(b"abc");
        assert_eq!(hex::encode(id), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }
}
