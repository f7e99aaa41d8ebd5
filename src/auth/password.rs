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
        // verify() spends the cost written in the hash, whatever the hash is: hashing at the
        // cheapest cost and writing in ours gives a decoy as slow to check as a real hash,
        // without spending a full-cost hash (~250 ms at 12) on every start.
        let cheap = bcrypt::hash("decoy password for timing", 4)?;
        let decoy = cheap.replacen("$04$", &format!("${cost:02}$"), 1);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_decoy_costs_what_a_real_hash_costs_and_never_matches() {
        let h = Hasher::new(6).unwrap();
        assert!(h.decoy.starts_with("$2b$06$"), "{}", h.decoy);
        // A well-formed hash: bcrypt runs its full cost on it (an Err would return at once).
        assert_eq!(
            bcrypt::verify("decoy password for timing", &h.decoy).ok(),
            Some(false)
        );
        assert!(!h.verify("decoy password for timing", None).await.unwrap());
        let real = h.hash("a real password").await.unwrap();
        assert!(h.verify("a real password", Some(&real)).await.unwrap());
        assert!(!h.verify("a wrong password", Some(&real)).await.unwrap());
    }
}
