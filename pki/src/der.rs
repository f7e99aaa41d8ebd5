//! Minimal DER encoder for the structures this crate writes (certificates, CRLs, extensions).
//!
//! Writing DER by hand keeps full control over names (repeated attributes, issuer names
//! copied byte for byte) which rcgen cannot express.

use chrono::{DateTime, Datelike, Utc};

use crate::error::PkiError;

pub(crate) const BOOLEAN: u8 = 0x01;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const NULL: u8 = 0x05;
pub(crate) const OID: u8 = 0x06;
pub(crate) const ENUMERATED: u8 = 0x0a;
pub(crate) const UTF8_STRING: u8 = 0x0c;
pub(crate) const PRINTABLE_STRING: u8 = 0x13;
pub(crate) const IA5_STRING: u8 = 0x16;
pub(crate) const UTC_TIME: u8 = 0x17;
pub(crate) const GENERALIZED_TIME: u8 = 0x18;
pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;

/// Appends a DER length to `out`.
fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Encodes one tag-length-value.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    push_len(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// Encodes a constructed value whose content is the concatenation of `parts`.
pub(crate) fn constructed(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(len + 6);
    out.push(tag);
    push_len(&mut out, len);
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// Encodes a SEQUENCE of already-encoded elements.
pub(crate) fn seq(parts: &[&[u8]]) -> Vec<u8> {
    constructed(SEQUENCE, parts)
}

/// Encodes a context-specific EXPLICIT (constructed) tag around already-encoded content.
pub(crate) fn explicit(n: u8, parts: &[&[u8]]) -> Vec<u8> {
    constructed(0xa0 | n, parts)
}

/// Encodes a context-specific IMPLICIT primitive value (e.g. a GeneralName string).
pub(crate) fn implicit_primitive(n: u8, content: &[u8]) -> Vec<u8> {
    tlv(0x80 | n, content)
}

/// Encodes an OBJECT IDENTIFIER from its arcs. Callers pass well-formed arcs (>= 2, valid first two).
pub(crate) fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut content = Vec::with_capacity(arcs.len() * 2);
    let (first, rest) = match arcs {
        [a, b, rest @ ..] => (a.saturating_mul(40).saturating_add(*b), rest),
        [a] => (a.saturating_mul(40), &[][..]),
        [] => (0, &[][..]),
    };
    push_base128(&mut content, first);
    for arc in rest {
        push_base128(&mut content, *arc);
    }
    tlv(OID, &content)
}

fn push_base128(out: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 10];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    let last = tmp.len() - 1;
    for (j, b) in tmp.iter().enumerate().skip(i) {
        out.push(if j == last { *b } else { *b | 0x80 });
    }
}

/// Encodes a non-negative INTEGER from its unsigned big-endian magnitude.
pub(crate) fn uint(magnitude: &[u8]) -> Vec<u8> {
    let skip = magnitude.iter().take_while(|b| **b == 0).count();
    let m = &magnitude[skip..];
    if m.is_empty() {
        return tlv(INTEGER, &[0]);
    }
    if m[0] & 0x80 != 0 {
        let mut c = Vec::with_capacity(m.len() + 1);
        c.push(0);
        c.extend_from_slice(m);
        tlv(INTEGER, &c)
    } else {
        tlv(INTEGER, m)
    }
}

/// Encodes a non-negative INTEGER from a u64.
pub(crate) fn uint_u64(v: u64) -> Vec<u8> {
    uint(&v.to_be_bytes())
}

/// Encodes a BOOLEAN.
pub(crate) fn boolean(v: bool) -> Vec<u8> {
    tlv(BOOLEAN, &[if v { 0xff } else { 0x00 }])
}

/// Encodes an OCTET STRING.
pub(crate) fn octet_string(content: &[u8]) -> Vec<u8> {
    tlv(OCTET_STRING, content)
}

/// Encodes a BIT STRING with no unused bits (signatures, keys).
pub(crate) fn bit_string(content: &[u8]) -> Vec<u8> {
    let mut c = Vec::with_capacity(content.len() + 1);
    c.push(0);
    c.extend_from_slice(content);
    tlv(BIT_STRING, &c)
}

/// Encodes a NamedBitList BIT STRING (bit 0 = most significant bit of `bits`), DER-minimal.
pub(crate) fn named_bits(bits: u16) -> Vec<u8> {
    if bits == 0 {
        return tlv(BIT_STRING, &[0]);
    }
    let used = 16 - bits.trailing_zeros() as usize;
    let nbytes = used.div_ceil(8);
    let unused = (nbytes * 8 - used) as u8;
    let be = bits.to_be_bytes();
    let mut c = Vec::with_capacity(nbytes + 1);
    c.push(unused);
    c.extend_from_slice(&be[..nbytes]);
    tlv(BIT_STRING, &c)
}

/// Encodes a Time: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5).
pub(crate) fn time(t: &DateTime<Utc>) -> Result<Vec<u8>, PkiError> {
    let year = t.year();
    if !(1950..=9999).contains(&year) {
        return Err(PkiError::InvalidInput(format!(
            "date {t} is outside the encodable range (years 1950-9999)"
        )));
    }
    if year < 2050 {
        Ok(tlv(
            UTC_TIME,
            t.format("%y%m%d%H%M%SZ").to_string().as_bytes(),
        ))
    } else {
        Ok(tlv(
            GENERALIZED_TIME,
            t.format("%Y%m%d%H%M%SZ").to_string().as_bytes(),
        ))
    }
}

/// Encodes one X.509 Extension (criticality written only when true, as DER requires).
pub(crate) fn extension(oid_arcs: &[u64], critical: bool, value: &[u8]) -> Vec<u8> {
    let id = oid(oid_arcs);
    let v = octet_string(value);
    if critical {
        seq(&[&id, &boolean(true), &v])
    } else {
        seq(&[&id, &v])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn lengths() {
        assert_eq!(tlv(OCTET_STRING, &[1, 2]), vec![4, 2, 1, 2]);
        let long = tlv(OCTET_STRING, &[0u8; 200]);
        assert_eq!(&long[..3], &[4, 0x81, 200]);
        let longer = tlv(OCTET_STRING, &vec![0u8; 70000]);
        assert_eq!(&longer[..5], &[4, 0x83, 0x01, 0x11, 0x70]);
    }

    #[test]
    fn oids() {
        assert_eq!(oid(&[2, 5, 4, 3]), vec![6, 3, 0x55, 4, 3]);
        assert_eq!(
            oid(&[1, 2, 840, 113549, 1, 1, 11]),
            vec![6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 11]
        );
        assert_eq!(oid(&[2, 999, 3]), vec![6, 3, 0x88, 0x37, 3]);
    }

    #[test]
    fn integers() {
        assert_eq!(uint(&[]), vec![2, 1, 0]);
        assert_eq!(uint(&[0, 0, 5]), vec![2, 1, 5]);
        assert_eq!(uint(&[0x80]), vec![2, 2, 0, 0x80]);
        assert_eq!(uint_u64(256), vec![2, 2, 1, 0]);
    }

    #[test]
    fn key_usage_bits() {
        // digitalSignature only: 03 02 07 80
        assert_eq!(named_bits(0x8000), vec![3, 2, 7, 0x80]);
        // digitalSignature, keyCertSign, cRLSign: 03 02 01 86
        assert_eq!(named_bits(0x8000 | 0x0400 | 0x0200), vec![3, 2, 1, 0x86]);
        // decipherOnly (bit 8): 03 03 07 00 80
        assert_eq!(named_bits(0x0080), vec![3, 3, 7, 0, 0x80]);
    }

    #[test]
    fn times() {
        let t = Utc.with_ymd_and_hms(2049, 12, 31, 23, 59, 59).unwrap();
        assert_eq!(time(&t).unwrap()[2..], *b"491231235959Z");
        let t = Utc.with_ymd_and_hms(2050, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(time(&t).unwrap()[0], GENERALIZED_TIME);
        assert_eq!(time(&t).unwrap()[2..], *b"20500101000000Z");
        let t = Utc.with_ymd_and_hms(1949, 1, 1, 0, 0, 0).unwrap();
        assert!(time(&t).is_err());
    }
}
