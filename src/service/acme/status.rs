//! The status an order or authorization has now (RFC 8555 §7.1.6), from the
//! status last written, its expiry and, for an order, its authorizations.
//! Pure: the use cases write a changed status back.

use chrono::{DateTime, Utc};

/// An authorization past its expiry is `expired` unless it already ended.
pub fn authorization(stored: &str, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> &str {
    match stored {
        "pending" | "valid" if expires_at <= now => "expired",
        other => other,
    }
}

/// Why an order is `invalid` now, when it just became so.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Expired,
    /// The authorization (by position) that ended without being valid.
    Authorization(usize),
}

/// An order's status now, and why when it just became `invalid`.
pub fn order(
    stored: &str,
    expires_at: DateTime<Utc>,
    authorizations: &[&str],
    now: DateTime<Utc>,
) -> (&'static str, Option<Ended>) {
    match stored {
        "valid" => return ("valid", None),
        "invalid" => return ("invalid", None),
        "processing" => return ("processing", None),
        _ => {}
    }
    if expires_at <= now {
        return ("invalid", Some(Ended::Expired));
    }
    if stored == "ready" {
        return ("ready", None);
    }
    if let Some(i) = authorizations
        .iter()
        .position(|s| matches!(*s, "invalid" | "deactivated" | "expired" | "revoked"))
    {
        return ("invalid", Some(Ended::Authorization(i)));
    }
    if !authorizations.is_empty() && authorizations.iter().all(|s| *s == "valid") {
        return ("ready", None);
    }
    ("pending", None)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn authorizations_expire_unless_ended() {
        let now = Utc::now();
        let past = now - Duration::seconds(1);
        let future = now + Duration::hours(1);
        assert_eq!(authorization("pending", future, now), "pending");
        assert_eq!(authorization("valid", future, now), "valid");
        assert_eq!(authorization("pending", past, now), "expired");
        assert_eq!(authorization("valid", past, now), "expired");
        assert_eq!(authorization("invalid", past, now), "invalid");
        assert_eq!(authorization("deactivated", past, now), "deactivated");
    }

    #[test]
    fn an_order_follows_its_authorizations() {
        let now = Utc::now();
        let future = now + Duration::hours(1);
        assert_eq!(
            order("pending", future, &["pending", "valid"], now),
            ("pending", None)
        );
        assert_eq!(
            order("pending", future, &["valid", "valid"], now),
            ("ready", None)
        );
        assert_eq!(
            order("pending", future, &["valid", "invalid"], now),
            ("invalid", Some(Ended::Authorization(1)))
        );
        assert_eq!(
            order("pending", future, &["deactivated"], now),
            ("invalid", Some(Ended::Authorization(0)))
        );
        assert_eq!(
            order("pending", future, &["expired", "pending"], now),
            ("invalid", Some(Ended::Authorization(0)))
        );
        assert_eq!(order("pending", future, &[], now), ("pending", None));
    }

    #[test]
    fn an_order_expires_until_it_is_processed() {
        let now = Utc::now();
        let past = now - Duration::seconds(1);
        assert_eq!(
            order("pending", past, &["valid"], now),
            ("invalid", Some(Ended::Expired))
        );
        assert_eq!(
            order("ready", past, &["valid"], now),
            ("invalid", Some(Ended::Expired))
        );
        assert_eq!(
            order("processing", past, &["valid"], now),
            ("processing", None)
        );
        assert_eq!(order("valid", past, &["expired"], now), ("valid", None));
        assert_eq!(order("invalid", now, &["valid"], now), ("invalid", None));
        assert_eq!(
            order("ready", now + Duration::hours(1), &["valid"], now),
            ("ready", None)
        );
    }
}
