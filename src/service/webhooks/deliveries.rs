//! Sending one delivery: the signed POST, to an address that passed
//! `WEBHOOK_{DENY,ALLOW}_CIDRS`, and what its answer means. A 2xx is
//! delivered; anything else (another status, a refused or denied address, a
//! timeout) is tried again after `WEBHOOK_RETRY_BASE_SECONDS`, doubled after
//! each failure up to an hour, until `WEBHOOK_MAX_ATTEMPTS`.
//!
//! The client resolves names itself and hands the HTTP library only the
//! addresses that passed the check, so the connection goes to a checked
//! address and the name is never resolved twice; an address written in the
//! URL is checked before the request. Redirects are not followed, proxies
//! from the environment are not used, an attempt takes at most 10 s, and at
//! most 1 KiB of an answer's body is read (to say why it failed).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::signing;
use crate::service::address_policy::AddressPolicy;

/// One attempt, from connecting to the answer's head.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connecting to one address.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of a failed answer's body kept in `last_error`.
const MAX_ERROR_BODY: usize = 1024;
/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// How an attempt went.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    /// A 2xx answer.
    Delivered { status: u16 },
    /// Anything else: the status, if an answer came, and why it failed.
    Failed { status: Option<u16>, error: String },
}

/// The HTTP client of webhooks (cheap to clone).
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
}

impl Sender {
    pub fn new(policy: AddressPolicy) -> anyhow::Result<Self> {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .user_agent(concat!("fastpki/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .retry(reqwest::retry::never())
            .dns_resolver(CheckedResolver {
                policy: policy.clone(),
            })
            .build()?;
        Ok(Sender { client, policy })
    }

    /// POSTs `body` (the event `id` of type `event_type`) to `url`, signed with `key`.
    pub async fn send(
        &self,
        url: &str,
        key: &[u8],
        id: &str,
        event_type: &str,
        body: &str,
    ) -> Sent {
        let failed = |error: String| Sent::Failed {
            status: None,
            error,
        };
        let parsed = match reqwest::Url::parse(url) {
            Ok(u) => u,
            Err(e) => return failed(format!("not a URL: {e}")),
        };
        // An address in the URL is connected to as it is, without a lookup:
        // it is checked here.
        let literal = parsed
            .host_str()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|h| h.parse::<IpAddr>().ok());
        if let Some(ip) = literal.filter(|ip| !self.policy.allows(*ip)) {
            return failed(format!(
                "{ip} is not an allowed webhook address (WEBHOOK_DENY_CIDRS, WEBHOOK_ALLOW_CIDRS)"
            ));
        }
        let timestamp = chrono::Utc::now().timestamp();
        let request = self
            .client
            .post(parsed)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signing::signature(key, id, timestamp, body),
            )
            .header("x-fastpki-event", event_type)
            .body(body.to_string());
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => return failed(describe(&e)),
        };
        let status = response.status();
        if status.is_success() {
            return Sent::Delivered {
                status: status.as_u16(),
            };
        }
        // Why it failed: the start of the body, read within the attempt's time.
        let mut head = Vec::new();
        while head.len() < MAX_ERROR_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => head.extend_from_slice(&chunk),
                _ => break,
            }
        }
        head.truncate(MAX_ERROR_BODY);
        let text = String::from_utf8_lossy(&head);
        let text = text.trim();
        let error = if status.is_redirection() {
            format!(
                "answered {status} (redirects are not followed; point the webhook at the final URL)"
            )
        } else if text.is_empty() {
            format!("answered {status}")
        } else {
            format!("answered {status}: {text}")
        };
        Sent::Failed {
            status: Some(status.as_u16()),
            error,
        }
    }
}

/// The pause after `failed` failed attempts: the base, doubled after each
/// failure, at most an hour.
pub fn backoff(base: Duration, failed: i64) -> Duration {
    let doublings = u32::try_from(failed.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    base.saturating_mul(2u32.saturating_pow(doublings))
        .min(MAX_BACKOFF)
}

/// An error and its causes on one line (reqwest's own message is often only
/// "error sending request").
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs());
    }
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Resolves through the system (`/etc/hosts`, then DNS: receivers are often
/// internal names) and keeps only the addresses the policy allows; fails,
/// saying why, when none is left.
struct CheckedResolver {
    policy: Arc<AddressPolicy>,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| format!("cannot resolve {host}: {e}"))?
                .collect();
            let allowed: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| policy.allows(a.ip()))
                .collect();
            if allowed.is_empty() {
                let listed: Vec<String> = all.iter().map(|a| a.ip().to_string()).collect();
                return Err(format!(
                    "{host} resolves to {}, not an allowed webhook address (WEBHOOK_DENY_CIDRS, WEBHOOK_ALLOW_CIDRS)",
                    listed.join(", ")
                )
                .into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let base = Duration::from_secs(10);
        let pauses: Vec<u64> = (1..=12).map(|n| backoff(base, n).as_secs()).collect();
        assert_eq!(
            pauses,
            [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600, 3600]
        );
        assert_eq!(backoff(Duration::from_secs(1), 1).as_secs(), 1);
        assert_eq!(backoff(base, 1000).as_secs(), 3600);
    }

    #[tokio::test]
    async fn a_denied_address_is_refused_before_any_connection() {
        let nets = |s: &[&str]| s.iter().map(|n| n.parse().unwrap()).collect();
        let sender = Sender::new(AddressPolicy::new(
            nets(&["127.0.0.0/8", "::1/128"]),
            vec![],
        ))
        .unwrap();
        let key = [7u8; 32];
        let sent = sender
            .send(
                "http://127.0.0.1:9/hook",
                &key,
                "id",
                "certificate.issued",
                "{}",
            )
            .await;
        let Sent::Failed {
            status: None,
            error,
        } = sent
        else {
            panic!("{sent:?}")
        };
        assert!(
            error.contains("127.0.0.1 is not an allowed webhook address"),
            "{error}"
        );
        let sent = sender
            .send(
                "http://localhost:9/hook",
                &key,
                "id",
                "certificate.issued",
                "{}",
            )
            .await;
        let Sent::Failed {
            status: None,
            error,
        } = sent
        else {
            panic!("{sent:?}")
        };
        assert!(error.contains("not an allowed webhook address"), "{error}");
    }
}
