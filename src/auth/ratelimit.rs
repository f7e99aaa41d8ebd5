//! Fixed-window request counting per client address (the login route).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RateLimit;

pub struct RateLimiter {
    limit: RateLimit,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// Over the limit: seconds until the window resets.
pub struct Limited {
    pub retry_after_secs: u64,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        RateLimiter {
            limit,
            windows: Mutex::new(HashMap::new()),
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
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        // Keep memory bounded under a spray of addresses.
        if map.len() > 100_000 {
            map.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = map.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit.count {
            let left = window.saturating_sub(now.duration_since(entry.0));
            return Err(Limited {
                retry_after_secs: left.as_secs().max(1),
            });
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_address_and_resets() {
        let rl = RateLimiter::new(RateLimit {
            count: 2,
            window_secs: 60,
        });
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let t = Instant::now();
        assert!(rl.check(a, t).is_ok());
        assert!(rl.check(a, t).is_ok());
        assert!(rl.check(a, t).is_err());
        assert!(rl.check(b, t).is_ok());
        assert!(rl.check(a, t + Duration::from_secs(61)).is_ok());
    }
}
