//! Certificate validity periods: from `now` for a number of days, within the issuer's.

use chrono::{DateTime, Duration, Utc};

use crate::error::PkiError;

/// Validity from `now` (to the second) for `days` days, never past the issuer's end.
///
/// RFC 5280 validity includes both ends: `days` days means notAfter one second short of
/// `now + days`. Fails with [`PkiError::IssuerExpired`] when the issuer ends at or before
/// `now`, and with [`PkiError::InvalidInput`] when the end is out of chrono's range.
pub fn validity(
    now: DateTime<Utc>,
    days: i64,
    issuer_not_after: Option<DateTime<Utc>>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), PkiError> {
    let now = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    let mut not_after = Duration::try_days(days)
        .and_then(|d| now.checked_add_signed(d))
        .and_then(|t| t.checked_sub_signed(Duration::seconds(1)))
        .ok_or_else(|| {
            PkiError::InvalidInput(format!("a validity of {days} days is out of range"))
        })?;
    if let Some(limit) = issuer_not_after {
        if limit <= now {
            return Err(PkiError::IssuerExpired);
        }
        not_after = not_after.min(limit);
    }
    Ok((now, not_after))
}

/// Whole days between two instants, rounded up (what `valid_days` reports); 0 when `to`
/// is not after `from`.
pub fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    let secs = (to - from).num_seconds().max(0);
    (secs + 86_399) / 86_400
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::now;

    #[test]
    fn validity_is_inclusive_and_clamped() {
        let now = now();
        let (nb, na) = validity(now, 30, None).unwrap();
        assert_eq!(nb, now);
        assert_eq!((na - nb).num_seconds(), 30 * 86_400 - 1);
        let (_, na) = validity(now, 30, Some(now + Duration::days(2))).unwrap();
        assert_eq!(na, now + Duration::days(2));
        assert_eq!(
            validity(now, 30, Some(now - Duration::seconds(1))),
            Err(PkiError::IssuerExpired)
        );
        assert_eq!(
            validity(now, 30, Some(now)).unwrap_err().to_string(),
            "The issuing CA has expired"
        );
    }

    #[test]
    fn validity_starts_on_a_whole_second() {
        let now = now() + Duration::milliseconds(750);
        let (nb, na) = validity(now, 1, None).unwrap();
        assert_eq!(nb, crate::testutil::now());
        assert_eq!(na, nb + Duration::days(1) - Duration::seconds(1));
    }

    #[test]
    fn out_of_range_validity_is_an_error() {
        for days in [i64::MAX, i64::MIN, 400_000_000] {
            assert!(matches!(
                validity(now(), days, None),
                Err(PkiError::InvalidInput(_))
            ));
        }
    }

    #[test]
    fn days_round_up() {
        let t = now();
        assert_eq!(days_between(t, t + Duration::days(30)), 30);
        assert_eq!(days_between(t, t + Duration::hours(25)), 2);
        assert_eq!(
            days_between(t, t + Duration::days(30) - Duration::seconds(1)),
            30
        );
        assert_eq!(days_between(t, t), 0);
        assert_eq!(days_between(t, t - Duration::days(1)), 0);
    }
}
