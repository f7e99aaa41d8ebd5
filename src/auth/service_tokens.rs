//! Service-account tokens `fpki_sa_<public_id>.<secret>`: only an HMAC-SHA256
//! digest of the secret, keyed with the pepper, is stored.

use base64::Engine;
use chrono::{DateTime, Utc};

use super::principal::Principal;
use super::tokens::constant_time_eq;
use crate::error::{Error, Result};
use crate::store;

pub const PREFIX: &str = "fpki_sa_";

/// A new token: (public id, secret, full token text).
pub fn new_token() -> anyhow::Result<(String, String, String)> {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    aws_lc_rs::rand::fill(&mut id)
        .map_err(|_| anyhow::anyhow!("system random generator failed"))?;
    aws_lc_rs::rand::fill(&mut secret)
        .map_err(|_| anyhow::anyhow!("system random generator failed"))?;
    let public_id = hex::encode(id);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let token = format!("{PREFIX}{public_id}.{secret}");
    Ok((public_id, secret, token))
}

/// HMAC-SHA256(pepper, secret), hex.
pub fn digest(pepper: &str, secret: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, pepper.as_bytes());
    hex::encode(aws_lc_rs::hmac::sign(&key, secret.as_bytes()).as_ref())
}

/// Whether a token neither revoked nor expired may be used at `now`: it expires at
/// `expires_at` itself, as a JWT's `exp`.
fn usable_at(
    revoked_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    revoked_at.is_none() && expires_at.is_none_or(|e| now < e)
}

fn invalid() -> Error {
    Error::Unauthorized("Could not validate credentials".into())
}

/// `rest` is the token after the prefix: `<public_id>.<secret>`.
pub async fn authenticate(db: &store::Db, pepper: &str, rest: &str) -> Result<Principal> {
    let (public_id, secret) = rest.split_once('.').ok_or_else(invalid)?;
    if public_id.len() != 16 || secret.is_empty() || secret.len() > 128 {
        return Err(invalid());
    }
    let mut c = db.read().await?;
    let token = store::service_accounts::token_by_public_id(&mut c, public_id).await?;
    // Compute the digest whether or not the token exists, so timing says nothing.
    let presented = digest(pepper, secret);
    let token = token.ok_or_else(invalid)?;
    if !constant_time_eq(presented.as_bytes(), token.secret_digest.as_bytes()) {
        return Err(invalid());
    }
    let now = Utc::now();
    if !usable_at(token.revoked_at, token.expires_at, now) {
        return Err(invalid());
    }
    let account = store::service_accounts::get(&mut c, token.service_account_id)
        .await?
        .ok_or_else(invalid)?;
    if account.disabled_at.is_some() {
        return Err(invalid());
    }
    drop(c);
    let stale = now - chrono::Duration::seconds(60);
    if token.last_used_at.is_none_or(|t| t < stale) {
        let mut tx = db.begin().await?;
        let (now, stale) = (store::ts(now), store::ts(stale));
        store::service_accounts::touch_token(&mut tx, token.id, &now, &stale).await?;
        tx.commit().await?;
    }
    Ok(Principal::ServiceAccount {
        account,
        token_id: token.id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_expires_at_its_expiry_time() {
        let t = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 6, 12, 0, 0).unwrap();
        let second = chrono::Duration::seconds(1);
        assert!(usable_at(None, None, t));
        assert!(usable_at(None, Some(t + second), t));
        assert!(
            !usable_at(None, Some(t), t),
            "expired at the instant itself"
        );
        assert!(!usable_at(None, Some(t - second), t));
        assert!(!usable_at(Some(t - second), Some(t + second), t), "revoked");
        assert!(
            !usable_at(Some(t - second), None, t),
            "revoked, never expiring"
        );
    }

    #[test]
    fn tokens_have_the_documented_shape() {
        let (public_id, secret, token) = new_token().unwrap();
        assert_eq!(public_id.len(), 16);
        assert_eq!(token, format!("fpki_sa_{public_id}.{secret}"));
        assert_eq!(secret.len(), 43);
        assert_ne!(digest("pepper-one", &secret), digest("pepper-two", &secret));
        assert_eq!(digest("p", "s").len(), 64);
    }
}
