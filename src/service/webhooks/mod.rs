//! Webhook notifications: signed JSON events (`certificate.issued`,
//! `certificate.revoked`, `certificate.expiring`, `ca.expiring`) sent to the
//! URLs of `WEBHOOK_URLS` (every event) and to each organization's webhooks
//! (its own events), one concept a file:
//! - `events`: the types, the bodies, and the outbox they are written to in
//!   the transaction of the change that causes them;
//! - `signing`: secrets (`whsec_...`, sealed at rest) and the Standard
//!   Webhooks signature;
//! - `manage`: the API's use cases (create, list, read, delete, new secret,
//!   deliveries);
//! - `deliveries`: one signed POST to a checked address, and the backoff;
//! - `expiry`: the scan that records `*.expiring` once per threshold;
//! - `worker`: fans events out into deliveries and sends them under a lease,
//!   so that of several servers one sends each; prunes old ones.

pub mod deliveries;
pub mod events;
pub mod expiry;
pub mod manage;
pub mod signing;
pub mod worker;

pub use events::{EventType, Outbox};

use std::net::IpAddr;

use crate::config::Settings;
use crate::service::address_policy::AddressPolicy;

/// What the webhook use cases and the worker share on one server.
pub struct Webhooks {
    pub outbox: Outbox,
    pub sender: deliveries::Sender,
    policy: AddressPolicy,
    /// `WEBHOOK_URLS` and the key of `WEBHOOK_SECRET`.
    global_urls: Vec<String>,
    global_key: Option<Vec<u8>>,
}

impl Webhooks {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let policy = AddressPolicy::new(
            settings.webhook_deny_cidrs.clone(),
            settings.webhook_allow_cidrs.clone(),
        );
        Ok(Webhooks {
            outbox: Outbox::new(!settings.webhook_urls.is_empty()),
            sender: deliveries::Sender::new(policy.clone())?,
            policy,
            global_urls: settings.webhook_urls.clone(),
            global_key: settings
                .webhook_secret
                .as_deref()
                .and_then(signing::key_bytes),
        })
    }

    /// Whether webhooks may be sent to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.policy.allows(ip)
    }

    /// The URLs of `WEBHOOK_URLS`.
    pub fn global_urls(&self) -> &[String] {
        &self.global_urls
    }

    /// The key a URL of `WEBHOOK_URLS` is sent with; None when it is not (or
    /// no longer) one of them.
    fn global_key(&self, url: &str) -> Option<&[u8]> {
        self.global_urls
            .iter()
            .any(|u| u == url)
            .then_some(self.global_key.as_deref())
            .flatten()
    }
}
