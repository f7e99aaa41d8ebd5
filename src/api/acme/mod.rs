//! ACME (RFC 8555): the wire protocol at `/acme/{name}/`. The routes, one
//! file per resource:
//!
//! - `context.rs`: the way of every request (directory, URLs, media type,
//!   size, JWS, `url`, nonce, signer, signature) and the headers of every
//!   answer;
//! - `directory.rs` (directory, new-nonce), `account.rs` (new-account,
//!   account, key-change), `order.rs` (new-order, order, finalize, orders),
//!   `authorization.rs` (authz, chall), `certificate.rs` (cert,
//!   revoke-cert), `renewal_info.rs` (RFC 9773);
//! - `resources.rs`: the JSON objects.
//!
//! Under them, pure:
//!
//! - `jws.rs`: the flattened JWS of every request, its protected header
//!   (`alg`, `nonce`, `url`, `jwk` / `kid`) and its signature;
//! - `jwk.rs`: public JWKs as account keys, their RFC 7638 thumbprints;
//! - `key_change.rs`: the inner JWS of a key rollover (RFC 8555 §7.3.5);
//! - `eab.rs`: the external account binding of new-account (§7.3.4);
//! - `problem_response.rs`: a `service::acme::Problem` as
//!   `application/problem+json`;
//! - `encoding.rs`: strict base64url and duplicate-free JSON under them.

mod account;
mod authorization;
mod certificate;
pub mod context;
mod directory;
pub mod eab;
mod encoding;
pub mod jwk;
pub mod jws;
pub mod key_change;
mod order;
mod problem_response;
mod renewal_info;
mod resources;

pub use eab::{EabError, ExternalAccountBinding, MIN_EAB_KEY_BYTES, MacAlgorithm};
pub use jwk::{Algorithm, Jwk, JwkError};
pub use jws::{
    Envelope, Jws, JwsError, MAX_JWS_BYTES, Payload, ProtectedHeader, Signer, VerifiedJws,
};
pub use key_change::{KeyChangeError, verify_key_change};
pub use problem_response::PROBLEM_CONTENT_TYPE;

use axum::Router;
use axum::routing::{get, post};

use crate::service::AppState;

/// The ACME routes of every directory, with the headers every answer carries.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/acme/{name}/directory", get(directory::directory))
        .route(
            "/acme/{name}/new-nonce",
            get(directory::new_nonce).head(directory::new_nonce),
        )
        .route("/acme/{name}/new-account", post(account::new_account))
        .route("/acme/{name}/account/{id}", post(account::account))
        .route("/acme/{name}/account/{id}/orders", post(order::orders))
        .route("/acme/{name}/key-change", post(account::key_change))
        .route("/acme/{name}/new-order", post(order::new_order))
        .route("/acme/{name}/order/{id}", post(order::order))
        .route("/acme/{name}/order/{id}/finalize", post(order::finalize))
        .route(
            "/acme/{name}/authz/{id}",
            post(authorization::authorization),
        )
        .route("/acme/{name}/chall/{id}", post(authorization::challenge))
        .route("/acme/{name}/cert/{id}", post(certificate::certificate))
        .route("/acme/{name}/revoke-cert", post(certificate::revoke_cert))
        .route(
            "/acme/{name}/renewal-info/{cert_id}",
            get(renewal_info::renewal_info),
        )
        .layer(axum::middleware::from_fn_with_state(
            state,
            context::acme_headers,
        ))
}
