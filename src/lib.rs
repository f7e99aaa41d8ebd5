//! FastPKI: a private certificate authority with a REST API compatible with
//! the Python FastPKI 0.4 project.
//!
//! The layers (`api` -> `service` -> `auth`, `store` -> `pki`), the way of a
//! certificate request through them and the rule for where a new file goes
//! are in `docs/architecture.md`.

pub mod api;
pub mod auth;
pub mod capabilities;
pub mod config;
pub mod error;
pub mod server;
pub mod service;
pub mod store;
pub mod tls;
