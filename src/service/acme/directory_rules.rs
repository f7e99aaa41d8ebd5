//! What an ACME directory may be made of, and who may manage one: the name
//! rules, the challenge and certificate types, the CA (managed by the caller,
//! issuing leaves) and the service account (of the CA's organization).

use crate::auth::{Principal, Role};
use crate::error::{Error, Result};
use crate::service::AppState;
use crate::service::cas;
use crate::service::certs::CertType;
use crate::store::{self, cas::CaRow};

/// The challenge types a directory may offer.
pub const CHALLENGE_TYPES: [&str; 3] = ["http-01", "dns-01", "tls-alpn-01"];

/// The caller, if it may manage ACME directories at all: a superuser, or an
/// admin of an organization.
pub fn manager(caller: &Principal) -> Result<()> {
    caller.require_user()?;
    match caller.role() {
        Role::Superuser => Ok(()),
        Role::Admin if caller.organization_id().is_some() => Ok(()),
        Role::Admin => Err(Error::Forbidden(
            "An admin without an organization cannot manage ACME directories".into(),
        )),
        Role::User => Err(Error::Forbidden(
            "Only admins and superusers manage ACME directories".into(),
        )),
    }
}

/// A superuser, or an admin of organization `org`.
pub fn manages(caller: &Principal, org: Option<i64>) -> Result<()> {
    manager(caller)?;
    if caller.is_superuser() || (org.is_some() && caller.organization_id() == org) {
        Ok(())
    } else {
        Err(Error::Forbidden("Insufficient permissions".into()))
    }
}

/// Checks the name rules; 422 otherwise.
pub fn check_name(name: &str) -> Result<()> {
    let ok = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            "name",
            "name must be 1 to 63 characters of a-z, 0-9 and '-'",
        ))
    }
}

pub fn check_challenges(types: &[String]) -> Result<()> {
    let field = "challenge_types";
    if types.is_empty() {
        return Err(Error::validation(field, "at least one challenge type"));
    }
    for (i, t) in types.iter().enumerate() {
        if !CHALLENGE_TYPES.contains(&t.as_str()) {
            return Err(Error::validation(
                field,
                format!("unknown challenge type {t:?}: http-01, dns-01 or tls-alpn-01"),
            ));
        }
        if types[..i].contains(t) {
            return Err(Error::validation(
                field,
                format!("challenge type {t:?} is listed twice"),
            ));
        }
    }
    Ok(())
}

pub fn check_type(t: CertType) -> Result<()> {
    if t == CertType::Ca {
        return Err(Error::validation(
            "certificate_type",
            "an ACME directory issues server, client or dual_purpose certificates",
        ));
    }
    Ok(())
}

/// The CA of a directory: one the caller manages, able to issue leaves.
pub async fn usable_ca(state: &AppState, caller: &Principal, ca_id: i64) -> Result<CaRow> {
    let ca = cas::load(state, ca_id).await?;
    manages(caller, ca.organization_id)?;
    if !ca.allow_leaf_certs {
        return Err(Error::BadRequest(format!(
            "CA '{}' does not allow leaf certificates",
            ca.name
        )));
    }
    cas::ensure_can_issue(state, &ca).await?;
    Ok(ca)
}

/// A service account of organization `org`; 400 otherwise (also when there is
/// no such account: another organization's accounts are not disclosed).
pub async fn account_of(state: &AppState, id: i64, org: Option<i64>) -> Result<()> {
    let mut c = state.db.read().await?;
    match store::service_accounts::get(&mut c, id).await? {
        Some(a) if a.organization_id == org => Ok(()),
        _ => Err(Error::BadRequest(format!(
            "Service account {id} is not an account of the CA's organization"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "prod", "web-01", &"a".repeat(63)] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Prod", "a_b", "a.b", "a b", "é", &"a".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn challenge_lists() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(check_challenges(&v(&["http-01"])).is_ok());
        assert!(check_challenges(&v(&CHALLENGE_TYPES)).is_ok());
        assert!(check_challenges(&v(&[])).is_err());
        assert!(check_challenges(&v(&["http-01", "http-01"])).is_err());
        assert!(check_challenges(&v(&["tls-sni-01"])).is_err());
    }
}
