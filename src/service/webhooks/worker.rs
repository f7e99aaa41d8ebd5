//! The webhook worker of one server: it fans committed events out into
//! deliveries (one per receiver, made once whoever makes them), sends the
//! due ones at most `CONCURRENCY` at a time, each under a lease so that of
//! several servers on one database exactly one sends it, records each outcome
//! at once, runs the expiry scan, and prunes what is older than
//! [`RETENTION`]. A lease that outlives its server (a crash) lapses and the
//! delivery is sent again: the one repeat possible is a crash between a
//! receiver's 2xx and its recording, which receivers absorb by `webhook-id`.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::deliveries::{Sent, backoff};
use super::signing;
use crate::service::AppState;
use crate::store::{
    webhooks::deliveries::{self as delivery_store, NewDelivery, Outcome},
    webhooks::{endpoints, events as event_store},
};

/// Deliveries sent at once by one server.
const CONCURRENCY: usize = 8;
/// How long a server holds a delivery for one attempt: longer than the
/// attempt's timeout and the name lookup before it.
const LEASE: Duration = Duration::seconds(30);
/// How often the worker looks for work without being woken (retries, other
/// servers' events, leases lapsed by a crash).
const POLL: StdDuration = StdDuration::from_secs(1);
/// Events fanned out per transaction.
const FAN_OUT_BATCH: i64 = 100;
/// Delivered and failed deliveries, and their events, are kept this long
/// (and at least a day longer than the largest expiry threshold, whose dedupe
/// key must outlive the time a certificate stays within it).
pub const RETENTION: Duration = Duration::days(30);
/// How often old events are pruned.
const PRUNE_EVERY: Duration = Duration::hours(1);

/// Starts the delivery loop and the expiry scan; the caller aborts them when
/// the server stops.
pub fn spawn(state: AppState) -> Vec<JoinHandle<()>> {
    let scan = state.clone();
    vec![
        tokio::spawn(deliver_loop(state)),
        tokio::spawn(expiry_loop(scan)),
    ]
}

async fn expiry_loop(state: AppState) {
    let mut tick = tokio::time::interval(state.settings.expiry_scan_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match super::expiry::scan(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                events = n,
                "webhooks: certificates and CAs nearing expiry recorded"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "webhooks: the expiry scan failed; it runs again at the next interval")
            }
        }
    }
}

async fn deliver_loop(state: AppState) {
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    let mut last_prune: Option<chrono::DateTime<Utc>> = None;
    loop {
        tokio::select! {
            _ = state.webhooks.outbox.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
        if let Err(e) = fan_out(&state).await {
            tracing::warn!(error = %e, "webhooks: cannot make deliveries of new events");
        }
        if let Err(e) = run_due(&state, &slots).await {
            tracing::warn!(error = %e, "webhooks: cannot read due deliveries");
        }
        if last_prune.is_none_or(|at| Utc::now() - at > PRUNE_EVERY) {
            last_prune = Some(Utc::now());
            match prune(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    events = n,
                    "webhooks: old events and their deliveries pruned"
                ),
                Err(e) => tracing::warn!(error = %e, "webhooks: pruning failed"),
            }
        }
    }
}

/// Makes the deliveries of undispatched events: each URL of `WEBHOOK_URLS`,
/// and each webhook of the event's organization that takes its type.
/// Making them twice (two servers at once) makes them once.
pub async fn fan_out(state: &AppState) -> Result<(), sqlx::Error> {
    loop {
        // Looked for on a read connection: an idle poll never takes the
        // (on SQLite, single) write connection from the group-commit writer.
        let events = {
            let mut c = state.db.read().await?;
            event_store::undispatched(&mut c, FAN_OUT_BATCH).await?
        };
        if events.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let mut tx = state.db.begin().await?;
        let mut orgs: Vec<i64> = events.iter().filter_map(|e| e.organization_id).collect();
        orgs.sort_unstable();
        orgs.dedup();
        let hooks = endpoints::of_organizations(&mut tx, &orgs).await?;
        let mut deliveries = Vec::new();
        for e in &events {
            for url in state.webhooks.global_urls() {
                deliveries.push(NewDelivery {
                    event_id: e.id.clone(),
                    target: format!("url:{url}"),
                    webhook_id: None,
                });
            }
            for h in hooks.iter().filter(|h| {
                Some(h.organization_id) == e.organization_id && h.events.contains(&e.event_type)
            }) {
                deliveries.push(NewDelivery {
                    event_id: e.id.clone(),
                    target: format!("webhook:{}", h.id),
                    webhook_id: Some(h.id),
                });
            }
        }
        delivery_store::insert_many(&mut tx, &deliveries, now).await?;
        let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
        event_store::mark_dispatched(&mut tx, &ids, now).await?;
        tx.commit().await?;
        if (events.len() as i64) < FAN_OUT_BATCH {
            return Ok(());
        }
    }
}

/// Sends what is due, as many at once as there are free slots: the due
/// deliveries are looked for on a read connection (an idle poll writes
/// nothing), then leased together in one statement; again while a whole
/// batch was taken.
async fn run_due(state: &AppState, slots: &Arc<Semaphore>) -> Result<(), sqlx::Error> {
    loop {
        let free = slots.available_permits();
        if free == 0 {
            return Ok(());
        }
        let any_due = {
            let mut c = state.db.read().await?;
            !delivery_store::due(&mut c, Utc::now(), 1).await?.is_empty()
        };
        if !any_due {
            return Ok(());
        }
        let now = Utc::now();
        let until = now + LEASE;
        let leased = {
            let mut tx = state.db.begin().await?;
            let leased = delivery_store::lease_due(&mut tx, now, until, free as i64).await?;
            tx.commit().await?;
            leased
        };
        for &id in &leased {
            // Only this loop takes slots, and `free` were free: each is there.
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return Ok(());
            };
            let state = state.clone();
            tokio::spawn(async move {
                if let Err(e) = attempt(&state, id, until).await {
                    tracing::warn!(delivery = id, error = %e, "webhooks: an attempt's outcome was not recorded; it is tried again when its lease lapses");
                }
                drop(permit);
            });
        }
        if leased.len() < free {
            return Ok(());
        }
    }
}

/// Where a delivery goes and the key it is signed with, or why it cannot go.
async fn destination(
    state: &AppState,
    target: &str,
    webhook_id: Option<i64>,
) -> Result<Option<(String, Vec<u8>)>, String> {
    if let Some(url) = target.strip_prefix("url:") {
        return match state.webhooks.global_key(url) {
            Some(key) => Ok(Some((url.to_string(), key.to_vec()))),
            None => Err("the URL is no longer in WEBHOOK_URLS".into()),
        };
    }
    let Some(id) = webhook_id else {
        return Err(format!("unknown target {target:?}"));
    };
    let hook = {
        let mut c = state.db.read().await.map_err(|e| e.to_string())?;
        endpoints::by_id(&mut c, id)
            .await
            .map_err(|e| e.to_string())?
    };
    // Deleted meanwhile: its deliveries went with it.
    let Some(hook) = hook else { return Ok(None) };
    let secret = signing::open_secret(&state.keys, &hook.secret)
        .map_err(|e| format!("the webhook's secret cannot be opened: {e}"))?;
    let key = signing::key_bytes(&secret).ok_or("the webhook's secret is not a whsec_ secret")?;
    Ok(Some((hook.url, key)))
}

/// One attempt at a leased delivery, and its outcome written.
async fn attempt(
    state: &AppState,
    id: i64,
    lease: chrono::DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let found = {
        let mut c = state.db.read().await?;
        delivery_store::get_with_event(&mut c, id).await?
    };
    let Some(found) = found else { return Ok(()) };
    let d = &found.delivery;
    let sent = match destination(state, &d.target, d.webhook_id).await {
        Ok(Some((url, key))) => {
            state
                .webhooks
                .sender
                .send(&url, &key, &d.event_id, &found.event_type, &found.payload)
                .await
        }
        Ok(None) => return Ok(()),
        Err(error) => Sent::Failed {
            status: None,
            error,
        },
    };
    let now = Utc::now();
    let max = state.settings.webhook_max_attempts;
    let outcome = match &sent {
        Sent::Delivered { status } => Outcome::Delivered {
            status_code: i64::from(*status),
        },
        Sent::Failed { status, error } if d.attempts < max => Outcome::Retry {
            status_code: status.map(i64::from),
            error,
            at: now
                + Duration::from_std(backoff(state.settings.webhook_retry_base, d.attempts))
                    .unwrap_or(Duration::hours(1)),
        },
        Sent::Failed { status, error } => Outcome::Failed {
            status_code: status.map(i64::from),
            error,
        },
    };
    let label = match &outcome {
        Outcome::Delivered { .. } => "delivered",
        Outcome::Retry { .. } => "retried",
        Outcome::Failed { .. } => "failed",
    };
    let mut tx = state.db.begin().await?;
    let recorded = delivery_store::finish(&mut tx, id, lease, outcome, now).await?;
    tx.commit().await?;
    if !recorded {
        tracing::warn!(
            delivery = id,
            "webhooks: the lease lapsed during the attempt; its outcome is not recorded"
        );
        return Ok(());
    }
    state.metrics.webhook_delivery(label);
    match &sent {
        Sent::Delivered { status } => {
            tracing::info!(delivery = id, event = %d.event_id, event_type = %found.event_type, status, attempts = d.attempts, "webhook delivered")
        }
        Sent::Failed { error, .. } if label == "failed" => {
            tracing::warn!(delivery = id, event = %d.event_id, attempts = d.attempts, error = %error, "webhook delivery failed for good")
        }
        Sent::Failed { error, .. } => {
            tracing::info!(delivery = id, event = %d.event_id, attempts = d.attempts, error = %error, "webhook delivery failed; will retry")
        }
    }
    Ok(())
}

/// Deletes old events whose deliveries are all finished (and those deliveries).
async fn prune(state: &AppState) -> Result<u64, sqlx::Error> {
    let largest = state
        .settings
        .expiry_warning_days
        .last()
        .copied()
        .unwrap_or(0);
    let keep = RETENTION.max(Duration::days(largest + 1));
    let before = Utc::now() - keep;
    let mut pruned = 0;
    loop {
        let mut tx = state.db.begin().await?;
        let n = event_store::prune(&mut tx, before, 1000).await?;
        tx.commit().await?;
        pruned += n;
        if n < 1000 {
            return Ok(pruned);
        }
    }
}
