//! An organization's webhooks: where its events go, which types, and the
//! secret they are signed with (stored sealed like private keys).

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, FromRow};

use crate::store::{JsonList, Time, json_list, ts};

#[derive(Clone, Debug, FromRow)]
pub struct WebhookRow {
    pub id: i64,
    pub organization_id: i64,
    pub url: String,
    #[sqlx(try_from = "JsonList<String>")]
    pub events: Vec<String>,
    pub description: Option<String>,
    /// As stored: `whsec_...`, or a Fernet token of it.
    pub secret: String,
    pub created_by_user_id: Option<i64>,
    #[sqlx(try_from = "Time")]
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "Time")]
    pub updated_at: DateTime<Utc>,
}

macro_rules! columns {
    () => {
        "id, organization_id, url, events, description, secret, created_by_user_id, created_at, updated_at"
    };
}

/// A webhook to insert.
pub struct NewWebhook<'a> {
    pub organization_id: i64,
    pub url: &'a str,
    pub events: &'a [&'a str],
    pub description: Option<&'a str>,
    pub sealed_secret: &'a str,
    pub created_by_user_id: Option<i64>,
}

pub async fn insert(
    c: &mut AnyConnection,
    w: &NewWebhook<'_>,
    now: DateTime<Utc>,
) -> Result<WebhookRow, sqlx::Error> {
    let sql = concat!(
        "INSERT INTO webhooks (organization_id, url, events, description, secret, created_by_user_id, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING ",
        columns!()
    );
    sqlx::query_as(sql)
        .bind(w.organization_id)
        .bind(w.url)
        .bind(json_list(w.events))
        .bind(w.description)
        .bind(w.sealed_secret)
        .bind(w.created_by_user_id)
        .bind(ts(now))
        .fetch_one(c)
        .await
}

/// Webhook `id` of organization `org`.
pub async fn get(
    c: &mut AnyConnection,
    org: i64,
    id: i64,
) -> Result<Option<WebhookRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM webhooks WHERE organization_id = $1 AND id = $2"
    );
    sqlx::query_as(sql)
        .bind(org)
        .bind(id)
        .fetch_optional(c)
        .await
}

/// Webhook `id`, whatever its organization (the delivery worker).
pub async fn by_id(c: &mut AnyConnection, id: i64) -> Result<Option<WebhookRow>, sqlx::Error> {
    let sql = concat!("SELECT ", columns!(), " FROM webhooks WHERE id = $1");
    sqlx::query_as(sql).bind(id).fetch_optional(c).await
}

/// A page of an organization's webhooks, oldest first.
pub async fn list(
    c: &mut AnyConnection,
    org: i64,
    skip: i64,
    limit: i64,
) -> Result<Vec<WebhookRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM webhooks WHERE organization_id = $1 ORDER BY id LIMIT $2 OFFSET $3"
    );
    sqlx::query_as(sql)
        .bind(org)
        .bind(limit)
        .bind(skip)
        .fetch_all(c)
        .await
}

pub async fn count_in_org(c: &mut AnyConnection, org: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM webhooks WHERE organization_id = $1")
        .bind(org)
        .fetch_one(c)
        .await
}

/// Every webhook of the organizations `orgs` (at most a few per
/// organization): the receivers of their events.
pub async fn of_organizations(
    c: &mut AnyConnection,
    orgs: &[i64],
) -> Result<Vec<WebhookRow>, sqlx::Error> {
    if orgs.is_empty() {
        return Ok(vec![]);
    }
    let placeholders: Vec<String> = (1..=orgs.len()).map(|i| format!("${i}")).collect();
    // Only numbered placeholders are spliced in; the values are bound.
    let sql = format!(
        concat!(
            "SELECT ",
            columns!(),
            " FROM webhooks WHERE organization_id IN ({}) ORDER BY id"
        ),
        placeholders.join(", ")
    );
    let mut q = sqlx::query_as::<_, WebhookRow>(sqlx::AssertSqlSafe(sql));
    for org in orgs {
        q = q.bind(*org);
    }
    q.fetch_all(c).await
}

/// Those of the organizations `orgs` that have a webhook taking events of
/// `event_type` (one query on `webhooks_organization_id`).
pub async fn organizations_taking(
    c: &mut AnyConnection,
    event_type: &str,
    orgs: &[i64],
) -> Result<Vec<i64>, sqlx::Error> {
    if orgs.is_empty() {
        return Ok(vec![]);
    }
    let placeholders: Vec<String> = (2..orgs.len() + 2).map(|i| format!("${i}")).collect();
    // Only numbered placeholders are spliced in; the values are bound. The
    // types are a JSON list of strings: a type is listed when `"<type>"` is in it.
    let sql = format!(
        "SELECT DISTINCT organization_id FROM webhooks WHERE organization_id IN ({}) AND events LIKE $1",
        placeholders.join(", ")
    );
    let mut q =
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).bind(format!("%\"{event_type}\"%"));
    for org in orgs {
        q = q.bind(*org);
    }
    q.fetch_all(c).await
}

/// Deletes webhook `id` of `org` (and, by cascade, its deliveries); false when there was none.
pub async fn delete(c: &mut AnyConnection, org: i64, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM webhooks WHERE organization_id = $1 AND id = $2")
        .bind(org)
        .bind(id)
        .execute(c)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A new secret for webhook `id` of `org`; the row as it now is, None when missing.
pub async fn replace_secret(
    c: &mut AnyConnection,
    org: i64,
    id: i64,
    sealed_secret: &str,
    now: DateTime<Utc>,
) -> Result<Option<WebhookRow>, sqlx::Error> {
    let sql = concat!(
        "UPDATE webhooks SET secret = $1, updated_at = $2 WHERE organization_id = $3 AND id = $4 RETURNING ",
        columns!()
    );
    sqlx::query_as(sql)
        .bind(sealed_secret)
        .bind(ts(now))
        .bind(org)
        .bind(id)
        .fetch_optional(c)
        .await
}

/// Every stored secret, for `rotate-key` and the start's sealing: (id, stored).
pub async fn all_secrets(c: &mut AnyConnection) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, secret FROM webhooks ORDER BY id")
        .fetch_all(c)
        .await
}

/// The same secret stored in another form (sealed with another key).
pub async fn set_stored_secret(
    c: &mut AnyConnection,
    id: i64,
    stored: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhooks SET secret = $1 WHERE id = $2")
        .bind(stored)
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

/// Whether any organization has a webhook (the expiry scan's first question).
pub async fn any(c: &mut AnyConnection) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM webhooks LIMIT 1")
        .fetch_optional(c)
        .await?;
    Ok(found.is_some())
}
