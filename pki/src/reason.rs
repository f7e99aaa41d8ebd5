//! Revocation reasons: RFC 5280 section 5.3.1 CRLReason.

use std::fmt;

/// An RFC 5280 CRLReason (code 7 is unused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// 0: no reason given (written as no reason extension).
    Unspecified,
    /// 1: the subject's private key was compromised.
    KeyCompromise,
    /// 2: the CA's private key was compromised.
    CaCompromise,
    /// 3: the subject's name or other information changed.
    AffiliationChanged,
    /// 4: the certificate was replaced.
    Superseded,
    /// 5: the certificate is no longer needed.
    CessationOfOperation,
    /// 6: the certificate is on hold.
    CertificateHold,
    /// 8: the certificate leaves the hold; only delta CRLs carry it.
    RemoveFromCrl,
    /// 9: a privilege in the certificate was withdrawn.
    PrivilegeWithdrawn,
    /// 10: the attribute authority was compromised.
    AaCompromise,
}

impl RevocationReason {
    /// Every reason, by code.
    pub const ALL: [Self; 10] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::CaCompromise,
        Self::AffiliationChanged,
        Self::Superseded,
        Self::CessationOfOperation,
        Self::CertificateHold,
        Self::RemoveFromCrl,
        Self::PrivilegeWithdrawn,
        Self::AaCompromise,
    ];

    /// The reason of a CRLReason code; `None` for 7 and codes outside 0-10.
    pub fn from_code(code: impl Into<i64>) -> Option<Self> {
        let code = code.into();
        Self::ALL.into_iter().find(|r| i64::from(r.code()) == code)
    }

    /// The CRLReason code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Unspecified => 0,
            Self::KeyCompromise => 1,
            Self::CaCompromise => 2,
            Self::AffiliationChanged => 3,
            Self::Superseded => 4,
            Self::CessationOfOperation => 5,
            Self::CertificateHold => 6,
            Self::RemoveFromCrl => 8,
            Self::PrivilegeWithdrawn => 9,
            Self::AaCompromise => 10,
        }
    }

    /// The RFC 5280 name (`keyCompromise`, `cACompromise`...).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "keyCompromise",
            Self::CaCompromise => "cACompromise",
            Self::AffiliationChanged => "affiliationChanged",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessationOfOperation",
            Self::CertificateHold => "certificateHold",
            Self::RemoveFromCrl => "removeFromCRL",
            Self::PrivilegeWithdrawn => "privilegeWithdrawn",
            Self::AaCompromise => "aACompromise",
        }
    }

    /// The reason an RFC 5280 name names, ignoring case, spaces, hyphens and underscores
    /// (`keyCompromise`, `key compromise`, `KEY_COMPROMISE`...).
    pub fn from_text(s: &str) -> Option<Self> {
        let norm: String = s
            .chars()
            .filter(|c| !matches!(c, ' ' | '_' | '-'))
            .flat_map(char::to_lowercase)
            .collect();
        Self::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(&norm))
    }

    /// True for the reason only delta CRLs may carry (removeFromCRL).
    pub const fn delta_only(self) -> bool {
        matches!(self, Self::RemoveFromCrl)
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_from_text() {
        for (text, code) in [
            ("keyCompromise", 1),
            ("key compromise", 1),
            ("Key compromise", 1),
            ("KEY_COMPROMISE", 1),
            ("key-compromise", 1),
            ("cACompromise", 2),
            ("caCompromise", 2),
            ("CA compromise", 2),
            ("affiliationChanged", 3),
            ("affiliation changed", 3),
            ("superseded", 4),
            ("cessationOfOperation", 5),
            ("cessation of operation", 5),
            ("certificateHold", 6),
            ("certificate_hold", 6),
            ("removeFromCRL", 8),
            ("remove from crl", 8),
            ("privilegeWithdrawn", 9),
            ("aACompromise", 10),
            ("aa compromise", 10),
            ("unspecified", 0),
            ("Unspecified", 0),
        ] {
            assert_eq!(
                RevocationReason::from_text(text).map(RevocationReason::code),
                Some(code),
                "{text}"
            );
        }
        for bad in ["", "compromised", "7", "key", "lost"] {
            assert_eq!(RevocationReason::from_text(bad), None, "{bad}");
        }
    }

    #[test]
    fn codes_and_names() {
        assert_eq!(
            RevocationReason::from_code(1u8),
            Some(RevocationReason::KeyCompromise)
        );
        assert_eq!(RevocationReason::KeyCompromise.name(), "keyCompromise");
        assert_eq!(RevocationReason::CaCompromise.to_string(), "cACompromise");
        for bad in [-1, 7, 11, 256, i64::MAX, i64::MIN] {
            assert_eq!(RevocationReason::from_code(bad), None, "{bad}");
        }
        for (i, r) in RevocationReason::ALL.into_iter().enumerate() {
            assert_eq!(RevocationReason::from_code(r.code()), Some(r));
            assert_eq!(RevocationReason::from_code(i64::from(r.code())), Some(r));
            assert_eq!(RevocationReason::from_text(r.name()), Some(r));
            assert_eq!(r.to_string(), r.name());
            assert_eq!(r.delta_only(), r.code() == 8);
            // In code order.
            assert!(i == 0 || RevocationReason::ALL[i - 1].code() < r.code());
        }
    }
}
