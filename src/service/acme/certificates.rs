//! ACME certificates (RFC 8555 §7.4.2, §7.6): the PEM chain an order issued,
//! and revocation by the account that ordered it or by the certificate's key.

use super::directory;
use super::problem::{Problem, ProblemType};
use crate::error::Error;
use crate::service::export::ensure_newline;
use crate::service::revocation::Revoke;
use crate::service::{AppState, cas, certs};
use crate::store::{self, acme::accounts::AccountRow, acme::directories::DirectoryRow};

/// `POST /cert/{id}`: the certificate, then each CA up to (not including)
/// the root, as clients install them; a certificate issued by the root
/// itself is followed by the root (clients such as certbot refuse a chain of
/// one). The certificate must have been issued by an order of `account`.
pub async fn chain(
    state: &AppState,
    account: &AccountRow,
    cert_id: i64,
) -> Result<String, Problem> {
    let mut c = state.db.read().await?;
    let order = store::acme::orders::by_certificate(&mut c, cert_id).await?;
    if order.is_none_or(|o| o.account_id != account.id) {
        return Err(Problem::malformed("no such certificate for this account").with_status(404));
    }
    let row = store::certs::get(&mut c, cert_id)
        .await?
        .ok_or_else(|| Problem::malformed("no such certificate").with_status(404))?;
    drop(c);
    let issuer = cas::load(state, row.issuer_id).await.map_err(internal)?;
    let mut pem = ensure_newline(row.certificate);
    let chain = cas::chain_rows(state, issuer).await.map_err(internal)?;
    let single = chain.len() == 1;
    for ca in chain {
        if single || !ca.is_root {
            pem.push_str(&ensure_newline(ca.certificate));
        }
        // A CA signed outside FastPKI: its outside intermediates too, not their root.
        if let Some(external) = &ca.external_chain {
            for der in
                pki::read_certificates(external.as_bytes()).map_err(|_| Problem::internal())?
            {
                if !pki::inspect_cert(&der).is_ok_and(|i| i.self_issued) {
                    pem.push_str(&pki::cert_der_to_pem(&der));
                }
            }
        }
    }
    Ok(pem)
}

fn internal(e: Error) -> Problem {
    match e.classified() {
        Error::DatabaseUnavailable(cause) => {
            tracing::warn!(
                error = format!("{cause:#}"),
                "ACME certificate lookup: the database is unavailable"
            );
            Problem::database_unavailable()
        }
        e => {
            tracing::error!(error = %e, "ACME certificate lookup failed");
            Problem::internal()
        }
    }
}

/// Whether `account` holds a valid authorization for every DNS name and IP
/// address of a certificate (a `*.` name needs the wildcard authorization).
async fn authorized_for_all(
    c: &mut crate::store::Conn,
    account: i64,
    sans: &pki::Sans,
) -> Result<bool, Problem> {
    if sans.dns.is_empty() && sans.ips.is_empty() {
        return Ok(false);
    }
    let now = chrono::Utc::now();
    for name in &sans.dns {
        let name = name.to_ascii_lowercase();
        let (value, wildcard) = match name.strip_prefix("*.") {
            Some(base) => (base.to_owned(), true),
            None => (name, false),
        };
        if !store::acme::authorizations::holds_valid(c, account, "dns", &value, wildcard, now)
            .await?
        {
            return Ok(false);
        }
    }
    for ip in &sans.ips {
        let ip = ip.to_string();
        if !store::acme::authorizations::holds_valid(c, account, "ip", &ip, false, now).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Who asks for a revocation.
pub enum Revoker<'a> {
    /// An account of the directory: it must have ordered the certificate.
    Account(&'a AccountRow),
    /// The holder of the certificate's key; the function says whether a
    /// public key (SPKI DER) is the key that signed the request.
    CertificateKey(&'a (dyn Fn(&[u8]) -> bool + Sync)),
}

/// `POST /revoke-cert` (RFC 8555 §7.6): a certificate of this directory's CA,
/// given as DER, revoked with an RFC 5280 reason code (default 0).
pub async fn revoke(
    state: &AppState,
    dir: &DirectoryRow,
    who: Revoker<'_>,
    der: &[u8],
    reason: Option<i64>,
) -> Result<(), Problem> {
    if let Some(code) = reason
        && (pki::RevocationReason::from_code(code).is_none_or(|r| r.delta_only()) || code == 7)
    {
        return Err(Problem::new(
            ProblemType::BadRevocationReason,
            format!("{code} is not a revocation reason this CA accepts (0-6, 9, 10)"),
        ));
    }
    let info = pki::inspect_cert(der)
        .map_err(|e| Problem::malformed(format!("the certificate cannot be read: {e}")))?;
    let unknown = || {
        Problem::new(
            ProblemType::Unauthorized,
            "this directory did not issue this certificate",
        )
    };
    let row = {
        let mut c = state.db.read().await?;
        store::certs::by_serial(&mut c, dir.ca_id, &info.serial_hex).await?
    }
    .ok_or_else(unknown)?;
    // The serial is the CA's; the bytes must be the certificate it signed.
    let stored = pki::cert_pem_to_der(&row.certificate).map_err(|_| Problem::internal())?;
    if stored != der {
        return Err(unknown());
    }
    let account_service_account = match who {
        Revoker::Account(account) => {
            let mut c = state.db.read().await?;
            let order = store::acme::orders::by_certificate(&mut c, row.id).await?;
            let ordered = order.is_some_and(|o| o.account_id == account.id);
            // RFC 8555 §7.6: the account that ordered it, or one that holds
            // valid authorizations for every identifier in it.
            if !ordered && !authorized_for_all(&mut c, account.id, &info.sans).await? {
                return Err(Problem::new(
                    ProblemType::Unauthorized,
                    "this account neither ordered this certificate nor holds authorizations for all its names",
                ));
            }
            account.service_account_id
        }
        Revoker::CertificateKey(is_signing_key) => {
            if !is_signing_key(&info.public_key_der) {
                return Err(Problem::new(
                    ProblemType::Unauthorized,
                    "the request is not signed by the certificate's key",
                ));
            }
            None
        }
    };
    if row.revoked_at.is_some() {
        return Err(Problem::new(
            ProblemType::AlreadyRevoked,
            "the certificate is already revoked",
        ));
    }
    let principal = directory::issuer_principal(state, dir, account_service_account).await?;
    let input = Revoke {
        reason: None,
        reason_code: Some(reason.unwrap_or(0)),
    };
    match certs::revoke_row(state, &principal, row, &input).await {
        Ok(_) => Ok(()),
        Err(Error::Conflict(_)) => Err(Problem::new(
            ProblemType::AlreadyRevoked,
            "the certificate is already revoked",
        )),
        Err(e) => Err(internal(e)),
    }
}
