//! Property tests of distinguished names: names built from every supported attribute,
//! with values full of the characters that need care (`, + " \ = # ; < >`, edge spaces,
//! non-ASCII), survive printing and parsing, DER encoding, and the way back from DER
//! through a certificate (`inspect_cert`) and a CSR (`parse_csr`). What we print reads back
//! as the same attributes, one per RDN, in an independent RFC 4514 reader, and strings
//! stored before values were escaped show escaped.

use std::sync::OnceLock;

use chrono::{Duration, TimeZone, Utc};
use pki::{
    DistinguishedName, KeyAlgorithm, PrivateKey, Profile, Sans, Signer, normalize_stored_dn,
    parse_dn, parse_stored_dn,
};
use proptest::prelude::*;
use test_support::oid::dotted;
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// UTF8String: anything printable.
    Utf8,
    /// PrintableString: `A-Z a-z 0-9 '()+,-./:=?` and space.
    Printable,
    /// IA5String: ASCII.
    Ia5,
    /// Two letters.
    Country,
}

/// Every accepted spelling of every supported key, with its string type and the longest
/// value generated (the RFC 5280 bound, capped to keep cases small).
const KEYS: &[(&str, Kind, usize)] = &[
    ("CN", Kind::Utf8, 64),
    ("commonName", Kind::Utf8, 64),
    ("cn", Kind::Utf8, 64),
    ("O", Kind::Utf8, 64),
    ("organizationName", Kind::Utf8, 64),
    ("OU", Kind::Utf8, 64),
    ("organizationalUnitName", Kind::Utf8, 64),
    ("L", Kind::Utf8, 80),
    ("localityName", Kind::Utf8, 80),
    ("ST", Kind::Utf8, 80),
    ("stateOrProvinceName", Kind::Utf8, 80),
    ("STREET", Kind::Utf8, 80),
    ("streetAddress", Kind::Utf8, 80),
    ("title", Kind::Utf8, 64),
    ("GN", Kind::Utf8, 80),
    ("givenName", Kind::Utf8, 80),
    ("SN", Kind::Utf8, 80),
    ("surname", Kind::Utf8, 80),
    ("UID", Kind::Utf8, 80),
    ("userId", Kind::Utf8, 80),
    ("1.2.3.4", Kind::Utf8, 80),
    ("2.999.1.77", Kind::Utf8, 80),
    ("serialNumber", Kind::Printable, 64),
    ("2.5.4.5", Kind::Printable, 64),
    ("emailAddress", Kind::Ia5, 80),
    ("E", Kind::Ia5, 80),
    ("EMAIL", Kind::Ia5, 80),
    ("DC", Kind::Ia5, 63),
    ("domainComponent", Kind::Ia5, 63),
    ("C", Kind::Country, 2),
    ("countryName", Kind::Country, 2),
];

/// Characters that a naive DN printer or parser gets wrong, plus ordinary ones.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => proptest::char::range('a', 'z'),
        1 => proptest::char::range('A', 'Z'),
        1 => proptest::char::range('0', '9'),
        4 => proptest::sample::select(vec![
            ',', '+', '"', '\\', '=', ' ', '#', ';', '<', '>', '.', '-', '\'', '(', ')', '/',
            ':', '?', '@', '*', '&', '%', '$', '!', '~', '|', '{', '}', '[', ']', '^', '`',
        ]),
        2 => proptest::sample::select(vec![
            'é', 'ß', 'Ω', '中', '文', '😀', '\u{a0}', '\u{2003}', '\u{3000}', '\u{feff}',
            '\u{200b}', 'ﬁ', 'İ', '\u{301}',
        ]),
        1 => any::<char>().prop_filter("no control characters", |c| !c.is_control()),
    ]
}

fn printable_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => proptest::char::range('a', 'z'),
        1 => proptest::char::range('A', 'Z'),
        1 => proptest::char::range('0', '9'),
        3 => proptest::sample::select(" '()+,-./:=?".chars().collect::<Vec<_>>()),
    ]
}

fn ia5_char() -> impl Strategy<Value = char> {
    prop_oneof![
        2 => proptest::char::range('a', 'z'),
        3 => proptest::char::range(' ', '~'),
    ]
}

fn value(kind: Kind, max: usize) -> BoxedStrategy<String> {
    match kind {
        Kind::Utf8 => proptest::collection::vec(tricky_char(), 1..=max)
            .prop_map(|v| v.into_iter().collect())
            .boxed(),
        Kind::Printable => proptest::collection::vec(printable_char(), 1..=max)
            .prop_map(|v| v.into_iter().collect())
            .boxed(),
        Kind::Ia5 => proptest::collection::vec(ia5_char(), 1..=max)
            .prop_map(|v| v.into_iter().collect())
            .boxed(),
        Kind::Country => {
            let letter = || {
                prop_oneof![
                    proptest::char::range('a', 'z'),
                    proptest::char::range('A', 'Z')
                ]
            };
            (letter(), letter())
                .prop_map(|(a, b)| format!("{a}{b}"))
                .boxed()
        }
    }
}

fn attribute() -> impl Strategy<Value = (String, String)> {
    proptest::sample::select(KEYS)
        .prop_flat_map(|(key, kind, max)| (Just(key.to_string()), value(kind, max)))
}

/// A valid name of 1 to 8 attributes, built with `push` (which must accept every one).
fn dn() -> impl Strategy<Value = DistinguishedName> {
    proptest::collection::vec(attribute(), 1..=8).prop_map(|attrs| {
        let mut dn = DistinguishedName::new();
        for (k, v) in &attrs {
            dn.push(k, v)
                .unwrap_or_else(|e| panic!("push({k:?}, {v:?}) refused: {e}"));
        }
        dn
    })
}

/// The (OID, value, tag) triples x509-parser reads from a DER Name.
fn read_der(der: &[u8]) -> Vec<(String, String, Tag)> {
    let (rest, name) = X509Name::from_der(der).expect("our DER is a Name");
    assert!(rest.is_empty(), "trailing bytes after the Name");
    assert_eq!(
        name.iter_rdn().count(),
        name.iter_attributes().count(),
        "one attribute per RDN"
    );
    name.iter_attributes()
        .map(|a| {
            (
                dotted(a.attr_type().as_bytes()),
                a.as_str().expect("a string value").to_string(),
                a.attr_value().tag(),
            )
        })
        .collect()
}

/// An independent, strict RFC 4514 reader: RDNs split on unescaped `,`, attributes of one RDN
/// on unescaped `+`, `\X` and `\XX` (octets of UTF-8) unescaped. `None` for anything RFC 4514
/// does not allow in a string value (`"`, `;`, `<`, `>` unescaped, a space at either end, a
/// backslash before anything else) and for a value starting with `#` (a hex-encoded BER
/// value, which we never mean to print).
fn rfc4514_read(s: &str) -> Option<Vec<Vec<(String, String)>>> {
    let b = s.as_bytes();
    let mut rdns = Vec::new();
    let mut rdn = Vec::new();
    let mut i = 0;
    loop {
        let start = i;
        while *b.get(i)? != b'=' {
            i += 1;
        }
        let key = s[start..i].to_string();
        i += 1;
        if b.get(i) == Some(&b'#') {
            return None;
        }
        let mut value = Vec::new();
        let mut last_escaped = false;
        while i < b.len() && b[i] != b',' && b[i] != b'+' {
            match b[i] {
                b'\\' => {
                    let next = *b.get(i + 1)?;
                    if next.is_ascii_hexdigit() {
                        if !b.get(i + 2)?.is_ascii_hexdigit() {
                            return None;
                        }
                        value.push(u8::from_str_radix(&s[i + 1..i + 3], 16).ok()?);
                        i += 3;
                    } else if b" \"#+,;<=>\\".contains(&next) {
                        value.push(next);
                        i += 2;
                    } else {
                        return None;
                    }
                    last_escaped = true;
                }
                b'"' | b';' | b'<' | b'>' => return None,
                b' ' if value.is_empty() => return None,
                c => {
                    value.push(c);
                    i += 1;
                    last_escaped = false;
                }
            }
        }
        if !last_escaped && value.last() == Some(&b' ') {
            return None;
        }
        rdn.push((key, String::from_utf8(value).ok()?));
        if i == b.len() {
            rdns.push(rdn);
            return Some(rdns);
        }
        if b[i] == b',' {
            rdns.push(std::mem::take(&mut rdn));
        }
        i += 1;
    }
}

/// How names were printed before values were RFC 4514-escaped: only `,` and `\`, and
/// whitespace at either end, had a backslash. Such strings are still in databases.
fn legacy_print(dn: &DistinguishedName) -> String {
    let mut out = Vec::new();
    for a in dn.attributes() {
        let n = a.value().chars().count();
        let mut v = String::new();
        for (i, c) in a.value().chars().enumerate() {
            if matches!(c, ',' | '\\') || ((i == 0 || i + 1 == n) && c.is_whitespace()) {
                v.push('\\');
            }
            v.push(c);
        }
        out.push(format!("{}={v}", a.key()));
    }
    out.join(",")
}

fn key() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// `parse(display(dn)) == dn`, and display is a fixed point.
    #[test]
    fn display_then_parse_is_identity(dn in dn()) {
        let text = dn.to_string();
        let back = parse_dn(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(&back, &dn, "{:?}", text);
        prop_assert_eq!(back.to_string(), text);
    }

    /// An RFC 4514 reader sees exactly our attributes: one per RDN, same values. Before
    /// values were escaped, `CN=a+O=Evil Corp,O=Good` read as an extra `O=Evil Corp`.
    #[test]
    fn rfc4514_reader_sees_the_same_attributes(dn in dn()) {
        let text = dn.to_string();
        let expected: Vec<Vec<(String, String)>> = dn
            .attributes()
            .iter()
            .map(|a| vec![(a.key(), a.value().to_string())])
            .collect();
        prop_assert_eq!(rfc4514_read(&text), Some(expected), "{:?}", text);
    }

    /// Strings stored by earlier versions read back as the name they were printed from,
    /// and show as that name prints now.
    #[test]
    fn legacy_stored_strings_show_escaped(dn in dn()) {
        let old = legacy_print(&dn);
        let back = parse_stored_dn(&old).map_err(|e| TestCaseError::fail(format!("{old:?}: {e}")))?;
        prop_assert_eq!(&back, &dn, "{:?}", old);
        let shown = normalize_stored_dn(&old);
        let reparsed = parse_dn(&shown);
        prop_assert_eq!(reparsed.as_ref(), Ok(&dn), "{:?}", shown);
        // Unchanged only when RFC 4514 reads the stored spelling the same way.
        if shown == old {
            prop_assert!(rfc4514_read(&old).is_some(), "{:?}", old);
        }
        // Printing now is a fixed point of the normalization.
        let now = dn.to_string();
        prop_assert_eq!(normalize_stored_dn(&now), now.as_str());
    }

    /// Whitespace around keys, values and commas, and any case in keys, change nothing.
    #[test]
    fn padding_and_key_case_are_ignored(
        dn in dn(),
        pad in proptest::sample::select(vec!["", " ", "  ", "\t", " \u{a0}"]),
        upper in any::<bool>(),
    ) {
        // Re-print each attribute by hand with padding; values keep their escapes.
        let mut padded = String::new();
        for (i, a) in dn.attributes().iter().enumerate() {
            if i > 0 {
                padded.push(',');
            }
            let k = if upper { a.key().to_uppercase() } else { a.key().to_lowercase() };
            let mut single = DistinguishedName::new();
            single.push(&a.key(), a.value()).unwrap();
            let shown = single.to_string();
            let escaped_value = &shown[shown.find('=').unwrap() + 1..];
            padded.push_str(&format!("{pad}{k}{pad}={pad}{escaped_value}{pad}"));
        }
        let back = parse_dn(&padded).map_err(|e| TestCaseError::fail(format!("{padded:?}: {e}")))?;
        prop_assert_eq!(back, dn, "{:?}", padded);
    }

    /// DER: one RDN per attribute, same OIDs and values, in order, with the string type
    /// each attribute requires and a character set that holds the value.
    #[test]
    fn der_reads_back_the_same_attributes(dn in dn()) {
        let read = read_der(&dn.to_der());
        prop_assert_eq!(read.len(), dn.attributes().len());
        for ((oid, value, tag), a) in read.iter().zip(dn.attributes()) {
            prop_assert_eq!(oid, &a.oid());
            prop_assert_eq!(value, a.value());
            let expected = match a.oid().as_str() {
                "2.5.4.5" | "2.5.4.6" => Tag::PrintableString,
                "1.2.840.113549.1.9.1" | "0.9.2342.19200300.100.1.25" => Tag::Ia5String,
                _ => Tag::Utf8String,
            };
            prop_assert_eq!(*tag, expected, "{}", a.key());
            if expected == Tag::PrintableString {
                prop_assert!(value.chars().all(|c| c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)));
            }
            if expected == Tag::Ia5String {
                prop_assert!(value.is_ascii());
            }
        }
    }

    /// The way back from DER through the crate's own readers: a certificate issued with
    /// the name shows it (`inspect_cert`), and that text parses to the same name.
    #[test]
    fn certificate_subject_round_trips(dn in dn()) {
        let now = Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap();
        let serial = pki::random_serial();
        let sans = Sans::default();
        let spki = key().public_key_der();
        let cert = pki::issue(
            &pki::CertRequest {
                subject: &dn,
                public_key_der: &spki,
                profile: Profile::RootCa { path_len: None },
                sans: &sans,
                serial: &serial,
                not_before: now,
                not_after: now + Duration::days(1),
                crl_url: None,
                ca_issuers_url: None,
            },
            Signer::SelfSigned(key()),
        )
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let info = pki::inspect_cert(&cert.der).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&info.subject, &dn.to_string());
        prop_assert_eq!(&info.issuer, &dn.to_string());
        let back = parse_dn(&info.subject);
        prop_assert_eq!(back.as_ref(), Ok(&dn));
        prop_assert_eq!(info.common_name.as_deref(), dn.common_name());
    }

    /// And through a CSR (names without a repeated type, which rcgen cannot hold): the
    /// subject `parse_csr` returns is the name that was requested.
    #[test]
    fn csr_subject_round_trips(dn in dn()) {
        let Ok(rcgen_dn) = rcgen::DistinguishedName::try_from(&dn) else {
            return Ok(());
        };
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen_dn;
        let kp = rcgen::KeyPair::try_from(key().pkcs8_der()).unwrap();
        let pem = params.serialize_request(&kp).unwrap().pem().unwrap();
        let info = pki::parse_csr(&pem).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&info.subject, &dn);
        prop_assert_eq!(info.common_name.as_deref(), dn.common_name());
    }

    /// Arbitrary text made of DN syntax characters: never a panic, and what parses
    /// round-trips.
    #[test]
    fn arbitrary_text_never_panics(
        s in proptest::collection::vec(
            prop_oneof![
                4 => proptest::sample::select(vec![
                    'C', 'N', 'O', 'U', 'E', 'c', '=', ',', '\\', ' ', '+', '"', '#', '.', '1',
                    '2', '5', '4',
                ]),
                1 => tricky_char(),
                1 => any::<char>(),
            ],
            0..40,
        ).prop_map(|v| v.into_iter().collect::<String>())
    ) {
        if let Ok(dn) = parse_dn(&s) {
            let text = dn.to_string();
            let back = parse_dn(&text);
            prop_assert_eq!(back.as_ref(), Ok(&dn), "{:?} -> {:?}", s, text);
        }
    }
}
