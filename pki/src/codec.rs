//! PEM <-> DER conversion for certificates, CRLs and other PEM documents.

use crate::error::PkiError;

/// PEM label of an X.509 certificate.
pub const PEM_CERTIFICATE: &str = "CERTIFICATE";
/// PEM label of an X.509 CRL.
pub const PEM_CRL: &str = "X509 CRL";

/// Encodes DER as PEM with the given label, LF line endings and a trailing newline.
pub fn der_to_pem(der: &[u8], label: &str) -> String {
    ::pem::encode_config(
        &::pem::Pem::new(label, der.to_vec()),
        ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF),
    )
}

/// Returns the DER of the first PEM block carrying `label` (other blocks are skipped).
pub fn pem_to_der(pem: &str, label: &str) -> Result<Vec<u8>, PkiError> {
    let blocks = ::pem::parse_many(pem)
        .map_err(|_| PkiError::InvalidInput(format!("malformed PEM (expected {label})")))?;
    blocks
        .into_iter()
        .find(|b| b.tag() == label)
        .map(::pem::Pem::into_contents)
        .ok_or_else(|| PkiError::InvalidInput(format!("no {label} PEM block found")))
}

/// Certificate PEM to DER.
pub fn cert_pem_to_der(pem: &str) -> Result<Vec<u8>, PkiError> {
    pem_to_der(pem, PEM_CERTIFICATE)
}

/// Certificate DER to PEM.
pub fn cert_der_to_pem(der: &[u8]) -> String {
    der_to_pem(der, PEM_CERTIFICATE)
}

/// CRL PEM to DER.
pub fn crl_pem_to_der(pem: &str) -> Result<Vec<u8>, PkiError> {
    pem_to_der(pem, PEM_CRL)
}

/// CRL DER to PEM.
pub fn crl_der_to_pem(der: &[u8]) -> String {
    der_to_pem(der, PEM_CRL)
}

/// Lowercase hex of an unsigned big-endian integer, without leading zero bytes (at least "00").
pub(crate) fn int_hex(bytes: &[u8]) -> String {
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    if skip == bytes.len() {
        return "00".into();
    }
    hex::encode(&bytes[skip..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let der = vec![0x30, 0x03, 0x02, 0x01, 0x05];
        let pem = cert_der_to_pem(&der);
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(pem.ends_with("-----END CERTIFICATE-----\n"));
        assert_eq!(cert_pem_to_der(&pem).unwrap(), der);
        let crl = crl_der_to_pem(&der);
        assert!(crl.starts_with("-----BEGIN X509 CRL-----\n"));
        assert_eq!(crl_pem_to_der(&crl).unwrap(), der);
        assert!(cert_pem_to_der(&crl).is_err());
        assert!(cert_pem_to_der("nonsense").is_err());
        // A chain: the first certificate block wins.
        let two = format!("{}{}", cert_der_to_pem(&[1]), cert_der_to_pem(&[2]));
        assert_eq!(cert_pem_to_der(&two).unwrap(), vec![1]);
    }

    #[test]
    fn hex_of_integers() {
        assert_eq!(int_hex(&[0, 0x80, 1]), "8001");
        assert_eq!(int_hex(&[0]), "00");
        assert_eq!(int_hex(&[]), "00");
        assert_eq!(int_hex(&[5]), "05");
    }
}
