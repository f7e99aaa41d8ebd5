//! ACME Renewal Information (RFC 9773): when a certificate of this directory
//! should be renewed, and which certificate a new order `replaces`.

use chrono::{DateTime, Duration, Utc};

use super::problem::{Problem, ProblemType};
use crate::service::AppState;
use crate::store::{
    self, acme::accounts::AccountRow, acme::directories::DirectoryRow, certs::CertRow,
};

/// A certificate named by its RFC 9773 CertID parts: the authority key
/// identifier and the serial number's DER content octets.
pub struct CertId<'a> {
    pub key_identifier: &'a [u8],
    pub serial: &'a [u8],
}

/// The certificate of `dir`'s CA a CertID names.
async fn find(state: &AppState, dir: &DirectoryRow, id: &CertId<'_>) -> Result<CertRow, Problem> {
    let start = id
        .serial
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(id.serial.len());
    let serial_hex = hex::encode(&id.serial[start..]);
    let row = {
        let mut c = state.db.read().await?;
        store::certs::by_serial(&mut c, dir.ca_id, &serial_hex).await?
    };
    let row = row.ok_or_else(|| {
        Problem::malformed("no certificate of this directory has that CertID").with_status(404)
    })?;
    // The key identifier must be the issuer's, as the certificate's AKI says.
    let info = pki::inspect_cert(row.certificate.as_bytes()).map_err(|_| Problem::internal())?;
    if info.aki_hex.as_deref() != Some(hex::encode(id.key_identifier).as_str()) {
        return Err(Problem::malformed(
            "the CertID's key identifier is not this certificate's issuer's",
        )
        .with_status(404));
    }
    Ok(row)
}

/// The suggested renewal window: the middle of the last third of the
/// validity (as Let's Encrypt suggests), or now for a revoked certificate.
pub async fn window(
    state: &AppState,
    dir: &DirectoryRow,
    id: &CertId<'_>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), Problem> {
    let row = find(state, dir, id).await?;
    Ok(suggested_window(
        row.not_before,
        row.not_after,
        row.revoked_at.is_some(),
        Utc::now(),
    ))
}

/// Pure: the window for a validity, revoked or not.
pub fn suggested_window(
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    revoked: bool,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    if revoked {
        return (now - Duration::hours(1), now);
    }
    let life = not_after - not_before;
    (not_before + life * 2 / 3, not_before + life * 5 / 6)
}

/// Checks the `replaces` of a new order: a certificate this account ordered.
pub async fn check_replaces(
    state: &AppState,
    dir: &DirectoryRow,
    account: &AccountRow,
    id: &CertId<'_>,
) -> Result<(), Problem> {
    let row = find(state, dir, id)
        .await
        .map_err(|_| Problem::malformed("\"replaces\" names no certificate of this directory"))?;
    let mut c = state.db.read().await?;
    let order = store::acme::orders::by_certificate(&mut c, row.id).await?;
    if order.is_none_or(|o| o.account_id != account.id) {
        return Err(Problem::new(
            ProblemType::Unauthorized,
            "\"replaces\" names a certificate this account did not order",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_in_the_last_third() {
        let nb = Utc::now();
        let na = nb + Duration::days(90);
        let (s, e) = suggested_window(nb, na, false, nb);
        assert_eq!(s, nb + Duration::days(60));
        assert_eq!(e, nb + Duration::days(75));
        let (s, e) = suggested_window(nb, na, true, nb + Duration::days(1));
        assert!(s < e && e == nb + Duration::days(1));
    }
}
