//! The public names of a CA: its slug and the CRL and certificate URLs
//! written into what it signs.

use crate::store::cas::CaRow;

/// `{slug(name)}-{id}`: lowercase; only letters, digits, `_`, `-` and spaces
/// kept; runs of spaces, underscores and hyphens become one hyphen; trimmed.
pub fn slug(name: &str, id: i64) -> String {
    let kept: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ' '))
        .collect();
    let mut out = String::with_capacity(kept.len());
    let mut pending_hyphen = false;
    for c in kept.chars() {
        if matches!(c, '_' | '-' | ' ') {
            pending_hyphen = true;
        } else {
            if pending_hyphen && !out.is_empty() {
                out.push('-');
            }
            pending_hyphen = false;
            out.push(c);
        }
    }
    format!("{out}-{id}")
}

/// A CA's CRL and certificate URLs, on its own `crl_base_url` or the request's base URL.
pub fn public_urls(base_url: &str, ca: &CaRow) -> (String, String) {
    let base = ca
        .crl_base_url
        .as_deref()
        .unwrap_or(base_url)
        .trim_end_matches('/');
    // Slugs keep non-ASCII letters; URLs in certificates must be ASCII.
    let slug = percent_encode(&slug(&ca.name, ca.id));
    (
        format!("{base}/crl/{slug}"),
        format!("{base}/ca/{slug}.crt"),
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("Acme Issuing CA", 3), "acme-issuing-ca-3");
        assert_eq!(slug("  Weird__Name--é!! ", 7), "weird-name-é-7");
        assert_eq!(slug("a/../b", 1), "ab-1");
        assert_eq!(slug("!!!", 2), "-2");
    }

    #[test]
    fn urls_in_certificates_are_ascii() {
        assert_eq!(percent_encode("zürich-ca-4"), "z%C3%BCrich-ca-4");
        assert_eq!(percent_encode("plain-ca-1"), "plain-ca-1");
    }
}
