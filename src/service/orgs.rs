//! Organizations and their membership.

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::auth::{Principal, Role};
use crate::error::{Error, Result};
use crate::service::AppState;
use crate::service::users::UserOut;
use crate::store::{self, orgs::Organization};

/// An organization as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Organization)]
pub struct OrgOut {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Organization> for OrgOut {
    fn from(o: Organization) -> Self {
        OrgOut {
            id: o.id,
            name: o.name,
            description: o.description,
            created_at: store::ts(o.created_at),
            updated_at: store::ts(o.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct OrgCreate {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct OrgUpdate {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::service::request_fields::nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(Error::validation(
            "name",
            "Name must be 1 to 255 printable characters",
        ));
    }
    Ok(name.to_string())
}

fn check_description(d: Option<&str>) -> Result<()> {
    if d.is_some_and(|d| d.chars().count() > 4000) {
        return Err(Error::validation(
            "description",
            "Description must be at most 4000 characters",
        ));
    }
    Ok(())
}

async fn load(state: &AppState, id: i64) -> Result<Organization> {
    let mut c = state.db.read().await?;
    store::orgs::get(&mut c, id)
        .await?
        .ok_or_else(|| Error::NotFound("Organization not found".into()))
}

fn is_member(caller: &Principal, org_id: i64) -> bool {
    caller.organization_id() == Some(org_id)
}

fn is_admin_of(caller: &Principal, org_id: i64) -> bool {
    caller.is_superuser() || (caller.role() == Role::Admin && is_member(caller, org_id))
}

/// Organization `id`, if the caller may manage it (as `PUT /organizations/{id}`
/// asks: its admin or a superuser): 404 when it does not exist, 403 otherwise.
pub async fn load_managed(state: &AppState, caller: &Principal, id: i64) -> Result<Organization> {
    let org = load(state, id).await?;
    if !is_admin_of(caller, id) {
        return Err(Error::Forbidden("Not enough permissions".into()));
    }
    Ok(org)
}

pub async fn create(state: &AppState, caller: &Principal, input: OrgCreate) -> Result<OrgOut> {
    if caller.role() == Role::User {
        return Err(Error::Forbidden(
            "The user doesn't have sufficient privileges".into(),
        ));
    }
    let name = check_name(&input.name)?;
    check_description(input.description.as_deref())?;
    let mut tx = state.db.begin().await?;
    let taken = || Error::BadRequest("Organization with this name already exists".into());
    if store::orgs::name_taken(&mut tx, &name, 0).await? {
        return Err(taken());
    }
    let now = store::now_ts();
    let org = store::orgs::insert(&mut tx, &name, input.description.as_deref(), &now)
        .await
        .map_err(|e| {
            if store::is_unique_violation(&e) {
                taken()
            } else {
                e.into()
            }
        })?;
    let mut entry = caller.audit_entry("org_create");
    entry.organization_id = Some(org.id);
    entry.resource_type = Some("organization");
    entry.resource_id = Some(org.id);
    entry.detail = Some(format!("Created organization '{}'", org.name));
    store::audit::insert(&mut tx, &entry, &now).await?;
    tx.commit().await?;
    Ok(org.into())
}

pub async fn list(
    state: &AppState,
    caller: &Principal,
    skip: i64,
    limit: i64,
) -> Result<Vec<OrgOut>> {
    let mut c = state.db.read().await?;
    let orgs = if caller.is_superuser() {
        store::orgs::list(&mut c, skip, limit).await?
    } else {
        match caller.organization_id() {
            Some(id) if skip == 0 => store::orgs::get(&mut c, id).await?.into_iter().collect(),
            _ => vec![],
        }
    };
    Ok(orgs.into_iter().map(OrgOut::from).collect())
}

pub async fn get(state: &AppState, caller: &Principal, id: i64) -> Result<OrgOut> {
    let org = load(state, id).await?;
    if caller.is_superuser() || is_member(caller, id) {
        Ok(org.into())
    } else {
        Err(Error::Forbidden("Not enough permissions".into()))
    }
}

pub async fn update(
    state: &AppState,
    caller: &Principal,
    id: i64,
    input: OrgUpdate,
) -> Result<OrgOut> {
    let org = load(state, id).await?;
    if !is_admin_of(caller, id) {
        return Err(Error::Forbidden("Not enough permissions".into()));
    }
    // The fields sent (never their values) for the audit entry.
    let changed: Vec<&str> = [
        ("name", input.name.is_some()),
        ("description", input.description.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, sent)| sent.then_some(field))
    .collect();
    let name = match &input.name {
        Some(n) => check_name(n)?,
        None => org.name.clone(),
    };
    let description = match input.description {
        Some(d) => d,
        None => org.description.clone(),
    };
    check_description(description.as_deref())?;
    let mut tx = state.db.begin().await?;
    let taken = || Error::BadRequest("Organization with this name already exists".into());
    if store::orgs::name_taken(&mut tx, &name, id).await? {
        return Err(taken());
    }
    let now = store::now_ts();
    let updated = store::orgs::update(&mut tx, id, &name, description.as_deref(), &now)
        .await
        .map_err(|e| {
            if store::is_unique_violation(&e) {
                taken()
            } else {
                e.into()
            }
        })?;
    let mut entry = caller.audit_entry("org_update");
    entry.organization_id = Some(id);
    entry.resource_type = Some("organization");
    entry.resource_id = Some(id);
    entry.detail = Some(format!(
        "Updated organization '{}': {}",
        org.name,
        changed.join(", ")
    ));
    store::audit::insert(&mut tx, &entry, &now).await?;
    tx.commit().await?;
    Ok(updated.into())
}

pub async fn delete(state: &AppState, caller: &Principal, id: i64) -> Result<()> {
    if !caller.is_superuser() {
        return Err(Error::Forbidden(
            "The user doesn't have sufficient privileges".into(),
        ));
    }
    let org = load(state, id).await?;
    let mut tx = state.db.begin().await?;
    if store::users::count_in_org(&mut tx, id).await? > 0 {
        return Err(Error::BadRequest(
            "Cannot delete an organization that has users: remove them first".into(),
        ));
    }
    store::orgs::delete(&mut tx, id).await.map_err(|e| {
        if store::is_foreign_key_violation(&e) {
            Error::BadRequest("Cannot delete an organization that still owns resources".into())
        } else {
            e.into()
        }
    })?;
    let mut entry = caller.audit_entry("org_delete");
    entry.organization_id = Some(id);
    entry.resource_type = Some("organization");
    entry.resource_id = Some(id);
    entry.detail = Some(format!("Deleted organization '{}'", org.name));
    store::audit::insert(&mut tx, &entry, &store::now_ts()).await?;
    tx.commit().await?;
    Ok(())
}

/// Adds (`Some(org)`) or removes (`None`) a user's membership.
async fn set_membership(
    state: &AppState,
    caller: &Principal,
    org_id: i64,
    user_id: i64,
    add: bool,
) -> Result<UserOut> {
    let org = load(state, org_id).await?;
    if !is_admin_of(caller, org_id) {
        return Err(Error::Forbidden("Not enough permissions".into()));
    }
    let mut tx = state.db.begin().await?;
    let mut user = store::users::get(&mut tx, user_id)
        .await?
        .ok_or_else(|| Error::NotFound("User not found".into()))?;
    if !caller.is_superuser() && Role::parse(&user.role) == Some(Role::Superuser) {
        return Err(Error::Forbidden(
            "Only a superuser can change a superuser's organization".into(),
        ));
    }
    let action = if add {
        // An admin may bring in users without an organization, not take them from another one.
        if let Some(current) = user
            .organization_id
            .filter(|c| *c != org_id && !caller.is_superuser())
        {
            return Err(Error::Forbidden(format!(
                "User belongs to another organization ({current})"
            )));
        }
        user.organization_id = Some(org_id);
        "org_add_user"
    } else {
        if user.organization_id != Some(org_id) {
            return Err(Error::BadRequest(
                "User is not a member of this organization".into(),
            ));
        }
        user.organization_id = None;
        "org_remove_user"
    };
    let now = Utc::now();
    user.updated_at = now;
    let user = store::users::update(&mut tx, &user).await?;
    let mut entry = caller.audit_entry(action);
    entry.organization_id = Some(org_id);
    // Filed on the organization, as FastPKI does; the user is named in the detail.
    entry.resource_type = Some("organization");
    entry.resource_id = Some(org_id);
    entry.detail = Some(format!(
        "{} user '{}' (id {user_id}) {} organization '{}'",
        if add { "Added" } else { "Removed" },
        user.username,
        if add { "to" } else { "from" },
        org.name
    ));
    store::audit::insert(&mut tx, &entry, &store::ts(now)).await?;
    tx.commit().await?;
    Ok(user.into())
}

pub async fn add_user(
    state: &AppState,
    caller: &Principal,
    org_id: i64,
    user_id: i64,
) -> Result<UserOut> {
    set_membership(state, caller, org_id, user_id, true).await
}

pub async fn remove_user(
    state: &AppState,
    caller: &Principal,
    org_id: i64,
    user_id: i64,
) -> Result<UserOut> {
    set_membership(state, caller, org_id, user_id, false).await
}

pub async fn users(
    state: &AppState,
    caller: &Principal,
    org_id: i64,
    skip: i64,
    limit: i64,
) -> Result<Vec<UserOut>> {
    load(state, org_id).await?;
    if !(caller.is_superuser() || is_member(caller, org_id)) {
        return Err(Error::Forbidden("Not enough permissions".into()));
    }
    let mut c = state.db.read().await?;
    let users = store::users::list_by_org(&mut c, org_id, skip, limit).await?;
    Ok(users.into_iter().map(UserOut::from).collect())
}
