//! dns-01 (RFC 8555 §8.4): a TXT record at `_acme-challenge.<domain>` whose
//! value is base64url(SHA-256(key authorization)), without padding. The
//! resolver follows a CNAME at that name (how clients delegate the record).

use base64::Engine;

use super::{Inner, key_authorization_digest, quote_truncated};
use crate::service::acme::problem::{Problem, ProblemType};

/// How many of the TXT values found a problem quotes.
const QUOTED_VALUES: usize = 5;

pub(super) async fn validate(
    v: &Inner,
    domain: &str,
    key_authorization: &str,
) -> Result<(), Problem> {
    let name = format!("_acme-challenge.{}", domain.trim_end_matches('.'));
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(key_authorization_digest(key_authorization));
    let values = v.resolver.txt(&name).await?;
    if values.iter().any(|value| value == expected.as_bytes()) {
        return Ok(());
    }
    if values.is_empty() {
        return Err(Problem::new(
            ProblemType::Dns,
            format!("no TXT record found at {name}"),
        ));
    }
    let quoted: Vec<String> = values
        .iter()
        .take(QUOTED_VALUES)
        .map(|value| quote_truncated(value))
        .collect();
    Err(Problem::new(
        ProblemType::IncorrectResponse,
        format!(
            "no TXT record at {name} has the expected value {expected:?}; found {} record{}: {}{}",
            values.len(),
            if values.len() == 1 { "" } else { "s" },
            quoted.join(", "),
            if values.len() > QUOTED_VALUES {
                ", ..."
            } else {
                ""
            }
        ),
    ))
}
