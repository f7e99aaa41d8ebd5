//! ACME (RFC 8555): the wire protocol. This first part is pure, with no I/O
//! and no routes yet:
//!
//! - `problem.rs`: problem documents (`urn:ietf:params:acme:error:*`) and
//!   their HTTP statuses;
//! - `identifier.rs`: `{"type", "value"}` identifiers.

pub mod identifier;
pub mod problem;

pub use identifier::Identifier;
pub use problem::{Problem, ProblemType, Subproblem};
