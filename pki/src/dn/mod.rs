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
//!
//! One concept a file: `attributes` (the attributes we know by name and OID, and the rules
//! for their values), `der` (a name to and from DER), `display` (RFC 4514 escaping, and the
//! display of our names and of any X.509 name), `parse` (reading DN strings, stored ones
//! included), `to_rcgen` (conversion to rcgen's name). This file holds the two types, their
//! accessors and the canonical order.

mod attributes;
mod der;
mod display;
mod parse;
mod to_rcgen;

pub(crate) use display::x509_name_to_string;
pub use parse::{normalize_stored_dn, parse_dn, parse_stored_dn};

use crate::error::PkiError;
use attributes::{known_by_oid, oid_string, resolve_key};

/// Largest DN string accepted by [`parse_dn`], in bytes.
pub const MAX_DN_LEN: usize = 16 * 1024;
/// Most attributes a DN may hold.
pub const MAX_DN_ATTRIBUTES: usize = 64;

/// One attribute of a distinguished name (a single-valued RDN).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DnAttribute {
    oid: Vec<u64>,
    value: String,
}

impl DnAttribute {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn pairs(dn: &DistinguishedName) -> Vec<(String, String)> {
        dn.attributes()
            .iter()
            .map(|a| (a.key(), a.value().to_string()))
            .collect()
    }

    pub(super) fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
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
}
