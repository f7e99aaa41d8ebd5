//! ACME (RFC 8555) use cases: directories and their external account binding
//! keys, accounts, orders, authorizations and challenges with their state
//! machines, the validators, and finalize (which issues through
//! `service::certs::issue` as the directory's service account).
//!
//! - `problem.rs`: the error of every ACME use case, a problem document;
//! - `identifier.rs`: `{"type", "value"}` identifiers;
//! - `directories.rs`: the admin API's directories (CRUD);
//! - `directory_rules.rs`: what a directory may be made of, who manages one;
//! - `eab_keys.rs`: their external account binding keys (make, list, revoke).

pub mod directories;
pub mod directory_rules;
pub mod eab_keys;
pub mod identifier;
pub mod problem;

pub use identifier::Identifier;
pub use problem::{Problem, ProblemType, Subproblem};
