//! Certificate profiles: which extensions each kind of certificate carries (RFC 5280).

use crate::der;
use crate::error::PkiError;
use crate::keys::KeyAlgorithm;
use crate::san::Sans;

const OID_SKI: &[u64] = &[2, 5, 29, 14];
const OID_KEY_USAGE: &[u64] = &[2, 5, 29, 15];
const OID_SAN: &[u64] = &[2, 5, 29, 17];
const OID_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
const OID_CRL_DP: &[u64] = &[2, 5, 29, 31];
pub(crate) const OID_AKI: &[u64] = &[2, 5, 29, 35];
const OID_EKU: &[u64] = &[2, 5, 29, 37];
const OID_AIA: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
const OID_CA_ISSUERS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 2];
const OID_SERVER_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 1];
const OID_CLIENT_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 2];

// KeyUsage bits, bit 0 being the most significant bit of the u16.
pub(crate) const KU_DIGITAL_SIGNATURE: u16 = 0x8000;
const KU_KEY_ENCIPHERMENT: u16 = 0x2000;
pub(crate) const KU_KEY_CERT_SIGN: u16 = 0x0400;
pub(crate) const KU_CRL_SIGN: u16 = 0x0200;

/// Longest URL accepted for CRL distribution points and AIA.
const MAX_URL_LEN: usize = 2048;

/// The kind of certificate to issue; decides its extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Self-signed root CA.
    RootCa {
        /// BasicConstraints pathLenConstraint, if any.
        path_len: Option<u8>,
    },
    /// CA signed by another CA.
    IntermediateCa {
        /// BasicConstraints pathLenConstraint, if any.
        path_len: Option<u8>,
    },
    /// TLS server (EKU serverAuth).
    Server,
    /// TLS client (EKU clientAuth).
    Client,
    /// TLS server and client.
    DualPurpose,
    /// A CA certificate issued through the certificate route (`certificate_type`
    /// "ca"): pathLenConstraint 0.
    LeafCa,
}

impl Profile {
    /// Maps an API `certificate_type` (`server`, `client`, `dual_purpose`, `ca`) to a profile.
    pub fn from_certificate_type(s: &str) -> Result<Self, PkiError> {
        match s {
            "server" => Ok(Self::Server),
            "client" => Ok(Self::Client),
            "dual_purpose" => Ok(Self::DualPurpose),
            "ca" => Ok(Self::LeafCa),
            other => Err(PkiError::InvalidInput(format!(
                "unknown certificate type {other:?}; expected server, client, dual_purpose or ca"
            ))),
        }
    }

    /// True when the certificate may sign certificates (BasicConstraints cA TRUE).
    pub fn is_ca(&self) -> bool {
        matches!(
            self,
            Self::RootCa { .. } | Self::IntermediateCa { .. } | Self::LeafCa
        )
    }
}

/// What the extensions are computed from (all names already checked and normalized).
pub(crate) struct ExtensionInputs<'a> {
    pub(crate) subject_key: KeyAlgorithm,
    pub(crate) ski: &'a [u8],
    pub(crate) aki: &'a [u8],
    pub(crate) sans: &'a Sans,
    pub(crate) subject_empty: bool,
    pub(crate) crl_url: Option<&'a str>,
    pub(crate) ca_issuers_url: Option<&'a str>,
}

/// Checks a CRL / caIssuers URL: http(s), printable ASCII, bounded length.
pub(crate) fn validate_url(url: &str) -> Result<(), PkiError> {
    let err = |why: &str| PkiError::InvalidInput(format!("invalid URL {url:?}: {why}"));
    if url.len() > MAX_URL_LEN {
        return Err(err("too long"));
    }
    if !url.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(err("only printable ASCII without spaces is allowed"));
    }
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
        .ok_or_else(|| err("must start with http:// or https://"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(err("missing host"));
    }
    Ok(())
}

pub(crate) fn basic_constraints(ca: bool, path_len: Option<u8>) -> Vec<u8> {
    let value = match (ca, path_len) {
        (false, _) => der::seq(&[]),
        (true, None) => der::seq(&[&der::boolean(true)]),
        (true, Some(n)) => der::seq(&[&der::boolean(true), &der::uint_u64(u64::from(n))]),
    };
    der::extension(OID_BASIC_CONSTRAINTS, true, &value)
}

pub(crate) fn key_usage(bits: u16) -> Vec<u8> {
    der::extension(OID_KEY_USAGE, true, &der::named_bits(bits))
}

fn eku(purposes: &[&[u64]]) -> Vec<u8> {
    let oids: Vec<Vec<u8>> = purposes.iter().map(|p| der::oid(p)).collect();
    let parts: Vec<&[u8]> = oids.iter().map(Vec::as_slice).collect();
    der::extension(OID_EKU, false, &der::seq(&parts))
}

/// AuthorityKeyIdentifier with only the keyIdentifier field ([0] IMPLICIT OCTET STRING).
pub(crate) fn aki_extension(key_id: &[u8]) -> Vec<u8> {
    der::extension(
        OID_AKI,
        false,
        &der::seq(&[&der::implicit_primitive(0, key_id)]),
    )
}

fn crl_distribution_point(url: &str) -> Vec<u8> {
    // DistributionPoint { distributionPoint [0] { fullName [0] { uniformResourceIdentifier [6] } } }
    let uri = der::implicit_primitive(6, url.as_bytes());
    let full_name = der::explicit(0, &[&uri]);
    let dp_name = der::explicit(0, &[&full_name]);
    der::extension(OID_CRL_DP, false, &der::seq(&[&der::seq(&[&dp_name])]))
}

fn authority_info_access(ca_issuers_url: &str) -> Vec<u8> {
    let uri = der::implicit_primitive(6, ca_issuers_url.as_bytes());
    let access = der::seq(&[&der::oid(OID_CA_ISSUERS), &uri]);
    der::extension(OID_AIA, false, &der::seq(&[&access]))
}

/// Builds the extension list of a certificate for `profile`.
pub(crate) fn extensions(
    profile: Profile,
    input: &ExtensionInputs<'_>,
) -> Result<Vec<Vec<u8>>, PkiError> {
    if profile.is_ca() && input.subject_empty {
        return Err(PkiError::InvalidInput(
            "a CA certificate needs a non-empty subject".into(),
        ));
    }
    if input.subject_empty && input.sans.is_empty() {
        return Err(PkiError::InvalidInput(
            "a certificate with an empty subject needs at least one SAN".into(),
        ));
    }
    let ca_ku = KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN | KU_CRL_SIGN;
    let leaf_ku = if input.subject_key.is_rsa() {
        KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT
    } else {
        KU_DIGITAL_SIGNATURE
    };
    let mut exts = Vec::with_capacity(8);
    let (sans_allowed, urls_allowed) = match profile {
        Profile::RootCa { path_len } | Profile::IntermediateCa { path_len } => {
            exts.push(basic_constraints(true, path_len));
            exts.push(key_usage(ca_ku));
            // Roots point nowhere: nothing above them publishes a CRL for them.
            (false, matches!(profile, Profile::IntermediateCa { .. }))
        }
        Profile::LeafCa => {
            // pathLen 0: such a CA signs end-entity certificates only, never
            // another CA outside FastPKI's sight.
            exts.push(basic_constraints(true, Some(0)));
            // The API contract: an RSA-keyed `ca` certificate also gets keyEncipherment.
            let ku = if input.subject_key.is_rsa() {
                ca_ku | KU_KEY_ENCIPHERMENT
            } else {
                ca_ku
            };
            exts.push(key_usage(ku));
            (true, true)
        }
        Profile::Server | Profile::Client | Profile::DualPurpose => {
            exts.push(basic_constraints(false, None));
            exts.push(key_usage(leaf_ku));
            exts.push(match profile {
                Profile::Server => eku(&[OID_SERVER_AUTH]),
                Profile::Client => eku(&[OID_CLIENT_AUTH]),
                _ => eku(&[OID_SERVER_AUTH, OID_CLIENT_AUTH]),
            });
            (true, true)
        }
    };
    exts.push(der::extension(
        OID_SKI,
        false,
        &der::octet_string(input.ski),
    ));
    exts.push(aki_extension(input.aki));
    if !input.sans.is_empty() {
        if !sans_allowed {
            return Err(PkiError::InvalidInput(
                "CA certificates created through the CA route carry no SANs".into(),
            ));
        }
        // RFC 5280 4.2.1.6: critical when the subject is empty.
        exts.push(der::extension(
            OID_SAN,
            input.subject_empty,
            &input.sans.to_der(),
        ));
    }
    if urls_allowed {
        if let Some(url) = input.crl_url {
            validate_url(url)?;
            exts.push(crl_distribution_point(url));
        }
        if let Some(url) = input.ca_issuers_url {
            validate_url(url)?;
            exts.push(authority_info_access(url));
        }
    }
    Ok(exts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_up_to_2048_characters_are_written() {
        let url = |len: usize| format!("http://crl.example.com/{}", "a".repeat(len - 23));
        assert_eq!(url(MAX_URL_LEN).len(), MAX_URL_LEN);
        validate_url(&url(MAX_URL_LEN)).unwrap();
        assert!(
            validate_url(&url(MAX_URL_LEN + 1))
                .unwrap_err()
                .to_string()
                .contains("too long")
        );
    }

    #[test]
    fn certificate_types() {
        assert_eq!(
            Profile::from_certificate_type("server").unwrap(),
            Profile::Server
        );
        assert_eq!(
            Profile::from_certificate_type("client").unwrap(),
            Profile::Client
        );
        assert_eq!(
            Profile::from_certificate_type("dual_purpose").unwrap(),
            Profile::DualPurpose
        );
        assert_eq!(
            Profile::from_certificate_type("ca").unwrap(),
            Profile::LeafCa
        );
        assert!(Profile::from_certificate_type("root").is_err());
        assert!(Profile::LeafCa.is_ca());
        assert!(!Profile::Server.is_ca());
    }

    #[test]
    fn urls() {
        for ok in [
            "http://pki.example.com/crl/x-1",
            "https://h:8443/ca/x.crt",
            "HTTP://h",
        ] {
            validate_url(ok).unwrap();
        }
        for bad in [
            "",
            "ftp://h/x",
            "http://",
            "http:///x",
            "http://h/a b",
            "http://h/é",
            "h/x",
        ] {
            assert!(validate_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn encodings() {
        assert_eq!(
            basic_constraints(false, None),
            vec![0x30, 0x0c, 6, 3, 0x55, 29, 19, 1, 1, 0xff, 4, 2, 0x30, 0]
        );
        // cA TRUE, pathLen 0
        assert_eq!(
            &basic_constraints(true, Some(0))[10..],
            &[4, 8, 0x30, 6, 1, 1, 0xff, 2, 1, 0]
        );
    }
}
