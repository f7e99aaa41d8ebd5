//! The four event types, the JSON body of each, and the outbox they are
//! written to: in the transaction of the change they report (a certificate
//! committed, a certificate revoked) or of the expiry scan, once per fact.
//!
//! A body is `{"id", "type", "created_at", "organization_id", "data"}`; it is
//! stored as sent, so every attempt sends the same bytes.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::AnyConnection;
use tokio::sync::Notify;

use crate::store::{
    self, audit::NewAuditEntry, cas::ExpiringCaRow, certs::CertRow, certs::ExpiringRow,
    webhooks::events::NewEvent,
};

/// What a receiver can subscribe to.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[schema(as = WebhookEventType)]
pub enum EventType {
    #[serde(rename = "certificate.issued")]
    CertificateIssued,
    #[serde(rename = "certificate.revoked")]
    CertificateRevoked,
    #[serde(rename = "certificate.expiring")]
    CertificateExpiring,
    #[serde(rename = "ca.expiring")]
    CaExpiring,
}

impl EventType {
    pub const ALL: [EventType; 4] = [
        EventType::CertificateIssued,
        EventType::CertificateRevoked,
        EventType::CertificateExpiring,
        EventType::CaExpiring,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::CertificateIssued => "certificate.issued",
            EventType::CertificateRevoked => "certificate.revoked",
            EventType::CertificateExpiring => "certificate.expiring",
            EventType::CaExpiring => "ca.expiring",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Where events are written, and the signal that wakes this server's worker
/// once they are committed.
#[derive(Clone)]
pub struct Outbox {
    /// `WEBHOOK_URLS` is set: every event has a receiver.
    everyone: bool,
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new(everyone: bool) -> Self {
        Outbox {
            everyone,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Writes, inside the caller's transaction, the `event_type` events of
    /// `rows` that some receiver takes: all of them when `WEBHOOK_URLS` is
    /// set, otherwise those whose organization (`org_of`) has a webhook for
    /// the type, found with one query in the same transaction (so it holds on
    /// every server at once, with no cache to keep coherent). `make` builds an
    /// event only for those: when nobody listens, nothing is built or
    /// written. Returns how many events were written.
    pub async fn record<R>(
        &self,
        c: &mut AnyConnection,
        event_type: EventType,
        rows: &[R],
        org_of: impl Fn(&R) -> Option<i64>,
        make: impl Fn(&R) -> NewEvent,
    ) -> Result<u64, sqlx::Error> {
        let takers = if self.everyone {
            None
        } else {
            let mut orgs: Vec<i64> = rows.iter().filter_map(&org_of).collect();
            orgs.sort_unstable();
            orgs.dedup();
            if orgs.is_empty() {
                return Ok(0);
            }
            let taking =
                store::webhooks::endpoints::organizations_taking(c, event_type.as_str(), &orgs)
                    .await?;
            if taking.is_empty() {
                return Ok(0);
            }
            Some(taking)
        };
        let events: Vec<NewEvent> = rows
            .iter()
            .filter(|r| {
                takers
                    .as_ref()
                    .is_none_or(|t| org_of(r).is_some_and(|o| t.contains(&o)))
            })
            .map(make)
            .collect();
        if events.is_empty() {
            return Ok(0);
        }
        store::webhooks::events::insert(c, &events).await
    }

    /// Whether every event has a receiver (`WEBHOOK_URLS`).
    pub fn everyone(&self) -> bool {
        self.everyone
    }

    /// Tells the worker that events were committed.
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// Resolves when `notify` was called (since the last time).
    pub async fn notified(&self) {
        self.wake.notified().await
    }
}

/// Who did it, as an audit entry names the caller.
fn actor(e: &NewAuditEntry) -> Value {
    match (e.user_id, e.service_account_id) {
        (Some(id), _) => json!({"type": "user", "id": id, "name": e.username}),
        (None, Some(id)) => {
            json!({"type": "service_account", "id": id, "name": e.service_account_name})
        }
        (None, None) => Value::Null,
    }
}

fn event(
    event_type: EventType,
    organization_id: Option<i64>,
    dedupe_key: String,
    data: Value,
    now: DateTime<Utc>,
) -> NewEvent {
    let id = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "id": id,
        "type": event_type.as_str(),
        "created_at": store::ts(now),
        "organization_id": organization_id,
        "data": data,
    });
    NewEvent {
        id,
        event_type: event_type.as_str(),
        organization_id,
        payload: body.to_string(),
        dedupe_key,
        created_at: now,
    }
}

/// `certificate.issued`: a certificate committed, and who issued it.
pub fn issued(row: &CertRow, by: &NewAuditEntry, now: DateTime<Utc>) -> NewEvent {
    event(
        EventType::CertificateIssued,
        row.organization_id,
        format!("certificate.issued:{}", row.id),
        json!({
            "id": row.id,
            "serial_number": row.serial_number,
            "common_name": row.common_name,
            "ca_id": row.issuer_id,
            "certificate_type": row.certificate_type,
            "not_before": store::ts(row.not_before),
            "not_after": store::ts(row.not_after),
            "created_by": actor(by),
        }),
        now,
    )
}

/// `certificate.revoked`: a certificate as revoked (its row after the
/// change), and who revoked it (or deleted its CA: cessationOfOperation).
pub fn revoked(row: &CertRow, by: &NewAuditEntry, now: DateTime<Utc>) -> NewEvent {
    event(
        EventType::CertificateRevoked,
        row.organization_id,
        format!("certificate.revoked:{}", row.id),
        json!({
            "id": row.id,
            "serial_number": row.serial_number,
            "common_name": row.common_name,
            "ca_id": row.issuer_id,
            "certificate_type": row.certificate_type,
            "not_before": store::ts(row.not_before),
            "not_after": store::ts(row.not_after),
            "revoked_at": row.revoked_at.map(store::ts),
            "reason": row.revocation_reason,
            "reason_code": row.revocation_reason_code,
            "revoked_by": actor(by),
        }),
        now,
    )
}

/// Whole days left before `not_after` (rounded down), and `threshold`.
fn expiry_fields(not_after: DateTime<Utc>, threshold: i64, now: DateTime<Utc>) -> (i64, i64) {
    ((not_after - now).num_days().max(0), threshold)
}

/// `certificate.expiring` at `threshold` days: once per certificate and threshold.
pub fn certificate_expiring(row: &ExpiringRow, threshold: i64, now: DateTime<Utc>) -> NewEvent {
    let (days_left, threshold_days) = expiry_fields(row.not_after, threshold, now);
    event(
        EventType::CertificateExpiring,
        row.organization_id,
        format!("certificate.expiring:{}:{threshold}", row.id),
        json!({
            "id": row.id,
            "serial_number": row.serial_number,
            "common_name": row.common_name,
            "ca_id": row.issuer_id,
            "not_after": store::ts(row.not_after),
            "days_left": days_left,
            "threshold_days": threshold_days,
        }),
        now,
    )
}

/// `ca.expiring` at `threshold` days: once per CA and threshold.
pub fn ca_expiring(row: &ExpiringCaRow, threshold: i64, now: DateTime<Utc>) -> NewEvent {
    let (days_left, threshold_days) = expiry_fields(row.not_after, threshold, now);
    event(
        EventType::CaExpiring,
        row.organization_id,
        format!("ca.expiring:{}:{threshold}", row.id),
        json!({
            "id": row.id,
            "ca_id": row.id,
            "name": row.name,
            "serial_number": row.serial_number,
            "parent_ca_id": row.parent_ca_id,
            "not_after": store::ts(row.not_after),
            "days_left": days_left,
            "threshold_days": threshold_days,
        }),
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("certificate.deleted"), None);
    }

    #[test]
    fn a_body_names_its_event_and_carries_the_data() {
        let now = Utc::now();
        let row = ExpiringCaRow {
            id: 4,
            name: "Root".into(),
            serial_number: "0a".into(),
            organization_id: Some(2),
            parent_ca_id: None,
            not_after: now + chrono::Duration::hours(24 * 5 + 3),
        };
        let e = ca_expiring(&row, 7, now);
        assert_eq!(e.dedupe_key, "ca.expiring:4:7");
        let body: Value = serde_json::from_str(&e.payload).unwrap();
        assert_eq!(body["id"], e.id);
        assert_eq!(body["type"], "ca.expiring");
        assert_eq!(body["organization_id"], 2);
        assert_eq!(body["data"]["days_left"], 5);
        assert_eq!(body["data"]["threshold_days"], 7);
        assert_eq!(body["created_at"], store::ts(now));
    }
}
