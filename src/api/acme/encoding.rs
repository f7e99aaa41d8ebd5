//! The two wire encodings under JWS and JWK: base64url without padding
//! (RFC 7515 §2), decoded strictly, and JSON read without duplicate members
//! at any depth (RFC 7515 §5.2 lets a parser refuse them; two readers that
//! disagree on which duplicate wins are a signature bypass).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Decodes base64url without padding. `=`, whitespace, the standard
/// alphabet's `+` and `/`, and non-canonical trailing bits are all refused:
/// one value has exactly one encoding, so thumbprints and signatures
/// computed over the text cannot be varied by re-encoding.
pub fn b64url_decode(text: &str) -> Result<Vec<u8>, String> {
    if let Some(pos) = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')) {
        let c = text[pos..].chars().next().unwrap_or('?');
        return Err(if c == '=' {
            "base64url padding ('=') is not allowed".to_string()
        } else {
            format!("character {c:?} at offset {pos} is not base64url")
        });
    }
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| format!("invalid base64url: {e}"))
}

/// Encodes base64url without padding.
pub fn b64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Parses one JSON value from `bytes`, refusing duplicate object members
/// at any depth and anything after the value.
pub fn strict_json(bytes: &[u8]) -> Result<Value, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue
        .deserialize(&mut de)
        .map_err(|e| format!("invalid JSON: {e}"))?;
    de.end().map_err(|e| format!("invalid JSON: {e}"))?;
    Ok(value)
}

/// Builds a [`Value`] like serde_json does, but a repeated member name in
/// an object is an error instead of "the last one wins".
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                return Err(de::Error::custom(format!(
                    "duplicate member {:?}",
                    shorten(&name)
                )));
            }
            let value = map.next_value_seed(StrictValue)?;
            members.insert(name, value);
        }
        Ok(Value::Object(members))
    }
}

/// A member name as it may appear in an error detail: at most 64 characters.
pub fn shorten(name: &str) -> String {
    const MAX: usize = 64;
    match name.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &name[..cut]),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trip_and_strictness() {
        assert_eq!(b64url_decode("AQAB").unwrap(), vec![1, 0, 1]);
        assert_eq!(b64url_decode("").unwrap(), Vec::<u8>::new());
        assert_eq!(b64url_encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(b64url_decode("-_8").unwrap(), vec![0xfb, 0xff]);
        for (bad, why) in [
            ("AQ==", "padding"),
            ("+/8", "not base64url"),
            ("AQ AB", "not base64url"),
            ("AQAB\n", "not base64url"),
            // "AR" carries non-zero trailing bits: a second encoding of [1].
            ("AR", "invalid base64url"),
            // A single leftover character can never be valid.
            ("AQABA", "invalid base64url"),
        ] {
            let err = b64url_decode(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn strict_json_refuses_duplicates_at_any_depth() {
        assert!(strict_json(br#"{"a":1,"b":{"c":[1,{"d":null}]}}"#).is_ok());
        let err = strict_json(br#"{"a":1,"a":2}"#).unwrap_err();
        assert!(err.contains("duplicate member \"a\""), "{err}");
        let err = strict_json(br#"{"x":{"k":"1","k":"2"}}"#).unwrap_err();
        assert!(err.contains("duplicate member \"k\""), "{err}");
        let err = strict_json(br#"[{"k":1,"k":1}]"#).unwrap_err();
        assert!(err.contains("duplicate"), "{err}");
        assert!(strict_json(br#"{"a":1} x"#).is_err());
        assert!(strict_json(b"").is_err());
    }

    #[test]
    fn shorten_bounds_names() {
        assert_eq!(shorten("abc"), "abc");
        let long = "é".repeat(100);
        assert_eq!(shorten(&long).chars().count(), 67);
    }
}
