//! `pki::parse_dn` on arbitrary text. What parses must print, re-parse to the same
//! name, encode to DER that x509-parser reads back attribute for attribute, and
//! convert to rcgen's name without panicking.

use test_support::oid::dotted;
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

/// One input through the target's checks: panics on a finding.
pub fn run(data: &[u8]) {
    // Lossy so that every input reaches the parser (invalid UTF-8 becomes U+FFFD).
    let text = String::from_utf8_lossy(data);
    let Ok(dn) = pki::parse_dn(&text) else {
        return;
    };
    assert!(!dn.is_empty(), "an accepted DN has attributes: {text:?}");
    assert!(dn.attributes().len() <= pki::MAX_DN_ATTRIBUTES);

    // Display / re-parse round trip, and Display is a fixed point.
    let shown = dn.to_string();
    let back = pki::parse_dn(&shown)
        .unwrap_or_else(|e| panic!("{text:?} printed as {shown:?}, which does not parse: {e}"));
    assert_eq!(back, dn, "{text:?} -> {shown:?}");
    assert_eq!(back.to_string(), shown);
    let cn = dn
        .attributes()
        .iter()
        .find(|a| a.key() == "CN")
        .map(|a| a.value());
    assert_eq!(dn.common_name(), cn);

    // DER: one single-valued RDN per attribute, same OIDs and values, nothing left over.
    let der = dn.to_der();
    let (rest, name) = X509Name::from_der(&der)
        .unwrap_or_else(|e| panic!("DER of {shown:?} does not parse: {e:?}"));
    assert!(rest.is_empty(), "trailing bytes after the DER of {shown:?}");
    assert_eq!(name.iter_rdn().count(), dn.attributes().len());
    let read: Vec<(String, String)> = name
        .iter_attributes()
        .map(|atv| {
            let value = atv
                .as_str()
                .unwrap_or_else(|e| panic!("value in the DER of {shown:?} unreadable: {e:?}"));
            // The string type's character set must hold the value (else the DER is invalid).
            match atv.attr_value().tag() {
                Tag::PrintableString => assert!(
                    value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)),
                    "{value:?} is not a PrintableString"
                ),
                Tag::Ia5String => assert!(value.is_ascii(), "{value:?} is not an IA5String"),
                Tag::Utf8String => {}
                other => panic!("unexpected string type {other:?} in the DER of {shown:?}"),
            }
            (dotted(atv.attr_type().as_bytes()), value.to_string())
        })
        .collect();
    let ours: Vec<(String, String)> = dn
        .attributes()
        .iter()
        .map(|a| (a.oid(), a.value().to_string()))
        .collect();
    assert_eq!(read, ours, "{shown:?}");

    // Builder conversion: an error (repeated type) is fine, a panic is not.
    let _ = rcgen::DistinguishedName::try_from(&dn);

    // Rebuilding attribute by attribute with `push` gives the same name.
    let mut pushed = pki::DistinguishedName::new();
    for a in dn.attributes() {
        pushed
            .push(&a.key(), a.value())
            .unwrap_or_else(|e| panic!("push({}, {:?}) refused: {e}", a.key(), a.value()));
    }
    assert_eq!(pushed, dn);
}
