//! Conversion to rcgen's name, for the CSRs and certificates rcgen writes.

use super::DistinguishedName;
use super::attributes::{StringKind, known_by_oid};
use crate::error::PkiError;

impl TryFrom<&DistinguishedName> for rcgen::DistinguishedName {
    type Error = PkiError;

    /// rcgen keeps one value per attribute type: names with a repeated type are refused.
    fn try_from(dn: &DistinguishedName) -> Result<Self, PkiError> {
        use rcgen::{DnType, DnValue};
        let mut out = rcgen::DistinguishedName::new();
        for (i, a) in dn.attrs.iter().enumerate() {
            if dn.attrs[..i].iter().any(|b| b.oid == a.oid) {
                return Err(PkiError::InvalidDn(format!(
                    "rcgen cannot hold the repeated attribute {}",
                    a.key()
                )));
            }
            let kind = known_by_oid(&a.oid).map_or(StringKind::Utf8, |k| k.kind);
            let value = match kind {
                StringKind::Utf8 => DnValue::Utf8String(a.value.clone()),
                // rcgen's DER writer (yasna 0.6) panics on '?', which PrintableString allows.
                StringKind::Printable | StringKind::Country if a.value.contains('?') => {
                    return Err(PkiError::InvalidDn(format!(
                        "rcgen cannot write '?' in the PrintableString {}",
                        a.key()
                    )));
                }
                StringKind::Printable | StringKind::Country => DnValue::PrintableString(
                    a.value
                        .as_str()
                        .try_into()
                        .map_err(|_| PkiError::InvalidDn("not a PrintableString".into()))?,
                ),
                StringKind::Ia5 => DnValue::Ia5String(
                    a.value
                        .as_str()
                        .try_into()
                        .map_err(|_| PkiError::InvalidDn("not an IA5String".into()))?,
                ),
            };
            out.push(DnType::from_oid(&a.oid), value);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dn::parse_dn;

    #[test]
    fn push_and_rcgen_conversion() {
        let mut dn = DistinguishedName::new();
        assert!(dn.is_empty());
        dn.push("CN", "x").unwrap();
        dn.push("c", "fr").unwrap();
        assert!(dn.push("CN", "").is_err());
        assert!(dn.push("nope", "x").is_err());
        assert_eq!(dn.to_string(), "CN=x,C=FR");
        let r = rcgen::DistinguishedName::try_from(&dn).unwrap();
        assert_eq!(r.iter().count(), 2);
        let two_ou = parse_dn("OU=a,OU=b").unwrap();
        assert!(rcgen::DistinguishedName::try_from(&two_ou).is_err());
        // '?' is a PrintableString character, but rcgen would panic writing it (found by
        // the DN property tests): refused instead.
        let question = parse_dn("CN=x,serialNumber=a?b").unwrap();
        assert!(rcgen::DistinguishedName::try_from(&question).is_err());
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name =
            rcgen::DistinguishedName::try_from(&parse_dn("CN=x?,serialNumber=a-b").unwrap())
                .unwrap();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        assert!(params.serialize_request(&key).is_ok());
    }
}
