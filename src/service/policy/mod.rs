//! Issuance policies of service accounts: the pure rules (`rules`), the
//! policy that binds a caller, and the checks a new certificate or CA passes.

mod rules;

pub use rules::{Policy, Request, Violation, evaluate, glob, parse_cidr, validate};

use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::service::AppState;
use crate::store::service_accounts::{self as sa_store, PolicyValues};

/// A policy and its stored form have the same fields: one conversion each way.
macro_rules! same_fields {
    ($($field:ident),* $(,)?) => {
        impl From<PolicyValues> for Policy {
            fn from(v: PolicyValues) -> Self {
                Policy { $($field: v.$field),* }
            }
        }

        impl From<Policy> for PolicyValues {
            fn from(p: Policy) -> Self {
                PolicyValues { $($field: p.$field),* }
            }
        }
    };
}

same_fields!(
    cn_patterns,
    san_dns_patterns,
    san_ip_cidrs,
    san_email_domains,
    allowed_ca_ids,
    allowed_certificate_types,
    max_validity_days,
    allow_wildcards,
);

/// The issuance policy that binds the caller: `None` for users (not bound); a
/// service account without a policy is refused.
pub async fn policy_of(state: &AppState, caller: &Principal) -> Result<Option<Policy>> {
    let Principal::ServiceAccount { account, .. } = caller else {
        return Ok(None);
    };
    let row = {
        let mut c = state.db.read().await?;
        sa_store::policy(&mut c, account.id).await?
    };
    match row {
        Some(row) => Ok(Some(row.values.into())),
        None => Err(Error::ForbiddenCoded(serde_json::json!({
            "code": "service_account_has_no_policy",
            "message": "This service account has no issuance policy"
        }))),
    }
}

/// The 400 a policy violation answers: `{"code": "policy_violation", field, value}`.
pub fn violation(v: Violation) -> Error {
    Error::BadRequestCoded(serde_json::json!({
        "code": "policy_violation", "field": v.field, "value": v.value
    }))
}

/// What a new certificate is judged on, but its common names.
pub struct Judged<'a> {
    pub ca_id: i64,
    pub certificate_type: &'a str,
    pub valid_days: i64,
    pub dns: &'a [String],
    pub ips: &'a [std::net::IpAddr],
    pub emails: &'a [String],
}

/// Every common name involved must pass: `primary` (the request's
/// `common_name`) first, then each other CN the subject written into the
/// certificate carries; a subject without any is judged as the empty name.
pub fn check(
    policy: Option<&Policy>,
    judged: &Judged<'_>,
    primary: Option<&str>,
    subject: &pki::DistinguishedName,
) -> Result<()> {
    let Some(policy) = policy else {
        return Ok(());
    };
    let mut names: Vec<&str> = primary.into_iter().collect();
    for a in subject.attributes().iter().filter(|a| a.key() == "CN") {
        if Some(a.value()) != primary {
            names.push(a.value());
        }
    }
    if names.is_empty() {
        names.push("");
    }
    for common_name in names {
        let request = Request {
            ca_id: judged.ca_id,
            certificate_type: judged.certificate_type,
            valid_days: judged.valid_days,
            common_name,
            dns: judged.dns,
            ips: judged.ips,
            emails: judged.emails,
        };
        evaluate(policy, &request).map_err(violation)?;
    }
    Ok(())
}

/// A service account's policy on a new CA: a parent in `allowed_ca_ids` (so
/// never a root), type `ca` allowed, the days within `max_validity_days`, and
/// every common name of the subject within `cn_patterns`.
pub fn check_new_ca(
    policy: Option<&Policy>,
    parent_id: Option<i64>,
    subject: &pki::DistinguishedName,
    days: i64,
) -> Result<()> {
    let Some(policy) = policy else {
        return Ok(());
    };
    let Some(parent_id) = parent_id else {
        return Err(violation(Violation {
            field: "allowed_ca_ids",
            value: serde_json::Value::Null,
        }));
    };
    let judged = Judged {
        ca_id: parent_id,
        certificate_type: "ca",
        valid_days: days,
        dns: &[],
        ips: &[],
        emails: &[],
    };
    check(Some(policy), &judged, None, subject)
}
