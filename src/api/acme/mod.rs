//! ACME (RFC 8555): the wire protocol. This first part is pure, with no I/O
//! and no routes yet:
//!
//! - `jws.rs`: the flattened JWS of every request, its protected header
//!   (`alg`, `nonce`, `url`, `jwk` / `kid`) and its signature;
//! - `jwk.rs`: public JWKs as account keys, their RFC 7638 thumbprints;
//! - `key_change.rs`: the inner JWS of a key rollover (RFC 8555 §7.3.5);
//! - `eab.rs`: the external account binding of new-account (§7.3.4);
//! - `problem_response.rs`: a `service::acme::Problem` as
//!   `application/problem+json`;
//! - `encoding.rs`: strict base64url and duplicate-free JSON under them.

pub mod eab;
mod encoding;
pub mod jwk;
pub mod jws;
pub mod key_change;
mod problem_response;

pub use eab::{EabError, ExternalAccountBinding, MIN_EAB_KEY_BYTES, MacAlgorithm};
pub use jwk::{Algorithm, Jwk, JwkError};
pub use jws::{
    Envelope, Jws, JwsError, MAX_JWS_BYTES, Payload, ProtectedHeader, Signer, VerifiedJws,
};
pub use key_change::{KeyChangeError, verify_key_change};
pub use problem_response::PROBLEM_CONTENT_TYPE;
