//! Object identifiers read back from DER by the tests, independently of the code under test.

/// Dotted form of OID content octets, decoded here rather than with x509-parser's
/// `to_id_string`, which reads the first two arcs from the first byte only.
pub fn dotted(content: &[u8]) -> String {
    let mut subids: Vec<u128> = vec![0];
    for (i, b) in content.iter().enumerate() {
        let last = subids.last_mut().unwrap();
        *last = (*last << 7) | u128::from(b & 0x7f);
        if b & 0x80 == 0 && i + 1 < content.len() {
            subids.push(0);
        }
    }
    let first = subids[0];
    let (a, b) = if first < 40 {
        (0, first)
    } else if first < 80 {
        (1, first - 40)
    } else {
        (2, first - 80)
    };
    std::iter::once(a)
        .chain(std::iter::once(b))
        .chain(subids[1..].iter().copied())
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::dotted;

    #[test]
    fn decodes_the_first_two_arcs_and_multi_byte_arcs() {
        // 2.5.4.3 (commonName), 1.2.840.113549.1.9.1 (emailAddress), 2.999.1 (first octet > 80).
        assert_eq!(dotted(&[0x55, 0x04, 0x03]), "2.5.4.3");
        assert_eq!(
            dotted(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]),
            "1.2.840.113549.1.9.1"
        );
        assert_eq!(dotted(&[0x88, 0x37, 0x01]), "2.999.1");
    }
}
