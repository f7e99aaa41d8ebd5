//! One small cache for values that are costly to rebuild (signed CRLs, parsed
//! CA signers, public CA files): bounded, each entry tagged with what it was
//! made from and, where other servers may change the source, fresh for a
//! bounded time only (DESIGN.md "Caches and several servers").

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::service::metrics::CacheStats;

/// Entries past `capacity` clear the map: the cold ones are simply rebuilt.
const CAPACITY: usize = 1024;

struct Entry<V> {
    at: Instant,
    /// What the value was made from (a fingerprint), or 0 when it does not matter.
    tag: u64,
    value: Arc<V>,
}

pub struct TimedCache<K, V> {
    entries: Mutex<HashMap<K, Entry<V>>>,
    /// `None`: an entry stays valid until forgotten or its tag changes.
    freshness: Option<Duration>,
    stats: CacheStats,
}

impl<K: Eq + Hash, V> TimedCache<K, V> {
    /// Entries younger than `freshness` are served.
    pub fn fresh_for(freshness: Duration) -> Self {
        TimedCache {
            entries: Mutex::default(),
            freshness: Some(freshness),
            stats: CacheStats::default(),
        }
    }

    /// Entries are served while their tag matches.
    pub fn tagged() -> Self {
        TimedCache {
            entries: Mutex::default(),
            freshness: None,
            stats: CacheStats::default(),
        }
    }

    /// The same cache, counting its hits and misses in `stats`.
    pub fn counted(mut self, stats: CacheStats) -> Self {
        self.stats = stats;
        self
    }

    fn map(&self) -> MutexGuard<'_, HashMap<K, Entry<V>>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value for `key`, if fresh and made from `tag`.
    pub fn get<Q>(&self, key: &Q, tag: u64) -> Option<Arc<V>>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let found = self
            .map()
            .get(key)
            .filter(|e| e.tag == tag && self.freshness.is_none_or(|f| e.at.elapsed() < f))
            .map(|e| e.value.clone());
        match found {
            Some(_) => self.stats.hit(),
            None => self.stats.miss(),
        }
        found
    }

    pub fn put(&self, key: K, tag: u64, value: Arc<V>) {
        let mut map = self.map();
        if map.len() >= CAPACITY {
            map.clear();
        }
        let at = Instant::now();
        map.insert(key, Entry { at, tag, value });
    }

    pub fn forget<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.map().remove(key);
    }

    /// Drops every entry whose value `drop` picks.
    pub fn forget_where(&self, drop: impl Fn(&V) -> bool) {
        self.map().retain(|_, e| !drop(&e.value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_freshness_and_forgetting() {
        let tagged: TimedCache<i64, &str> = TimedCache::tagged();
        tagged.put(1, 7, Arc::new("a"));
        assert_eq!(tagged.get(&1, 7).as_deref(), Some(&"a"));
        assert!(tagged.get(&1, 8).is_none(), "another tag is another value");
        tagged.forget(&1);
        assert!(tagged.get(&1, 7).is_none());

        let fresh: TimedCache<String, i64> = TimedCache::fresh_for(Duration::ZERO);
        fresh.put("x".into(), 0, Arc::new(1));
        assert!(fresh.get("x", 0).is_none(), "stale at once");
        let fresh: TimedCache<String, i64> = TimedCache::fresh_for(Duration::from_secs(60));
        fresh.put("x".into(), 0, Arc::new(1));
        fresh.put("y".into(), 0, Arc::new(2));
        fresh.forget_where(|v| *v == 1);
        assert!(fresh.get("x", 0).is_none());
        assert_eq!(fresh.get("y", 0).as_deref(), Some(&2));
    }

    #[test]
    fn bounded() {
        let c: TimedCache<usize, usize> = TimedCache::tagged();
        for i in 0..=CAPACITY {
            c.put(i, 0, Arc::new(i));
        }
        assert!(c.map().len() <= CAPACITY);
        assert!(c.get(&CAPACITY, 0).is_some(), "the newest entry is kept");
    }
}
