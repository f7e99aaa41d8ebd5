//! Login throttling, in memory: a fixed window of attempts per client address
//! (an IPv6 /64 is one address), and a back-off per username after failures.
//!
//! Both tables are bounded. Expired entries are swept; when a table is still full,
//! newcomers share one overflow entry instead of evicting anyone: eviction would let
//! a flood of fresh addresses or usernames reset a victim's (or the attacker's own)
//! counter, whereas the overflow entry fails safe, holding everyone it covers to one
//! shared budget until entries expire.
//!
//! The username back-off cannot lock the owner out for long: it is capped at
//! [`MAX_LOCKOUT`], failures are forgotten after [`FAILURE_MEMORY`], and an address
//! that logged in as that user in the last [`TRUST_TTL`] skips the lock-out (it is
//! still held to the per-address window). The trade-off: while someone keeps failing
//! against a username, its owner on a new address waits up to a minute between
//! tries; an attacker gets about one guess per minute per username, from any number
//! of addresses.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RateLimit;

/// Client addresses tracked at once by [`RateLimiter`].
pub const MAX_ADDRESSES: usize = 65_536;
/// Usernames tracked at once by [`LoginThrottle`].
pub const MAX_USERNAMES: usize = 65_536;
/// Failed logins for one username before the back-off starts.
pub const FREE_FAILURES: u32 = 5;
/// The longest back-off: the first is 1 s, each further failure doubles it.
pub const MAX_LOCKOUT: Duration = Duration::from_secs(60);
/// Failures for a username are forgotten this long after the last one.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);
/// How long an address that logged in as a user skips that user's back-off.
pub const TRUST_TTL: Duration = Duration::from_secs(24 * 3600);
const TRUSTED_PER_USER: usize = 4;
/// A full table is swept at most this often, so a spray costs O(n) once a second, not per request.
const SWEEP_WHEN_FULL: Duration = Duration::from_secs(1);
/// Usernames longer than this are keyed on their first characters (bounds memory).
const USERNAME_KEY_CHARS: usize = 150;

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

struct Windows<K> {
    map: HashMap<K, Window>,
    overflow: Window,
    last_sweep: Instant,
}

/// Fixed-window request counting per client address (the login route), or
/// per any other key (ACME accounts).
pub struct RateLimiter<K = IpAddr> {
    limit: RateLimit,
    max_entries: usize,
    inner: Mutex<Windows<K>>,
}

impl RateLimiter<IpAddr> {
    /// Counts one request from `ip` (an IPv6 /64 is one address).
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Limited> {
        self.check_key(client_key(ip), now)
    }
}

impl<K: std::hash::Hash + Eq + Copy> RateLimiter<K> {
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

    /// Whether one more request under `key` would pass now (nothing counted).
    pub fn peek(&self, key: K, now: Instant) -> Result<(), Limited> {
        let window = Duration::from_secs(self.limit.window_secs);
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match guard.map.get(&key) {
            Some(w) if now.duration_since(w.start) < window && w.count >= self.limit.count => {
                Err(limited(window.saturating_sub(now.duration_since(w.start))))
            }
            _ => Ok(()),
        }
    }

    /// Counts one request under `key`.
    pub fn check_key(&self, key: K, now: Instant) -> Result<(), Limited> {
        let window = Duration::from_secs(self.limit.window_secs);
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

#[derive(Default)]
struct Account {
    failures: u32,
    last_failure: Option<Instant>,
    locked_until: Option<Instant>,
    /// Client keys that logged in as this user, and when they last did.
    trusted: Vec<(IpAddr, Instant)>,
}

impl Account {
    fn forget_old(&mut self, now: Instant) {
        if self
            .last_failure
            .is_some_and(|t| now.duration_since(t) >= FAILURE_MEMORY)
        {
            self.failures = 0;
            self.last_failure = None;
            self.locked_until = None;
        }
        self.trusted
            .retain(|(_, t)| now.duration_since(*t) < TRUST_TTL);
    }

    fn is_empty(&self) -> bool {
        self.failures == 0 && self.trusted.is_empty()
    }

    fn lock_left(&self, key: IpAddr, now: Instant) -> Option<Duration> {
        if self.trusted.iter().any(|(k, _)| *k == key) {
            return None;
        }
        self.locked_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }
}

struct Accounts {
    map: HashMap<String, Account>,
    overflow: Account,
    last_sweep: Instant,
}

impl Accounts {
    fn sweep(&mut self, now: Instant, max_entries: usize, wants_room: bool) {
        let since = now.duration_since(self.last_sweep);
        let full = self.map.len() >= max_entries;
        if since >= MAX_LOCKOUT || (wants_room && full && since >= SWEEP_WHEN_FULL) {
            self.map.retain(|_, a| {
                a.forget_old(now);
                !a.is_empty()
            });
            self.last_sweep = now;
        }
    }
}

/// Exponential back-off on failed logins per username.
pub struct LoginThrottle {
    max_entries: usize,
    inner: Mutex<Accounts>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::with_capacity(MAX_USERNAMES)
    }
}

fn username_key(username: &str) -> String {
    username.chars().take(USERNAME_KEY_CHARS).collect()
}

/// The lock-out after the `failures`-th failure in a row.
pub fn backoff(failures: u32) -> Duration {
    match failures.checked_sub(FREE_FAILURES) {
        None => Duration::ZERO,
        Some(n) => Duration::from_secs(1u64 << n.min(16)).min(MAX_LOCKOUT),
    }
}

impl LoginThrottle {
    pub fn with_capacity(max_entries: usize) -> Self {
        LoginThrottle {
            max_entries,
            inner: Mutex::new(Accounts {
                map: HashMap::new(),
                overflow: Account::default(),
                last_sweep: Instant::now(),
            }),
        }
    }

    /// Before a login attempt: is `username` backing off for this client?
    pub fn check(&self, username: &str, ip: IpAddr, now: Instant) -> Result<(), Limited> {
        let name = username_key(username);
        let mut t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let t = &mut *t;
        let full = t.map.len() >= self.max_entries;
        let account = match t.map.get_mut(&name) {
            Some(a) => a,
            None if full => &mut t.overflow,
            None => return Ok(()),
        };
        account.forget_old(now);
        match account.lock_left(client_key(ip), now) {
            Some(left) => Err(limited(left)),
            None => Ok(()),
        }
    }

    /// After a failed login for `username` (existing or not).
    pub fn record_failure(&self, username: &str, now: Instant) {
        let name = username_key(username);
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let t = &mut *guard;
        if !t.map.contains_key(&name) {
            t.sweep(now, self.max_entries, true);
        }
        let account = if t.map.contains_key(&name) || t.map.len() < self.max_entries {
            t.map.entry(name).or_default()
        } else {
            &mut t.overflow
        };
        account.forget_old(now);
        account.failures = account.failures.saturating_add(1);
        account.last_failure = Some(now);
        let lock = backoff(account.failures);
        if !lock.is_zero() {
            account.locked_until = Some(now + lock);
        }
    }

    /// After a successful login: the back-off ends and `ip` is trusted for this user.
    pub fn record_success(&self, username: &str, ip: IpAddr, now: Instant) {
        let name = username_key(username);
        let key = client_key(ip);
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let t = &mut *guard;
        if !t.map.contains_key(&name) {
            t.sweep(now, self.max_entries, true);
            if t.map.len() >= self.max_entries {
                // No room: remembering trust is an optimisation, so skip it.
                return;
            }
        }
        let account = t.map.entry(name).or_default();
        account.failures = 0;
        account.last_failure = None;
        account.locked_until = None;
        account.trusted.retain(|(k, _)| *k != key);
        if account.trusted.len() >= TRUSTED_PER_USER {
            account.trusted.remove(0);
        }
        account.trusted.push((key, now));
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

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(FREE_FAILURES - 1), Duration::ZERO);
        assert_eq!(backoff(FREE_FAILURES), Duration::from_secs(1));
        assert_eq!(backoff(FREE_FAILURES + 1), Duration::from_secs(2));
        assert_eq!(backoff(FREE_FAILURES + 3), Duration::from_secs(8));
        assert_eq!(backoff(FREE_FAILURES + 10), MAX_LOCKOUT);
        assert_eq!(backoff(u32::MAX), MAX_LOCKOUT);
    }

    #[test]
    fn username_backoff_locks_every_new_address_and_ends() {
        let th = LoginThrottle::default();
        let t = Instant::now();
        let attacker = ip("203.0.113.9");
        let elsewhere = ip("198.51.100.20");
        for _ in 0..FREE_FAILURES - 1 {
            assert!(th.check("alice", attacker, t).is_ok());
            th.record_failure("alice", t);
        }
        assert!(th.check("alice", attacker, t).is_ok());
        th.record_failure("alice", t);
        // Locked for everyone not trusted, whatever their address.
        let err = th.check("alice", elsewhere, t).unwrap_err();
        assert_eq!(err.retry_after_secs, 1);
        assert!(th.check("bob", attacker, t).is_ok());
        // More failures: longer, capped.
        let mut now = t;
        for _ in 0..20 {
            now += Duration::from_secs(61);
            th.record_failure("alice", now);
        }
        let err = th.check("alice", elsewhere, now).unwrap_err();
        assert_eq!(err.retry_after_secs, MAX_LOCKOUT.as_secs());
        assert!(th.check("alice", elsewhere, now + MAX_LOCKOUT).is_ok());
        // Failures are forgotten after a quiet spell.
        let quiet = now + FAILURE_MEMORY;
        th.record_failure("alice", quiet);
        assert!(th.check("alice", elsewhere, quiet).is_ok());
    }

    #[test]
    fn the_owner_on_a_trusted_address_is_not_locked_out() {
        let th = LoginThrottle::default();
        let t = Instant::now();
        let home = ip("2001:db8:5:6::10");
        th.record_success("alice", home, t);
        for _ in 0..30 {
            th.record_failure("alice", t);
        }
        assert!(th.check("alice", ip("203.0.113.9"), t).is_err());
        // Same /64, another interface address: still trusted.
        assert!(th.check("alice", ip("2001:db8:5:6::99"), t).is_ok());
        // A success ends the back-off for everyone.
        th.record_success("alice", home, t);
        assert!(th.check("alice", ip("203.0.113.9"), t).is_ok());
        // Trust expires.
        th.record_success("alice", home, t);
        let later = t + TRUST_TTL + Duration::from_secs(1);
        for _ in 0..FREE_FAILURES {
            th.record_failure("alice", later);
        }
        assert!(th.check("alice", home, later).is_err());
    }

    #[test]
    fn a_full_username_table_fails_safe() {
        let th = LoginThrottle::with_capacity(50);
        let t = Instant::now();
        for _ in 0..FREE_FAILURES {
            th.record_failure("victim", t);
        }
        for i in 0..1000 {
            th.record_failure(&format!("junk{i}"), t);
        }
        assert_eq!(th.tracked(), 50);
        // The victim's back-off survives the flood...
        assert!(th.check("victim", ip("192.0.2.1"), t).is_err());
        // ...and untracked names share the (now locked) overflow entry.
        assert!(th.check("newcomer", ip("192.0.2.1"), t).is_err());
        // Quiet for FAILURE_MEMORY: everything is swept and forgotten.
        let later = t + FAILURE_MEMORY;
        th.record_failure("newcomer", later);
        assert!(th.tracked() <= 1);
        assert!(th.check("newcomer", ip("192.0.2.1"), later).is_ok());
        // Huge usernames are keyed on a bounded prefix.
        assert_eq!(username_key(&"x".repeat(10_000)).len(), USERNAME_KEY_CHARS);
    }
}
