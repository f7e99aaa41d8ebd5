//! Pre-generated private keys for server-side key generation: RSA key
//! generation costs tens of milliseconds, so a bounded pool per algorithm is
//! refilled in the background. Keys live in memory only and are handed out
//! once (`pop` removes them); size 0 disables the pool.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use pki::{KeyAlgorithm, PrivateKey};

pub struct KeyPool {
    size: usize,
    /// The algorithms pooled: only these, whatever callers ask for, so that
    /// nobody can make the server pre-generate RSA-8192 keys by asking once.
    algorithms: Vec<KeyAlgorithm>,
    inner: Mutex<HashMap<KeyAlgorithm, Slot>>,
}

#[derive(Default)]
struct Slot {
    keys: VecDeque<PrivateKey>,
    refilling: bool,
}

impl KeyPool {
    pub fn new(size: usize, algorithms: Vec<KeyAlgorithm>) -> Arc<Self> {
        Arc::new(KeyPool {
            size,
            algorithms,
            inner: Mutex::new(HashMap::new()),
        })
    }

    /// Starts filling the pool of every configured algorithm.
    pub fn warm(self: &Arc<Self>) {
        for alg in self.algorithms.clone() {
            self.refill(alg);
        }
    }

    fn pools(&self, alg: KeyAlgorithm) -> bool {
        self.size > 0 && self.algorithms.contains(&alg)
    }

    /// A fresh key of `alg` from the pool, if one is ready; starts a refill
    /// either way. An algorithm not configured is never pooled: None.
    pub fn take(self: &Arc<Self>, alg: KeyAlgorithm) -> Option<PrivateKey> {
        if !self.pools(alg) {
            return None;
        }
        let key = {
            let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(alg).or_default().keys.pop_front()
        };
        self.refill(alg);
        key
    }

    /// Fills the pool of `alg` up to its size on the blocking pool, one refiller per algorithm.
    pub fn refill(self: &Arc<Self>, alg: KeyAlgorithm) {
        if !self.pools(alg) {
            return;
        }
        {
            let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let slot = map.entry(alg).or_default();
            if slot.refilling || slot.keys.len() >= self.size {
                return;
            }
            slot.refilling = true;
        }
        let pool = Arc::clone(self);
        // Without a runtime (e.g. in a plain unit test) there is nothing to refill with.
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            pool.done(alg);
            return;
        };
        handle.spawn_blocking(move || {
            loop {
                let full = {
                    let map = pool.inner.lock().unwrap_or_else(|p| p.into_inner());
                    map.get(&alg).is_none_or(|s| s.keys.len() >= pool.size)
                };
                if full {
                    break;
                }
                match PrivateKey::generate(alg) {
                    Ok(key) => {
                        let mut map = pool.inner.lock().unwrap_or_else(|p| p.into_inner());
                        map.entry(alg).or_default().keys.push_back(key);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "key pool refill failed");
                        break;
                    }
                }
            }
            pool.done(alg);
        });
    }

    fn done(&self, alg: KeyAlgorithm) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(alg).or_default().refilling = false;
    }

    /// The algorithms pooled.
    pub fn algorithms(&self) -> &[KeyAlgorithm] {
        &self.algorithms
    }

    /// How many keys of `alg` are ready (for tests and metrics).
    pub fn ready(&self, alg: KeyAlgorithm) -> usize {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&alg).map_or(0, |s| s.keys.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keys_are_handed_out_once_and_refilled() {
        let alg = KeyAlgorithm::EcdsaP256;
        let pool = KeyPool::new(3, vec![alg]);
        pool.refill(alg);
        for _ in 0..200 {
            if pool.ready(alg) == 3 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(pool.ready(alg), 3);
        let a = pool.take(alg).expect("a pooled key");
        let b = pool.take(alg).expect("a pooled key");
        assert_ne!(
            a.public_key_der(),
            b.public_key_der(),
            "never the same key twice"
        );
        for _ in 0..200 {
            if pool.ready(alg) == 3 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(pool.ready(alg), 3, "refilled in the background");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_algorithm_not_configured_is_never_pooled() {
        let pool = KeyPool::new(3, vec![KeyAlgorithm::EcdsaP256]);
        let rsa = KeyAlgorithm::Rsa { bits: 4096 };
        assert!(pool.take(rsa).is_none());
        pool.refill(rsa);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(pool.ready(rsa), 0, "asking for it must start no generation");
    }

    #[test]
    fn size_zero_disables_the_pool() {
        let pool = KeyPool::new(0, vec![KeyAlgorithm::Ed25519]);
        pool.refill(KeyAlgorithm::Ed25519);
        assert!(pool.take(KeyAlgorithm::Ed25519).is_none());
        assert_eq!(pool.ready(KeyAlgorithm::Ed25519), 0);
    }
}
