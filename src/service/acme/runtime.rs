//! What the ACME use cases share across requests: the nonce key, the
//! validator and the signal that wakes the validation worker.

use tokio::sync::Notify;

use super::limits::AcmeLimits;
use super::nonces::NonceKey;
use super::validate::Validator;
use crate::config::Settings;

pub struct AcmeRuntime {
    pub nonces: NonceKey,
    pub validator: Validator,
    pub limits: AcmeLimits,
    /// Notified when a challenge starts processing on this server.
    pub wake: Notify,
}

impl AcmeRuntime {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        Ok(AcmeRuntime {
            nonces: NonceKey::derive(&settings.secret_key),
            validator: Validator::new(settings)?,
            limits: AcmeLimits::new(settings),
            wake: Notify::new(),
        })
    }
}
