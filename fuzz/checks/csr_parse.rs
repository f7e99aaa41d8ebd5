//! `pki::parse_csr` (what `POST /certificates/sign-csr` and renewals call) on hostile input:
//!
//! 1. the bytes as PEM text;
//! 2. the bytes as DER, wrapped in a `CERTIFICATE REQUEST` PEM block (and given to
//!    `parse_csr_der`: both must agree);
//! 3. the bytes as a CertificationRequestInfo, signed here with a fixed Ed25519 key, so
//!    that mutated subjects, attributes and SAN extensions get past the signature check
//!    (the seeds carry that key's public key).
//!
//! A request that is accepted must hold a subject that prints and re-parses, checked SANs
//! and a supported public key.

use std::sync::OnceLock;

use aws_lc_rs::signature::Ed25519KeyPair;

/// The key whose public half `seeds/csr_parse/ed25519.cri.der` holds.
const CSR_KEY_PEM: &str = include_str!("../fixtures/csr-ed25519.key.pem");

fn csr_key() -> &'static Ed25519KeyPair {
    static KEY: OnceLock<Ed25519KeyPair> = OnceLock::new();
    KEY.get_or_init(|| {
        let der = pki::pem_to_der(CSR_KEY_PEM, "PRIVATE KEY").expect("fixture key PEM");
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).expect("fixture Ed25519 key")
    })
}

fn der_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes: Vec<u8> = len
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    let mut out = vec![0x80 | bytes.len() as u8];
    out.extend(bytes);
    out
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(content.len()));
    out.extend_from_slice(content);
    out
}

/// `SEQUENCE { cri, AlgorithmIdentifier { Ed25519 }, BIT STRING signature }`.
fn sign_cri(cri: &[u8]) -> Vec<u8> {
    const ED25519_ALG: [u8; 7] = [0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
    let sig = csr_key().sign(cri);
    let mut bits = vec![0u8];
    bits.extend_from_slice(sig.as_ref());
    let mut body = cri.to_vec();
    body.extend_from_slice(&ED25519_ALG);
    body.extend(tlv(0x03, &bits));
    tlv(0x30, &body)
}

/// What every accepted request must satisfy.
fn check_accepted(info: &pki::CsrInfo) {
    assert_eq!(
        info.common_name.as_deref(),
        info.subject.common_name(),
        "common_name is the subject's CN"
    );
    assert!(info.subject.attributes().len() <= pki::MAX_DN_ATTRIBUTES);
    if !info.subject.is_empty() {
        let shown = info.subject.to_string();
        let back = pki::parse_dn(&shown)
            .unwrap_or_else(|e| panic!("CSR subject {shown:?} does not re-parse: {e}"));
        assert_eq!(back, info.subject);
    }
    let _ = info.subject.to_der();
    assert!(info.sans.len() <= pki::MAX_SANS);
    let again = info
        .sans
        .normalized()
        .unwrap_or_else(|e| panic!("accepted SANs {:?} fail the check: {e}", info.sans));
    assert_eq!(again, info.sans, "SANs are returned normalized");
    assert!(!info.public_key_der.is_empty());
    if let pki::KeyAlgorithm::Rsa { bits } = info.algorithm {
        assert!((pki::RSA_MIN_BITS..=pki::RSA_MAX_BITS).contains(&bits));
    }
}

fn check(result: Result<pki::CsrInfo, pki::PkiError>) -> Option<pki::CsrInfo> {
    match result {
        Ok(info) => {
            check_accepted(&info);
            Some(info)
        }
        Err(e) => {
            assert!(
                matches!(e, pki::PkiError::InvalidCsr(_)),
                "a bad CSR must be InvalidCsr (a 400), got {e:?}"
            );
            None
        }
    }
}

/// One input through the target's checks: panics on a finding.
pub fn run(data: &[u8]) {
    // 1. As PEM text.
    check(pki::parse_csr(&String::from_utf8_lossy(data)));

    // 2. As DER, directly and inside a PEM block: the same answer.
    let pem = pki::der_to_pem(data, "CERTIFICATE REQUEST");
    let from_der = check(pki::parse_csr_der(data));
    if pem.len() <= pki::MAX_CSR_PEM_LEN {
        let from_pem = check(pki::parse_csr(&pem));
        assert_eq!(from_pem, from_der, "PEM and DER paths disagree");
    }

    // 3. As the signed part of a request, with a valid signature.
    if data.len() <= pki::MAX_CSR_PEM_LEN {
        let csr = sign_cri(data);
        if let Some(info) = check(pki::parse_csr_der(&csr)) {
            assert_eq!(info.algorithm, pki::KeyAlgorithm::Ed25519);
        }
    }
}
