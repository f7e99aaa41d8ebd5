//! ACME rate limits, in memory on each server (as the login limits): what a
//! client address may create (accounts, orders), the orders one account may
//! place, and the failed validations after which its new orders wait. Over a
//! limit: `rateLimited` (429) with `Retry-After`.

use std::net::IpAddr;
use std::time::Instant;

use super::problem::Problem;
use crate::auth::ratelimit::{Limited, RateLimiter};
use crate::config::Settings;

pub struct AcmeLimits {
    per_ip: RateLimiter<IpAddr>,
    orders: RateLimiter<i64>,
    failures: RateLimiter<i64>,
}

impl AcmeLimits {
    pub fn new(settings: &Settings) -> Self {
        AcmeLimits {
            per_ip: RateLimiter::new(settings.acme_requests_per_ip),
            orders: RateLimiter::new(settings.acme_orders_per_account),
            failures: RateLimiter::new(settings.acme_failed_validations_per_account),
        }
    }

    /// A new account from `ip`.
    pub fn new_account(&self, ip: IpAddr) -> Result<(), Problem> {
        self.per_ip
            .check(ip, Instant::now())
            .map_err(|l| limited("new requests from this address", l))
    }

    /// A new order by `account` from `ip`: the address, the account's orders,
    /// and its recent failed validations.
    pub fn new_order(&self, ip: IpAddr, account: i64) -> Result<(), Problem> {
        let now = Instant::now();
        self.failures
            .peek(account, now)
            .map_err(|l| limited("failed validations by this account", l))?;
        self.per_ip
            .check(ip, now)
            .map_err(|l| limited("new requests from this address", l))?;
        self.orders
            .check_key(account, now)
            .map_err(|l| limited("new orders by this account", l))
    }

    /// A validation of `account`'s challenge failed for good.
    pub fn failed_validation(&self, account: i64) {
        let _ = self.failures.check_key(account, Instant::now());
    }
}

fn limited(what: &str, l: Limited) -> Problem {
    Problem::rate_limited(
        format!("too many {what}: retry in {} s", l.retry_after_secs),
        l.retry_after_secs,
    )
}
