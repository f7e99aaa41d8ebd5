//! Login, refresh, logout and invalidation.

use std::net::IpAddr;
use std::time::Instant;

use chrono::{Duration, Utc};
use serde::Serialize;

use crate::auth::{Principal, tokens};
use crate::error::{Error, Result};
use crate::service::AppState;
use crate::store::{self, Tx, audit::NewAuditEntry, users::User};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: &'static str,
    pub refresh_token: String,
}

/// Issues an access token and stores a new refresh token of `family` inside `tx`.
async fn new_pair(state: &AppState, tx: &mut Tx, user: &User, family: &str) -> Result<TokenPair> {
    let now = Utc::now();
    let (access_token, _) = state.jwt.issue(&user.username, user.id, &user.role, now)?;
    let refresh_token = tokens::new_refresh_token()?;
    let expires = now + Duration::minutes(state.settings.refresh_token_expire_minutes);
    store::sessions::insert_refresh(
        tx,
        user.id,
        &tokens::sha256_hex(&refresh_token),
        family,
        &store::ts(expires),
        &store::ts(now),
    )
    .await?;
    Ok(TokenPair {
        access_token,
        token_type: "bearer",
        refresh_token,
    })
}

pub async fn login(
    state: &AppState,
    client: IpAddr,
    username: &str,
    password: &str,
) -> Result<TokenPair> {
    if let Err(limited) = state.login_limiter.check(client, Instant::now()) {
        return Err(Error::TooManyRequests {
            message: format!("Rate limit exceeded: {}", state.login_limiter.describe()),
            retry_after_secs: limited.retry_after_secs,
        });
    }
    // Before the password check, so a backing-off username costs no bcrypt either.
    // Any username, existing or not, backs off alike: a 429 reveals nothing.
    if let Err(limited) = state.login_throttle.check(username, client, Instant::now()) {
        return Err(Error::TooManyRequests {
            message: format!(
                "Too many failed logins for this username: try again in {} second(s)",
                limited.retry_after_secs
            ),
            retry_after_secs: limited.retry_after_secs,
        });
    }
    let user = {
        let mut conn = state.db.read().await?;
        store::users::get_by_username(&mut conn, username).await?
    };
    let password_ok = state
        .hasher
        .verify(password, user.as_ref().map(|u| u.hashed_password.as_str()))
        .await?;
    let mut tx = state.db.begin().await?;
    match user {
        Some(user) if password_ok && user.is_active => {
            // A login starts a family: the tokens rotated from it share its fate.
            let family = tokens::new_family_id()?;
            let pair = new_pair(state, &mut tx, &user, &family).await?;
            let entry = NewAuditEntry {
                action: "login_success",
                user_id: Some(user.id),
                username: Some(user.username.clone()),
                organization_id: user.organization_id,
                resource_type: Some("user"),
                resource_id: Some(user.id),
                ..Default::default()
            };
            store::audit::insert(&mut tx, &entry, &store::now_ts()).await?;
            tx.commit().await?;
            state
                .login_throttle
                .record_success(username, client, Instant::now());
            Ok(pair)
        }
        user => {
            state
                .login_throttle
                .record_failure(username, Instant::now());
            let reason = match &user {
                None => "unknown user",
                Some(u) if !u.is_active => "inactive user",
                Some(_) => "wrong password",
            };
            let entry = NewAuditEntry {
                action: "login_failure",
                user_id: user.as_ref().map(|u| u.id),
                username: Some(truncate(username, 150)),
                organization_id: user.as_ref().and_then(|u| u.organization_id),
                detail: Some(format!(
                    "Failed login for '{}': {reason}",
                    truncate(username, 150)
                )),
                ..Default::default()
            };
            store::audit::insert(&mut tx, &entry, &store::now_ts()).await?;
            tx.commit().await?;
            Err(Error::Unauthorized("Incorrect username or password".into()))
        }
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

pub async fn refresh(state: &AppState, refresh_token: &str) -> Result<TokenPair> {
    let invalid = || Error::Unauthorized("Invalid or expired refresh token".into());
    let mut tx = state.db.begin().await?;
    let digest = tokens::sha256_hex(refresh_token);
    let now = store::now_ts();
    let Some((user_id, family)) = store::sessions::consume_refresh(&mut tx, &digest, &now).await?
    else {
        // A token already used up by a refresh is presented again: the holder's copy and
        // a thief's cannot be told apart, so the whole family ends (OAuth 2.0 Security
        // BCP, refresh token rotation). Of two concurrent uses the loser lands here too,
        // after the winner has committed, and revokes the winner's new token with the rest.
        if let Some((user_id, family)) = store::sessions::rotated_refresh(&mut tx, &digest).await? {
            let revoked = revoke_replayed_family(&mut tx, user_id, &family, &now).await?;
            tx.commit().await?;
            tracing::warn!(
                user_id,
                family = %family,
                revoked,
                "refresh token reuse: a used refresh token was presented again; its family is revoked"
            );
        }
        return Err(invalid());
    };
    let user = store::users::get(&mut tx, user_id).await?;
    let user = match user {
        Some(u) if u.is_active => u,
        _ => return Err(Error::Unauthorized("User not found or inactive".into())),
    };
    let pair = new_pair(state, &mut tx, &user, &family).await?;
    tx.commit().await?;
    Ok(pair)
}

/// Revokes the live tokens of a replayed token's family and audits it; returns how many
/// were live. The entry names the user, never the token.
async fn revoke_replayed_family(tx: &mut Tx, user_id: i64, family: &str, now: &str) -> Result<u64> {
    let revoked = store::sessions::revoke_family(tx, family, now).await?;
    let user = store::users::get(tx, user_id).await?;
    let name = user
        .as_ref()
        .map_or_else(String::new, |u| u.username.clone());
    let entry = NewAuditEntry {
        action: "refresh_token_reuse",
        user_id: Some(user_id),
        username: user.as_ref().map(|u| u.username.clone()),
        organization_id: user.as_ref().and_then(|u| u.organization_id),
        resource_type: Some("user"),
        resource_id: Some(user_id),
        detail: Some(format!(
            "A used refresh token of '{name}' was presented again; its session was ended \
             ({revoked} live refresh token(s) revoked)"
        )),
        ..Default::default()
    };
    store::audit::insert(tx, &entry, now).await?;
    Ok(revoked)
}

pub async fn logout(state: &AppState, principal: &Principal, refresh_token: &str) -> Result<()> {
    let Principal::User { user, token } = principal else {
        return Err(Error::Forbidden(
            "Service-account tokens are revoked through their account, not logged out".into(),
        ));
    };
    let digest = tokens::sha256_hex(refresh_token);
    let mut tx = state.db.begin().await?;
    let owner = store::sessions::refresh_owner(&mut tx, &digest).await?;
    if owner.is_some_and(|o| o != user.id) {
        return Err(Error::Forbidden(
            "Refresh token does not belong to current user".into(),
        ));
    }
    let exp = chrono::DateTime::from_timestamp(token.exp, 0).unwrap_or_else(Utc::now);
    store::sessions::blocklist(&mut tx, &token.jti, &store::ts(exp)).await?;
    store::sessions::revoke_refresh(&mut tx, &digest, &store::now_ts()).await?;
    tx.commit().await?;
    Ok(())
}

/// Revokes every refresh token of the user and every access token issued before now.
pub async fn invalidate_all(tx: &mut Tx, user_id: i64) -> Result<()> {
    let now = store::now_ts();
    store::users::set_tokens_invalidated_at(tx, user_id, &now).await?;
    store::sessions::revoke_all_refresh(tx, user_id, &now).await?;
    Ok(())
}

pub async fn invalidate(state: &AppState, principal: &Principal) -> Result<()> {
    let mut tx = state.db.begin().await?;
    invalidate_all(&mut tx, principal.require_user()?.id).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes expired blocklist and refresh-token rows, forever, every `period`.
pub fn spawn_cleanup(state: AppState, period: std::time::Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            let result = async {
                let mut tx = state.db.begin().await?;
                let n = store::sessions::purge_expired(&mut tx, &store::now_ts()).await?;
                tx.commit().await?;
                Ok::<u64, sqlx::Error>(n)
            }
            .await;
            match result {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "purged expired sessions"),
                Err(e) => tracing::warn!(error = %e, "session clean-up failed"),
            }
        }
    });
}
