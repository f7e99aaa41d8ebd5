//! A name to and from DER: the encoding with the string type each attribute requires, and
//! the decoding (with our checks) of names read from certificates and CSRs.

use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::x509::X509Name;

use super::attributes::{StringKind, known_by_oid, oid_string, parse_dotted_oid};
use super::{DistinguishedName, DnAttribute, MAX_DN_ATTRIBUTES};
use crate::der;

impl DnAttribute {
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

impl DistinguishedName {
    /// DER encoding of the Name (SEQUENCE OF single-attribute RDNs, in order).
    pub fn to_der(&self) -> Vec<u8> {
        let rdns: Vec<Vec<u8>> = self.attrs.iter().map(DnAttribute::to_der).collect();
        let parts: Vec<&[u8]> = rdns.iter().map(Vec::as_slice).collect();
        der::seq(&parts)
    }

    /// Converts a parsed X.509 Name, applying the same checks as [`parse_dn`](super::parse_dn).
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
pub(super) fn oid_arcs(content: &[u8]) -> Option<Vec<u64>> {
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
pub(super) fn decode_string(tag: Tag, data: &[u8]) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dn::{parse_dn, x509_name_to_string};
    use x509_parser::prelude::FromDer;

    #[test]
    fn strings_in_every_directory_string_form() {
        // BMPString: UTF-16 big-endian; an odd length or a lone surrogate is refused.
        assert_eq!(
            decode_string(Tag::BmpString, &[0x00, 0x63, 0x00, 0xe9]).as_deref(),
            Some("cé")
        );
        assert_eq!(decode_string(Tag::BmpString, &[0x00, 0x63, 0x00]), None);
        assert_eq!(decode_string(Tag::BmpString, &[0xd8, 0x00]), None);
        // UniversalString: UTF-32 big-endian; a length not a multiple of 4 is refused.
        assert_eq!(
            decode_string(Tag::UniversalString, &[0, 0, 0, 0x63, 0, 1, 0xf6, 0x00]).as_deref(),
            Some("c\u{1f600}")
        );
        assert_eq!(decode_string(Tag::UniversalString, &[0, 0, 0x63]), None);
        assert_eq!(decode_string(Tag::UniversalString, &[0, 0x11, 0, 0]), None);
        // TeletexString read as Latin-1.
        assert_eq!(
            decode_string(Tag::T61String, &[0x63, 0xe9]).as_deref(),
            Some("cé")
        );
        assert_eq!(decode_string(Tag::Utf8String, &[0xff]), None);
        assert_eq!(decode_string(Tag::Integer, b"1"), None);
    }

    #[test]
    fn oid_arcs_of_up_to_64_bits() {
        // 1.2.18446744073709551615: the last arc is u64::MAX in ten base-128 octets.
        let mut content = vec![0x2a, 0x81];
        content.extend([0xff; 8]);
        content.push(0x7f);
        assert_eq!(oid_arcs(&content), Some(vec![1, 2, u64::MAX]));
        // One bit more does not fit.
        content[1] = 0x83;
        assert_eq!(oid_arcs(&content), None);
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
}
