//! The one error type returned by every fallible function of the PKI core.

/// Everything that can go wrong in the PKI core. Messages never contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkiError {
    /// A caller-supplied value is unacceptable (key size, dates, SAN, URL, serial...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A distinguished name could not be parsed or breaks an RFC 5280 bound.
    #[error("invalid distinguished name: {0}")]
    InvalidDn(String),
    /// A certificate signing request is malformed, unsupported or badly signed.
    #[error("invalid CSR: {0}")]
    InvalidCsr(String),
    /// A private key could not be generated, parsed or is of an unsupported kind.
    #[error("invalid private key: {0}")]
    InvalidKey(String),
    /// A certificate could not be parsed or is unusable for the requested purpose.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// The private key does not belong to the certificate (or request) it was paired with.
    #[error("the private key does not match the certificate's public key")]
    KeyMismatch,
    /// The issuer's validity ends before (or when) the new certificate's would begin.
    #[error("The issuing CA has expired")]
    IssuerExpired,
    /// The cryptographic library failed (signing, random generation).
    #[error("cryptographic operation failed: {0}")]
    Crypto(String),
}
