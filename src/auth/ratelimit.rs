//! Login throttling, in memory: a fixed window of attempts per client address
//! (an IPv6 /64 is one address).
//!
//! The table is bounded. Expired entries are swept; when it is still full,
//! newcomers share one overflow entry instead of evicting anyone: eviction would let
//! a flood of fresh addresses reset a victim's (or the attacker's own) counter,
//! whereas the overflow entry fails safe, holding everyone it covers to one shared
//! budget until entries expire.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RateLimit;

/// Client addresses tracked at once by [`RateLimiter`].
pub const MAX_ADDRESSES: usize = 65_536;
/// A full table is swept at most this often, so a spray costs O(n) once a second, not per request.
const SWEEP_WHEN_FULL: Duration = Duration::from_secs(1);

/// The address a client is counted under: IPv4 as is (IPv4-mapped IPv6 too), IPv6
/// by its /64, the smallest prefix one subscriber is usually given.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u64::MAX as u128))),
        v4 => v4,
    }
}

/// Over the limit: seconds until a retry can succeed (at least 1).
#[derive(Debug)]
pub struct Limited {
    pub retry_after_secs: u64,
}

fn limited(left: Duration) -> Limited {
    Limited {
        retry_after_secs: left.as_millis().div_ceil(1000).max(1) as u64,
    }
}

#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
}

struct Windows {
    map: HashMap<IpAddr, Window>,
    overflow: Window,
    last_sweep: Instant,
}

/// Fixed-window request counting per client address (the login route).
pub struct RateLimiter {
    limit: RateLimit,
    max_entries: usize,
    inner: Mutex<Windows>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self::with_capacity(limit, MAX_ADDRESSES)
    }

    pub fn with_capacity(limit: RateLimit, max_entries: usize) -> Self {
        let now = Instant::now();
        RateLimiter {
            limit,
            max_entries,
            inner: Mutex::new(Windows {
                map: HashMap::new(),
                overflow: Window {
                    start: now,
                    count: 0,
                },
                last_sweep: now,
            }),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{} per {} second(s)",
            self.limit.count, self.limit.window_secs
        )
    }

    /// Counts one request from `ip`.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Limited> {
        let window = Duration::from_secs(self.limit.window_secs);
        let key = client_key(ip);
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let t = &mut *guard;
        let since_sweep = now.duration_since(t.last_sweep);
        let full = t.map.len() >= self.max_entries && !t.map.contains_key(&key);
        if since_sweep >= window || (full && since_sweep >= SWEEP_WHEN_FULL) {
            t.map.retain(|_, w| now.duration_since(w.start) < window);
            t.last_sweep = now;
        }
        let w = if t.map.contains_key(&key) || t.map.len() < self.max_entries {
            t.map.entry(key).or_insert(Window {
                start: now,
                count: 0,
            })
        } else {
            &mut t.overflow
        };
        if now.duration_since(w.start) >= window {
            *w = Window {
                start: now,
                count: 0,
            };
        }
        if w.count >= self.limit.count {
            return Err(limited(window.saturating_sub(now.duration_since(w.start))));
        }
        w.count += 1;
        Ok(())
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.inner.lock().unwrap().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn limits_per_address_and_resets() {
        let rl = RateLimiter::new(RateLimit {
            count: 2,
            window_secs: 60,
        });
        let a = ip("127.0.0.1");
        let b = ip("127.0.0.2");
        let t = Instant::now();
        assert!(rl.check(a, t).is_ok());
        assert!(rl.check(a, t).is_ok());
        let err = rl.check(a, t + Duration::from_millis(500)).unwrap_err();
        assert_eq!(err.retry_after_secs, 60);
        assert!(rl.check(b, t).is_ok());
        assert!(rl.check(a, t + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn ipv6_is_keyed_on_its_64_and_ipv4_as_is() {
        assert_eq!(client_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            client_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            ip("2001:db8:1:2::")
        );
        assert_ne!(client_key(ip("2001:db8:1:3::1")), ip("2001:db8:1:2::"));
        assert_eq!(client_key(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));

        let rl = RateLimiter::new(RateLimit {
            count: 2,
            window_secs: 60,
        });
        let t = Instant::now();
        assert!(rl.check(ip("2001:db8::1"), t).is_ok());
        assert!(rl.check(ip("2001:db8::2:3:4"), t).is_ok());
        // Another address in the same /64 shares the budget.
        assert!(rl.check(ip("2001:db8::ffff:1"), t).is_err());
        assert!(rl.check(ip("2001:db8:0:1::1"), t).is_ok());
    }

    #[test]
    fn expired_windows_are_evicted() {
        let rl = RateLimiter::with_capacity(
            RateLimit {
                count: 1,
                window_secs: 10,
            },
            1000,
        );
        let t = Instant::now();
        for i in 0..500u32 {
            rl.check(IpAddr::from(i.to_be_bytes()), t).unwrap();
        }
        assert_eq!(rl.tracked(), 500);
        rl.check(ip("10.0.0.1"), t + Duration::from_secs(11))
            .unwrap();
        assert_eq!(rl.tracked(), 1);
    }

    #[test]
    fn a_full_table_neither_grows_nor_resets_anyone() {
        let rl = RateLimiter::with_capacity(
            RateLimit {
                count: 2,
                window_secs: 60,
            },
            100,
        );
        let t = Instant::now();
        let victim = ip("192.0.2.1");
        rl.check(victim, t).unwrap();
        rl.check(victim, t).unwrap();
        assert!(rl.check(victim, t).is_err());
        // A spray of fresh addresses fills the table...
        for i in 0..10_000u32 {
            let _ = rl.check(IpAddr::from((0x0a00_0000 + i).to_be_bytes()), t);
        }
        assert_eq!(rl.tracked(), 100);
        // ...without resetting the counter already held (nor, a second later, after a sweep).
        assert!(rl.check(victim, t + Duration::from_secs(2)).is_err());
        // Newcomers share one overflow budget, already spent by the spray.
        assert!(rl.check(ip("198.51.100.1"), t).is_err());
        // Once the windows expire, the table empties and newcomers are counted alone.
        let later = t + Duration::from_secs(61);
        assert!(rl.check(ip("198.51.100.1"), later).is_ok());
        assert!(rl.tracked() <= 1);
    }
}
