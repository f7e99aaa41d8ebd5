//! Users: creation with first-user bootstrap, reads, updates and deletion,
//! with who-may-set-what exactly as the API contract says.

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::auth::{Principal, Role, password};
use crate::capabilities::{Capabilities, CapabilityUpdate};
use crate::capability_fields;
use crate::error::{Error, FieldError, Result};
use crate::service::AppState;
use crate::store::{self, users::NewUser, users::User};

/// A user as the API shows it; the password hash never leaves the service layer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = User)]
pub struct UserOut {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub role: String,
    pub is_active: bool,
    pub organization_id: Option<i64>,
    #[serde(flatten)]
    pub capabilities: Capabilities,
    pub created_at: String,
    pub updated_at: String,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        UserOut {
            id: u.id,
            username: u.username,
            email: u.email,
            role: u.role,
            is_active: u.is_active,
            organization_id: u.organization_id,
            capabilities: u.caps,
            created_at: store::ts(u.created_at),
            updated_at: store::ts(u.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UserCreate {
    pub username: String,
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub organization_id: Option<i64>,
    #[serde(default)]
    pub can_create_ca: Option<bool>,
    #[serde(default)]
    pub can_create_cert: Option<bool>,
    #[serde(default)]
    pub can_revoke_cert: Option<bool>,
    #[serde(default)]
    pub can_export_private_key: Option<bool>,
    #[serde(default)]
    pub can_delete_ca: Option<bool>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct UserUpdate {
    pub email: Option<String>,
    pub password: Option<String>,
    pub role: Option<String>,
    pub is_active: Option<bool>,
    #[serde(default, deserialize_with = "crate::service::request_fields::nullable")]
    #[schema(value_type = Option<i64>)]
    pub organization_id: Option<Option<i64>>,
    pub can_create_ca: Option<bool>,
    pub can_create_cert: Option<bool>,
    pub can_revoke_cert: Option<bool>,
    pub can_export_private_key: Option<bool>,
    pub can_delete_ca: Option<bool>,
}

/// A pragmatic address check: one `@`, a non-empty local part, a dotted domain.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && email.len() <= 254
        && !local.contains(char::is_whitespace)
        && !local.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
}

fn parse_role(s: Option<&str>) -> Result<Role> {
    match s {
        None => Ok(Role::User),
        Some(r) => Role::parse(r).ok_or_else(|| {
            Error::Validation(vec![FieldError {
                loc: vec!["body".into(), "role".into()],
                msg: "Input should be 'superuser', 'admin' or 'user'".into(),
                kind: "enum".into(),
            }])
        }),
    }
}

fn check_username(u: &str) -> Result<()> {
    let n = u.chars().count();
    if n == 0 || n > 150 || u.trim() != u || u.chars().any(char::is_control) {
        return Err(Error::validation(
            "username",
            "Username must be 1 to 150 characters, without surrounding spaces or control characters",
        ));
    }
    Ok(())
}

fn check_email(e: &str) -> Result<()> {
    if !valid_email(e) {
        return Err(Error::validation(
            "email",
            "value is not a valid email address",
        ));
    }
    Ok(())
}

async fn check_org_exists(state: &AppState, org_id: Option<i64>) -> Result<()> {
    if let Some(id) = org_id {
        let mut c = state.db.read().await?;
        if store::orgs::get(&mut c, id).await?.is_none() {
            return Err(Error::BadRequest("Organization not found".into()));
        }
    }
    Ok(())
}

pub async fn create(
    state: &AppState,
    caller: Option<&Principal>,
    input: UserCreate,
) -> Result<UserOut> {
    check_username(&input.username)?;
    check_email(&input.email)?;
    password::check_password(&input.password)?;
    let role = parse_role(input.role.as_deref())?;
    let flags = CapabilityUpdate(capability_fields!(input));

    let first_user = {
        let mut c = state.db.read().await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *c)
            .await?;
        n == 0
    };
    let mut organization_id = input.organization_id;
    if !first_user {
        let caller_role = caller.map(Principal::role);
        if caller_role != Some(Role::Superuser) && role != Role::User {
            return Err(Error::Forbidden(
                "Not enough permissions to create admin or superuser accounts".into(),
            ));
        }
        if caller.is_none() && !state.settings.allow_unauthenticated_registration {
            return Err(Error::Forbidden(
                "Unauthenticated registration is disabled".into(),
            ));
        }
        if matches!(caller_role, None | Some(Role::User)) && flags.grants_any() {
            return Err(Error::Forbidden(
                "Only an admin or a superuser can grant capabilities".into(),
            ));
        }
        // Where the new user goes: anywhere for a superuser, the caller's own
        // organization for an admin or a user, none without a token.
        match caller {
            Some(p) if p.is_superuser() => {}
            Some(admin) if admin.role() == Role::Admin => {
                let own = admin.organization_id();
                organization_id = organization_id.or(own);
                if own.is_none() || organization_id != own {
                    return Err(Error::Forbidden(
                        "Admins can only create users in their own organization".into(),
                    ));
                }
            }
            Some(member) => {
                let own = member.organization_id();
                if organization_id.is_some_and(|o| Some(o) != own) {
                    return Err(Error::Forbidden(
                        "Users can only create users in their own organization".into(),
                    ));
                }
                organization_id = own;
            }
            None => {
                if organization_id.is_some() {
                    return Err(Error::Forbidden(
                        "Only an admin of the organization or a superuser can place a user in an organization".into(),
                    ));
                }
            }
        }
    }
    check_org_exists(state, organization_id).await?;

    let hashed = state.hasher.hash(&input.password).await?;
    let mut tx = state.db.begin().await?;
    if store::users::exists_username(&mut tx, &input.username).await? {
        return Err(Error::BadRequest("Username already registered".into()));
    }
    if store::users::exists_email(&mut tx, &input.email, 0).await? {
        return Err(Error::BadRequest("Email already registered".into()));
    }
    // The bootstrap may happen once per deployment, even under concurrent requests.
    if first_user
        && !store::sessions::claim_flag(&mut tx, "bootstrap_user", &store::now_ts()).await?
    {
        return Err(Error::Forbidden(
            "The first user already exists: log in to create more users".into(),
        ));
    }
    let now = store::now_ts();
    let new = NewUser {
        username: &input.username,
        email: &input.email,
        hashed_password: &hashed,
        role: role.as_str(),
        organization_id,
        caps: flags.or_off(),
    };
    let user = match store::users::insert(&mut tx, &new, &now).await {
        Ok(u) => u,
        Err(e) if store::is_unique_violation(&e) => {
            return Err(Error::BadRequest(
                "Username or email already registered".into(),
            ));
        }
        Err(e) if store::is_foreign_key_violation(&e) => {
            return Err(Error::BadRequest("Organization not found".into()));
        }
        Err(e) => return Err(e.into()),
    };
    let mut entry = match caller {
        Some(p) => p.audit_entry("user_create"),
        None => store::audit::NewAuditEntry {
            action: "user_create",
            ..Default::default()
        },
    };
    entry.organization_id = user.organization_id;
    entry.resource_type = Some("user");
    entry.resource_id = Some(user.id);
    entry.detail = Some(format!(
        "Created user '{}' with role {}",
        user.username, user.role
    ));
    store::audit::insert(&mut tx, &entry, &now).await?;
    tx.commit().await?;
    Ok(user.into())
}

async fn load(state: &AppState, id: i64) -> Result<User> {
    let mut c = state.db.read().await?;
    store::users::get(&mut c, id)
        .await?
        .ok_or_else(|| Error::NotFound("User not found".into()))
}

/// True when `caller` is an admin of `target`'s organization.
fn admin_of(caller: &Principal, target: &User) -> bool {
    caller.role() == Role::Admin
        && caller.organization_id().is_some()
        && caller.organization_id() == target.organization_id
}

/// The calling user.
pub fn me(caller: &Principal) -> Result<UserOut> {
    Ok(caller.require_user()?.clone().into())
}

pub async fn get(state: &AppState, caller: &Principal, id: i64) -> Result<UserOut> {
    let user = load(state, id).await?;
    if caller.is_superuser() || caller.is_user(id) || admin_of(caller, &user) {
        Ok(user.into())
    } else {
        Err(Error::Forbidden("Not enough permissions".into()))
    }
}

pub async fn list(
    state: &AppState,
    caller: &Principal,
    skip: i64,
    limit: i64,
) -> Result<Vec<UserOut>> {
    if !caller.is_superuser() {
        return Err(Error::Forbidden(
            "The user doesn't have sufficient privileges".into(),
        ));
    }
    let mut c = state.db.read().await?;
    let users = store::users::list(&mut c, skip, limit).await?;
    Ok(users.into_iter().map(UserOut::from).collect())
}

pub async fn update(
    state: &AppState,
    caller: &Principal,
    id: i64,
    input: UserUpdate,
) -> Result<UserOut> {
    let target = load(state, id).await?;
    let is_super = caller.is_superuser();
    let is_self = caller.is_user(id);
    // An admin manages plain users of its own organization, and itself.
    let admin_over =
        admin_of(caller, &target) && (Role::parse(&target.role) == Some(Role::User) || is_self);

    if !(is_super || is_self || admin_over) {
        return Err(Error::Forbidden("Not enough permissions".into()));
    }
    if (input.role.is_some() || input.is_active.is_some() || input.organization_id.is_some())
        && !is_super
    {
        return Err(Error::Forbidden(
            "Not enough permissions to change role, activation or organization".into(),
        ));
    }
    let flags = CapabilityUpdate(capability_fields!(input));
    if flags.names_any() && !(is_super || admin_over) {
        return Err(Error::Forbidden(
            "Not enough permissions to change capabilities".into(),
        ));
    }
    let new_role = input
        .role
        .as_deref()
        .map(|r| parse_role(Some(r)))
        .transpose()?;
    if is_self && is_super && new_role.is_some_and(|r| r != Role::Superuser) {
        return Err(Error::Forbidden(
            "Superusers cannot downgrade themselves".into(),
        ));
    }
    if is_self && input.is_active == Some(false) {
        return Err(Error::BadRequest("You cannot deactivate yourself".into()));
    }
    if let Some(email) = &input.email {
        check_email(email)?;
    }
    if let Some(p) = &input.password {
        password::check_password(p)?;
    }
    if let Some(org) = input.organization_id {
        check_org_exists(state, org).await?;
    }
    let new_hash = match &input.password {
        Some(p) => Some(state.hasher.hash(p).await?),
        None => None,
    };

    let mut tx = state.db.begin().await?;
    let mut user = store::users::get(&mut tx, id)
        .await?
        .ok_or_else(|| Error::NotFound("User not found".into()))?;
    let mut changed = Vec::new();
    if let Some(email) = input.email {
        if store::users::exists_email(&mut tx, &email, id).await? {
            return Err(Error::BadRequest("Email already registered".into()));
        }
        user.email = email;
        changed.push("email");
    }
    let mut end_sessions = false;
    if let Some(h) = new_hash {
        user.hashed_password = h;
        changed.push("password");
        end_sessions = true;
    }
    if let Some(r) = new_role {
        user.role = r.as_str().into();
        changed.push("role");
    }
    if let Some(active) = input.is_active {
        end_sessions |= user.is_active && !active;
        user.is_active = active;
        changed.push("is_active");
    }
    if let Some(org) = input.organization_id {
        user.organization_id = org;
        changed.push("organization_id");
    }
    changed.extend(user.caps.apply(flags));
    let now = Utc::now();
    user.updated_at = now;
    let mut user = store::users::update(&mut tx, &user).await.map_err(|e| {
        if store::is_foreign_key_violation(&e) {
            Error::BadRequest("Organization not found".into())
        } else {
            e.into()
        }
    })?;
    if end_sessions {
        crate::service::sessions::invalidate_all(&mut tx, id).await?;
        user.tokens_invalidated_at = Some(now);
    }
    let mut entry = caller.audit_entry("user_update");
    // Filed under the organization of the user changed, so its admins see it.
    entry.organization_id = user.organization_id.or(caller.organization_id());
    entry.resource_type = Some("user");
    entry.resource_id = Some(id);
    entry.detail = Some(format!(
        "Updated user '{}': {}",
        user.username,
        changed.join(", ")
    ));
    store::audit::insert(&mut tx, &entry, &store::ts(now)).await?;
    tx.commit().await?;
    Ok(user.into())
}

pub async fn delete(state: &AppState, caller: &Principal, id: i64) -> Result<()> {
    if !caller.is_superuser() {
        return Err(Error::Forbidden(
            "The user doesn't have sufficient privileges".into(),
        ));
    }
    let user = load(state, id).await?;
    if caller.is_user(id) {
        return Err(Error::BadRequest(
            "Superusers cannot delete themselves".into(),
        ));
    }
    let mut tx = state.db.begin().await?;
    store::users::delete(&mut tx, id).await?;
    // Filed under the deleted user's organization, so its admins see it.
    let mut entry = caller.audit_on("user_delete", "user", id, user.organization_id);
    entry.detail = Some(format!(
        "Deleted user '{}' with role {}",
        user.username, user.role
    ));
    store::audit::insert(&mut tx, &entry, &store::now_ts()).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::valid_email;

    #[test]
    fn emails() {
        for ok in ["a@b.co", "first.last+tag@example.org", "x@sub.example.com"] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "@b.co", "a@.b.co", "a@b..co", "a b@c.co", "a@b.co.", "a@-b.co",
            "a@b_c.co",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }
}
