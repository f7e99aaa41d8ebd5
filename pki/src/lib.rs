//! FastPKI's pure X.509 core: keys, names, serials, profiles, validity, issuing, CSRs, CRLs,
//! and the checks that let a CA made elsewhere be imported.
//!
//! No I/O and no clock reads: callers pass every time (`now`, validity, CRL dates) in.
//! Every fallible function returns [`PkiError`]; nothing panics on input.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod ca_import;
mod codec;
mod crl;
mod csr;
mod der;
mod dn;
mod error;
mod inspect;
mod issue;
mod keyfile;
mod keys;
mod profile;
mod reason;
mod san;
mod serial;
#[cfg(test)]
mod testutil;
mod validity;

pub use ca_import::{
    ImportedCa, MAX_CHAIN_LEN, ca_csr, check_ca_certificate, read_certificates, verify_chain,
};
pub use codec::{
    PEM_CERTIFICATE, PEM_CRL, cert_der_to_pem, cert_pem_to_der, crl_der_to_pem, crl_pem_to_der,
    der_to_pem, pem_to_der,
};
pub use crl::{Crl, RevokedEntry, build_crl};
pub use csr::{CsrInfo, MAX_CSR_PEM_LEN, parse_csr, parse_csr_der};
pub use dn::{
    DistinguishedName, DnAttribute, MAX_DN_ATTRIBUTES, MAX_DN_LEN, normalize_stored_dn, parse_dn,
    parse_stored_dn,
};
pub use error::PkiError;
pub use inspect::{CertInfo, inspect_cert};
pub use issue::{CertRequest, IssuedCert, Issuer, Signer, issue};
pub use keyfile::{MAX_PBKDF2_ITERATIONS, read_private_key};
pub use keys::{KeyAlgorithm, PrivateKey, RSA_MAX_BITS, RSA_MIN_BITS};
pub use profile::Profile;
pub use reason::RevocationReason;
pub use san::{MAX_SANS, Sans, is_public_suffix, validate_dns_name, validate_email};
pub use serial::{MAX_SERIAL_OCTETS, SerialNumber, random_serial};
pub use validity::{days_between, validity};
