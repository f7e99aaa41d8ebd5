//! The reason a certificate or CA is revoked, as the API takes it: free text
//! and/or an RFC 5280 CRLReason code (`pki::RevocationReason`).

use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct Revoke {
    #[serde(default)]
    pub reason: Option<String>,
    /// RFC 5280 CRLReason code (0-6, 9, 10).
    #[serde(default)]
    pub reason_code: Option<i64>,
}

/// The end of an audit entry about a revocation: `": <reason>"`, or nothing.
pub fn reason_suffix(reason: Option<&str>) -> String {
    reason.map(|r| format!(": {r}")).unwrap_or_default()
}

/// Reason text and code: the code given, or the one the text names (RFC 5280).
pub fn revocation_reason(input: &Revoke) -> Result<(Option<String>, Option<i64>)> {
    let text = input
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if text.is_some_and(|t| t.chars().count() > 512) {
        return Err(Error::validation(
            "reason",
            "reason must be at most 512 characters",
        ));
    }
    let reason = match input.reason_code {
        Some(c) => match pki::RevocationReason::from_code(c).filter(|r| !r.delta_only()) {
            Some(r) => Some(r),
            None => {
                return Err(Error::Validation(vec![crate::error::FieldError::body(
                    "reason_code",
                    "reason_code must be an RFC 5280 CRLReason: 0-6, 9 or 10 (8, removeFromCRL, only exists in delta CRLs)",
                )]));
            }
        },
        None => text
            .and_then(pki::RevocationReason::from_text)
            .filter(|r| !r.delta_only()),
    };
    let text = text
        .map(str::to_string)
        .or_else(|| reason.map(|r| r.name().to_string()));
    Ok((text, reason.map(|r| i64::from(r.code()))))
}
