//! The expiry scan: at start and every `EXPIRY_SCAN_INTERVAL_SECONDS`, the
//! certificates (neither revoked nor expired) and the CAs (not revoked)
//! whose `not_after` falls within the largest of `EXPIRY_WARNING_DAYS` get
//! `certificate.expiring` / `ca.expiring` for the smallest threshold at or
//! above the time they have left. The event's dedupe key names the
//! certificate and the threshold, so each is sent once per threshold, by
//! whichever server scans first, across restarts; and as the time left only
//! shrinks, one first seen inside 7 days gets the 7-day event and never a
//! later 30-day one.

use chrono::{DateTime, Duration, Utc};

use super::events::{self, EventType};
use crate::service::AppState;
use crate::store::{self, webhooks::events::NewEvent};

/// Rows read per page (keyset on `not_after`, `id`).
const PAGE: i64 = 500;

/// The threshold (in days) a `not_after` is within at `now`: the smallest of
/// `days` (ascending) with `not_after <= now + threshold`; None beyond them all.
pub fn threshold(days: &[i64], not_after: DateTime<Utc>, now: DateTime<Utc>) -> Option<i64> {
    days.iter()
        .copied()
        .find(|d| not_after <= now + Duration::days(*d))
}

/// One scan; returns the events recorded.
pub async fn scan(state: &AppState) -> Result<u64, sqlx::Error> {
    let days = &state.settings.expiry_warning_days;
    let Some(largest) = days.last().copied() else {
        return Ok(0);
    };
    let outbox = &state.webhooks.outbox;
    if !outbox.everyone() {
        let mut c = state.db.read().await?;
        if !store::webhooks::endpoints::any(&mut c).await? {
            return Ok(0);
        }
    }
    let now = Utc::now();
    let by = now + Duration::days(largest);
    let mut written = 0;

    let mut after = None;
    loop {
        let page = {
            let mut c = state.db.read().await?;
            store::certs::expiring_page(&mut c, now, by, after, PAGE).await?
        };
        let found: Vec<_> = page
            .iter()
            .filter_map(|r| threshold(days, r.not_after, now).map(|t| (r, t)))
            .collect();
        written += record(
            state,
            EventType::CertificateExpiring,
            &found,
            |(r, _)| r.organization_id,
            |(r, t)| events::certificate_expiring(r, *t, now),
        )
        .await?;
        match page.last() {
            Some(last) if page.len() as i64 == PAGE => after = Some((last.not_after, last.id)),
            _ => break,
        }
    }

    let mut after = None;
    loop {
        let page = {
            let mut c = state.db.read().await?;
            store::cas::expiring_page(&mut c, now, by, after, PAGE).await?
        };
        let found: Vec<_> = page
            .iter()
            .filter_map(|r| threshold(days, r.not_after, now).map(|t| (r, t)))
            .collect();
        written += record(
            state,
            EventType::CaExpiring,
            &found,
            |(r, _)| r.organization_id,
            |(r, t)| events::ca_expiring(r, *t, now),
        )
        .await?;
        match page.last() {
            Some(last) if page.len() as i64 == PAGE => after = Some((last.not_after, last.id)),
            _ => break,
        }
    }
    if written > 0 {
        outbox.notify();
    }
    Ok(written)
}

/// Records the events of one page in a transaction of its own.
async fn record<R>(
    state: &AppState,
    event_type: EventType,
    found: &[R],
    org_of: impl Fn(&R) -> Option<i64>,
    make: impl Fn(&R) -> NewEvent,
) -> Result<u64, sqlx::Error> {
    if found.is_empty() {
        return Ok(0);
    }
    let mut tx = state.db.begin().await?;
    let n = state
        .webhooks
        .outbox
        .record(&mut tx, event_type, found, org_of, make)
        .await?;
    tx.commit().await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_is_the_smallest_at_or_above_the_time_left() {
        let now = Utc::now();
        let days = [1, 7, 30];
        let left = |h: i64| now + Duration::hours(h);
        assert_eq!(threshold(&days, left(5), now), Some(1));
        assert_eq!(threshold(&days, left(24), now), Some(1));
        assert_eq!(threshold(&days, left(25), now), Some(7));
        assert_eq!(threshold(&days, left(24 * 5), now), Some(7));
        assert_eq!(threshold(&days, left(24 * 7 + 1), now), Some(30));
        assert_eq!(threshold(&days, left(24 * 30), now), Some(30));
        assert_eq!(threshold(&days, left(24 * 30 + 1), now), None);
        assert_eq!(threshold(&[], left(1), now), None);
    }
}
