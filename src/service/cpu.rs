//! CPU-heavy work (key generation, signing, parsing keys) off the async
//! runtime: on the blocking pool, a bounded number at a time, each caller
//! within its share.

use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::service::AppState;

/// Runs CPU-heavy work (key generation, signing) on the blocking pool, a bounded number at a time.
pub async fn cpu<T, F>(state: &AppState, work: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    let _permit = state
        .cpu
        .acquire()
        .await
        .map_err(|e| Error::Internal(e.into()))?;
    tokio::task::spawn_blocking(work).await?
}

/// `cpu` on behalf of `caller`, who holds at most its share of the permits
/// (`CallerSlots`): its other requests wait, not everybody's.
pub async fn cpu_for<T, F>(state: &AppState, caller: &Principal, work: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    let _slot = state
        .caller_slots
        .acquire(caller.authz_subject().creator)
        .await;
    cpu(state, work).await
}
