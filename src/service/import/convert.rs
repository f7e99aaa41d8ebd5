//! FastPKI 0.4 values into ours (pure): the enum names SQLAlchemy stores,
//! JSON lists, serials, and what an audit entry's text says.

/// `SUPERUSER` -> `superuser`; None for a role we do not have.
pub fn role(stored: &str) -> Option<&'static str> {
    match stored.trim().to_ascii_lowercase().as_str() {
        "superuser" => Some("superuser"),
        "admin" => Some("admin"),
        "user" => Some("user"),
        _ => None,
    }
}

/// `DUAL_PURPOSE` -> `dual_purpose`; None for a type we do not have.
pub fn cert_type(stored: &str) -> Option<&'static str> {
    match stored.trim().to_ascii_lowercase().as_str() {
        "server" => Some("server"),
        "client" => Some("client"),
        "dual_purpose" => Some("dual_purpose"),
        "ca" => Some("ca"),
        _ => None,
    }
}

/// True for `REVOKED`. `EXPIRED` is stored as `valid`: we derive expiry from
/// `not_after` when showing a certificate.
pub fn is_revoked_status(stored: &str) -> bool {
    stored.trim().eq_ignore_ascii_case("revoked")
}

/// `CERT_CREATE` -> `cert_create` (FastPKI's actions are the first twenty of ours).
pub fn audit_action(stored: &str) -> String {
    stored.trim().to_ascii_lowercase()
}

/// A JSON list of strings (NULL is the empty list, as FastPKI reads it).
pub fn strings(json: Option<&str>) -> Result<Vec<String>, serde_json::Error> {
    match json
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "null")
    {
        None => Ok(Vec::new()),
        Some(j) => serde_json::from_str(j),
    }
}

/// A JSON list of ids.
pub fn ids(json: Option<&str>) -> Result<Vec<i64>, serde_json::Error> {
    match json
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "null")
    {
        None => Ok(Vec::new()),
        Some(j) => serde_json::from_str(j),
    }
}

/// A serial as a key: lowercase hex without leading zeros (FastPKI writes
/// `format(n, "x")`, we write whole octets; both name the same number).
pub fn serial_key(serial: &str) -> String {
    let s = serial.trim().to_ascii_lowercase();
    let s = s.trim_start_matches('0');
    if s.is_empty() { "0".into() } else { s.into() }
}

/// The token id an entry `Revoked token 2 for service account 'ci'` names.
pub fn revoked_token_id(detail: &str) -> Option<i64> {
    let rest = detail.strip_prefix("Revoked token ")?;
    rest.split_whitespace().next()?.parse().ok()
}

/// What tells one FastPKI deployment from another: a digest of its first
/// rows (`Source::identity`), short and safe to store.
pub fn fingerprint(identity: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, identity.as_bytes());
    hex::encode(&d.as_ref()[..16])
}

/// A name not in `taken`: `name (imported)`, then `name (imported 2)`...
pub fn imported_name(name: &str, n: usize) -> String {
    if n <= 1 {
        format!("{name} (imported)")
    } else {
        format!("{name} (imported {n})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_names_become_ours() {
        assert_eq!(role("SUPERUSER"), Some("superuser"));
        assert_eq!(role("admin"), Some("admin"));
        assert_eq!(role("OWNER"), None);
        assert_eq!(cert_type("DUAL_PURPOSE"), Some("dual_purpose"));
        assert_eq!(cert_type("SERVER"), Some("server"));
        assert_eq!(cert_type("CODE_SIGNING"), None);
        assert!(is_revoked_status("REVOKED"));
        assert!(!is_revoked_status("EXPIRED"));
        assert_eq!(
            audit_action("SERVICE_ACCOUNT_TOKEN_REVOKE"),
            "service_account_token_revoke"
        );
    }

    #[test]
    fn lists_serials_and_details() {
        assert_eq!(strings(Some(r#"["a", "b"]"#)).unwrap(), ["a", "b"]);
        assert!(strings(None).unwrap().is_empty());
        assert!(strings(Some("null")).unwrap().is_empty());
        assert_eq!(ids(Some("[2, 5]")).unwrap(), [2, 5]);
        assert!(ids(Some("[\"x\"]")).is_err());
        assert_eq!(serial_key("05306B"), "5306b");
        assert_eq!(serial_key("5306b"), "5306b");
        assert_eq!(
            revoked_token_id("Revoked token 2 for service account 'ci-runner'"),
            Some(2)
        );
        assert_eq!(revoked_token_id("Minted token"), None);
        assert_eq!(fingerprint("x").len(), 32);
        assert_eq!(imported_name("ci", 1), "ci (imported)");
        assert_eq!(imported_name("ci", 3), "ci (imported 3)");
    }
}
