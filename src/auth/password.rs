//! Password hashing with bcrypt, off the async runtime and with bounded
//! concurrency so that a login storm cannot starve issuance.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// bcrypt reads at most 72 bytes; longer passwords are refused, never truncated.
pub const MAX_PASSWORD_BYTES: usize = 72;
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Hashes and verifies on the blocking pool, a few at a time.
#[derive(Clone)]
pub struct Hasher {
    cost: u32,
    permits: Arc<Semaphore>,
    /// A real hash to verify against when the user does not exist, so that
    /// "no such user" and "wrong password" take the same time.
    decoy: Arc<String>,
}

impl Hasher {
    pub fn new(cost: u32) -> anyhow::Result<Self> {
        let parallel = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let decoy = bcrypt::hash("decoy password for timing", cost)?;
        Ok(Hasher {
            cost,
            permits: Arc::new(Semaphore::new(parallel)),
            decoy: Arc::new(decoy),
        })
    }

    pub async fn hash(&self, password: &str) -> Result<String> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| Error::Internal(e.into()))?;
        let (password, cost) = (password.to_owned(), self.cost);
        let hashed = tokio::task::spawn_blocking(move || bcrypt::hash(password, cost)).await?;
        hashed
            .map_err(|e| Error::Internal(anyhow::Error::new(e).context("password hashing failed")))
    }

    /// Verifies `password` against `hash`, or against the decoy when `hash` is None.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| Error::Internal(e.into()))?;
        let known = hash.is_some();
        let hash = hash
            .map(str::to_owned)
            .unwrap_or_else(|| self.decoy.as_ref().clone());
        let password = password.to_owned();
        let ok =
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await?;
        Ok(ok && known)
    }
}

/// Password rules shared by creation and change.
pub fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::validation(
            "password",
            "String should have at least 8 characters",
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::validation(
            "password",
            "Password must be at most 72 bytes",
        ));
    }
    Ok(())
}
