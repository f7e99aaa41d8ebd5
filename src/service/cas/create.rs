//! Creating a CA: a root, or an intermediate signed by its parent.

use chrono::Utc;
use serde::Deserialize;

use crate::auth::Principal;
use crate::auth::authz::{self, Action, Owner};
use crate::error::{Error, Result};
use crate::service::cpu::cpu_for;
use crate::service::issuers::{self};
use crate::service::request_fields::{check_days, key_algorithm};
use crate::service::{AppState, policy, public_urls};
use crate::store::{self, cas::NewCa};

use super::view::{CaOut, denied, ensure_can_issue, load, owner};

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

/// A CA's `crl_base_url`: an http(s) URL without a trailing `/`, or none.
pub(super) fn check_url(url: Option<&str>) -> Result<Option<String>> {
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

/// A CA's name, trimmed: 1 to 255 characters, none of them control characters.
pub(super) fn check_name(name: &str) -> Result<String> {
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(Error::validation(
            "name",
            "name must be 1 to 255 printable characters",
        ));
    }
    Ok(name)
}

/// A requested `path_length`: 0 to 32.
pub(super) fn check_path_length(path_length: Option<i64>) -> Result<()> {
    if path_length.is_some_and(|p| !(0..=32).contains(&p)) {
        return Err(Error::validation(
            "path_length",
            "path_length must be between 0 and 32",
        ));
    }
    Ok(())
}

pub async fn create(
    state: &AppState,
    caller: &Principal,
    input: CaCreate,
    base_url: &str,
) -> Result<CaOut> {
    let name = check_name(&input.name)?;
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
    check_path_length(input.path_length)?;
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
    let policy = policy::policy_of(state, caller).await?;
    policy::check_new_ca(
        policy.as_ref(),
        parent.as_ref().map(|p| p.id),
        &subject,
        days,
    )?;
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
    let parent_end = parent.as_ref().map(|p| p.not_after);
    let (not_before, not_after) = pki::validity(now, days, parent_end)?;
    let (crl_url, ca_issuers_url) = match &parent {
        Some(p) => {
            let (crl, cert) = public_urls::public_urls(base_url, p);
            (Some(crl), Some(cert))
        }
        None => (None, None),
    };
    let parent_issuer = match &parent {
        Some(p) => Some(issuers::issuer(state, p).await?),
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
        not_before: cert.not_before,
        not_after: cert.not_after,
        organization_id: caller.organization_id(),
        created_by_user_id,
        created_by_service_account_id,
        parent_ca_id: parent.as_ref().map(|p| p.id),
        path_length,
        allow_leaf_certs: input.allow_leaf_certs.unwrap_or(true),
        crl_base_url: crl_base_url.as_deref(),
        is_root: parent.is_none(),
        external_chain: None,
        pending_csr: None,
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
