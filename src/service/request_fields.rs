//! Request fields that several use cases share: optional-or-null updates, the
//! key to generate, and validity in days.

use serde::Deserialize;

use crate::error::{Error, Result};

/// RSA sizes a key may be generated with.
pub const RSA_SIZES: [u32; 4] = [2048, 3072, 4096, 8192];

/// Deserializes a field that may be absent (outer None) or null (Some(None)).
pub fn nullable<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Parses `key_algorithm` and `key_size` into what the crypto library generates.
pub fn key_algorithm(
    name: Option<&str>,
    key_size: Option<u32>,
    default_rsa: u32,
) -> Result<pki::KeyAlgorithm> {
    let name = name.unwrap_or("rsa");
    let bits = key_size.unwrap_or(default_rsa);
    if name.trim().eq_ignore_ascii_case("rsa") && !RSA_SIZES.contains(&bits) {
        return Err(Error::validation(
            "key_size",
            "RSA key_size must be 2048, 3072, 4096 or 8192",
        ));
    }
    let alg = pki::KeyAlgorithm::parse(name, bits).map_err(|_| {
        Error::validation(
            "key_algorithm",
            format!(
                "Unsupported key algorithm {name:?}: use rsa, ecdsa-p256, ecdsa-p384 or ed25519"
            ),
        )
    })?;
    Ok(alg)
}

/// Checks `valid_days` (1 to 100 years).
pub fn check_days(days: i64) -> Result<i64> {
    if !(1..=36_500).contains(&days) {
        return Err(Error::validation(
            "valid_days",
            "valid_days must be between 1 and 36500",
        ));
    }
    Ok(days)
}
