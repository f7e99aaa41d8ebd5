//! The validation worker: challenges that started processing are validated
//! off the request path, at most `CONCURRENCY` at a time per server. A
//! challenge is leased before it is tried, so that of several servers on one
//! database exactly one validates it; a failed attempt is tried again after
//! a pause, `MAX_ATTEMPTS` times in all; a lease that outlives its server
//! (a crash) lapses and another server resumes the challenge.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use tokio::sync::Semaphore;

use super::identifier::Identifier;
use super::orders::VALID_AUTHORIZATION_LIFETIME;
use super::problem::Problem;
use crate::service::AppState;
use crate::store;

/// Attempts per challenge before it is `invalid`.
pub const MAX_ATTEMPTS: i64 = 3;
/// Validations running at once on one server.
const CONCURRENCY: usize = 8;
/// How long a server holds a challenge for one attempt.
const LEASE: Duration = Duration::seconds(60);
/// An attempt is abandoned after this (the validators bound each step too).
const ATTEMPT_TIMEOUT: StdDuration = StdDuration::from_secs(30);
/// How often the worker looks for due challenges without being woken
/// (retries, other servers' challenges, leases lapsed by a crash).
const POLL: StdDuration = StdDuration::from_secs(1);

/// The pause before attempt `n + 1` (after `n` failed attempts).
fn retry_delay(failed: i64) -> Duration {
    Duration::seconds(2 * failed.clamp(1, 5))
}

/// Starts the worker.
pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        let mut last_prune = Utc::now();
        loop {
            tokio::select! {
                _ = state.acme.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
            if let Err(e) = run_due(&state, &slots).await {
                tracing::warn!(error = %e, "ACME validation worker: cannot read due challenges");
            }
            if Utc::now() - last_prune > Duration::minutes(5) {
                last_prune = Utc::now();
                if let Ok(mut tx) = state.db.begin().await
                    && store::acme::nonces::prune(&mut tx, Utc::now())
                        .await
                        .is_ok()
                {
                    let _ = tx.commit().await;
                }
            }
        }
    });
}

async fn run_due(state: &AppState, slots: &Arc<Semaphore>) -> Result<(), sqlx::Error> {
    let now = Utc::now();
    let due = {
        let mut c = state.db.read().await?;
        store::acme::challenges::due(&mut c, now, (CONCURRENCY * 4) as i64).await?
    };
    for id in due {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        let now = Utc::now();
        let leased = {
            let mut tx = state.db.begin().await?;
            let leased = store::acme::challenges::lease(&mut tx, id, now, now + LEASE).await?;
            tx.commit().await?;
            leased
        };
        if !leased {
            continue;
        }
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(e) = attempt(&state, id).await {
                tracing::warn!(challenge = id, error = %e, "ACME validation attempt failed to record");
            }
            drop(permit);
        });
    }
    Ok(())
}

/// One attempt at a leased challenge, and its outcome written.
async fn attempt(state: &AppState, id: i64) -> Result<(), sqlx::Error> {
    let (challenge, authz, account) = {
        let mut c = state.db.read().await?;
        let Some(challenge) = store::acme::challenges::get(&mut c, id).await? else {
            return Ok(());
        };
        let Some(authz) =
            store::acme::authorizations::get(&mut c, challenge.authorization_id).await?
        else {
            return Ok(());
        };
        let Some(account) = store::acme::accounts::get(&mut c, authz.account_id).await? else {
            return Ok(());
        };
        (challenge, authz, account)
    };
    let key_authorization = format!("{}.{}", challenge.token, account.thumbprint);
    let identifier = Identifier {
        kind: authz.identifier_type.clone(),
        value: authz.identifier_value.clone(),
    };
    let validation = state.acme.validator.validate(
        &challenge.kind,
        &identifier,
        &challenge.token,
        &key_authorization,
    );
    let outcome = match tokio::time::timeout(ATTEMPT_TIMEOUT, validation).await {
        Ok(outcome) => outcome,
        Err(_) => Err(Problem::new(
            super::ProblemType::Connection,
            format!(
                "the validation took longer than {} s",
                ATTEMPT_TIMEOUT.as_secs()
            ),
        )),
    };
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    match outcome {
        Ok(()) => {
            if store::acme::challenges::finish(&mut tx, id, true, None, now).await? {
                store::acme::authorizations::transition(
                    &mut tx,
                    authz.id,
                    "pending",
                    "valid",
                    Some(now + VALID_AUTHORIZATION_LIFETIME),
                    now,
                )
                .await?;
            }
            tracing::info!(challenge = id, kind = %challenge.kind, identifier = %identifier.value, "ACME challenge valid");
        }
        Err(problem) if challenge.attempts < MAX_ATTEMPTS => {
            tracing::info!(challenge = id, attempt = challenge.attempts, problem = %problem, "ACME challenge attempt failed; will retry");
            store::acme::challenges::retry_at(
                &mut tx,
                id,
                now + retry_delay(challenge.attempts),
                now,
            )
            .await?;
        }
        Err(problem) => {
            let json = serde_json::to_string(&problem).ok();
            if store::acme::challenges::finish(&mut tx, id, false, json.as_deref(), now).await? {
                store::acme::authorizations::transition(
                    &mut tx, authz.id, "pending", "invalid", None, now,
                )
                .await?;
            }
            state.acme.limits.failed_validation(account.id);
            tracing::info!(challenge = id, problem = %problem, "ACME challenge invalid");
        }
    }
    tx.commit().await?;
    Ok(())
}
