//! Use cases: each function takes the shared state, the caller and its input,
//! authorizes, and writes its change together with its audit entry.

pub mod acme;
pub mod address_policy;
pub mod audit;
pub mod backup;
pub mod caller_slots;
pub mod cas;
pub mod certs;
pub mod commit;
pub mod cpu;
pub mod crl;
pub mod export;
pub mod import;
pub mod issuers;
pub mod key_rotation;
pub mod keypool;
pub mod keystore;
pub mod metrics;
pub mod orgs;
pub mod policy;
pub mod public;
pub mod public_urls;
pub mod request_fields;
pub mod revocation;
pub mod service_accounts;
pub mod sessions;
pub mod state;
pub mod timed_cache;
pub mod users;
pub mod webhooks;

pub use state::AppState;

use futures_util::stream::BoxStream;

use crate::error::Error;

/// Rows per database read when a list is streamed whole (no `limit`): a
/// read-pool connection is held for one window, never while the client reads.
pub const LIST_WINDOW: i64 = 500;

/// A list streamed whole, row by row.
pub type RowStream<T> = BoxStream<'static, Result<T, Error>>;
