//! Printing names: RFC 4514 escaping of values, `Display` for our names, and the rendering
//! of any X.509 name read from a certificate.

use std::fmt;

use x509_parser::der_parser::asn1_rs::ToDer;
use x509_parser::x509::X509Name;

use super::DistinguishedName;
use super::attributes::{known_by_oid, oid_string};
use super::der::{decode_string, oid_arcs};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dn::parse_dn;

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
