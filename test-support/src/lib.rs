//! Helpers shared by FastPKI's test suites (the root crate's `tests/` and
//! `pki/tests/`), one concept a module. It depends on neither `fastpki` nor
//! `fastpki-pki`: both use it as a dev-dependency.
//!
//! The modules under the `server` feature talk to a running server or its
//! database (reqwest, tokio, sqlx); `fastpki-pki`'s tests leave it off.

pub mod crl;
pub mod csr;
pub mod oid;
pub mod openssl;
pub mod pkilint;
pub mod ports;
pub mod process;
pub mod server;

#[cfg(feature = "server")]
pub mod acme;
#[cfg(feature = "server")]
pub mod challtestsrv;
#[cfg(feature = "server")]
pub mod database;
#[cfg(feature = "server")]
pub mod http;
#[cfg(feature = "server")]
pub mod webhooks;
