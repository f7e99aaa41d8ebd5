//! CSRs for CAs whose certificate a CA outside FastPKI signs, the key never leaving
//! FastPKI: a new pending CA (`POST /cas/csr`), a CSR for an existing CA's own key
//! (renewal, cross-signing), or a pending CA with a new key for an existing CA's subject
//! (rotation). `PUT /cas/{id}/certificate` (see `install`) completes them.

use chrono::Utc;
use serde::Deserialize;

use crate::auth::Principal;
use crate::auth::authz::{self, Action, Owner};
use crate::error::{Error, Result};
use crate::service::cpu::cpu_for;
use crate::service::issuers;
use crate::service::request_fields::key_algorithm;
use crate::service::{AppState, policy};
use crate::store::{self, cas::CaRow, cas::NewCa};

use super::create::{check_name, check_path_length, check_url};
use super::import::check_policy;
use super::view::{CaOut, denied, ensure_can_issue, load_for, pending};

/// `POST /cas/csr`: a new CA whose certificate will be signed elsewhere.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CaCsrNew {
    pub name: String,
    pub subject_dn: String,
    #[serde(default)]
    pub description: Option<String>,
    /// `rsa` (default), `ecdsa-p256`, `ecdsa-p384` or `ed25519`.
    #[serde(default)]
    pub key_algorithm: Option<String>,
    #[serde(default)]
    pub key_size: Option<u32>,
    /// The pathLenConstraint the CSR asks for (the signer decides).
    #[serde(default)]
    pub path_length: Option<i64>,
    #[serde(default)]
    pub allow_leaf_certs: Option<bool>,
    #[serde(default)]
    pub crl_base_url: Option<String>,
}

/// `POST /cas/{id}/csr`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct CaCsr {
    /// false (default): a CSR for this CA's own key and subject (renewal, cross-signing).
    /// true: a new pending CA, with a new key and this CA's subject (rotation).
    #[serde(default)]
    pub new_key: bool,
    /// The pathLenConstraint the CSR asks for; default: the CA's.
    #[serde(default)]
    pub path_length: Option<i64>,
    /// New key only: the pending CA's name (default: this CA's name and " (new key)").
    #[serde(default)]
    pub name: Option<String>,
    /// New key only (default: this CA's).
    #[serde(default)]
    pub description: Option<String>,
    /// New key only (default: this CA's algorithm and size).
    #[serde(default)]
    pub key_algorithm: Option<String>,
    /// New key only.
    #[serde(default)]
    pub key_size: Option<u32>,
}

/// A stored path length as a pathLenConstraint (stored ones are 0 to 32).
fn path_len_u8(l: i64) -> u8 {
    l.clamp(0, 32) as u8
}

/// What a pending CA is made of.
struct Pending<'a> {
    name: String,
    description: Option<&'a str>,
    subject_dn: String,
    /// The subject exactly as the CSR carries it.
    subject_der: Vec<u8>,
    alg: pki::KeyAlgorithm,
    path_length: Option<i64>,
    allow_leaf_certs: bool,
    crl_base_url: Option<String>,
}

/// Generates the key and CSR and stores the pending CA with its `ca_csr` entry.
async fn store_pending(
    state: &AppState,
    caller: &Principal,
    p: Pending<'_>,
    detail: String,
) -> Result<CaOut> {
    let (alg, subject_der, path_len) = (p.alg, p.subject_der, p.path_length.map(path_len_u8));
    let (key_pem, csr) = cpu_for(state, caller, move || {
        let key = pki::PrivateKey::generate(alg)?;
        let csr = pki::ca_csr(&key, &subject_der, path_len)?;
        Ok((key.to_pem(), csr))
    })
    .await?;
    let stored_key = state.keys.seal(&key_pem);
    let (created_by_user_id, created_by_service_account_id) = caller.creator_ids();
    let now = Utc::now();
    let now_s = store::ts(now);
    let new = NewCa {
        name: &p.name,
        description: p.description,
        subject_dn: &p.subject_dn,
        key_algorithm: alg.name(),
        key_size: i64::from(alg.key_size()),
        valid_days: 0,
        certificate: "",
        private_key: &stored_key,
        serial_number: "",
        not_before: now,
        not_after: now,
        organization_id: caller.organization_id(),
        created_by_user_id,
        created_by_service_account_id,
        parent_ca_id: None,
        path_length: p.path_length,
        allow_leaf_certs: p.allow_leaf_certs,
        crl_base_url: p.crl_base_url.as_deref(),
        is_root: false,
        external_chain: None,
        pending_csr: Some(&csr),
    };
    let mut tx = state.db.begin().await?;
    let row = store::cas::insert(&mut tx, &new, &now_s).await?;
    let mut entry = caller.audit_on("ca_csr", "ca", row.id, row.organization_id);
    entry.detail = Some(detail.replace("{name}", &row.name));
    store::audit::insert(&mut tx, &entry, &now_s).await?;
    tx.commit().await?;
    Ok(CaOut::from(row))
}

/// The caller may create a CA in its own organization (where a pending CA lands).
fn ensure_may_create(caller: &Principal) -> Result<()> {
    let own = Owner {
        organization_id: caller.organization_id(),
        creator: None,
    };
    if !authz::allows(&caller.authz_subject(), &own, Action::CreateCa) {
        return Err(denied());
    }
    Ok(())
}

/// `POST /cas/csr`: a pending CA with a new key, and the CSR to have signed.
pub async fn create_pending(
    state: &AppState,
    caller: &Principal,
    input: CaCsrNew,
) -> Result<CaOut> {
    let name = check_name(&input.name)?;
    let subject = pki::parse_dn(&input.subject_dn)?;
    let alg = key_algorithm(
        input.key_algorithm.as_deref(),
        input.key_size,
        state.settings.ca_key_size,
    )?;
    check_path_length(input.path_length)?;
    let crl_base_url = check_url(input.crl_base_url.as_deref())?;
    ensure_may_create(caller)?;
    // Signed outside FastPKI: no FastPKI parent a policy could allow.
    let policy = policy::policy_of(state, caller).await?;
    check_policy(policy.as_ref(), None, Some(&subject), 0)?;
    let canonical = subject.canonical();
    let pending = Pending {
        name,
        description: input.description.as_deref(),
        subject_dn: subject.to_string(),
        subject_der: canonical.to_der(),
        alg,
        path_length: input.path_length,
        allow_leaf_certs: input.allow_leaf_certs.unwrap_or(true),
        crl_base_url,
    };
    let detail = format!(
        "Created pending CA '{{name}}' ({subject}, {alg}) and its CSR, for a CA outside FastPKI to sign"
    );
    store_pending(state, caller, pending, detail).await
}

/// `POST /cas/{id}/csr`: a CSR for the CA's own key (the CA as it is, with `csr`), or a
/// new pending CA with a new key for its subject.
pub async fn csr(state: &AppState, caller: &Principal, id: i64, input: CaCsr) -> Result<CaOut> {
    check_path_length(input.path_length)?;
    if !input.new_key {
        for (field, given) in [
            ("name", input.name.is_some()),
            ("description", input.description.is_some()),
            ("key_algorithm", input.key_algorithm.is_some()),
            ("key_size", input.key_size.is_some()),
        ] {
            if given {
                return Err(Error::validation(
                    field,
                    format!("{field} applies only with \"new_key\": true"),
                ));
            }
        }
    }
    let name = input.name.as_deref().map(check_name).transpose()?;
    let ca = load_for(state, caller, id, Action::CreateCa).await?;
    if input.new_key {
        ensure_may_create(caller)?;
    }
    let policy = policy::policy_of(state, caller).await?;
    check_policy(policy.as_ref(), None, None, 0)?;
    if ca.is_pending() {
        if input.new_key {
            return Err(pending(&ca));
        }
        // Its CSR is made already.
        let mut tx = state.db.begin().await?;
        audit_csr(caller, &mut tx, &ca, "Read the CSR of pending CA").await?;
        tx.commit().await?;
        return Ok(CaOut::from(ca));
    }
    let issuer = issuers::issuer(state, &ca).await?;
    let path_len = input.path_length.or(ca.path_length).map(path_len_u8);
    if !input.new_key {
        ensure_can_issue(state, &ca).await?;
        let signer = issuer.clone();
        let csr = cpu_for(state, caller, move || {
            Ok(pki::ca_csr(signer.key(), signer.subject_der(), path_len)?)
        })
        .await?;
        let mut tx = state.db.begin().await?;
        audit_csr(caller, &mut tx, &ca, "Made a CSR for the key of CA").await?;
        tx.commit().await?;
        let mut out = CaOut::from(ca);
        out.csr = Some(csr);
        return Ok(out);
    }
    let alg = match input.key_algorithm.as_deref() {
        Some(a) => key_algorithm(Some(a), input.key_size, state.settings.ca_key_size)?,
        None => key_algorithm(
            Some(&ca.key_algorithm),
            input.key_size.or(u32::try_from(ca.key_size).ok()),
            state.settings.ca_key_size,
        )?,
    };
    let name = name.unwrap_or_else(|| {
        let mut n: String = ca.name.chars().take(245).collect();
        n.push_str(" (new key)");
        n
    });
    let pending = Pending {
        name,
        description: input.description.as_deref().or(ca.description.as_deref()),
        subject_dn: ca.subject_dn.clone(),
        subject_der: issuer.subject_der().to_vec(),
        alg,
        path_length: input.path_length.or(ca.path_length),
        allow_leaf_certs: ca.allow_leaf_certs,
        crl_base_url: ca.crl_base_url.clone(),
    };
    let detail = format!(
        "Created pending CA '{{name}}' with a new {alg} key for the subject of CA '{}' (id {}), and its CSR",
        ca.name, ca.id
    );
    store_pending(state, caller, pending, detail).await
}

async fn audit_csr(caller: &Principal, tx: &mut store::Tx, ca: &CaRow, what: &str) -> Result<()> {
    let mut entry = caller.audit_on("ca_csr", "ca", ca.id, ca.organization_id);
    entry.detail = Some(format!("{what} '{}'", ca.name));
    store::audit::insert(tx, &entry, &store::now_ts()).await?;
    Ok(())
}
