//! Subject order and validity of what is signed.

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

/// The subject as encoded in certificates: attributes in the order X.500 and
/// the CA/Browser Forum expect (DC, C, ST, L, postalCode, street, O, SN, GN,
/// OU, CN, then the rest as given), whatever order the caller wrote them in.
pub fn canonical_subject(dn: &pki::DistinguishedName) -> Result<pki::DistinguishedName> {
    const ORDER: [&str; 11] = [
        "DC",
        "C",
        "ST",
        "L",
        "postalCode",
        "STREET",
        "O",
        "SN",
        "GN",
        "OU",
        "CN",
    ];
    let rank = |key: &str| {
        ORDER
            .iter()
            .position(|k| k.eq_ignore_ascii_case(key))
            .unwrap_or(ORDER.len())
    };
    let mut attrs: Vec<&pki::DnAttribute> = dn.attributes().iter().collect();
    attrs.sort_by_key(|a| rank(&a.key()));
    let mut out = pki::DistinguishedName::new();
    for a in attrs {
        out.push(&a.key(), a.value())?;
    }
    Ok(out)
}

/// Whole days between two instants, rounded up (what `valid_days` reports).
pub fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    let secs = (to - from).num_seconds().max(0);
    (secs + 86_399) / 86_400
}

/// Validity from now for `days`, never past the issuer's end.
pub fn validity(
    now: DateTime<Utc>,
    days: i64,
    issuer_not_after: Option<DateTime<Utc>>,
) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    // RFC 5280 validity includes both ends: `days` days means notAfter one second short of now + days.
    let now = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    let mut not_after = now + chrono::Duration::days(days) - chrono::Duration::seconds(1);
    if let Some(limit) = issuer_not_after {
        if limit <= now {
            return Err(Error::BadRequest("The issuing CA has expired".into()));
        }
        not_after = not_after.min(limit);
    }
    Ok((now, not_after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_encoded_in_canonical_order() {
        let dn = pki::parse_dn("CN=api.example.com,OU=Ops,O=Acme,L=Lyon,ST=Rhone,C=FR,1.2.3.4=x")
            .unwrap();
        assert_eq!(
            canonical_subject(&dn).unwrap().to_string(),
            pki::parse_dn("C=FR,ST=Rhone,L=Lyon,O=Acme,OU=Ops,CN=api.example.com,1.2.3.4=x")
                .unwrap()
                .to_string()
        );
    }

    #[test]
    fn validity_is_inclusive_and_clamped() {
        let now = Utc::now();
        let (nb, na) = validity(now, 30, None).unwrap();
        assert_eq!((na - nb).num_seconds(), 30 * 86_400 - 1);
        let (_, na) = validity(now, 30, Some(now + chrono::Duration::days(2))).unwrap();
        assert_eq!(na, now + chrono::Duration::days(2));
        assert!(validity(now, 30, Some(now - chrono::Duration::seconds(1))).is_err());
    }

    #[test]
    fn days_round_up() {
        let t = Utc::now();
        assert_eq!(days_between(t, t + chrono::Duration::days(30)), 30);
        assert_eq!(days_between(t, t + chrono::Duration::hours(25)), 2);
    }
}
