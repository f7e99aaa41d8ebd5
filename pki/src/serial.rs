//! Certificate serial numbers: random, positive, 16 octets (RFC 5280 4.1.2.2, CA/B BR 7.1).

use std::fmt;

use crate::error::PkiError;

/// Octets in a generated serial: 128 bits minus the sign bit, well above the 64 required.
const SERIAL_LEN: usize = 16;
/// RFC 5280: serial numbers are at most 20 octets.
pub const MAX_SERIAL_OCTETS: usize = 20;

/// A positive certificate serial number, held as its big-endian magnitude (no leading zero).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SerialNumber(Vec<u8>);

impl SerialNumber {
    /// Lowercase hex of the magnitude, no separators (`serial_number` in the API).
    pub fn hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// The big-endian magnitude (first byte nonzero).
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Parses hex (odd length and leading zeros allowed) into a positive serial of <= 20 octets.
    pub fn from_hex(s: &str) -> Result<Self, PkiError> {
        let s = s.trim();
        if s.is_empty() || s.len() > 2 * MAX_SERIAL_OCTETS + 8 {
            return Err(PkiError::InvalidInput(format!(
                "serial {s:?} must be 1 to {} hex digits",
                2 * MAX_SERIAL_OCTETS
            )));
        }
        let padded = if s.len() % 2 == 1 {
            format!("0{s}")
        } else {
            s.to_string()
        };
        let bytes = hex::decode(&padded)
            .map_err(|_| PkiError::InvalidInput(format!("serial {s:?} is not hexadecimal")))?;
        Self::from_bytes(&bytes)
    }

    /// Builds a serial from a big-endian magnitude (leading zeros dropped); must be 1..=20 octets.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PkiError> {
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let m = &bytes[skip..];
        if m.is_empty() {
            return Err(PkiError::InvalidInput(
                "serial number must be positive".into(),
            ));
        }
        if m.len() > MAX_SERIAL_OCTETS {
            return Err(PkiError::InvalidInput(format!(
                "serial number longer than {MAX_SERIAL_OCTETS} octets"
            )));
        }
        Ok(Self(m.to_vec()))
    }
}

impl fmt::Debug for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SerialNumber({})", self.hex())
    }
}

impl fmt::Display for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

/// A fresh random serial: 16 bytes from aws-lc-rs, top bit cleared, first byte nonzero.
pub fn random_serial() -> SerialNumber {
    let mut b = [0u8; SERIAL_LEN];
    loop {
        // AWS-LC's RNG aborts rather than fail; an error here means a broken system,
        // not bad input, so it is not worth a Result in every caller.
        aws_lc_rs::rand::fill(&mut b).expect("system random number generator failed");
        b[0] &= 0x7f;
        if b[0] != 0 {
            return SerialNumber(b.to_vec());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn random_serials_are_unique_positive_and_sized() {
        let mut seen = HashSet::new();
        for _ in 0..1000 {
            let s = random_serial();
            assert_eq!(s.bytes().len(), 16);
            assert!(s.bytes()[0] != 0 && s.bytes()[0] < 0x80);
            let h = s.hex();
            assert_eq!(h.len(), 32);
            assert_eq!(h, h.to_lowercase());
            assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
            assert_eq!(SerialNumber::from_hex(&h).unwrap(), s);
            assert!(seen.insert(h));
        }
    }

    #[test]
    fn hex_text_is_bounded_before_it_is_read() {
        let digits = "1234567890abcdef1234567890abcdef12345678";
        assert_eq!(digits.len(), 2 * MAX_SERIAL_OCTETS);
        // Up to 8 leading zeros pass the text bound (FastPKI wrote some); then the octets count.
        let s = SerialNumber::from_hex(&format!("{}{digits}", "0".repeat(8))).unwrap();
        assert_eq!(s.hex(), digits);
        let too_long = SerialNumber::from_hex(&format!("{}{digits}", "0".repeat(9))).unwrap_err();
        let empty = SerialNumber::from_hex("").unwrap_err();
        for e in [too_long, empty] {
            assert!(
                matches!(&e, PkiError::InvalidInput(m) if m.ends_with("must be 1 to 40 hex digits")),
                "{e}"
            );
        }
    }

    #[test]
    fn prints_as_lowercase_hex() {
        let s = SerialNumber::from_hex("0ABCDEF").unwrap();
        assert_eq!(s.to_string(), "abcdef");
        assert_eq!(format!("{s:?}"), "SerialNumber(abcdef)");
    }

    #[test]
    fn from_hex() {
        assert_eq!(
            SerialNumber::from_hex("abc").unwrap().bytes(),
            &[0x0a, 0xbc]
        );
        assert_eq!(SerialNumber::from_hex("00ff").unwrap().hex(), "ff");
        assert_eq!(SerialNumber::from_hex("FF").unwrap().hex(), "ff");
        assert!(SerialNumber::from_hex(&"7f".repeat(20)).is_ok());
        assert!(SerialNumber::from_hex(&"7f".repeat(21)).is_err());
        for bad in ["", "0", "00", "xyz", "12 34"] {
            assert!(SerialNumber::from_hex(bad).is_err(), "{bad}");
        }
    }
}
