//! Renewal: the same subject, SANs, CA, type and validity length, from now,
//! under a new key.

use serde::Deserialize;

use crate::auth::Principal;
use crate::auth::authz::{self, Action};
use crate::error::{Error, Result};
use crate::service::request_fields::key_algorithm;
use crate::service::{AppState, cas};

use super::issue::{Issue, KeySource, issue, parse_csr};
use super::request::CertType;
use super::view::{CertOut, load_for};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct Renew {
    /// Required when the certificate was issued from a CSR; refused otherwise.
    #[serde(default)]
    pub csr: Option<String>,
}

fn coded(code: &str) -> Error {
    Error::BadRequestCoded(serde_json::json!({ "code": code }))
}

/// `POST /certificates/{id}/renew`: same subject, SANs, CA, type and validity
/// length, starting now; a new server-made key, or the key of a new CSR.
pub async fn renew(
    state: &AppState,
    caller: &Principal,
    id: i64,
    input: Renew,
    base_url: &str,
) -> Result<CertOut> {
    let old = load_for(state, caller, id, Action::Read).await?;
    let ca = cas::load(state, old.issuer_id).await?;
    if !authz::allows(
        &caller.authz_subject(),
        &cas::owner(&ca),
        Action::CreateCert,
    ) {
        return Err(Error::Forbidden("Insufficient permissions".into()));
    }
    if old.status == "revoked" {
        return Err(Error::BadRequest(
            "A revoked certificate cannot be renewed".into(),
        ));
    }
    let cert_type = CertType::parse(&old.certificate_type)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("certificate {id} has an unknown type")))?;
    let from_csr = old.key_origin == "csr";
    let key = match (
        from_csr,
        input
            .csr
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty()),
    ) {
        (true, None) => return Err(coded("csr_required_for_csr_origin_cert")),
        (false, Some(_)) => return Err(coded("csr_not_allowed_for_server_key_cert")),
        (true, Some(pem)) => {
            // Only the CSR's key is used: subject and names come from the certificate renewed.
            let csr = parse_csr(state, caller, pem).await?;
            KeySource::Csr {
                spki: csr.public_key_der,
                algorithm: csr.algorithm,
            }
        }
        (false, None) => {
            let bits = u32::try_from(old.key_size).unwrap_or(state.settings.cert_key_size);
            KeySource::Make(key_algorithm(
                Some(&old.key_algorithm),
                Some(bits),
                state.settings.cert_key_size,
            )?)
        }
    };
    let req = Issue {
        ca,
        cert_type,
        common_name: old.common_name.clone(),
        // The stored string, possibly from before `+` had to be escaped.
        subject: pki::parse_stored_dn(&old.subject_dn)?,
        sans: pki::Sans {
            dns: old.san_dns_names,
            ips: old.san_ip_addresses,
            emails: old.san_email_addresses,
        },
        days: old.valid_days.max(1),
        key,
        keep_key: old.key_stored.0,
        return_key: true,
        renewed_from_id: Some(old.id),
    };
    issue(state, caller, req, base_url).await
}
