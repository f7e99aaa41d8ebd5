//! ACME (RFC 8555) use cases: directories and their external account binding
//! keys, accounts, orders, authorizations and challenges with their state
//! machines, the validators, and finalize (which issues through
//! `service::certs::issue` as the directory's service account).
//!
//! - `problem.rs`: the error of every ACME use case, a problem document;
//! - `identifier.rs`: `{"type", "value"}` identifiers;
//! - `validate/`: the challenge validators (http-01, dns-01, tls-alpn-01).

pub mod identifier;
pub mod problem;
pub mod validate;

pub use identifier::Identifier;
pub use problem::{Problem, ProblemType, Subproblem};
