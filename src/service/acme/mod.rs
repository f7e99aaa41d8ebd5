//! ACME (RFC 8555) use cases. Every function fails with a [`Problem`].
//!
//! - `directories.rs`: the admin API's directories (CRUD);
//! - `directory_rules.rs`: what a directory may be made of, who manages one;
//! - `eab_keys.rs`: their external account binding keys (make, list, revoke);
//! - `directory.rs`: the directory a request is for, and the service account
//!   it issues as;
//! - `nonces.rs`: replay nonces any server can check, spent once;
//! - `accounts.rs`: registration (with external account binding), update,
//!   deactivation, key rollover;
//! - `orders.rs`: new orders (identifiers, challenge types, the issuance
//!   policy), their authorizations, their status now;
//! - `authorizations.rs`: authorizations and challenges, answering one;
//! - `status.rs`: the RFC's state machines (pure);
//! - `finalize.rs`: a ready order and its CSR become a certificate;
//! - `certificates.rs`: the chain download and revocation;
//! - `renewal.rs`: renewal information (RFC 9773) and `replaces`;
//! - `identifier.rs`, `problem.rs`: identifiers and problem documents;
//! - `limits.rs`: rate limits per address and per account;
//! - `runtime.rs`: what requests share (nonce key, validator, the worker's signal);
//! - `validate/`: the challenge validators (http-01, dns-01, tls-alpn-01);
//! - `worker.rs`: validation off the request path, once across servers.

pub mod accounts;
pub mod authorizations;
pub mod certificates;
pub mod directories;
pub mod directory;
pub mod directory_rules;
pub mod eab_keys;
pub mod finalize;
pub mod identifier;
pub mod limits;
pub mod nonces;
pub mod orders;
pub mod problem;
pub mod renewal;
pub mod runtime;
pub mod status;
pub mod validate;
pub mod worker;

pub use crate::store::acme::{accounts::AccountRow, directories::DirectoryRow};
pub use identifier::Identifier;
pub use problem::{Problem, ProblemType, Subproblem};
pub use runtime::AcmeRuntime;
