//! ACME accounts (RFC 8555 §7.3): registration (with external account
//! binding), lookup by key or URL, contact update, deactivation and key
//! rollover, each audited.

use chrono::Utc;

use super::problem::{Problem, ProblemType};
use crate::service::AppState;
use crate::store::{self, acme::accounts::AccountRow, acme::directories::DirectoryRow};

/// At most this many contact URLs per account.
const MAX_CONTACTS: usize = 10;

/// An account key: its RFC 7638 thumbprint and its canonical JSON.
pub struct AccountKey<'a> {
    pub thumbprint: &'a str,
    pub jwk: &'a str,
}

/// An EAB key a new account proved it holds.
pub struct Binding {
    pub key_id: i64,
    pub kid: String,
    pub service_account_id: Option<i64>,
}

/// The account of `dir` with this key, if any.
pub async fn by_key(
    state: &AppState,
    dir: &DirectoryRow,
    thumbprint: &str,
) -> Result<Option<AccountRow>, Problem> {
    let mut c = state.db.read().await?;
    Ok(store::acme::accounts::by_thumbprint(&mut c, dir.id, thumbprint).await?)
}

/// The account a `kid` names: it must exist in `dir` and be valid.
pub async fn by_id(state: &AppState, dir: &DirectoryRow, id: i64) -> Result<AccountRow, Problem> {
    let mut c = state.db.read().await?;
    let account = store::acme::accounts::get(&mut c, id)
        .await?
        .filter(|a| a.directory_id == dir.id)
        .ok_or_else(|| {
            Problem::new(
                ProblemType::AccountDoesNotExist,
                "no such account in this directory",
            )
        })?;
    if account.status != "valid" {
        return Err(Problem::new(
            ProblemType::Unauthorized,
            format!("the account is {}", account.status),
        ));
    }
    Ok(account)
}

/// The raw HMAC key of an unused, unrevoked EAB key of `dir`.
pub async fn eab_key(
    state: &AppState,
    dir: &DirectoryRow,
    kid: &str,
) -> Result<(Binding, Vec<u8>), Problem> {
    let row = {
        let mut c = state.db.read().await?;
        store::acme::eab_keys::get(&mut c, dir.id, kid).await?
    };
    let unusable = || {
        Problem::new(
            ProblemType::Unauthorized,
            "the external account binding key is unknown, revoked or already bound to an account",
        )
    };
    let row = row.ok_or_else(unusable)?;
    if row.revoked_at.is_some() || row.account_id.is_some() {
        return Err(unusable());
    }
    let raw = super::eab_keys::open_hmac_key(&state.keys, &row.hmac_key).map_err(|_| {
        tracing::error!(kid, "an EAB key cannot be unsealed with the configured key");
        Problem::internal()
    })?;
    Ok((
        Binding {
            key_id: row.id,
            kid: row.kid,
            service_account_id: row.service_account_id,
        },
        raw,
    ))
}

/// Checks contact URLs (RFC 8555 §7.3): `mailto:` with one plain address.
pub fn check_contacts(contact: &[String]) -> Result<(), Problem> {
    if contact.len() > MAX_CONTACTS {
        return Err(Problem::new(
            ProblemType::InvalidContact,
            format!("at most {MAX_CONTACTS} contacts"),
        ));
    }
    for url in contact {
        let Some(address) = url.strip_prefix("mailto:") else {
            return Err(Problem::new(
                ProblemType::UnsupportedContact,
                format!(
                    "only mailto: contacts are supported, not {:?}",
                    shorten(url)
                ),
            ));
        };
        let plain = address.len() <= 254
            && address.split('@').count() == 2
            && !address.starts_with('@')
            && !address.ends_with('@')
            && address
                .chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, ',' | '?' | '<' | '>' | '"'));
        if !plain {
            return Err(Problem::new(
                ProblemType::InvalidContact,
                format!("{:?} is not a single e-mail address", shorten(url)),
            ));
        }
    }
    Ok(())
}

fn shorten(s: &str) -> String {
    s.chars().take(80).collect()
}

/// Registers a key with `dir`; the existing account when the key has one
/// (`false`: not created). An EAB key is bound in the same transaction.
pub async fn register(
    state: &AppState,
    dir: &DirectoryRow,
    key: AccountKey<'_>,
    contact: &[String],
    binding: Option<Binding>,
) -> Result<(AccountRow, bool), Problem> {
    check_contacts(contact)?;
    if dir.require_eab && binding.is_none() {
        return Err(Problem::new(
            ProblemType::ExternalAccountRequired,
            "this directory requires an external account binding (an EAB key from its administrator)",
        ));
    }
    if let Some(existing) = by_key(state, dir, key.thumbprint).await? {
        return Ok((existing, false));
    }
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let inserted = store::acme::accounts::insert(
        &mut tx,
        &store::acme::accounts::NewAccount {
            directory_id: dir.id,
            thumbprint: key.thumbprint,
            jwk: key.jwk,
            contact,
            eab_kid: binding.as_ref().map(|b| b.kid.as_str()),
            service_account_id: binding.as_ref().and_then(|b| b.service_account_id),
        },
        now,
    )
    .await;
    let account = match inserted {
        Ok(a) => a,
        // Registered a moment ago by a concurrent request with the same key.
        Err(e) if store::is_unique_violation(&e) => {
            drop(tx);
            let existing = by_key(state, dir, key.thumbprint).await?;
            return existing.map(|a| (a, false)).ok_or_else(Problem::internal);
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(b) = &binding
        && !store::acme::eab_keys::bind(&mut tx, b.key_id, account.id, now).await?
    {
        return Err(Problem::new(
            ProblemType::Unauthorized,
            "the external account binding key was bound to another account meanwhile",
        ));
    }
    audit(
        state,
        &mut tx,
        dir,
        &account,
        "acme_account_create",
        "Registered",
    )
    .await?;
    tx.commit().await?;
    Ok((account, true))
}

/// Updates contacts and/or deactivates (RFC 8555 §7.3.2, §7.3.6).
pub async fn update(
    state: &AppState,
    dir: &DirectoryRow,
    account: &AccountRow,
    contact: Option<&[String]>,
    deactivate: bool,
) -> Result<AccountRow, Problem> {
    if let Some(contact) = contact {
        check_contacts(contact)?;
    }
    if contact.is_none() && !deactivate {
        return Ok(account.clone());
    }
    let contact = contact.unwrap_or(&account.contact);
    let status = if deactivate { "deactivated" } else { "valid" };
    let mut tx = state.db.begin().await?;
    let updated = store::acme::accounts::update(&mut tx, account.id, contact, status, Utc::now())
        .await?
        .ok_or_else(|| Problem::new(ProblemType::Unauthorized, "the account is not valid"))?;
    let (action, verb) = if deactivate {
        ("acme_account_deactivate", "Deactivated")
    } else {
        ("acme_account_update", "Updated")
    };
    audit(state, &mut tx, dir, &updated, action, verb).await?;
    tx.commit().await?;
    Ok(updated)
}

/// Key rollover (RFC 8555 §7.3.5): the new key must not belong to another
/// account of the directory (409 with that account's id).
pub async fn change_key(
    state: &AppState,
    dir: &DirectoryRow,
    account: &AccountRow,
    new_key: AccountKey<'_>,
) -> Result<(), KeyInUse> {
    if let Some(other) = by_key(state, dir, new_key.thumbprint).await? {
        return Err(KeyInUse::By(other.id));
    }
    let mut tx = state.db.begin().await?;
    match store::acme::accounts::change_key(
        &mut tx,
        account.id,
        new_key.thumbprint,
        new_key.jwk,
        Utc::now(),
    )
    .await
    {
        Ok(true) => {}
        Ok(false) => {
            return Err(Problem::new(ProblemType::Unauthorized, "the account is not valid").into());
        }
        Err(e) if store::is_unique_violation(&e) => {
            drop(tx);
            let other = by_key(state, dir, new_key.thumbprint).await?;
            return Err(other.map_or_else(|| Problem::internal().into(), |o| KeyInUse::By(o.id)));
        }
        Err(e) => return Err(Problem::from(e).into()),
    }
    audit(
        state,
        &mut tx,
        dir,
        account,
        "acme_account_key_change",
        "Changed the key of",
    )
    .await?;
    tx.commit().await.map_err(Problem::from)?;
    Ok(())
}

/// Why a key rollover did not happen.
pub enum KeyInUse {
    /// The new key is the key of this other account.
    By(i64),
    Problem(Problem),
}

impl From<Problem> for KeyInUse {
    fn from(p: Problem) -> Self {
        KeyInUse::Problem(p)
    }
}

impl From<sqlx::Error> for KeyInUse {
    fn from(e: sqlx::Error) -> Self {
        KeyInUse::Problem(e.into())
    }
}

async fn audit(
    state: &AppState,
    tx: &mut store::Tx,
    dir: &DirectoryRow,
    account: &AccountRow,
    action: &'static str,
    verb: &str,
) -> Result<(), Problem> {
    let principal =
        super::directory::issuer_principal(state, dir, account.service_account_id).await?;
    let mut entry = principal.audit_on(action, "acme_account", account.id, dir.organization_id);
    entry.detail = Some(format!(
        "{verb} ACME account {} of directory '{}'",
        account.id, dir.name
    ));
    store::audit::insert(tx, &entry, &store::ts(Utc::now())).await?;
    Ok(())
}
