//! Distinguished names: parsing our `KEY=value,...` syntax, RFC 5280 bounds, display, DER.
//!
//! Syntax: comma-separated `KEY=value` pairs, in order (first pair = first RDN in the
//! certificate). A backslash escapes the next character when it is one of
//! `, \ = + " ; < > #` or whitespace, and `\XX` (two hex digits) is one octet of UTF-8, as in
//! RFC 4514; unescaped whitespace around keys and values is trimmed. Keys are
//! case-insensitive names (CN, O, OU, C, ST, L, emailAddress/E/EMAIL, serialNumber, DC,
//! STREET, title, GN/givenName, SN/surname, UID) or dotted OIDs. Repeated keys are kept (two
//! OU are two RDNs). There are no multi-valued RDNs: an unescaped `+` is refused, because an
//! RFC 4514 reader would take `CN=a+O=b` for two attributes where we would see one.
//!
//! Printing escapes values exactly as RFC 4514 section 2.4 requires, so that what we print
//! reads back as the same attributes in any RFC 4514 parser; the order stays ours (first
//! RDN first), as FastPKI prints it.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use x509_parser::der_parser::asn1_rs::{Tag, ToDer};
use x509_parser::x509::X509Name;

use crate::der;
use crate::error::PkiError;

/// Largest DN string accepted by [`parse_dn`], in bytes.
pub const MAX_DN_LEN: usize = 16 * 1024;
/// Most attributes a DN may hold.
pub const MAX_DN_ATTRIBUTES: usize = 64;
/// Upper bound for values of attribute types given by OID only.
const MAX_OTHER_LEN: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StringKind {
    /// UTF8String.
    Utf8,
    /// PrintableString (RFC 5280 requires it for serialNumber).
    Printable,
    /// IA5String (emailAddress, domainComponent).
    Ia5,
    /// PrintableString holding an upper-case ISO 3166 alpha-2 code.
    Country,
}

struct KnownAttr {
    /// Accepted names, the first being the one we print.
    names: &'static [&'static str],
    oid: &'static [u64],
    kind: StringKind,
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

fn known_by_oid(oid: &[u64]) -> Option<&'static KnownAttr> {
    KNOWN.iter().find(|k| k.oid == oid)
}

fn known_by_name(name: &str) -> Option<&'static KnownAttr> {
    KNOWN
        .iter()
        .find(|k| k.names.iter().any(|n| n.eq_ignore_ascii_case(name)))
}

fn oid_string(oid: &[u64]) -> String {
    oid.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

/// Parses a dotted OID (`2.5.4.5`); `None` if it is not one.
fn parse_dotted_oid(s: &str) -> Option<Vec<u64>> {
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

/// One attribute of a distinguished name (a single-valued RDN).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DnAttribute {
    oid: Vec<u64>,
    value: String,
}

impl DnAttribute {
    /// Builds a checked attribute; the error is a human-readable reason.
    fn new(oid: Vec<u64>, value: String) -> Result<Self, String> {
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

    /// The key as we print it: a short name such as `CN`, or a dotted OID.
    pub fn key(&self) -> String {
        match known_by_oid(&self.oid) {
            Some(k) => k.names[0].to_string(),
            None => oid_string(&self.oid),
        }
    }

    /// The attribute type as a dotted OID.
    pub fn oid(&self) -> String {
        oid_string(&self.oid)
    }

    /// The attribute value.
    pub fn value(&self) -> &str {
        &self.value
    }

    fn to_der(&self) -> Vec<u8> {
        let kind = known_by_oid(&self.oid).map_or(StringKind::Utf8, |k| k.kind);
        let tag = match kind {
            StringKind::Utf8 => der::UTF8_STRING,
            StringKind::Printable | StringKind::Country => der::PRINTABLE_STRING,
            StringKind::Ia5 => der::IA5_STRING,
        };
        let atv = der::seq(&[&der::oid(&self.oid), &der::tlv(tag, self.value.as_bytes())]);
        der::constructed(der::SET, &[&atv])
    }
}

/// An ordered distinguished name; each attribute is its own RDN.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DistinguishedName {
    attrs: Vec<DnAttribute>,
}

impl DistinguishedName {
    /// An empty name (only valid for leaf certificates with SANs).
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a checked attribute (`key` as accepted by [`parse_dn`]).
    pub fn push(&mut self, key: &str, value: &str) -> Result<(), PkiError> {
        if self.attrs.len() >= MAX_DN_ATTRIBUTES {
            return Err(PkiError::InvalidDn(format!(
                "more than {MAX_DN_ATTRIBUTES} attributes"
            )));
        }
        let oid = resolve_key(key.trim()).map_err(PkiError::InvalidDn)?;
        let attr = DnAttribute::new(oid, value.to_string()).map_err(PkiError::InvalidDn)?;
        self.attrs.push(attr);
        Ok(())
    }

    /// The attributes in order.
    pub fn attributes(&self) -> &[DnAttribute] {
        &self.attrs
    }

    /// True when the name has no attribute.
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }

    /// The first commonName, if any.
    pub fn common_name(&self) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.oid == [2, 5, 4, 3])
            .map(|a| a.value.as_str())
    }

    /// The name as encoded in certificates: attributes in the order X.500 and the
    /// CA/Browser Forum expect (DC, C, ST, L, postalCode, STREET, O, SN, GN, OU, CN, then
    /// the rest as given), whatever order the caller wrote them in. Every attribute was
    /// checked when it was added, so reordering cannot fail.
    pub fn canonical(&self) -> Self {
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
        let rank = |a: &DnAttribute| {
            let key = a.key();
            ORDER
                .iter()
                .position(|k| k.eq_ignore_ascii_case(&key))
                .unwrap_or(ORDER.len())
        };
        let mut attrs = self.attrs.clone();
        // Stable: attributes of one rank keep their order.
        attrs.sort_by_cached_key(rank);
        Self { attrs }
    }

    /// DER encoding of the Name (SEQUENCE OF single-attribute RDNs, in order).
    pub fn to_der(&self) -> Vec<u8> {
        let rdns: Vec<Vec<u8>> = self.attrs.iter().map(DnAttribute::to_der).collect();
        let parts: Vec<&[u8]> = rdns.iter().map(Vec::as_slice).collect();
        der::seq(&parts)
    }

    /// Converts a parsed X.509 Name, applying the same checks as [`parse_dn`].
    pub(crate) fn from_x509_name(name: &X509Name<'_>) -> Result<Self, String> {
        let mut attrs = Vec::new();
        for atv in name.iter_attributes() {
            if attrs.len() >= MAX_DN_ATTRIBUTES {
                return Err(format!("more than {MAX_DN_ATTRIBUTES} attributes"));
            }
            // Only OIDs that `parse_dn` accepts too, so that the name prints and re-parses.
            let oid = oid_arcs(atv.attr_type().as_bytes())
                .filter(|o| parse_dotted_oid(&oid_string(o)).as_ref() == Some(o))
                .ok_or_else(|| "malformed or unsupported attribute type OID".to_string())?;
            let value = decode_string(atv.attr_value().header.tag(), atv.attr_value().data)
                .ok_or_else(|| {
                    format!(
                        "value of {} is not a supported string type",
                        oid_string(&oid)
                    )
                })?;
            attrs.push(DnAttribute::new(oid, value)?);
        }
        Ok(Self { attrs })
    }
}

/// Decodes the content octets of an OBJECT IDENTIFIER into arcs; `None` if malformed or an
/// arc exceeds 64 bits. x509-parser's own decoding (asn1-rs 0.7 `Oid::iter`) reads the first
/// two arcs from the first byte only, so `2.999` came back as `3.25.103`; found by fuzzing.
fn oid_arcs(content: &[u8]) -> Option<Vec<u64>> {
    let mut subids = Vec::new();
    let mut v: u64 = 0;
    let mut in_progress = false;
    for &b in content {
        if !in_progress && b == 0x80 {
            return None; // non-minimal encoding
        }
        if v > u64::MAX >> 7 {
            return None;
        }
        v = (v << 7) | u64::from(b & 0x7f);
        in_progress = b & 0x80 != 0;
        if !in_progress {
            subids.push(v);
            v = 0;
        }
    }
    if in_progress {
        return None;
    }
    let (&first, rest) = subids.split_first()?;
    let (a, b) = match first {
        0..40 => (0, first),
        40..80 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut arcs = Vec::with_capacity(subids.len() + 1);
    arcs.extend([a, b]);
    arcs.extend_from_slice(rest);
    Some(arcs)
}

/// Decodes a DirectoryString-like value; `None` for non-string or malformed values.
fn decode_string(tag: Tag, data: &[u8]) -> Option<String> {
    match tag {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString => std::str::from_utf8(data).ok().map(str::to_string),
        Tag::BmpString => {
            if !data.len().is_multiple_of(2) {
                return None;
            }
            let units = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        Tag::UniversalString => {
            if !data.len().is_multiple_of(4) {
                return None;
            }
            data.chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        }
        // TeletexString in practice carries Latin-1.
        Tag::T61String => Some(data.iter().map(|b| char::from(*b)).collect()),
        _ => None,
    }
}

/// Renders any X.509 Name in our syntax without validation (for display of foreign
/// certificates). The attributes of a multi-valued RDN are joined with `+` (RFC 4514 section
/// 2.1); a value that is not a string is `#` and the hex of its DER encoding (section 2.4).
pub(crate) fn x509_name_to_string(name: &X509Name<'_>) -> String {
    let mut out = String::new();
    for (i, rdn) in name.iter_rdn().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let key = match oid_arcs(atv.attr_type().as_bytes()) {
                Some(o) => match known_by_oid(&o) {
                    Some(k) => k.names[0].to_string(),
                    None => oid_string(&o),
                },
                None => atv.attr_type().to_id_string(),
            };
            out.push_str(&key);
            out.push('=');
            match decode_string(atv.attr_value().header.tag(), atv.attr_value().data) {
                Some(v) => push_escaped(&mut out, &v),
                None => {
                    out.push('#');
                    let der = atv
                        .attr_value()
                        .to_der_vec()
                        .unwrap_or_else(|_| atv.attr_value().data.to_vec());
                    out.push_str(&hex::encode(der));
                }
            }
        }
    }
    out
}

/// Appends `\XX` for each UTF-8 octet of `c`.
fn push_hex_escaped(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    for b in c.encode_utf8(&mut buf).bytes() {
        out.push_str(&format!("\\{b:02X}"));
    }
}

/// Appends a value escaped as RFC 4514 section 2.4 requires: `" + , ; < > \` anywhere, `#`
/// or a space at the start, a space at the end, NUL as `\00`. Other whitespace at either end
/// (which our parser would trim) is escaped in the hex form, the only one RFC 4514 allows for
/// it. `=` needs no escape and gets none.
fn push_escaped(out: &mut String, v: &str) {
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let edge = i == 0 || i == last;
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if edge => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            c if edge && c.is_whitespace() => push_hex_escaped(out, c),
            c => out.push(c),
        }
    }
}

impl fmt::Display for DistinguishedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        for (i, a) in self.attrs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&a.key());
            out.push('=');
            push_escaped(&mut out, &a.value);
        }
        f.write_str(&out)
    }
}

impl FromStr for DistinguishedName {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_dn(s)
    }
}

/// Resolves a key name or dotted OID to OID arcs.
fn resolve_key(key: &str) -> Result<Vec<u64>, String> {
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

/// Parses `KEY=value,...` into a distinguished name (see the module documentation). An
/// unescaped `+` is refused: write `\+` for a plus sign in a value.
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

impl TryFrom<&DistinguishedName> for rcgen::DistinguishedName {
    type Error = PkiError;

    /// rcgen keeps one value per attribute type: names with a repeated type are refused.
    fn try_from(dn: &DistinguishedName) -> Result<Self, PkiError> {
        use rcgen::{DnType, DnValue};
        let mut out = rcgen::DistinguishedName::new();
        for (i, a) in dn.attrs.iter().enumerate() {
            if dn.attrs[..i].iter().any(|b| b.oid == a.oid) {
                return Err(PkiError::InvalidDn(format!(
                    "rcgen cannot hold the repeated attribute {}",
                    a.key()
                )));
            }
            let kind = known_by_oid(&a.oid).map_or(StringKind::Utf8, |k| k.kind);
            let value = match kind {
                StringKind::Utf8 => DnValue::Utf8String(a.value.clone()),
                // rcgen's DER writer (yasna 0.6) panics on '?', which PrintableString allows.
                StringKind::Printable | StringKind::Country if a.value.contains('?') => {
                    return Err(PkiError::InvalidDn(format!(
                        "rcgen cannot write '?' in the PrintableString {}",
                        a.key()
                    )));
                }
                StringKind::Printable | StringKind::Country => DnValue::PrintableString(
                    a.value
                        .as_str()
                        .try_into()
                        .map_err(|_| PkiError::InvalidDn("not a PrintableString".into()))?,
                ),
                StringKind::Ia5 => DnValue::Ia5String(
                    a.value
                        .as_str()
                        .try_into()
                        .map_err(|_| PkiError::InvalidDn("not an IA5String".into()))?,
                ),
            };
            out.push(DnType::from_oid(&a.oid), value);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::FromDer;

    fn pairs(dn: &DistinguishedName) -> Vec<(String, String)> {
        dn.attributes()
            .iter()
            .map(|a| (a.key(), a.value().to_string()))
            .collect()
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
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
    fn specials_are_escaped_as_rfc_4514_requires() {
        // The attack: one CN whose value looks like a second attribute of the same RDN.
        let mut dn = DistinguishedName::new();
        dn.push("CN", "a+O=Evil Corp").unwrap();
        dn.push("O", "Good").unwrap();
        assert_eq!(dn.to_string(), r"CN=a\+O=Evil Corp,O=Good");
        assert_eq!(parse_dn(&dn.to_string()).unwrap(), dn);
        // Every character section 2.4 lists, and nothing more ('=' stays as it is).
        let mut dn = DistinguishedName::new();
        dn.push("CN", r#"q"p+c,s;l<g>b\e=#"#).unwrap();
        dn.push("O", "#lead").unwrap();
        dn.push("OU", " both ").unwrap();
        dn.push("L", "\u{a0}nbsp\u{3000}").unwrap();
        assert_eq!(
            dn.to_string(),
            r#"CN=q\"p\+c\,s\;l\<g\>b\\e=#,O=\#lead,OU=\ both\ ,L=\C2\A0nbsp\E3\80\80"#
        );
        assert_eq!(parse_dn(&dn.to_string()).unwrap(), dn);
        // Ordinary names print as before.
        for plain in [
            "CN=x,O=y,C=US",
            "CN=api.example.com,OU=Ops,O=Acme Corp,L=Lyon,C=FR",
        ] {
            assert_eq!(parse_dn(plain).unwrap().to_string(), plain);
        }
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

    #[test]
    fn der_encoding_uses_the_right_string_types() {
        let dn = parse_dn("C=US,CN=é,serialNumber=12,DC=com,E=a@b.c").unwrap();
        let der = dn.to_der();
        let (rest, name) = X509Name::from_der(&der).unwrap();
        assert!(rest.is_empty());
        let tags: Vec<Tag> = name
            .iter_attributes()
            .map(|a| a.attr_value().header.tag())
            .collect();
        assert_eq!(
            tags,
            vec![
                Tag::PrintableString,
                Tag::Utf8String,
                Tag::PrintableString,
                Tag::Ia5String,
                Tag::Ia5String
            ]
        );
        assert_eq!(DistinguishedName::from_x509_name(&name).unwrap(), dn);
        assert_eq!(x509_name_to_string(&name), dn.to_string());
        assert_eq!(DistinguishedName::new().to_der(), vec![0x30, 0]);
    }

    #[test]
    fn large_second_arcs_read_back_from_der() {
        // 2.999 and 2.553 need two bytes for their first subidentifier; found by fuzzing.
        let dn = parse_dn("2.999.1=a,2.553=9.9.9,2.47=x,1.39.5=y,CN=z").unwrap();
        let der = dn.to_der();
        let (_, name) = X509Name::from_der(&der).unwrap();
        assert_eq!(DistinguishedName::from_x509_name(&name).unwrap(), dn);
        assert_eq!(x509_name_to_string(&name), dn.to_string());
        assert_eq!(oid_arcs(&[0x88, 0x37, 0x01]), Some(vec![2, 999, 1]));
        assert_eq!(oid_arcs(&[0x2a, 0x86, 0x48]), Some(vec![1, 2, 840]));
        assert_eq!(oid_arcs(&[0x55, 0x04, 0x03]), Some(vec![2, 5, 4, 3]));
        for bad in [&[][..], &[0x88][..], &[0x55, 0x80, 0x01][..]] {
            assert_eq!(oid_arcs(bad), None, "{bad:?}");
        }
        let huge = [0xff; 11];
        assert_eq!(oid_arcs(&[&huge[..], &[0x01][..]].concat()), None);
        // OIDs that `parse_dn` refuses (a second arc over 2^63, over 64 arcs) are refused
        // when read from DER too, so that every name read prints and re-parses.
        let name_with = |oid_content: &[u8]| {
            let atv = der::seq(&[
                &der::tlv(der::OID, oid_content),
                &der::tlv(der::UTF8_STRING, b"x"),
            ]);
            der::seq(&[&der::constructed(der::SET, &[&atv])])
        };
        let too_big = [&[0x81][..], &[0xff; 8][..], &[0x7f][..]].concat();
        let too_long = [&[0x2a][..], &[0x01; 64][..]].concat();
        for content in [too_big, too_long] {
            let der = name_with(&content);
            let (_, name) = X509Name::from_der(&der).unwrap();
            assert!(DistinguishedName::from_x509_name(&name).is_err());
        }
        let der = name_with(&[0x88, 0x37, 0x01]);
        let (_, name) = X509Name::from_der(&der).unwrap();
        assert_eq!(
            DistinguishedName::from_x509_name(&name)
                .unwrap()
                .to_string(),
            "2.999.1=x"
        );
    }

    #[test]
    fn canonical_order() {
        let dn =
            parse_dn("CN=api.example.com,OU=Ops,O=Acme,L=Lyon,ST=Rhone,C=FR,1.2.3.4=x").unwrap();
        assert_eq!(
            dn.canonical(),
            parse_dn("C=FR,ST=Rhone,L=Lyon,O=Acme,OU=Ops,CN=api.example.com,1.2.3.4=x").unwrap()
        );
        // Same ranks keep their order; the rest follows in the order given.
        let dn =
            parse_dn("title=t,CN=b,DC=com,OU=y,CN=a,UID=u,OU=x,DC=example,GN=g,SN=s,STREET=1 Rue")
                .unwrap();
        assert_eq!(
            dn.canonical().to_string(),
            "DC=com,DC=example,STREET=1 Rue,SN=s,GN=g,OU=y,OU=x,CN=b,CN=a,title=t,UID=u"
        );
        assert_eq!(dn.canonical().canonical(), dn.canonical());
        assert_eq!(
            DistinguishedName::new().canonical(),
            DistinguishedName::new()
        );
    }

    #[test]
    fn push_and_rcgen_conversion() {
        let mut dn = DistinguishedName::new();
        assert!(dn.is_empty());
        dn.push("CN", "x").unwrap();
        dn.push("c", "fr").unwrap();
        assert!(dn.push("CN", "").is_err());
        assert!(dn.push("nope", "x").is_err());
        assert_eq!(dn.to_string(), "CN=x,C=FR");
        let r = rcgen::DistinguishedName::try_from(&dn).unwrap();
        assert_eq!(r.iter().count(), 2);
        let two_ou = parse_dn("OU=a,OU=b").unwrap();
        assert!(rcgen::DistinguishedName::try_from(&two_ou).is_err());
        // '?' is a PrintableString character, but rcgen would panic writing it (found by
        // the DN property tests): refused instead.
        let question = parse_dn("CN=x,serialNumber=a?b").unwrap();
        assert!(rcgen::DistinguishedName::try_from(&question).is_err());
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name =
            rcgen::DistinguishedName::try_from(&parse_dn("CN=x?,serialNumber=a-b").unwrap())
                .unwrap();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        assert!(params.serialize_request(&key).is_ok());
    }

    /// Tiny deterministic PRNG (xorshift64*) so the property test needs no extra crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn round_trip_property() {
        const ALPHABET: &[char] = &[
            'a', 'Z', '0', ' ', ',', '\\', '=', '+', '"', ';', '<', '>', '#', '.', '-', 'é', '中',
            '\u{a0}', '\u{3000}', '\'', '(', ')', '/', ':', '?', '@',
        ];
        let keys = [
            "CN",
            "O",
            "OU",
            "ST",
            "L",
            "STREET",
            "title",
            "GN",
            "SN",
            "UID",
            "1.2.3.4",
            "2.999.1",
            "C",
            "serialNumber",
            "emailAddress",
            "DC",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut checked = 0;
        for _ in 0..3000 {
            let mut dn = DistinguishedName::new();
            for _ in 0..1 + rng.below(6) {
                let key = keys[rng.below(keys.len())];
                let len = 1 + rng.below(20);
                let value: String = match key {
                    "C" => ["US", "de", "Fr"][rng.below(3)].to_string(),
                    "serialNumber" | "emailAddress" | "DC" => (0..len)
                        .map(|_| ['a', '1', ' ', ',', '=', '+', '.', '-'][rng.below(8)])
                        .collect(),
                    _ => (0..len)
                        .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                        .collect(),
                };
                // Values that are invalid (e.g. only spaces) are simply skipped.
                let _ = dn.push(key, &value);
            }
            if dn.is_empty() {
                continue;
            }
            let text = dn.to_string();
            let back = parse_dn(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(back, dn, "{text:?}");
            assert_eq!(back.to_string(), text);
            checked += 1;
        }
        assert!(checked > 2500);
        // Arbitrary strings of DN-ish characters never panic, and what parses round-trips.
        const RAW: &[char] = &[
            'C', 'N', 'O', 'U', '=', ',', '\\', ' ', 'a', '.', '1', '2', 'é',
        ];
        for _ in 0..20_000 {
            let s: String = (0..rng.below(24))
                .map(|_| RAW[rng.below(RAW.len())])
                .collect();
            if let Ok(dn) = parse_dn(&s) {
                assert_eq!(parse_dn(&dn.to_string()).unwrap(), dn, "{s:?}");
            }
        }
    }
}
