//! What the ACME use cases share across requests: the nonce key and the
//! signal that wakes the validation worker.

use tokio::sync::Notify;

use super::nonces::NonceKey;

pub struct AcmeRuntime {
    pub nonces: NonceKey,
    /// Notified when a challenge starts processing on this server.
    pub wake: Notify,
}

impl AcmeRuntime {
    pub fn new(secret: &str) -> Self {
        AcmeRuntime {
            nonces: NonceKey::derive(secret),
            wake: Notify::new(),
        }
    }
}
