//! FastPKI: a private certificate authority with a REST API compatible with
//! the Python FastPKI 0.4 project. See `DESIGN.md` for the layering.

pub mod api;
pub mod auth;
pub mod authz;
pub mod config;
pub mod error;
pub mod keystore;
pub mod openapi;
pub mod policy;
pub mod server;
pub mod service;
pub mod state;
pub mod store;
