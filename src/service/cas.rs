//! Certificate authorities: create (root or intermediate), read, chain,
//! children, adopt into an organization, delete.

use chrono::Utc;
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};

use crate::auth::Principal;
use crate::authz::{self, Action, Owner};
use crate::error::{Error, Result};
use crate::policy;
use crate::service::RowStream;
use crate::service::crl;
use crate::service::service_accounts;
use crate::service::signing::{self, ca_key_pem, cpu_for};
use crate::state::AppState;
use crate::store::{self, cas::CaRow, cas::NewCa};

/// RSA sizes the crypto library can generate.
pub const RSA_SIZES: [u32; 4] = [2048, 3072, 4096, 8192];

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CaCreate {
    pub name: String,
    pub subject_dn: String,
    #[serde(default)]
    pub description: Option<String>,
    /// `rsa` (default), `ecdsa-p256`, `ecdsa-p384` or `ed25519`.
    #[serde(default)]
    pub key_algorithm: Option<String>,
    #[serde(default)]
    pub key_size: Option<u32>,
    #[serde(default)]
    pub valid_days: Option<i64>,
    #[serde(default)]
    pub parent_ca_id: Option<i64>,
    #[serde(default)]
    pub path_length: Option<i64>,
    #[serde(default)]
    pub allow_leaf_certs: Option<bool>,
    #[serde(default)]
    pub crl_base_url: Option<String>,
}

/// `PATCH /cas/{id}`: FastPKI's `CAAssignOrganization`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CaUpdate {
    /// The organization the CA moves into (required).
    pub organization_id: i64,
    /// Also adopt organization-less descendant CAs (or those already in the
    /// organization) and the organization-less certificates of every CA adopted.
    #[serde(default)]
    pub cascade: bool,
}

/// A CA as the API shows it; `private_key` only where the contract returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaOut {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub subject_dn: String,
    pub key_algorithm: String,
    pub key_size: i64,
    pub valid_days: i64,
    pub certificate: String,
    pub serial_number: String,
    pub not_before: String,
    pub not_after: String,
    pub organization_id: Option<i64>,
    pub created_by_user_id: Option<i64>,
    pub created_by_service_account_id: Option<i64>,
    pub parent_ca_id: Option<i64>,
    pub path_length: Option<i64>,
    pub allow_leaf_certs: bool,
    pub crl_base_url: Option<String>,
    pub is_root: bool,
    pub created_at: String,
    pub updated_at: String,
    /// When its issuer revoked it (`POST /cas/{id}/revoke`); null otherwise.
    pub revoked_at: Option<String>,
    pub revocation_reason: Option<String>,
    /// RFC 5280 CRLReason code, when one was given or named.
    pub revocation_reason_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
}

impl From<CaRow> for CaOut {
    fn from(r: CaRow) -> Self {
        CaOut {
            id: r.id,
            name: r.name,
            description: r.description,
            // Rows stored before values were RFC 4514-escaped show escaped too.
            subject_dn: pki::normalize_stored_dn(&r.subject_dn).into_owned(),
            key_algorithm: r.key_algorithm,
            key_size: r.key_size,
            valid_days: r.valid_days,
            certificate: r.certificate,
            serial_number: r.serial_number,
            not_before: r.not_before,
            not_after: r.not_after,
            organization_id: r.organization_id,
            created_by_user_id: r.created_by_user_id,
            created_by_service_account_id: r.created_by_service_account_id,
            parent_ca_id: r.parent_ca_id,
            path_length: r.path_length,
            allow_leaf_certs: r.allow_leaf_certs,
            crl_base_url: r.crl_base_url,
            is_root: r.is_root,
            created_at: r.created_at,
            updated_at: r.updated_at,
            revoked_at: r.revoked_at,
            revocation_reason: r.revocation_reason,
            revocation_reason_code: r.revocation_reason_code,
            private_key: None,
        }
    }
}

/// Who owns a CA, for authorization.
pub fn owner(ca: &CaRow) -> Owner {
    Owner::of(
        ca.organization_id,
        ca.created_by_user_id,
        ca.created_by_service_account_id,
    )
}

fn denied() -> Error {
    Error::Forbidden("Insufficient permissions".into())
}

/// Loads a CA or 404.
pub async fn load(state: &AppState, id: i64) -> Result<CaRow> {
    let mut c = state.db.read().await?;
    store::cas::get(&mut c, id)
        .await?
        .ok_or_else(|| Error::NotFound("CA not found".into()))
}

/// Loads a CA the caller may act on, or 404/403.
pub async fn load_for(
    state: &AppState,
    caller: &Principal,
    id: i64,
    action: Action,
) -> Result<CaRow> {
    let ca = load(state, id).await?;
    if !authz::allows(&caller.authz_subject(), &owner(&ca), action) {
        return Err(denied());
    }
    Ok(ca)
}

/// Refuses to sign with a CA that is revoked or under a revoked CA:
/// whatever it signed would not verify, and a revoked CA signs nothing more.
pub async fn ensure_can_issue(state: &AppState, ca: &CaRow) -> Result<()> {
    let revoked = if ca.revoked_at.is_some() {
        Some((ca.id, ca.name.clone()))
    } else if ca.parent_ca_id.is_some() {
        let mut c = state.db.read().await?;
        store::cas::revoked_in_chain(&mut c, ca.id).await?
    } else {
        None
    };
    match revoked {
        None => Ok(()),
        Some((id, _)) if id == ca.id => Err(Error::BadRequest(format!(
            "CA '{}' is revoked and cannot issue certificates or CAs",
            ca.name
        ))),
        Some((_, name)) => Err(Error::BadRequest(format!(
            "CA '{}' cannot issue certificates or CAs: its issuer '{name}' is revoked",
            ca.name
        ))),
    }
}

/// Parses `key_algorithm` and `key_size` into what the crypto library generates.
pub fn key_algorithm(
    name: Option<&str>,
    key_size: Option<u32>,
    default_rsa: u32,
) -> Result<pki::KeyAlgorithm> {
    let name = name.unwrap_or("rsa");
    let bits = key_size.unwrap_or(default_rsa);
    if name.trim().eq_ignore_ascii_case("rsa") && !RSA_SIZES.contains(&bits) {
        return Err(Error::validation(
            "key_size",
            "RSA key_size must be 2048, 3072, 4096 or 8192",
        ));
    }
    let alg = pki::KeyAlgorithm::parse(name, bits).map_err(|_| {
        Error::validation(
            "key_algorithm",
            format!(
                "Unsupported key algorithm {name:?}: use rsa, ecdsa-p256, ecdsa-p384 or ed25519"
            ),
        )
    })?;
    Ok(alg)
}

/// Checks `valid_days` (1 to 100 years).
pub fn check_days(days: i64) -> Result<i64> {
    if !(1..=36_500).contains(&days) {
        return Err(Error::validation(
            "valid_days",
            "valid_days must be between 1 and 36500",
        ));
    }
    Ok(days)
}

fn check_url(url: Option<&str>) -> Result<Option<String>> {
    let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= 1024
        && !url.contains(|c: char| {
            c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>'
        });
    if !ok {
        return Err(Error::validation(
            "crl_base_url",
            "crl_base_url must be an http:// or https:// URL",
        ));
    }
    Ok(Some(url.trim_end_matches('/').to_string()))
}

pub async fn create(
    state: &AppState,
    caller: &Principal,
    input: CaCreate,
    base_url: &str,
) -> Result<CaOut> {
    let name = input.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(Error::validation(
            "name",
            "name must be 1 to 255 printable characters",
        ));
    }
    let subject = pki::parse_dn(&input.subject_dn)?;
    let alg = key_algorithm(
        input.key_algorithm.as_deref(),
        input.key_size,
        state.settings.ca_key_size,
    )?;
    let days = check_days(
        input
            .valid_days
            .unwrap_or(i64::from(state.settings.ca_cert_days)),
    )?;
    if input.path_length.is_some_and(|p| !(0..=32).contains(&p)) {
        return Err(Error::validation(
            "path_length",
            "path_length must be between 0 and 32",
        ));
    }
    let crl_base_url = check_url(input.crl_base_url.as_deref())?;
    let subject_authz = caller.authz_subject();
    // Creating a CA puts it in the caller's organization.
    let own = Owner {
        organization_id: caller.organization_id(),
        creator: None,
    };
    if !authz::allows(&subject_authz, &own, Action::CreateCa) {
        return Err(denied());
    }

    let parent = match input.parent_ca_id {
        Some(pid) => {
            let parent = load(state, pid)
                .await
                .map_err(|_| Error::NotFound("Parent CA not found".into()))?;
            if !authz::allows(&subject_authz, &owner(&parent), Action::CreateCa) {
                return Err(denied());
            }
            ensure_can_issue(state, &parent).await?;
            Some(parent)
        }
        None => None,
    };
    // A service account creates CAs only as its issuance policy allows.
    let policy = service_accounts::policy_of(state, caller).await?;
    check_policy(policy.as_ref(), parent.as_ref(), &subject, days)?;
    let path_length = match (&parent, input.path_length) {
        (Some(p), requested) => match p.path_length {
            Some(0) => {
                return Err(Error::BadRequest(format!(
                    "Parent CA '{}' has path length 0 and cannot sign subordinate CAs",
                    p.name
                )));
            }
            Some(pl) => match requested {
                Some(r) if r > pl - 1 => {
                    return Err(Error::BadRequest(format!(
                        "path_length {r} exceeds what the parent allows (at most {})",
                        pl - 1
                    )));
                }
                Some(r) => Some(r),
                None => Some(pl - 1),
            },
            None => requested,
        },
        (None, requested) => requested,
    };

    let now = Utc::now();
    let parent_end = parent.as_ref().and_then(|p| store::parse_ts(&p.not_after));
    let (not_before, not_after) = pki::validity(now, days, parent_end)?;
    let (crl_url, ca_issuers_url) = match &parent {
        Some(p) => {
            let (crl, cert) = signing::public_urls(base_url, p);
            (Some(crl), Some(cert))
        }
        None => (None, None),
    };
    let parent_issuer = match &parent {
        Some(p) => Some(signing::issuer(state, p).await?),
        None => None,
    };
    let path_len_u8 = path_length.map(|p| p as u8);
    let subject_for_issue = subject.canonical();
    let crl_days = state.settings.crl_validity_days;
    let (key_pem, cert, empty_crl) = cpu_for(state, caller, move || {
        let key = pki::PrivateKey::generate(alg)?;
        let spki = key.public_key_der();
        let serial = pki::random_serial();
        let no_sans = pki::Sans::default();
        let mut req = pki::CertRequest {
            subject: &subject_for_issue,
            public_key_der: &spki,
            profile: pki::Profile::RootCa {
                path_len: path_len_u8,
            },
            sans: &no_sans,
            serial: &serial,
            not_before,
            not_after,
            crl_url: crl_url.as_deref(),
            ca_issuers_url: ca_issuers_url.as_deref(),
        };
        let cert = match parent_issuer {
            Some(issuer) => {
                req.profile = pki::Profile::IntermediateCa {
                    path_len: path_len_u8,
                };
                pki::issue(&req, pki::Signer::Issuer(&issuer))?
            }
            None => pki::issue(&req, pki::Signer::SelfSigned(&key))?,
        };
        let key_pem = key.to_pem();
        // The first CRL (empty, number 1) is signed now so that anonymous
        // requests never have to wait for a signature.
        let own_issuer = pki::Issuer::new(&cert.pem, key)?;
        let crl_end = not_before + chrono::Duration::days(crl_days);
        let crl = pki::build_crl(&own_issuer, &[], 1, not_before, crl_end)?;
        Ok((key_pem, cert, (crl, crl_end)))
    })
    .await?;

    let (created_by_user_id, created_by_service_account_id) = caller.creator_ids();
    let stored_key = state.keys.seal(&key_pem);
    let now_s = store::now_ts();
    let new = NewCa {
        name: &name,
        description: input.description.as_deref(),
        subject_dn: &subject.to_string(),
        key_algorithm: alg.name(),
        key_size: i64::from(alg.key_size()),
        valid_days: pki::days_between(cert.not_before, cert.not_after),
        certificate: &cert.pem,
        private_key: &stored_key,
        serial_number: &cert.serial_hex,
        not_before: &store::ts(cert.not_before),
        not_after: &store::ts(cert.not_after),
        organization_id: caller.organization_id(),
        created_by_user_id,
        created_by_service_account_id,
        parent_ca_id: parent.as_ref().map(|p| p.id),
        path_length,
        allow_leaf_certs: input.allow_leaf_certs.unwrap_or(true),
        crl_base_url: crl_base_url.as_deref(),
        is_root: parent.is_none(),
    };
    let mut tx = state.db.begin().await?;
    let row = store::cas::insert(&mut tx, &new, &now_s)
        .await
        .map_err(|e| {
            if store::is_foreign_key_violation(&e) {
                Error::NotFound("Parent CA not found".into())
            } else {
                e.into()
            }
        })?;
    let (crl, crl_end) = empty_crl;
    store::cas::store_crl(
        &mut tx,
        row.id,
        1,
        &crl.der,
        &store::ts(cert.not_before),
        &store::ts(crl_end),
    )
    .await?;
    if let Some(p) = &parent {
        store::cas::set_allow_leaf_certs(&mut tx, p.id, false, &now_s).await?;
    }
    let org = row
        .organization_id
        .or(parent.as_ref().and_then(|p| p.organization_id));
    let mut entry = caller.audit_on("ca_create", "ca", row.id, org);
    entry.detail = Some(match &parent {
        Some(p) => format!("Created intermediate CA '{}' under '{}'", row.name, p.name),
        None => format!("Created root CA '{}'", row.name),
    });
    store::audit::insert(&mut tx, &entry, &now_s).await?;
    tx.commit().await?;
    let mut out = CaOut::from(row);
    out.private_key = Some(key_pem);
    Ok(out)
}

/// A service account's policy on a new CA: a parent in `allowed_ca_ids` (so
/// never a root), type `ca` allowed, the days within `max_validity_days`, and
/// every common name of the subject within `cn_patterns`.
fn check_policy(
    policy: Option<&policy::Policy>,
    parent: Option<&CaRow>,
    subject: &pki::DistinguishedName,
    days: i64,
) -> Result<()> {
    let Some(policy) = policy else {
        return Ok(());
    };
    let Some(parent) = parent else {
        return Err(service_accounts::violation(policy::Violation {
            field: "allowed_ca_ids",
            value: serde_json::Value::Null,
        }));
    };
    let cns: Vec<String> = subject
        .attributes()
        .iter()
        .filter(|a| a.key() == "CN")
        .map(|a| a.value().to_string())
        .collect();
    let cns = if cns.is_empty() {
        vec![String::new()]
    } else {
        cns
    };
    for cn in &cns {
        service_accounts::enforce(
            Some(policy),
            &policy::Request {
                ca_id: parent.id,
                certificate_type: "ca",
                valid_days: days,
                common_name: cn,
                dns: &[],
                ips: &[],
                emails: &[],
            },
        )?;
    }
    Ok(())
}

/// A page of the CAs the caller may list.
pub async fn list(
    state: &AppState,
    caller: &Principal,
    skip: i64,
    limit: i64,
) -> Result<Vec<CaOut>> {
    let mut c = state.db.read().await?;
    let rows = store::cas::list(
        &mut c,
        caller.organization_id(),
        caller.is_superuser(),
        0,
        skip,
        limit,
    )
    .await?;
    Ok(rows.into_iter().map(CaOut::from).collect())
}

/// Every CA the caller may list, in id order after `skip` rows: FastPKI
/// 0.4's list, streamed. A non-superuser without an organization sees none.
pub fn list_all(state: &AppState, caller: &Principal, skip: i64) -> RowStream<CaOut> {
    let all = caller.is_superuser();
    let org = caller.organization_id();
    if !all && org.is_none() {
        return stream::empty().boxed();
    }
    store::cas::stream(state.db.clone(), org, all, skip, state.list_window)
        .map_ok(CaOut::from)
        .map_err(Error::from)
        .boxed()
}

pub async fn get(state: &AppState, caller: &Principal, id: i64) -> Result<CaOut> {
    Ok(load_for(state, caller, id, Action::Read).await?.into())
}

/// The CA with its decrypted private key; audited.
pub async fn private_key(state: &AppState, caller: &Principal, id: i64) -> Result<CaOut> {
    let ca = load_for(state, caller, id, Action::ExportPrivateKey).await?;
    let key = ca_key_pem(state, &ca)?;
    audit_export(state, caller, &ca).await?;
    let mut out = CaOut::from(ca);
    out.private_key = Some(key);
    Ok(out)
}

/// Records a CA key export.
pub async fn audit_export(state: &AppState, caller: &Principal, ca: &CaRow) -> Result<()> {
    let mut tx = state.db.begin().await?;
    let mut entry = caller.audit_on("ca_export_private_key", "ca", ca.id, ca.organization_id);
    entry.detail = Some(format!("Exported the private key of CA '{}'", ca.name));
    store::audit::insert(&mut tx, &entry, &store::now_ts()).await?;
    tx.commit().await?;
    Ok(())
}

/// This CA, then each issuer up to the root.
pub async fn chain_rows(state: &AppState, start: CaRow) -> Result<Vec<CaRow>> {
    let mut c = state.db.read().await?;
    let mut chain = vec![start];
    while let Some(parent_id) = chain.last().and_then(|ca| ca.parent_ca_id) {
        if chain.len() > 64 || chain.iter().any(|ca| ca.id == parent_id) {
            return Err(Error::Internal(anyhow::anyhow!(
                "CA chain loops or is too deep at CA {parent_id}"
            )));
        }
        match store::cas::get(&mut c, parent_id).await? {
            Some(p) => chain.push(p),
            None => break,
        }
    }
    Ok(chain)
}

pub async fn chain(state: &AppState, caller: &Principal, id: i64) -> Result<Vec<CaOut>> {
    let ca = load_for(state, caller, id, Action::Read).await?;
    Ok(chain_rows(state, ca)
        .await?
        .into_iter()
        .map(CaOut::from)
        .collect())
}

pub async fn children(state: &AppState, caller: &Principal, id: i64) -> Result<Vec<CaOut>> {
    load_for(state, caller, id, Action::Read).await?;
    let mut c = state.db.read().await?;
    let subject = caller.authz_subject();
    Ok(store::cas::children(&mut c, id)
        .await?
        .into_iter()
        .filter(|child| authz::allows(&subject, &owner(child), Action::Read))
        .map(CaOut::from)
        .collect())
}

/// Superuser: move a CA into an organization, as FastPKI's
/// `assign_organization` does. The CA named is always moved, whatever its
/// organization was. With `cascade`, its descendants that have no organization
/// (or already have this one) follow, level after level, and so do the
/// organization-less certificates of every CA moved; a descendant of another
/// organization is left alone with everything below it. Without `cascade`,
/// certificates keep their organization.
pub async fn update(
    state: &AppState,
    caller: &Principal,
    id: i64,
    input: CaUpdate,
) -> Result<CaOut> {
    if !caller.is_superuser() {
        return Err(denied());
    }
    let org_id = input.organization_id;
    let mut tx = state.db.begin().await?;
    // FastPKI checks the organization before the CA: both unknown is a 400.
    let Some(org) = store::orgs::get(&mut tx, org_id).await? else {
        return Err(Error::BadRequest(format!(
            "Organization with ID {org_id} not found"
        )));
    };
    let Some(ca) = store::cas::get(&mut tx, id).await? else {
        return Err(Error::NotFound(format!(
            "Certificate Authority with ID {id} not found"
        )));
    };
    let now = store::now_ts();
    let mut moved = vec![ca.id];
    let mut queue = if input.cascade { vec![ca.id] } else { vec![] };
    while let Some(parent) = queue.pop() {
        for child in store::cas::children(&mut tx, parent).await? {
            let adoptable = child.organization_id.is_none_or(|o| o == org_id);
            if adoptable && !moved.contains(&child.id) {
                moved.push(child.id);
                queue.push(child.id);
            }
        }
    }
    let mut adopted_certs = 0;
    for &ca_id in &moved {
        store::cas::set_organization(&mut tx, ca_id, org_id, &now).await?;
        if input.cascade {
            adopted_certs += store::certs::adopt_of_issuer(&mut tx, ca_id, org_id, &now).await?;
        }
    }
    let previous = match ca.organization_id {
        None => "unassigned".to_string(),
        Some(o) => format!("organization {o}"),
    };
    let mut entry = caller.audit_on("ca_update", "ca", id, Some(org_id));
    entry.detail = Some(format!(
        "Assigned CA '{}' to organization '{}' (previously {previous}; {} CA(s), {adopted_certs} certificate(s) updated)",
        ca.name,
        org.name,
        moved.len()
    ));
    store::audit::insert(&mut tx, &entry, &now).await?;
    let row = store::cas::get(&mut tx, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("Certificate Authority with ID {id} not found")))?;
    tx.commit().await?;
    Ok(row.into())
}

/// `POST /cas/{id}/revoke`: `revoke_cert` on the issuing (parent) CA. The
/// CA's serial goes into the parent's CRL, re-signed in the same transaction;
/// exactly one concurrent call wins.
pub async fn revoke(
    state: &AppState,
    caller: &Principal,
    id: i64,
    input: crate::service::certs::Revoke,
) -> Result<CaOut> {
    let ca = load(state, id).await?;
    let subject = caller.authz_subject();
    let Some(parent_id) = ca.parent_ca_id else {
        // A root is its own issuer: say why only to those who may act on it.
        if !authz::allows(&subject, &owner(&ca), Action::RevokeCert) {
            return Err(denied());
        }
        return Err(Error::BadRequest(format!(
            "CA '{}' is a root CA: no issuer can revoke it. Remove it from trust stores, or delete it",
            ca.name
        )));
    };
    let parent = load(state, parent_id).await?;
    if !authz::allows(&subject, &owner(&parent), Action::RevokeCert) {
        return Err(denied());
    }
    let (reason, code) = crate::service::certs::revocation_reason(&input)?;
    let now = store::now_ts();
    let mut tx = state.db.begin().await?;
    if !store::cas::revoke(&mut tx, id, &now, reason.as_deref(), code).await? {
        return Err(Error::Conflict("CA is already revoked".into()));
    }
    crl::rebuild(state, &mut tx, &parent).await?;
    let mut entry = caller.audit_on(
        "ca_revoke",
        "ca",
        id,
        ca.organization_id.or(parent.organization_id),
    );
    entry.detail = Some(format!(
        "Revoked CA '{}' (serial {}) in the CRL of '{}'{}",
        ca.name,
        ca.serial_number,
        parent.name,
        reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    ));
    store::audit::insert(&mut tx, &entry, &now).await?;
    let row = store::cas::get(&mut tx, id)
        .await?
        .ok_or_else(|| Error::NotFound("CA not found".into()))?;
    tx.commit().await?;
    state.crls.forget(parent.id);
    Ok(row.into())
}

/// `DELETE /cas/{id}`: refused while the CA has child CAs. Otherwise its
/// certificates still valid are revoked (cessationOfOperation), the CA, its key
/// and its certificates go, and a tombstone
/// keeps its certificate, its own revocation (for the parent's CRL) and a
/// final CRL valid until the CA certificate expires, served at its public URLs.
pub async fn delete(state: &AppState, caller: &Principal, id: i64) -> Result<()> {
    let ca = load_for(state, caller, id, Action::DeleteCa).await?;
    let mut tx = state.db.begin().await?;
    if store::cas::count_children(&mut tx, id).await? > 0 {
        return Err(Error::Conflict(
            "CA has child CAs: delete them first".into(),
        ));
    }
    let now = Utc::now();
    let now_s = store::ts(now);
    // Deleting retires the CA (FastPKI deletes it with its certificates): what
    // it issued and is still valid is revoked first, so that its final CRL
    // says so, instead of the certificates becoming "unknown".
    let retired = store::certs::revoke_live_of_issuer(&mut tx, id, &now_s).await?;
    // The final CRL: valid as long as anything the CA signed can be.
    let ca_end = store::parse_ts(&ca.not_after).unwrap_or(now);
    let next = ca_end.max(now + chrono::Duration::days(state.settings.crl_validity_days));
    let crl = crl::sign_next(state, &mut tx, &ca, now, next).await?;
    store::cas::insert_tombstone(
        &mut tx,
        &ca,
        &store::cas::FinalCrl {
            number: crl.number,
            der: &crl.der,
            this_update: &now_s,
            next_update: &store::ts(next),
        },
        &now_s,
    )
    .await?;
    let removed = store::certs::delete_dead_of_issuer(&mut tx, id, &now_s).await?;
    store::cas::delete(&mut tx, id).await.map_err(|e| {
        if store::is_foreign_key_violation(&e) {
            Error::Conflict("CA gained child CAs or certificates meanwhile: try again".into())
        } else {
            e.into()
        }
    })?;
    let mut entry = caller.audit_on("ca_delete", "ca", id, ca.organization_id);
    entry.detail = Some(format!(
        "Deleted CA '{}' and its {removed} certificate(s), {retired} of them revoked (cessationOfOperation); its certificate and final CRL (number {}) stay published",
        ca.name, crl.number
    ));
    store::audit::insert(&mut tx, &entry, &now_s).await?;
    tx.commit().await?;
    state.crls.forget(id);
    state.issuers.forget(id);
    state.public.forget(id);
    Ok(())
}
