//! An organization's webhooks through the API: create (the secret shown
//! once), list, read, delete, a new secret, and the recent deliveries. Only
//! those who may update the organization may (its admins and superusers);
//! each change is written with its audit entry.

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::events::EventType;
use super::signing;
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::service::{AppState, orgs};
use crate::store::{
    self,
    orgs::Organization,
    webhooks::{deliveries::DeliveryWithEvent, endpoints, endpoints::WebhookRow},
};

/// Webhooks one organization may have: each event is sent to every one.
pub const MAX_PER_ORGANIZATION: i64 = 20;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct WebhookCreate {
    /// `http://` or `https://`, without a user name or password.
    pub url: String,
    /// The event types sent to it; all four when absent.
    #[serde(default)]
    pub events: Option<Vec<EventType>>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A webhook as listed: never its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Webhook)]
pub struct WebhookOut {
    pub id: i64,
    pub organization_id: i64,
    pub url: String,
    pub events: Vec<EventType>,
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A new webhook or a new secret: `secret` appears this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookCreated {
    pub id: i64,
    pub organization_id: i64,
    pub url: String,
    pub events: Vec<EventType>,
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// `whsec_` and the base64 of 32 bytes: the HMAC-SHA256 key of
    /// `webhook-signature` (Standard Webhooks).
    pub secret: String,
}

/// One event sent (or being sent) to a webhook.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookDelivery)]
pub struct DeliveryOut {
    pub id: i64,
    /// The event's id: the `webhook-id` header, the same on every attempt.
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    /// When it is tried again (pending deliveries only).
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

fn events_of(row: &WebhookRow) -> Vec<EventType> {
    row.events
        .iter()
        .filter_map(|e| EventType::parse(e))
        .collect()
}

impl From<WebhookRow> for WebhookOut {
    fn from(r: WebhookRow) -> Self {
        WebhookOut {
            events: events_of(&r),
            id: r.id,
            organization_id: r.organization_id,
            url: r.url,
            description: r.description,
            created_at: store::ts(r.created_at),
            updated_at: store::ts(r.updated_at),
        }
    }
}

fn created(r: WebhookRow, secret: String) -> WebhookCreated {
    let out = WebhookOut::from(r);
    WebhookCreated {
        id: out.id,
        organization_id: out.organization_id,
        url: out.url,
        events: out.events,
        description: out.description,
        created_at: out.created_at,
        updated_at: out.updated_at,
        secret,
    }
}

impl From<DeliveryWithEvent> for DeliveryOut {
    fn from(d: DeliveryWithEvent) -> Self {
        let r = d.delivery;
        DeliveryOut {
            next_attempt_at: (r.status == "pending").then(|| store::ts(r.next_attempt_at)),
            id: r.id,
            event_id: r.event_id,
            event_type: d.event_type,
            status: r.status,
            attempts: r.attempts,
            last_status_code: r.last_status_code,
            last_error: r.last_error,
            delivered_at: r.delivered_at.map(store::ts),
            created_at: store::ts(r.created_at),
            updated_at: store::ts(r.updated_at),
        }
    }
}

/// A URL as audit entries name it: scheme, host, port and path; never a
/// query, which may carry a token.
fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.to_string()
        }
        Err(_) => "(not a URL)".into(),
    }
}

fn audit(
    caller: &Principal,
    action: &'static str,
    id: i64,
    org: &Organization,
    detail: String,
) -> store::audit::NewAuditEntry {
    let mut e = caller.audit_on(action, "webhook", id, Some(org.id));
    e.detail = Some(detail);
    e
}

/// The URL as stored, or 422 saying what is wrong with it.
fn check_url(state: &AppState, url: &str) -> Result<String> {
    let parsed =
        crate::config::check_webhook_url(url).map_err(|why| Error::validation("url", why))?;
    let host = parsed.host_str().unwrap_or_default();
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<std::net::IpAddr>()
        && !state.webhooks.allows(ip)
    {
        return Err(Error::validation(
            "url",
            format!(
                "{ip} is not an allowed webhook address (WEBHOOK_DENY_CIDRS, WEBHOOK_ALLOW_CIDRS)"
            ),
        ));
    }
    Ok(parsed.to_string())
}

/// The types asked for, each once, in the order of [`EventType::ALL`].
fn check_events(events: Option<Vec<EventType>>) -> Result<Vec<EventType>> {
    let Some(asked) = events else {
        return Ok(EventType::ALL.to_vec());
    };
    if asked.is_empty() {
        return Err(Error::validation(
            "events",
            "events must name at least one event type (or be left out for all)",
        ));
    }
    Ok(EventType::ALL
        .into_iter()
        .filter(|t| asked.contains(t))
        .collect())
}

fn check_description(d: Option<&str>) -> Result<Option<String>> {
    let d = d.map(str::trim).filter(|d| !d.is_empty());
    if d.is_some_and(|d| d.chars().count() > 4000) {
        return Err(Error::validation(
            "description",
            "description must be at most 4000 characters",
        ));
    }
    Ok(d.map(str::to_string))
}

/// `POST /organizations/{id}/webhooks`.
pub async fn create(
    state: &AppState,
    caller: &Principal,
    org_id: i64,
    input: WebhookCreate,
) -> Result<WebhookCreated> {
    let org = orgs::load_managed(state, caller, org_id).await?;
    let url = check_url(state, &input.url)?;
    let events = check_events(input.events)?;
    let description = check_description(input.description.as_deref())?;
    let secret = signing::new_secret()?;
    let sealed = state.keys.seal(&secret);
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    if endpoints::count_in_org(&mut tx, org.id).await? >= MAX_PER_ORGANIZATION {
        return Err(Error::BadRequest(format!(
            "An organization has at most {MAX_PER_ORGANIZATION} webhooks: delete one first"
        )));
    }
    let names: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
    let row = endpoints::insert(
        &mut tx,
        &endpoints::NewWebhook {
            organization_id: org.id,
            url: &url,
            events: &names,
            description: description.as_deref(),
            sealed_secret: &sealed,
            created_by_user_id: caller.user().map(|u| u.id),
        },
        now,
    )
    .await
    .map_err(|e| {
        if store::is_foreign_key_violation(&e) {
            Error::NotFound("Organization not found".into())
        } else {
            e.into()
        }
    })?;
    let entry = audit(
        caller,
        "webhook_create",
        row.id,
        &org,
        format!(
            "Created webhook {} of organization '{}' to {} for {}",
            row.id,
            org.name,
            shown(&row.url),
            names.join(", ")
        ),
    );
    store::audit::insert(&mut tx, &entry, &store::ts(now)).await?;
    tx.commit().await?;
    Ok(created(row, secret))
}

/// `GET /organizations/{id}/webhooks`: a page, oldest first.
pub async fn list(
    state: &AppState,
    caller: &Principal,
    org_id: i64,
    skip: i64,
    limit: i64,
) -> Result<Vec<WebhookOut>> {
    let org = orgs::load_managed(state, caller, org_id).await?;
    let mut c = state.db.read().await?;
    Ok(endpoints::list(&mut c, org.id, skip, limit)
        .await?
        .into_iter()
        .map(WebhookOut::from)
        .collect())
}

async fn load(state: &AppState, org: &Organization, id: i64) -> Result<WebhookRow> {
    let mut c = state.db.read().await?;
    endpoints::get(&mut c, org.id, id)
        .await?
        .ok_or_else(|| Error::NotFound("Webhook not found".into()))
}

/// `GET /organizations/{id}/webhooks/{webhook_id}`.
pub async fn get(state: &AppState, caller: &Principal, org_id: i64, id: i64) -> Result<WebhookOut> {
    let org = orgs::load_managed(state, caller, org_id).await?;
    Ok(load(state, &org, id).await?.into())
}

/// `DELETE /organizations/{id}/webhooks/{webhook_id}`: its pending
/// deliveries are dropped with it.
pub async fn delete(state: &AppState, caller: &Principal, org_id: i64, id: i64) -> Result<()> {
    let org = orgs::load_managed(state, caller, org_id).await?;
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let Some(row) = endpoints::get(&mut tx, org.id, id).await? else {
        return Err(Error::NotFound("Webhook not found".into()));
    };
    if !endpoints::delete(&mut tx, org.id, id).await? {
        return Err(Error::NotFound("Webhook not found".into()));
    }
    let entry = audit(
        caller,
        "webhook_delete",
        id,
        &org,
        format!(
            "Deleted webhook {id} ({}) of organization '{}'",
            shown(&row.url),
            org.name
        ),
    );
    store::audit::insert(&mut tx, &entry, &store::ts(now)).await?;
    tx.commit().await?;
    Ok(())
}

/// `POST /organizations/{id}/webhooks/{webhook_id}/rotate-secret`: a new
/// secret, shown this once; attempts from now on are signed with it.
pub async fn rotate_secret(
    state: &AppState,
    caller: &Principal,
    org_id: i64,
    id: i64,
) -> Result<WebhookCreated> {
    let org = orgs::load_managed(state, caller, org_id).await?;
    let secret = signing::new_secret()?;
    let sealed = state.keys.seal(&secret);
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let Some(row) = endpoints::replace_secret(&mut tx, org.id, id, &sealed, now).await? else {
        return Err(Error::NotFound("Webhook not found".into()));
    };
    let entry = audit(
        caller,
        "webhook_rotate_secret",
        id,
        &org,
        format!(
            "Replaced the secret of webhook {id} ({}) of organization '{}'",
            shown(&row.url),
            org.name
        ),
    );
    store::audit::insert(&mut tx, &entry, &store::ts(now)).await?;
    tx.commit().await?;
    Ok(created(row, secret))
}

/// `GET /organizations/{id}/webhooks/{webhook_id}/deliveries`: a page, newest first.
pub async fn deliveries(
    state: &AppState,
    caller: &Principal,
    org_id: i64,
    id: i64,
    skip: i64,
    limit: i64,
) -> Result<Vec<DeliveryOut>> {
    let org = orgs::load_managed(state, caller, org_id).await?;
    let hook = load(state, &org, id).await?;
    let mut c = state.db.read().await?;
    Ok(
        store::webhooks::deliveries::of_webhook(&mut c, hook.id, skip, limit)
            .await?
            .into_iter()
            .map(DeliveryOut::from)
            .collect(),
    )
}
