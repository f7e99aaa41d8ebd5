//! Reading DN strings: [`parse_dn`] for input, [`parse_stored_dn`] and
//! [`normalize_stored_dn`] for strings stored before values were escaped as RFC 4514 requires.

use std::borrow::Cow;
use std::str::FromStr;

use super::attributes::resolve_key;
use super::{DistinguishedName, DnAttribute, MAX_DN_ATTRIBUTES, MAX_DN_LEN};
use crate::error::PkiError;

impl FromStr for DistinguishedName {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_dn(s)
    }
}

/// A character of the input with whether it was escaped.
type Ch = (char, bool);

fn trim_unescaped(mut s: &[Ch]) -> &[Ch] {
    while let [(c, false), rest @ ..] = s {
        if !c.is_whitespace() {
            break;
        }
        s = rest;
    }
    while let [rest @ .., (c, false)] = s {
        if !c.is_whitespace() {
            break;
        }
        s = rest;
    }
    s
}

/// Parses `KEY=value,...` into a distinguished name (see the documentation of the `dn`
/// module). An unescaped `+` is refused: write `\+` for a plus sign in a value.
pub fn parse_dn(s: &str) -> Result<DistinguishedName, PkiError> {
    parse(s, false)
}

/// Parses a DN string stored before values were escaped as RFC 4514 requires (by earlier
/// versions of this server, or verbatim by FastPKI 0.4): as [`parse_dn`], but an unescaped
/// `+` is a plain character of the value, as it was when the string was written. Strings
/// printed since parse the same way with either function. Never for input from a request.
pub fn parse_stored_dn(s: &str) -> Result<DistinguishedName, PkiError> {
    parse(s, true)
}

/// A stored DN string as RFC 4514 wants it shown. A string without any character that
/// RFC 4514 reads differently from us (`+ " ; < > #`, or a backslash before a non-ASCII
/// character) is returned unchanged, so that ordinary names keep their stored spelling;
/// others are read with [`parse_stored_dn`] and printed again. A string that does not
/// parse is returned unchanged.
pub fn normalize_stored_dn(s: &str) -> Cow<'_, str> {
    let mut prev_backslash = false;
    let suspicious = s.chars().any(|c| {
        let hit =
            matches!(c, '+' | '"' | ';' | '<' | '>' | '#') || (prev_backslash && !c.is_ascii());
        prev_backslash = c == '\\' && !prev_backslash;
        hit
    });
    if !suspicious {
        return Cow::Borrowed(s);
    }
    match parse_stored_dn(s) {
        Ok(dn) => Cow::Owned(dn.to_string()),
        Err(_) => Cow::Borrowed(s),
    }
}

/// Decodes the octets of consecutive `\XX` escapes into escaped characters of `out`.
fn flush_hex(pending: &mut Vec<u8>, out: &mut Vec<Ch>) -> Result<(), PkiError> {
    if pending.is_empty() {
        return Ok(());
    }
    let text = String::from_utf8(std::mem::take(pending))
        .map_err(|_| PkiError::InvalidDn("hex escapes (\\XX) that are not UTF-8".into()))?;
    out.extend(text.chars().map(|c| (c, true)));
    Ok(())
}

fn parse(s: &str, plus_is_literal: bool) -> Result<DistinguishedName, PkiError> {
    let err = |m: String| PkiError::InvalidDn(m);
    if s.len() > MAX_DN_LEN {
        return Err(err(format!("longer than {MAX_DN_LEN} bytes")));
    }
    if s.trim().is_empty() {
        return Err(err("empty distinguished name".into()));
    }
    // Split into components on unescaped commas, remembering which characters were escaped.
    let mut components: Vec<Vec<Ch>> = vec![Vec::new()];
    let mut pending_hex: Vec<u8> = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let current = components
            .last_mut()
            .ok_or_else(|| err("internal".into()))?;
        if c == '\\'
            && let Some(high) = chars.peek().and_then(|h| h.to_digit(16))
        {
            chars.next();
            let low = chars.next().and_then(|l| l.to_digit(16)).ok_or_else(|| {
                err("a hex escape needs two hex digits (\\2B is a plus sign)".into())
            })?;
            // Both digits are below 16, so the octet fits.
            pending_hex.push(u8::try_from(high * 16 + low).unwrap_or(0));
            continue;
        }
        flush_hex(&mut pending_hex, current)?;
        match c {
            '\\' => match chars.next() {
                Some(e) if matches!(e, ',' | '\\' | '=' | '+' | '"' | ';' | '<' | '>' | '#') => {
                    current.push((e, true));
                }
                Some(e) if e.is_whitespace() => current.push((e, true)),
                Some(e) => return Err(err(format!("invalid escape sequence \\{e}"))),
                None => return Err(err("trailing backslash".into())),
            },
            ',' => components.push(Vec::new()),
            other => current.push((other, false)),
        }
    }
    if let Some(current) = components.last_mut() {
        flush_hex(&mut pending_hex, current)?;
    }
    if components.len() > MAX_DN_ATTRIBUTES {
        return Err(err(format!("more than {MAX_DN_ATTRIBUTES} attributes")));
    }
    let mut dn = DistinguishedName::new();
    for (i, comp) in components.iter().enumerate() {
        let n = i + 1;
        let eq = comp
            .iter()
            .position(|&(c, escaped)| c == '=' && !escaped)
            .ok_or_else(|| err(format!("component {n} has no '=' (expected KEY=value)")))?;
        if !plus_is_literal && comp.iter().any(|&(c, escaped)| c == '+' && !escaped) {
            return Err(err(format!(
                "unescaped '+' in component {n}: multi-valued RDNs are not supported; \
                 write \\+ for a plus sign in a value"
            )));
        }
        let (key, value) = (&comp[..eq], &comp[eq + 1..]);
        let key = trim_unescaped(key);
        if key.iter().any(|&(_, escaped)| escaped) {
            return Err(err(format!(
                "escapes are not allowed in attribute names (component {n})"
            )));
        }
        let key: String = key.iter().map(|&(c, _)| c).collect();
        if key.is_empty() {
            return Err(err(format!("component {n} has an empty attribute name")));
        }
        let oid = resolve_key(&key).map_err(err)?;
        let value: String = trim_unescaped(value).iter().map(|&(c, _)| c).collect();
        dn.attrs.push(DnAttribute::new(oid, value).map_err(err)?);
    }
    Ok(dn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dn::tests::{p, pairs};

    #[test]
    fn from_str_is_parse_dn() {
        let dn: DistinguishedName = "CN=a,O=b".parse().unwrap();
        assert_eq!(dn, parse_dn("CN=a,O=b").unwrap());
        assert!("CN".parse::<DistinguishedName>().is_err());
    }

    #[test]
    fn errors_number_components_from_one() {
        let e = parse_dn("CN=a,O").unwrap_err().to_string();
        assert!(e.contains("component 2 has no '='"), "{e}");
        let e = parse_dn("O").unwrap_err().to_string();
        assert!(e.contains("component 1 has no '='"), "{e}");
    }

    #[test]
    fn the_length_bound_is_inclusive() {
        // Exactly MAX_DN_LEN bytes is read (and refused for its content), one more is not read.
        let at = |len: usize| format!("CN={}", "a".repeat(len - 3));
        let e = parse_dn(&at(MAX_DN_LEN)).unwrap_err().to_string();
        assert!(!e.contains("longer than"), "{e}");
        let e = parse_dn(&at(MAX_DN_LEN + 1)).unwrap_err().to_string();
        assert!(
            e.contains(&format!("longer than {MAX_DN_LEN} bytes")),
            "{e}"
        );
    }

    #[test]
    fn ordinary_stored_names_keep_their_spelling() {
        for plain in ["CN=café,O=Zürich", r"CN=a\\é", r"CN=a\,b"] {
            assert!(
                matches!(normalize_stored_dn(plain), Cow::Borrowed(_)),
                "{plain}"
            );
        }
        assert_eq!(normalize_stored_dn("CN=a+b"), r"CN=a\+b");
    }

    #[test]
    fn simple_and_ordered() {
        let dn = parse_dn("CN=api.example.com,O=Acme Corp,C=US").unwrap();
        assert_eq!(
            pairs(&dn),
            vec![
                p("CN", "api.example.com"),
                p("O", "Acme Corp"),
                p("C", "US")
            ]
        );
        assert_eq!(dn.common_name(), Some("api.example.com"));
        assert_eq!(dn.to_string(), "CN=api.example.com,O=Acme Corp,C=US");
        let dn = parse_dn("C=US, O=Acme, CN=x").unwrap();
        assert_eq!(dn.to_string(), "C=US,O=Acme,CN=x");
    }

    #[test]
    fn whitespace_trimmed_and_keys_case_insensitive() {
        let dn = parse_dn("  cn =  Alice Smith  ,  o=  Acme ,c=us ").unwrap();
        assert_eq!(
            pairs(&dn),
            vec![p("CN", "Alice Smith"), p("O", "Acme"), p("C", "US")]
        );
    }

    #[test]
    fn escapes() {
        let dn = parse_dn(r"CN=Smith\, John,O=A\\B,OU=x\=y,L=a\+b,ST=\ padded\ ").unwrap();
        assert_eq!(
            pairs(&dn),
            vec![
                p("CN", "Smith, John"),
                p("O", r"A\B"),
                p("OU", "x=y"),
                p("L", "a+b"),
                p("ST", " padded ")
            ]
        );
        assert_eq!(
            dn.to_string(),
            r"CN=Smith\, John,O=A\\B,OU=x=y,L=a\+b,ST=\ padded\ "
        );
        assert_eq!(parse_dn(&dn.to_string()).unwrap(), dn);
        // An unescaped '=' in the value belongs to the value.
        assert_eq!(pairs(&parse_dn("CN=a=b").unwrap()), vec![p("CN", "a=b")]);
    }

    #[test]
    fn unescaped_plus_is_refused_on_input_but_read_in_stored_strings() {
        for bad in ["CN=a+O=Evil Corp,O=Good", "CN=a+b", "CN=x,O=a+", "CN+O=x"] {
            let e = parse_dn(bad).unwrap_err().to_string();
            assert!(e.contains("unescaped '+'"), "{bad:?}: {e}");
            assert!(e.contains(r"\+"), "{bad:?}: {e}");
        }
        // What this server stored before it escaped '+' still reads (as one attribute) and
        // shows escaped; ordinary stored strings keep their spelling.
        let old = "CN=a+O=Evil Corp,O=Good";
        let dn = parse_stored_dn(old).unwrap();
        assert_eq!(pairs(&dn), vec![p("CN", "a+O=Evil Corp"), p("O", "Good")]);
        assert_eq!(normalize_stored_dn(old), r"CN=a\+O=Evil Corp,O=Good");
        assert_eq!(
            normalize_stored_dn(r"CN=x\, y;z,O=<b>"),
            r"CN=x\, y\;z,O=\<b\>"
        );
        assert_eq!(normalize_stored_dn("CN=\\\u{a0}x"), r"CN=\C2\A0x");
        for kept in ["CN=a, O=b", "CN=x,O=y,C=US", r"CN=a\,b", "not a dn +", ""] {
            assert_eq!(normalize_stored_dn(kept), kept);
        }
        assert_eq!(
            parse_stored_dn(r"CN=a\+b").unwrap(),
            parse_dn(r"CN=a\+b").unwrap()
        );
    }

    #[test]
    fn hex_escapes_are_utf8_octets() {
        let dn = parse_dn(r"CN=\C3\A9t\c3\a9\2B\2c\41,O=\20x\20").unwrap();
        assert_eq!(pairs(&dn), vec![p("CN", "été+,A"), p("O", " x ")]);
        for bad in [r"CN=\C3", r"CN=\C", r"CN=\Cx", r"CN=\FF\FF", r"CN=a\00b"] {
            assert!(parse_dn(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_long_name_within_the_bounds_parses() {
        // 64 attributes of 64 escaped characters: over 12 KiB of text, under MAX_DN_LEN.
        let value = r"\41".repeat(64);
        let text = vec![format!("OU={value}"); MAX_DN_ATTRIBUTES].join(",");
        assert!(
            text.len() > 12 * 1024 && text.len() <= MAX_DN_LEN,
            "{}",
            text.len()
        );
        let dn = parse_dn(&text).unwrap();
        assert_eq!(pairs(&dn).len(), MAX_DN_ATTRIBUTES);
        assert_eq!(pairs(&dn)[0], p("OU", &"A".repeat(64)));
    }

    #[test]
    fn malformed_inputs() {
        let long_cn = format!("CN={}", "a".repeat(65));
        let long_input = "CN=a,".repeat(MAX_DN_LEN);
        let many = vec!["OU=x"; MAX_DN_ATTRIBUTES + 1].join(",");
        for bad in [
            "",
            "   ",
            "CN",
            "CN=a,O",
            "=value",
            " =value",
            "CN=",
            "CN=  ",
            "CN=a,",
            ",CN=a",
            "CN=a,,O=b",
            "XX=a",
            "foo=bar",
            "C=USA",
            "C=U",
            "C=1A",
            long_cn.as_str(),
            long_input.as_str(),
            many.as_str(),
            r"CN=a\",
            r"CN=a\x",
            r"C\N=a",
            "1.2..3=x",
            "3.1=x",
            "1.40=x",
            "01.2=x",
            "1=x",
            "serialNumber=a*b",
            "emailAddress=é@x.y",
            "CN=a\u{0}b",
            "CN=line\nbreak",
        ] {
            assert!(
                matches!(parse_dn(bad), Err(PkiError::InvalidDn(_))),
                "{bad:?} should be rejected"
            );
        }
        // Upper bounds: exactly 64 characters is fine, and counted in characters.
        assert!(parse_dn(&format!("CN={}", "é".repeat(64))).is_ok());
        assert!(parse_dn(&format!("O={}", "a".repeat(64))).is_ok());
        assert!(parse_dn(&format!("O={}", "a".repeat(65))).is_err());
        assert!(parse_dn(&format!("L={}", "a".repeat(128))).is_ok());
        assert!(parse_dn(&format!("L={}", "a".repeat(129))).is_err());
    }

    #[test]
    fn messages_say_what_is_wrong() {
        let msg = |s: &str| parse_dn(s).unwrap_err().to_string();
        assert!(msg("CN=a,O").contains("no '='"));
        assert!(msg("XX=a").contains("unknown attribute"));
        assert!(msg("C=USA").contains("two-letter"));
        assert!(msg(&format!("CN={}", "a".repeat(65))).contains("upper bound is 64"));
    }
}
