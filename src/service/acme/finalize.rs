//! Finalize (RFC 8555 §7.4): a ready order and a CSR naming exactly its
//! identifiers become a certificate, issued by `service::certs::issue` as the
//! directory's service account under its policy, like any other.

use chrono::Utc;

use super::orders::{self, OrderView};
use super::problem::{Problem, ProblemType};
use super::{directory, orders::issuance_days};
use crate::error::Error;
use crate::service::certs::{CertType, Issue, KeySource, effective_subject, issue};
use crate::service::cpu::cpu_for;
use crate::service::{AppState, cas, policy};
use crate::store::{self, acme::accounts::AccountRow, acme::directories::DirectoryRow};

/// `POST /order/{id}/finalize` with the CSR's DER. `is_account_key` tells
/// whether a public key (SPKI DER) is the account's own.
pub async fn finalize(
    state: &AppState,
    dir: &DirectoryRow,
    account: &AccountRow,
    order_id: i64,
    csr_der: Vec<u8>,
    is_account_key: impl Fn(&[u8]) -> bool,
    base_url: &str,
) -> Result<OrderView, Problem> {
    let order = orders::get(state, account, order_id).await?;
    if order.status != "ready" {
        return Err(Problem::new(
            ProblemType::OrderNotReady,
            format!("the order is {}, not ready", order.status),
        ));
    }
    let principal = directory::issuer_principal(state, dir, account.service_account_id).await?;
    let csr = cpu_for(state, &principal, move || Ok(pki::parse_csr_der(&csr_der)?))
        .await
        .map_err(|e| Problem::new(ProblemType::BadCsr, format!("the CSR is refused: {e}")))?;
    check_names(&order, &csr)?;
    if is_account_key(&csr.public_key_der) {
        return Err(Problem::new(
            ProblemType::BadCsr,
            "the CSR's key is the account key: certify another key",
        ));
    }
    let cert_type = CertType::parse(&dir.certificate_type).ok_or_else(Problem::internal)?;
    let common_name = common_name(&order, csr.common_name.as_deref());
    let subject = effective_subject(None, &common_name)
        .map_err(|e| Problem::new(ProblemType::BadCsr, e.to_string()))?;
    let ca = cas::load(state, dir.ca_id).await.map_err(issue_problem)?;
    let policy = policy::policy_of(state, &principal)
        .await
        .map_err(issue_problem)?;
    let days = issuance_days(state, policy.as_ref());
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let started =
        store::acme::orders::transition(&mut tx, order.id, "ready", "processing", None, now)
            .await?;
    tx.commit().await?;
    if !started {
        return Err(Problem::new(
            ProblemType::OrderNotReady,
            "the order is being finalized by another request",
        ));
    }
    let request = Issue {
        ca,
        cert_type,
        common_name,
        subject,
        sans: pki::Sans {
            dns: csr
                .sans
                .dns
                .iter()
                .map(|n| n.to_ascii_lowercase())
                .collect(),
            ips: csr.sans.ips.clone(),
            emails: vec![],
        },
        days,
        key: KeySource::Csr {
            spki: csr.public_key_der,
            algorithm: csr.algorithm,
        },
        keep_key: false,
        return_key: false,
        renewed_from_id: None,
    };
    let issued = issue(state, &principal, request, base_url).await;
    let mut tx = state.db.begin().await?;
    match issued {
        Ok(cert) => {
            store::acme::orders::complete(&mut tx, order.id, cert.id, Utc::now()).await?;
            tx.commit().await?;
            orders::get(state, account, order.id).await
        }
        Err(e) => {
            let problem = issue_problem(e);
            let json = serde_json::to_string(&problem).ok();
            store::acme::orders::transition(
                &mut tx,
                order.id,
                "processing",
                "invalid",
                json.as_deref(),
                Utc::now(),
            )
            .await?;
            tx.commit().await?;
            Err(problem)
        }
    }
}

/// The CSR must name exactly the order's identifiers (RFC 8555 §7.4): its
/// DNS and IP subjectAltNames, and its common name if it has one.
fn check_names(order: &OrderView, csr: &pki::CsrInfo) -> Result<(), Problem> {
    let mut wanted: Vec<String> = order
        .identifiers
        .iter()
        .map(|i| i.value.to_ascii_lowercase())
        .collect();
    wanted.sort();
    wanted.dedup();
    let mut named: Vec<String> = csr
        .sans
        .dns
        .iter()
        .map(|n| n.to_ascii_lowercase())
        .chain(csr.sans.ips.iter().map(|ip| ip.to_string()))
        .collect();
    named.sort();
    named.dedup();
    if !csr.sans.emails.is_empty() {
        return Err(Problem::new(
            ProblemType::BadCsr,
            "the CSR asks for e-mail addresses, which an order cannot prove",
        ));
    }
    if named != wanted {
        return Err(Problem::new(
            ProblemType::BadCsr,
            format!(
                "the CSR names [{}] but the order is for [{}]",
                named.join(", "),
                wanted.join(", ")
            ),
        ));
    }
    if let Some(cn) = &csr.common_name {
        let cn = cn.to_ascii_lowercase();
        let cn = cn
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.to_string())
            .unwrap_or(cn);
        if !wanted.contains(&cn) {
            return Err(Problem::new(
                ProblemType::BadCsr,
                format!("the CSR's common name {cn:?} is not one of the order's identifiers"),
            ));
        }
    }
    Ok(())
}

/// The certificate's common name: the CSR's, else the first DNS identifier
/// (IP addresses only: the first address), if it fits in 64 characters.
fn common_name(order: &OrderView, requested: Option<&str>) -> String {
    if let Some(cn) = requested {
        return cn.to_ascii_lowercase();
    }
    order
        .identifiers
        .iter()
        .find(|i| i.kind == "dns" && i.value.len() <= 64)
        .or_else(|| order.identifiers.first())
        .map(|i| i.value.clone())
        .unwrap_or_default()
}

/// What an issuance failure is in ACME's words.
fn issue_problem(e: Error) -> Problem {
    match e.classified() {
        Error::BadRequest(m) => Problem::new(ProblemType::BadCsr, m),
        Error::Validation(_) => Problem::new(ProblemType::BadCsr, "the request is invalid"),
        Error::BadRequestCoded(v) | Error::ForbiddenCoded(v) => {
            if v.get("code").and_then(|c| c.as_str()) == Some("policy_violation") {
                Problem::new(
                    ProblemType::RejectedIdentifier,
                    format!(
                        "the issuance policy of this directory refuses {} {}",
                        v.get("field").and_then(|f| f.as_str()).unwrap_or("a value"),
                        v.get("value").cloned().unwrap_or_default()
                    ),
                )
            } else {
                Problem::new(
                    ProblemType::Unauthorized,
                    v.get("message")
                        .and_then(|m| m.as_str())
                        .unwrap_or("refused by the issuance rules")
                        .to_owned(),
                )
            }
        }
        Error::Forbidden(m) | Error::Unauthorized(m) => Problem::new(ProblemType::Unauthorized, m),
        Error::TooManyRequests { message, .. } => Problem::new(ProblemType::RateLimited, message),
        Error::NotFound(m)
        | Error::Conflict(m)
        | Error::Unavailable(m)
        | Error::PayloadTooLarge(m) => {
            tracing::error!(detail = %m, "ACME issuance failed");
            Problem::new(ProblemType::ServerInternal, m)
        }
        Error::DatabaseUnavailable(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "ACME issuance: the database is unavailable"
            );
            Problem::database_unavailable()
        }
        Error::Internal(e) => {
            tracing::error!(error = %e, "ACME issuance failed");
            Problem::internal()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::acme::Identifier;

    fn order(ids: &[Identifier]) -> OrderView {
        OrderView {
            id: 1,
            status: "ready".into(),
            expires_at: Utc::now(),
            identifiers: ids.to_vec(),
            not_before: None,
            not_after: None,
            error: None,
            authorization_ids: vec![],
            certificate_id: None,
            replaces: None,
        }
    }

    fn csr(cn: Option<&str>, dns: &[&str], ips: &[&str]) -> pki::CsrInfo {
        pki::CsrInfo {
            subject: pki::DistinguishedName::default(),
            common_name: cn.map(Into::into),
            sans: pki::Sans {
                dns: dns.iter().map(|s| s.to_string()).collect(),
                ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
                emails: vec![],
            },
            public_key_der: vec![],
            algorithm: pki::KeyAlgorithm::Ed25519,
        }
    }

    #[test]
    fn the_csr_names_exactly_the_order() {
        let o = order(&[
            Identifier::dns("a.test"),
            Identifier::dns("*.b.test"),
            Identifier::ip("10.0.0.1"),
        ]);
        assert!(check_names(&o, &csr(None, &["A.test", "*.b.test"], &["10.0.0.1"])).is_ok());
        assert!(
            check_names(
                &o,
                &csr(Some("a.test"), &["a.test", "*.b.test"], &["10.0.0.1"])
            )
            .is_ok()
        );
        assert!(
            check_names(
                &o,
                &csr(Some("10.0.0.1"), &["a.test", "*.b.test"], &["10.0.0.1"])
            )
            .is_ok()
        );
        for (cn, dns, ips) in [
            (None, vec!["a.test"], vec!["10.0.0.1"]),
            (None, vec!["a.test", "*.b.test", "c.test"], vec!["10.0.0.1"]),
            (None, vec!["a.test", "*.b.test"], vec![]),
            (Some("c.test"), vec!["a.test", "*.b.test"], vec!["10.0.0.1"]),
        ] {
            let err = check_names(&o, &csr(cn, &dns, &ips)).unwrap_err();
            assert_eq!(err.kind, ProblemType::BadCsr, "{cn:?} {dns:?} {ips:?}");
        }
    }

    #[test]
    fn the_common_name_is_the_csrs_or_the_first_dns_name() {
        let o = order(&[Identifier::ip("10.0.0.1"), Identifier::dns("a.test")]);
        assert_eq!(common_name(&o, Some("A.test")), "a.test");
        assert_eq!(common_name(&o, None), "a.test");
        assert_eq!(
            common_name(&order(&[Identifier::ip("10.0.0.1")]), None),
            "10.0.0.1"
        );
    }
}
