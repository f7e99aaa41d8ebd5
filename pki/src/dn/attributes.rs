//! The attributes we know (names, OIDs, string types, RFC 5280 upper bounds), lookup by name
//! or OID, and the checks every attribute value passes.

use super::DnAttribute;

/// Upper bound for values of attribute types given by OID only.
const MAX_OTHER_LEN: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StringKind {
    /// UTF8String.
    Utf8,
    /// PrintableString (RFC 5280 requires it for serialNumber).
    Printable,
    /// IA5String (emailAddress, domainComponent).
    Ia5,
    /// PrintableString holding an upper-case ISO 3166 alpha-2 code.
    Country,
}

pub(super) struct KnownAttr {
    /// Accepted names, the first being the one we print.
    pub(super) names: &'static [&'static str],
    oid: &'static [u64],
    pub(super) kind: StringKind,
    /// Upper bound in characters (RFC 5280 Appendix A where it gives one).
    max_len: usize,
}

const KNOWN: &[KnownAttr] = &[
    KnownAttr {
        names: &["CN", "commonName"],
        oid: &[2, 5, 4, 3],
        kind: StringKind::Utf8,
        max_len: 64,
    },
    KnownAttr {
        names: &["SN", "surname"],
        oid: &[2, 5, 4, 4],
        kind: StringKind::Utf8,
        max_len: 32768,
    },
    KnownAttr {
        names: &["serialNumber"],
        oid: &[2, 5, 4, 5],
        kind: StringKind::Printable,
        max_len: 64,
    },
    KnownAttr {
        names: &["C", "countryName"],
        oid: &[2, 5, 4, 6],
        kind: StringKind::Country,
        max_len: 2,
    },
    KnownAttr {
        names: &["L", "localityName"],
        oid: &[2, 5, 4, 7],
        kind: StringKind::Utf8,
        max_len: 128,
    },
    KnownAttr {
        names: &["ST", "stateOrProvinceName"],
        oid: &[2, 5, 4, 8],
        kind: StringKind::Utf8,
        max_len: 128,
    },
    KnownAttr {
        names: &["STREET", "streetAddress"],
        oid: &[2, 5, 4, 9],
        kind: StringKind::Utf8,
        max_len: 128,
    },
    KnownAttr {
        names: &["O", "organizationName"],
        oid: &[2, 5, 4, 10],
        kind: StringKind::Utf8,
        max_len: 64,
    },
    KnownAttr {
        names: &["OU", "organizationalUnitName"],
        oid: &[2, 5, 4, 11],
        kind: StringKind::Utf8,
        max_len: 64,
    },
    KnownAttr {
        names: &["title"],
        oid: &[2, 5, 4, 12],
        kind: StringKind::Utf8,
        max_len: 64,
    },
    KnownAttr {
        names: &["GN", "givenName"],
        oid: &[2, 5, 4, 42],
        kind: StringKind::Utf8,
        max_len: 32768,
    },
    KnownAttr {
        names: &["emailAddress", "E", "EMAIL"],
        oid: &[1, 2, 840, 113549, 1, 9, 1],
        kind: StringKind::Ia5,
        max_len: 255,
    },
    KnownAttr {
        names: &["DC", "domainComponent"],
        oid: &[0, 9, 2342, 19200300, 100, 1, 25],
        kind: StringKind::Ia5,
        max_len: 63,
    },
    KnownAttr {
        names: &["UID", "userId"],
        oid: &[0, 9, 2342, 19200300, 100, 1, 1],
        kind: StringKind::Utf8,
        max_len: 256,
    },
];

pub(super) fn known_by_oid(oid: &[u64]) -> Option<&'static KnownAttr> {
    KNOWN.iter().find(|k| k.oid == oid)
}

fn known_by_name(name: &str) -> Option<&'static KnownAttr> {
    KNOWN
        .iter()
        .find(|k| k.names.iter().any(|n| n.eq_ignore_ascii_case(name)))
}

pub(super) fn oid_string(oid: &[u64]) -> String {
    oid.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

/// Parses a dotted OID (`2.5.4.5`); `None` if it is not one.
pub(super) fn parse_dotted_oid(s: &str) -> Option<Vec<u64>> {
    let mut arcs = Vec::new();
    for part in s.split('.') {
        if part.is_empty()
            || !part.bytes().all(|b| b.is_ascii_digit())
            || (part.len() > 1 && part.starts_with('0'))
        {
            return None;
        }
        arcs.push(part.parse::<u64>().ok()?);
    }
    match arcs.as_slice() {
        [0 | 1, second, ..] if *second < 40 => {}
        [2, second, ..] if *second <= u64::MAX / 2 => {}
        _ => return None,
    }
    (arcs.len() <= 64).then_some(arcs)
}

fn is_printable_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)
}

impl DnAttribute {
    /// Builds a checked attribute; the error is a human-readable reason.
    pub(super) fn new(oid: Vec<u64>, value: String) -> Result<Self, String> {
        let known = known_by_oid(&oid);
        let key = match known {
            Some(k) => k.names[0].to_string(),
            None => oid_string(&oid),
        };
        if value.is_empty() {
            return Err(format!("empty value for {key}"));
        }
        if value.chars().any(char::is_control) {
            return Err(format!("control characters in the value of {key}"));
        }
        let len = value.chars().count();
        if known.map(|k| k.kind) == Some(StringKind::Country)
            && (len != 2 || !value.chars().all(|c| c.is_ascii_alphabetic()))
        {
            return Err(format!(
                "C must be a two-letter ISO 3166 country code, got {value:?}"
            ));
        }
        let max = known.map_or(MAX_OTHER_LEN, |k| k.max_len);
        if len > max {
            return Err(format!(
                "{key} is {len} characters long; the upper bound is {max} (RFC 5280)"
            ));
        }
        let value = match known.map(|k| k.kind) {
            Some(StringKind::Country) => value.to_ascii_uppercase(),
            Some(StringKind::Printable) if !value.chars().all(is_printable_char) => {
                return Err(format!(
                    "{key} may only contain A-Z a-z 0-9 space and '()+,-./:=? (PrintableString)"
                ));
            }
            Some(StringKind::Ia5) if !value.is_ascii() => {
                return Err(format!("{key} must be ASCII (IA5String)"));
            }
            _ => value,
        };
        Ok(Self { oid, value })
    }
}

/// Resolves a key name or dotted OID to OID arcs.
pub(super) fn resolve_key(key: &str) -> Result<Vec<u64>, String> {
    if key.is_empty() {
        return Err("empty attribute name".into());
    }
    if let Some(k) = known_by_name(key) {
        return Ok(k.oid.to_vec());
    }
    if key.starts_with(|c: char| c.is_ascii_digit()) {
        return parse_dotted_oid(key).ok_or_else(|| format!("malformed OID {key:?}"));
    }
    Err(format!(
        "unknown attribute {key:?}; use CN, O, OU, C, ST, L, emailAddress, serialNumber, DC, \
         STREET, title, GN, SN, UID or a dotted OID"
    ))
}

#[cfg(test)]
mod tests {
    use crate::dn::parse_dn;
    use crate::dn::tests::{p, pairs};

    #[test]
    fn dotted_oids() {
        use super::parse_dotted_oid;
        assert_eq!(parse_dotted_oid("2.5.4.3"), Some(vec![2, 5, 4, 3]));
        assert_eq!(parse_dotted_oid("1.2.0.10"), Some(vec![1, 2, 0, 10]));
        // "+2" would parse as a number: only digits are arcs.
        for bad in [
            "1..2", "1.2.", ".1.2", "1.a", "1.2x", "1.02", "01.2", "1.+2",
        ] {
            assert_eq!(parse_dotted_oid(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_key() {
        let dn = parse_dn(
            "CN=c,O=o,OU=ou1,OU=ou2,C=de,ST=st,L=l,emailAddress=a@b.c,E=d@e.f,EMAIL=g@h.i,\
             serialNumber=1234,DC=example,DC=com,STREET=1 Main St,title=Dr,GN=Ann,\
             givenName=Bea,SN=Lee,surname=Kim,UID=u1,2.5.4.5=999,1.2.3.4=custom",
        )
        .unwrap();
        assert_eq!(
            pairs(&dn),
            vec![
                p("CN", "c"),
                p("O", "o"),
                p("OU", "ou1"),
                p("OU", "ou2"),
                p("C", "DE"),
                p("ST", "st"),
                p("L", "l"),
                p("emailAddress", "a@b.c"),
                p("emailAddress", "d@e.f"),
                p("emailAddress", "g@h.i"),
                p("serialNumber", "1234"),
                p("DC", "example"),
                p("DC", "com"),
                p("STREET", "1 Main St"),
                p("title", "Dr"),
                p("GN", "Ann"),
                p("GN", "Bea"),
                p("SN", "Lee"),
                p("SN", "Kim"),
                p("UID", "u1"),
                p("serialNumber", "999"),
                p("1.2.3.4", "custom"),
            ]
        );
        assert_eq!(dn.attributes()[21].oid(), "1.2.3.4");
        assert_eq!(parse_dn(&dn.to_string()).unwrap(), dn);
    }
}
