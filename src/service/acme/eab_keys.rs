//! External account binding keys of an ACME directory (RFC 8555 §7.3.4):
//! made by the directory's managers, the HMAC key shown once and stored
//! sealed like private keys; revoking a key deactivates the account it bound.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::directories::{audit, directory_url, load};
use super::directory_rules::account_of;
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::service::AppState;
use crate::service::keystore::{KeyStore, OpenError};
use crate::store::{self, acme::eab_keys as eab_store, acme::eab_keys::EabKeyRow};

/// Bytes of a new HMAC key.
pub const HMAC_KEY_BYTES: usize = 32;
/// Random bytes of a new key id.
const KID_BYTES: usize = 16;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = AcmeEabKeyCreate)]
pub struct EabKeyCreate {
    /// The service account an account registered with this key issues as;
    /// of the directory's organization. Default: the directory's.
    #[serde(default)]
    pub service_account_id: Option<i64>,
}

/// A new key: `hmac_key` appears this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AcmeEabKeyCreated)]
pub struct EabKeyCreated {
    pub kid: String,
    /// base64url without padding, 32 bytes once decoded.
    pub hmac_key: String,
    pub directory_url: String,
    pub service_account_id: Option<i64>,
    pub created_at: String,
}

/// A key as listed: never its HMAC key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AcmeEabKey)]
pub struct EabKeyOut {
    pub kid: String,
    pub directory_id: i64,
    pub service_account_id: Option<i64>,
    /// The ACME account it registered, once bound.
    pub account_id: Option<i64>,
    pub bound_at: Option<String>,
    pub revoked_at: Option<String>,
    pub created_at: String,
}

impl From<EabKeyRow> for EabKeyOut {
    fn from(r: EabKeyRow) -> Self {
        EabKeyOut {
            kid: r.kid,
            directory_id: r.directory_id,
            service_account_id: r.service_account_id,
            account_id: r.account_id,
            bound_at: r.bound_at.map(store::ts),
            revoked_at: r.revoked_at.map(store::ts),
            created_at: store::ts(r.created_at),
        }
    }
}

/// `n` random bytes, base64url. Never starting with `-`: command lines read
/// `--eab-hmac-key -x...` as two options (certbot, lego), a trap for every
/// user; drawing again costs 1/64 of the time and under 0.03 bits.
fn random_b64(n: usize) -> Result<String> {
    loop {
        let mut bytes = vec![0u8; n];
        aws_lc_rs::rand::fill(&mut bytes)
            .map_err(|_| Error::Internal(anyhow::anyhow!("system random generator failed")))?;
        let text = URL_SAFE_NO_PAD.encode(bytes);
        if !text.starts_with('-') {
            return Ok(text);
        }
    }
}

/// The HMAC key of a stored EAB key: sealed (a Fernet token), or as made
/// (base64url of 32 bytes) when it was stored without `PRIVATE_KEY_ENCRYPTION_KEY`.
pub fn open_hmac_key(keys: &KeyStore, stored: &str) -> std::result::Result<Vec<u8>, OpenError> {
    let text = open_hmac_text(keys, stored)?;
    plain_hmac_key(&text).ok_or(OpenError::WrongKey)
}

/// The HMAC key's text (base64url), as made; what is sealed.
pub fn open_hmac_text(keys: &KeyStore, stored: &str) -> std::result::Result<String, OpenError> {
    if is_plain_hmac_key(stored) {
        return Ok(stored.trim().to_string());
    }
    keys.open(stored)
}

/// Whether a stored key is unsealed; a Fernet token is never 43 characters.
pub fn is_plain_hmac_key(stored: &str) -> bool {
    plain_hmac_key(stored).is_some()
}

fn plain_hmac_key(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(text.trim())
        .ok()
        .filter(|b| b.len() == HMAC_KEY_BYTES)
}

pub async fn create(
    state: &AppState,
    caller: &Principal,
    directory_id: i64,
    input: EabKeyCreate,
    base_url: &str,
) -> Result<EabKeyCreated> {
    let d = load(state, caller, directory_id).await?;
    if let Some(sa) = input.service_account_id {
        account_of(state, sa, d.organization_id).await?;
    }
    let kid = random_b64(KID_BYTES)?;
    let hmac_key = random_b64(HMAC_KEY_BYTES)?;
    let sealed = state.keys.seal(&hmac_key);
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let row = eab_store::insert(&mut tx, &kid, d.id, input.service_account_id, &sealed, now)
        .await
        .map_err(|e| {
            if store::is_foreign_key_violation(&e) {
                Error::NotFound("ACME directory not found".into())
            } else {
                e.into()
            }
        })?;
    let entry = audit(
        caller,
        "acme_eab_create",
        &d,
        format!("Created EAB key {kid} for ACME directory '{}'", d.name),
    );
    store::audit::insert(&mut tx, &entry, &store::ts(now)).await?;
    tx.commit().await?;
    Ok(EabKeyCreated {
        kid: row.kid,
        hmac_key,
        directory_url: directory_url(base_url, &d.name),
        service_account_id: row.service_account_id,
        created_at: store::ts(row.created_at),
    })
}

/// A page of a directory's keys, oldest first.
pub async fn list(
    state: &AppState,
    caller: &Principal,
    directory_id: i64,
    skip: i64,
    limit: i64,
) -> Result<Vec<EabKeyOut>> {
    let d = load(state, caller, directory_id).await?;
    let mut c = state.db.read().await?;
    Ok(eab_store::list(&mut c, d.id, skip, limit)
        .await?
        .into_iter()
        .map(EabKeyOut::from)
        .collect())
}

/// Revokes a key and deactivates the account it bound. A key already
/// revoked: nothing changes, nothing is written.
pub async fn revoke(
    state: &AppState,
    caller: &Principal,
    directory_id: i64,
    kid: &str,
) -> Result<()> {
    let d = load(state, caller, directory_id).await?;
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let Some(key) = eab_store::get(&mut tx, d.id, kid).await? else {
        return Err(Error::NotFound("EAB key not found".into()));
    };
    // Only the first revocation changes anything; a registration racing with
    // it either bound the key first (its account is deactivated here) or
    // finds it revoked.
    let Some(key) = eab_store::revoke_active(&mut tx, key.id, now).await? else {
        return Ok(());
    };
    let mut detail = format!("Revoked EAB key {} of ACME directory '{}'", key.kid, d.name);
    if let Some(account) = key.account_id {
        eab_store::deactivate_account(&mut tx, account, now).await?;
        detail.push_str(&format!(" and deactivated ACME account {account}"));
    }
    let entry = audit(caller, "acme_eab_revoke", &d, detail);
    store::audit::insert(&mut tx, &entry, &store::ts(now)).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_keys_open_sealed_or_not() {
        let key = random_b64(HMAC_KEY_BYTES).unwrap();
        assert_eq!(key.len(), 43);
        let bytes = URL_SAFE_NO_PAD.decode(&key).unwrap();
        let plain = KeyStore::new(None).unwrap();
        assert_eq!(open_hmac_key(&plain, &key).unwrap(), bytes);
        let sealing = KeyStore::new(Some("ZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmQ=")).unwrap();
        let sealed = sealing.seal(&key);
        assert_ne!(sealed, key);
        assert_eq!(open_hmac_key(&sealing, &sealed).unwrap(), bytes);
        assert_eq!(open_hmac_key(&sealing, &key).unwrap(), bytes);
        assert!(open_hmac_key(&plain, &sealed).is_err());
    }
}
