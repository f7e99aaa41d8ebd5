//! Certificates, one concept a file:
//! - `request`: the request bodies, certificate types, subject and SAN
//!   defaults, a CSR merged with the request's overrides (pure);
//! - `issue`: create, sign-csr, and the one issuing pipeline both take;
//! - `view`: the API's shape of a certificate and the reads;
//! - `private_keys`: exporting a kept key;
//! - `revoke` and `renew`.
//!
//! The way of a sign-csr request: parse and verify the CSR, merge it with the
//! overrides, check days ([`request`]); then resolve and authorize the CA,
//! load the caller's policy ([`issue`]); check policy, sign on the blocking
//! pool; store certificate and audit entry in one group-committed transaction.

mod issue;
mod private_keys;
mod renew;
mod request;
mod revoke;
mod view;

pub use issue::{Issue, KeySource, create, issue, parse_csr, resolve_ca, sign_csr};
pub use private_keys::{private_key, private_key_pem};
pub use renew::{Renew, renew};
pub use request::{
    CertCreate, CertType, MergedCsr, RequestedNames, SignCsr, add_subject_emails, effective_sans,
    effective_subject, merge_csr,
};
pub use revoke::{revoke, revoke_row};

pub use view::{
    CertOut, CertStatus, ListFilter, MAX_EXPIRING_WITHIN_DAYS, check_ca_filter, get, list,
    list_all, load_for, owner,
};
