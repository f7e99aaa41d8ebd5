//! Service accounts: CRUD, tokens and issuance policies. Managed only by
//! admin and superuser users; another organization's account is 404.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::{Principal, Role, service_tokens};
use crate::capabilities::{Capabilities, CapabilityUpdate};
use crate::capability_fields;
use crate::error::{Error, Result};
use crate::service::AppState;
use crate::service::policy::{self, Policy};
use crate::store::{self, service_accounts as sa_store, service_accounts::ServiceAccount};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AccountCreate {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub organization_id: Option<i64>,
    #[serde(default)]
    pub can_create_ca: bool,
    #[serde(default)]
    pub can_create_cert: bool,
    #[serde(default)]
    pub can_revoke_cert: bool,
    #[serde(default)]
    pub can_export_private_key: bool,
    #[serde(default)]
    pub can_delete_ca: bool,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct AccountUpdate {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::service::request_fields::nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub can_create_ca: Option<bool>,
    pub can_create_cert: Option<bool>,
    pub can_revoke_cert: Option<bool>,
    pub can_export_private_key: Option<bool>,
    pub can_delete_ca: Option<bool>,
    /// true disables the account (its tokens stop working); false enables it.
    pub disabled: Option<bool>,
}

/// A service account as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ServiceAccount)]
pub struct ServiceAccountOut {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub organization_id: Option<i64>,
    #[serde(flatten)]
    pub capabilities: Capabilities,
    pub disabled_at: Option<String>,
    pub created_by_user_id: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<ServiceAccount> for ServiceAccountOut {
    fn from(a: ServiceAccount) -> Self {
        ServiceAccountOut {
            id: a.id,
            name: a.name,
            description: a.description,
            organization_id: a.organization_id,
            capabilities: a.caps,
            disabled_at: a.disabled_at.map(store::ts),
            created_by_user_id: a.created_by_user_id,
            created_at: store::ts(a.created_at),
            updated_at: store::ts(a.updated_at),
        }
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct TokenCreate {
    #[serde(default)]
    pub name: Option<String>,
    /// ISO-8601; none means the token does not expire.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// Token metadata; `token` appears once, on creation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenOut {
    pub id: i64,
    pub public_id: String,
    pub name: Option<String>,
    pub expires_at: Option<String>,
    pub revoked: bool,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<sa_store::TokenRow> for TokenOut {
    fn from(t: sa_store::TokenRow) -> Self {
        TokenOut {
            id: t.id,
            public_id: t.public_id,
            name: t.name,
            expires_at: t.expires_at.map(store::ts),
            revoked: t.revoked_at.is_some(),
            revoked_at: t.revoked_at.map(store::ts),
            last_used_at: t.last_used_at.map(store::ts),
            created_at: store::ts(t.created_at),
            token: None,
        }
    }
}

/// A stored policy: its identity and times beside the seven constraints.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyOut {
    pub id: i64,
    pub service_account_id: i64,
    #[serde(flatten)]
    pub policy: Policy,
    pub created_at: String,
    pub updated_at: String,
}

impl From<sa_store::PolicyRow> for PolicyOut {
    fn from(r: sa_store::PolicyRow) -> Self {
        PolicyOut {
            id: r.id,
            service_account_id: r.service_account_id,
            policy: r.values.into(),
            created_at: store::ts(r.created_at),
            updated_at: store::ts(r.updated_at),
        }
    }
}

/// The caller, if it may manage service accounts at all.
fn manager(caller: &Principal) -> Result<()> {
    caller.require_user()?;
    match caller.role() {
        Role::Superuser => Ok(()),
        Role::Admin if caller.organization_id().is_some() => Ok(()),
        Role::Admin => Err(Error::Forbidden(
            "An admin without an organization cannot manage service accounts".into(),
        )),
        Role::User => Err(Error::Forbidden(
            "Only admins and superusers manage service accounts".into(),
        )),
    }
}

/// Loads an account the caller manages; another organization's is 404.
async fn load(state: &AppState, caller: &Principal, id: i64) -> Result<ServiceAccount> {
    manager(caller)?;
    load_visible(state, caller, id).await
}

/// Loads an account of the caller's organization (any for a superuser); another
/// organization's is 404, so that its existence does not leak.
async fn load_visible(state: &AppState, caller: &Principal, id: i64) -> Result<ServiceAccount> {
    caller.require_user()?;
    let mut c = state.db.read().await?;
    let account = sa_store::get(&mut c, id).await?;
    match account {
        Some(a) if caller.is_superuser() || a.organization_id == caller.organization_id() => Ok(a),
        _ => Err(Error::NotFound("Service account not found".into())),
    }
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 150 || name.chars().any(char::is_control) {
        return Err(Error::validation(
            "name",
            "name must be 1 to 150 printable characters",
        ));
    }
    Ok(name.to_string())
}

fn audit(
    caller: &Principal,
    action: &'static str,
    account: &ServiceAccount,
    detail: String,
) -> store::audit::NewAuditEntry {
    let mut e = caller.audit_entry(action);
    e.organization_id = account.organization_id;
    e.resource_type = Some("service_account");
    e.resource_id = Some(account.id);
    e.detail = Some(detail);
    e
}

pub async fn create(
    state: &AppState,
    caller: &Principal,
    input: AccountCreate,
) -> Result<ServiceAccountOut> {
    manager(caller)?;
    let name = check_name(&input.name)?;
    // An admin's account lives in the admin's organization (a named one is
    // ignored, as FastPKI does); a superuser names one or uses its own.
    let org = if caller.is_superuser() {
        input.organization_id.or(caller.organization_id())
    } else {
        caller.organization_id()
    };
    let Some(org) = org else {
        return Err(Error::BadRequest("organization_id is required".into()));
    };
    let caps = Capabilities::from(capability_fields!(input));
    let mut tx = state.db.begin().await?;
    if store::orgs::get(&mut tx, org).await?.is_none() {
        return Err(Error::NotFound("Organization not found".into()));
    }
    let taken = || {
        Error::BadRequest(
            "A service account with this name already exists in the organization".into(),
        )
    };
    if sa_store::name_taken(&mut tx, Some(org), &name, 0).await? {
        return Err(taken());
    }
    let now = store::now_ts();
    let (user_id, _) = caller.creator_ids();
    let account = sa_store::insert(
        &mut tx,
        &name,
        input.description.as_deref(),
        Some(org),
        caps,
        user_id,
        &now,
    )
    .await
    .map_err(|e| {
        if store::is_unique_violation(&e) {
            taken()
        } else {
            e.into()
        }
    })?;
    let entry = audit(
        caller,
        "service_account_create",
        &account,
        format!("Created service account '{}'", account.name),
    );
    store::audit::insert(&mut tx, &entry, &now).await?;
    tx.commit().await?;
    Ok(account.into())
}

pub async fn list(
    state: &AppState,
    caller: &Principal,
    skip: i64,
    limit: i64,
) -> Result<Vec<ServiceAccountOut>> {
    caller.require_user()?;
    // Any member reads its organization's accounts; without one, none.
    if !caller.is_superuser() && caller.organization_id().is_none() {
        return Ok(vec![]);
    }
    let mut c = state.db.read().await?;
    let (org, all) = (caller.organization_id(), caller.is_superuser());
    let accounts = sa_store::list(&mut c, org, all, skip, limit).await?;
    Ok(accounts.into_iter().map(ServiceAccountOut::from).collect())
}

pub async fn get(state: &AppState, caller: &Principal, id: i64) -> Result<ServiceAccountOut> {
    Ok(load_visible(state, caller, id).await?.into())
}

pub async fn update(
    state: &AppState,
    caller: &Principal,
    id: i64,
    input: AccountUpdate,
) -> Result<ServiceAccountOut> {
    let mut account = load(state, caller, id).await?;
    let mut changed = Vec::new();
    let mut tx = state.db.begin().await?;
    if let Some(name) = &input.name {
        let name = check_name(name)?;
        if sa_store::name_taken(&mut tx, account.organization_id, &name, id).await? {
            return Err(Error::BadRequest(
                "A service account with this name already exists in the organization".into(),
            ));
        }
        account.name = name;
        changed.push("name");
    }
    if let Some(d) = input.description {
        account.description = d;
        changed.push("description");
    }
    changed.extend(
        account
            .caps
            .apply(CapabilityUpdate(capability_fields!(input))),
    );
    let now = Utc::now();
    match input.disabled {
        Some(true) if account.disabled_at.is_none() => {
            account.disabled_at = Some(now);
            changed.push("disabled");
        }
        Some(false) if account.disabled_at.is_some() => {
            account.disabled_at = None;
            changed.push("enabled");
        }
        _ => {}
    }
    account.updated_at = now;
    let account = sa_store::update(&mut tx, &account).await.map_err(|e| {
        if store::is_unique_violation(&e) {
            Error::BadRequest(
                "A service account with this name already exists in the organization".into(),
            )
        } else {
            e.into()
        }
    })?;
    let entry = audit(
        caller,
        "service_account_update",
        &account,
        format!(
            "Updated service account '{}': {}",
            account.name,
            changed.join(", ")
        ),
    );
    store::audit::insert(&mut tx, &entry, &store::ts(now)).await?;
    tx.commit().await?;
    Ok(account.into())
}

pub async fn delete(state: &AppState, caller: &Principal, id: i64) -> Result<()> {
    let account = load(state, caller, id).await?;
    let mut tx = state.db.begin().await?;
    sa_store::delete(&mut tx, id).await?;
    let entry = audit(
        caller,
        "service_account_delete",
        &account,
        format!("Deleted service account '{}'", account.name),
    );
    store::audit::insert(&mut tx, &entry, &store::now_ts()).await?;
    tx.commit().await?;
    Ok(())
}

fn parse_expiry(s: &str) -> Result<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M:%S%.f")
                .map(|n| n.and_utc())
        })
        .map_err(|_| {
            Error::validation("expires_at", "expires_at must be an ISO-8601 date and time")
        })?;
    if t <= Utc::now() {
        return Err(Error::validation(
            "expires_at",
            "expires_at must be in the future",
        ));
    }
    Ok(t)
}

pub async fn create_token(
    state: &AppState,
    caller: &Principal,
    id: i64,
    input: TokenCreate,
) -> Result<TokenOut> {
    let account = load(state, caller, id).await?;
    if input
        .name
        .as_deref()
        .is_some_and(|n| n.chars().count() > 150)
    {
        return Err(Error::validation(
            "name",
            "name must be at most 150 characters",
        ));
    }
    let expires = input.expires_at.as_deref().map(parse_expiry).transpose()?;
    let (public_id, secret, token) = service_tokens::new_token()?;
    let digest = service_tokens::digest(&state.settings.service_account_token_pepper, &secret);
    let now = store::now_ts();
    let mut tx = state.db.begin().await?;
    let row = sa_store::insert_token(
        &mut tx,
        id,
        &public_id,
        &digest,
        input.name.as_deref(),
        expires.map(store::ts).as_deref(),
        &now,
    )
    .await?;
    let entry = audit(
        caller,
        "service_account_token_create",
        &account,
        format!(
            "Created token {public_id} for service account '{}'",
            account.name
        ),
    );
    store::audit::insert(&mut tx, &entry, &now).await?;
    tx.commit().await?;
    let mut out = TokenOut::from(row);
    out.token = Some(token);
    Ok(out)
}

pub async fn tokens(state: &AppState, caller: &Principal, id: i64) -> Result<Vec<TokenOut>> {
    load(state, caller, id).await?;
    let mut c = state.db.read().await?;
    Ok(sa_store::tokens(&mut c, id)
        .await?
        .into_iter()
        .map(TokenOut::from)
        .collect())
}

pub async fn revoke_token(
    state: &AppState,
    caller: &Principal,
    id: i64,
    token_id: i64,
) -> Result<()> {
    let account = load(state, caller, id).await?;
    let now = store::now_ts();
    let mut tx = state.db.begin().await?;
    match sa_store::revoke_token(&mut tx, id, token_id, &now).await? {
        None => return Err(Error::NotFound("Token not found".into())),
        Some(false) => return Ok(()),
        Some(true) => {}
    }
    let entry = audit(
        caller,
        "service_account_token_revoke",
        &account,
        format!(
            "Revoked token {token_id} of service account '{}'",
            account.name
        ),
    );
    store::audit::insert(&mut tx, &entry, &now).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn put_policy(
    state: &AppState,
    caller: &Principal,
    id: i64,
    p: Policy,
) -> Result<PolicyOut> {
    let account = load(state, caller, id).await?;
    policy::validate(&p).map_err(|m| Error::validation("policy", m))?;
    let now = store::now_ts();
    let mut tx = state.db.begin().await?;
    let row = sa_store::put_policy(&mut tx, id, &p.into(), &now).await?;
    let entry = audit(
        caller,
        "service_account_policy_set",
        &account,
        format!("Set the issuance policy of '{}'", account.name),
    );
    store::audit::insert(&mut tx, &entry, &now).await?;
    tx.commit().await?;
    Ok(PolicyOut::from(row))
}

pub async fn get_policy(state: &AppState, caller: &Principal, id: i64) -> Result<PolicyOut> {
    load(state, caller, id).await?;
    let mut c = state.db.read().await?;
    let row = sa_store::policy(&mut c, id)
        .await?
        .ok_or_else(|| Error::NotFound("Service account has no policy".into()))?;
    Ok(PolicyOut::from(row))
}

pub async fn delete_policy(state: &AppState, caller: &Principal, id: i64) -> Result<()> {
    let account = load(state, caller, id).await?;
    let mut tx = state.db.begin().await?;
    if sa_store::delete_policy(&mut tx, id).await? == 0 {
        return Err(Error::NotFound("Service account has no policy".into()));
    }
    let entry = audit(
        caller,
        "service_account_policy_clear",
        &account,
        format!("Cleared the issuance policy of '{}'", account.name),
    );
    store::audit::insert(&mut tx, &entry, &store::now_ts()).await?;
    tx.commit().await?;
    Ok(())
}
