//! Private key files as other tools write them: PEM or DER; PKCS#8, PKCS#1 (RSA), SEC1 (EC);
//! PKCS#8 encrypted with a passphrase (PBES2: PBKDF2 and AES-CBC, what `openssl pkcs8
//! -topk8`, `openssl genpkey -aes256` and OpenSSL 3's `genrsa -aes256` write); and PKCS#1 or
//! SEC1 PEM in OpenSSL's traditional encryption (`Proc-Type: 4,ENCRYPTED`, AES-CBC), which
//! step-ca writes its CA keys in.
//!
//! Nothing here logs or echoes key material or the passphrase: errors say what kind of file
//! was seen and what to do about it.

use std::num::NonZeroU32;

use aws_lc_rs::cipher::{
    AES_128, AES_192, AES_256, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::pbkdf2;

use crate::error::PkiError;
use crate::keys::PrivateKey;

/// Largest PBKDF2 iteration count accepted: far above what tools write (OpenSSL: 2048,
/// newer defaults: 600 000), low enough that a hostile file costs seconds, not minutes.
pub const MAX_PBKDF2_ITERATIONS: u32 = 5_000_000;

/// Largest key file accepted, in bytes (an RSA 8192 PEM is about 6.5 KB).
const MAX_KEY_FILE_LEN: usize = 64 * 1024;

fn bad(m: impl Into<String>) -> PkiError {
    PkiError::InvalidKey(m.into())
}

/// Loads a private key from the bytes of a key file, PEM or DER. `passphrase` decrypts an
/// encrypted PKCS#8 key (`ENCRYPTED PRIVATE KEY`); it is ignored for a key in the clear.
pub fn read_private_key(data: &[u8], passphrase: Option<&[u8]>) -> Result<PrivateKey, PkiError> {
    if data.len() > MAX_KEY_FILE_LEN {
        return Err(bad(format!(
            "a key file of more than {MAX_KEY_FILE_LEN} bytes"
        )));
    }
    let trimmed = data.trim_ascii_start();
    if trimmed.starts_with(b"-----BEGIN") {
        let text = std::str::from_utf8(trimmed).map_err(|_| bad("PEM that is not text"))?;
        return read_pem(text, passphrase);
    }
    read_der(data, passphrase)
}

fn read_pem(text: &str, passphrase: Option<&[u8]>) -> Result<PrivateKey, PkiError> {
    let blocks = ::pem::parse_many(text).map_err(|_| bad("malformed PEM"))?;
    let block = blocks
        .iter()
        .find(|b| b.tag() != "EC PARAMETERS")
        .ok_or_else(|| bad("no private key in the PEM document"))?;
    // OpenSSL's traditional encryption (`Proc-Type: 4,ENCRYPTED`, `DEK-Info`), which
    // step-ca writes its keys in, and `openssl ec|rsa -aes256`.
    if block.headers().get("Proc-Type").is_some() || block.headers().get("DEK-Info").is_some() {
        return decrypt_legacy_pem(block, passphrase);
    }
    match block.tag() {
        "ENCRYPTED PRIVATE KEY" => decrypt_pkcs8(block.contents(), passphrase),
        // The labels `PrivateKey::from_pem` knows (PKCS#8, PKCS#1, SEC1).
        "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => PrivateKey::from_pem(text),
        other => Err(bad(format!(
            "unexpected PEM label {other:?}; expected PRIVATE KEY, ENCRYPTED PRIVATE KEY, RSA \
             PRIVATE KEY or EC PRIVATE KEY"
        ))),
    }
}

fn read_der(der: &[u8], passphrase: Option<&[u8]>) -> Result<PrivateKey, PkiError> {
    if let Ok(k) = PrivateKey::from_pkcs8_der(der) {
        return Ok(k);
    }
    if looks_encrypted_pkcs8(der) {
        return decrypt_pkcs8(der, passphrase);
    }
    // PKCS#1 and SEC1 DER: the PEM loader knows them by label.
    for label in ["RSA PRIVATE KEY", "EC PRIVATE KEY"] {
        let pem = crate::codec::der_to_pem(der, label);
        if let Ok(k) = PrivateKey::from_pem(&pem) {
            return Ok(k);
        }
    }
    Err(bad(
        "not a private key this CA can use: expected PEM or DER PKCS#8, encrypted PKCS#8, \
         PKCS#1 (RSA) or SEC1 (EC P-256, P-384), of RSA 2048-8192, EC P-256, EC P-384 or \
         Ed25519",
    ))
}

/// An EncryptedPrivateKeyInfo starts `SEQUENCE { SEQUENCE { OID ...`, a PrivateKeyInfo
/// `SEQUENCE { INTEGER ...`.
fn looks_encrypted_pkcs8(der: &[u8]) -> bool {
    let Ok((outer, _)) = Reader::new(der).expect(0x30) else {
        return false;
    };
    let Ok((alg, _)) = Reader::new(outer).expect(0x30) else {
        return false;
    };
    Reader::new(alg).expect(0x06).is_ok()
}

// OIDs, as DER content octets.
const OID_PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
const OID_PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
const OID_SCRYPT: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x04, 0x0b];
/// 1.2.840.113549.2.{7,9,10,11}: hmacWithSHA1, SHA256, SHA384, SHA512.
const OID_HMAC_PREFIX: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02];
/// 2.16.840.1.101.3.4.1.{2,22,42}: aes128-CBC, aes192-CBC, aes256-CBC.
const OID_AES_PREFIX: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01];
/// 1.2.840.113549.1.12.1: the PKCS#12 PBES1 schemes (`openssl pkcs8 -v1 ...`).
const OID_PKCS12_PBE_PREFIX: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01];
/// 1.2.840.113549.1.5.{1..11}: the PKCS#5 PBES1 schemes.
const OID_PKCS5_PREFIX: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05];

/// Decrypts an EncryptedPrivateKeyInfo (RFC 5958) protected by PBES2 (RFC 8018) with
/// PBKDF2-HMAC-SHA1/256/384/512 and AES-128/192/256-CBC, then loads the key.
fn decrypt_pkcs8(der: &[u8], passphrase: Option<&[u8]>) -> Result<PrivateKey, PkiError> {
    let malformed = || bad("malformed encrypted PKCS#8 key");
    let (info, rest) = Reader::new(der).expect(0x30).map_err(|_| malformed())?;
    if !rest.is_empty() {
        return Err(malformed());
    }
    let mut info = Reader::new(info);
    let alg = info.take(0x30).map_err(|_| malformed())?;
    let encrypted = info.take(0x04).map_err(|_| malformed())?;
    let mut alg = Reader::new(alg);
    let scheme = alg.take(0x06).map_err(|_| malformed())?;
    if scheme != OID_PBES2 {
        return Err(
            if scheme.starts_with(OID_PKCS12_PBE_PREFIX) || scheme.starts_with(OID_PKCS5_PREFIX) {
                bad(
                    "the key is encrypted with a legacy PBES1 scheme, which is not supported: \
                     re-encrypt it with `openssl pkcs8 -topk8 -v2 aes256`",
                )
            } else {
                bad("the key is encrypted with an unsupported scheme (only PBES2 is supported)")
            },
        );
    }
    let mut params = Reader::new(alg.take(0x30).map_err(|_| malformed())?);
    let mut kdf = Reader::new(params.take(0x30).map_err(|_| malformed())?);
    let mut cipher = Reader::new(params.take(0x30).map_err(|_| malformed())?);

    let kdf_oid = kdf.take(0x06).map_err(|_| malformed())?;
    if kdf_oid == OID_SCRYPT {
        return Err(bad(
            "the key is encrypted with scrypt, which is not supported: re-encrypt it with \
             `openssl pkcs8 -topk8 -v2 aes256` (PBKDF2)",
        ));
    }
    if kdf_oid != OID_PBKDF2 {
        return Err(bad(
            "unsupported key derivation function (only PBKDF2 is supported)",
        ));
    }
    let mut kdf_params = Reader::new(kdf.take(0x30).map_err(|_| malformed())?);
    let salt = kdf_params.take(0x04).map_err(|_| malformed())?;
    let iterations =
        small_uint(kdf_params.take(0x02).map_err(|_| malformed())?).ok_or_else(malformed)?;
    let mut key_length = None;
    if kdf_params.peek() == Some(0x02) {
        key_length = Some(
            small_uint(kdf_params.take(0x02).map_err(|_| malformed())?).ok_or_else(malformed)?,
        );
    }
    let mut prf = pbkdf2::PBKDF2_HMAC_SHA1;
    if kdf_params.peek() == Some(0x30) {
        let mut prf_alg = Reader::new(kdf_params.take(0x30).map_err(|_| malformed())?);
        let oid = prf_alg.take(0x06).map_err(|_| malformed())?;
        prf = match oid.strip_prefix(OID_HMAC_PREFIX) {
            Some([7]) => pbkdf2::PBKDF2_HMAC_SHA1,
            Some([9]) => pbkdf2::PBKDF2_HMAC_SHA256,
            Some([10]) => pbkdf2::PBKDF2_HMAC_SHA384,
            Some([11]) => pbkdf2::PBKDF2_HMAC_SHA512,
            _ => {
                return Err(bad(
                    "unsupported PBKDF2 hash (supported: HMAC-SHA1, SHA256, SHA384, SHA512)",
                ));
            }
        };
    }
    let iterations = u32::try_from(iterations)
        .ok()
        .filter(|i| *i <= MAX_PBKDF2_ITERATIONS)
        .and_then(NonZeroU32::new)
        .ok_or_else(|| {
            bad(format!(
                "PBKDF2 iteration count must be between 1 and {MAX_PBKDF2_ITERATIONS}"
            ))
        })?;

    let cipher_oid = cipher.take(0x06).map_err(|_| malformed())?;
    let (algorithm, key_len) = match cipher_oid.strip_prefix(OID_AES_PREFIX) {
        Some([2]) => (&AES_128, 16),
        Some([22]) => (&AES_192, 24),
        Some([42]) => (&AES_256, 32),
        _ => {
            return Err(bad(
                "unsupported cipher for the encrypted key (supported: AES-128-CBC, \
                 AES-192-CBC, AES-256-CBC)",
            ));
        }
    };
    if key_length.is_some_and(|l| l != key_len as u64) {
        return Err(malformed());
    }
    let iv: [u8; 16] = cipher
        .take(0x04)
        .map_err(|_| malformed())?
        .try_into()
        .map_err(|_| malformed())?;
    if encrypted.is_empty() || !encrypted.len().is_multiple_of(16) {
        return Err(malformed());
    }
    let Some(passphrase) = passphrase else {
        return Err(bad(
            "the key is encrypted (ENCRYPTED PRIVATE KEY): give its passphrase",
        ));
    };

    let mut key = vec![0u8; key_len];
    pbkdf2::derive(prf, iterations, salt, passphrase, &mut key);
    let wrong = || bad("could not decrypt the key: wrong passphrase?");
    let unbound = UnboundCipherKey::new(algorithm, &key).map_err(|_| wrong())?;
    let decrypting = PaddedBlockDecryptingKey::cbc_pkcs7(unbound).map_err(|_| wrong())?;
    let mut buf = encrypted.to_vec();
    let plain = decrypting
        .decrypt(&mut buf, DecryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(|_| wrong())?;
    // A wrong passphrase passes the padding check about once in 256 tries: then the
    // plaintext is no PrivateKeyInfo, and says so the same way.
    let loaded = PrivateKey::from_pkcs8_der(plain).map_err(|_| wrong());
    buf.fill(0);
    key.fill(0);
    loaded
}

/// Decrypts a PKCS#1 or SEC1 PEM block encrypted the traditional OpenSSL way: AES-CBC with
/// the key from `EVP_BytesToKey` (MD5, one round, salted with the IV's first 8 bytes).
fn decrypt_legacy_pem(
    block: &::pem::Pem,
    passphrase: Option<&[u8]>,
) -> Result<PrivateKey, PkiError> {
    let label = block.tag();
    if label != "RSA PRIVATE KEY" && label != "EC PRIVATE KEY" {
        return Err(bad(format!("unexpected encrypted PEM label {label:?}")));
    }
    let dek = block
        .headers()
        .get("DEK-Info")
        .ok_or_else(|| bad("an encrypted PEM key without its DEK-Info header"))?;
    let (cipher, iv_hex) = dek
        .split_once(',')
        .ok_or_else(|| bad("malformed DEK-Info header"))?;
    let (algorithm, key_len) = match cipher.trim().to_ascii_uppercase().as_str() {
        "AES-128-CBC" => (&AES_128, 16),
        "AES-192-CBC" => (&AES_192, 24),
        "AES-256-CBC" => (&AES_256, 32),
        other => {
            return Err(bad(format!(
                "the key is encrypted with {other}, which is not supported (AES-128/192/256-CBC \
                 are): re-encrypt it with `openssl pkcs8 -topk8 -v2 aes256`"
            )));
        }
    };
    let iv: [u8; 16] = hex::decode(iv_hex.trim())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| bad("malformed DEK-Info header"))?;
    let encrypted = block.contents();
    if encrypted.is_empty() || !encrypted.len().is_multiple_of(16) {
        return Err(bad("malformed encrypted PEM key"));
    }
    let Some(passphrase) = passphrase else {
        return Err(bad(format!(
            "the key is encrypted ({label} with Proc-Type: 4,ENCRYPTED): give its passphrase"
        )));
    };
    let mut key = evp_bytes_to_key(passphrase, &iv[..8], key_len);
    let wrong = || bad("could not decrypt the key: wrong passphrase?");
    let unbound = UnboundCipherKey::new(algorithm, &key).map_err(|_| wrong())?;
    let decrypting = PaddedBlockDecryptingKey::cbc_pkcs7(unbound).map_err(|_| wrong())?;
    let mut buf = encrypted.to_vec();
    let loaded = match decrypting.decrypt(&mut buf, DecryptionContext::Iv128(FixedLength::from(iv)))
    {
        Ok(plain) => {
            let mut pem = crate::codec::der_to_pem(plain, label);
            let k = PrivateKey::from_pem(&pem).map_err(|_| wrong());
            // The clear key does not stay in our buffers.
            pem.clear();
            k
        }
        Err(_) => Err(wrong()),
    };
    buf.fill(0);
    key.fill(0);
    loaded
}

/// OpenSSL's `EVP_BytesToKey` with MD5 and one round: D_1 = MD5(pass || salt),
/// D_i = MD5(D_i-1 || pass || salt), concatenated to `len` bytes.
fn evp_bytes_to_key(pass: &[u8], salt: &[u8], len: usize) -> Vec<u8> {
    use md5::{Digest, Md5};
    let mut out = Vec::with_capacity(len + 16);
    let mut prev: Vec<u8> = Vec::new();
    while out.len() < len {
        let mut h = Md5::new();
        h.update(&prev);
        h.update(pass);
        h.update(salt);
        prev = h.finalize().to_vec();
        out.extend_from_slice(&prev);
    }
    out.truncate(len);
    out
}

/// A non-negative INTEGER's value when it fits in 64 bits.
fn small_uint(content: &[u8]) -> Option<u64> {
    if content.is_empty() || content[0] & 0x80 != 0 {
        return None;
    }
    let skip = content.iter().take_while(|b| **b == 0).count();
    let digits = &content[skip..];
    if digits.len() > 8 {
        return None;
    }
    Some(digits.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b)))
}

/// A minimal reader of definite-length DER: enough for the few structures parsed here.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { rest: data }
    }

    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads one element with `tag`: (its content, what follows it).
    fn expect(&self, tag: u8) -> Result<(&'a [u8], &'a [u8]), ()> {
        let (&t, rest) = self.rest.split_first().ok_or(())?;
        if t != tag {
            return Err(());
        }
        let (&first, mut rest) = rest.split_first().ok_or(())?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return Err(());
            }
            let (bytes, after) = rest.split_at(n);
            rest = after;
            let len = bytes.iter().fold(0usize, |v, b| (v << 8) | usize::from(*b));
            if len < 0x80 || bytes[0] == 0 {
                return Err(()); // not the shortest form: not DER
            }
            len
        };
        if rest.len() < len {
            return Err(());
        }
        Ok(rest.split_at(len))
    }

    /// Reads one element with `tag` and moves past it.
    fn take(&mut self, tag: u8) -> Result<&'a [u8], ()> {
        let (content, rest) = self.expect(tag)?;
        self.rest = rest;
        Ok(content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An EncryptedPrivateKeyInfo written field by field (PBES2, PBKDF2 with an explicit
    /// PRF and optional keyLength, AES-128-CBC), for the forms openssl does not write.
    fn pbes2_file(key: &PrivateKey, prf_arc: u64, key_length: Option<u64>, cut: usize) -> Vec<u8> {
        use crate::der;
        use aws_lc_rs::cipher::{PaddedBlockEncryptingKey, UnboundCipherKey};
        let (salt, iv, iterations) = ([7u8; 8], [9u8; 16], 1000u32);
        let prf = match prf_arc {
            7 => pbkdf2::PBKDF2_HMAC_SHA1,
            _ => pbkdf2::PBKDF2_HMAC_SHA256,
        };
        let mut aes_key = [0u8; 16];
        pbkdf2::derive(
            prf,
            NonZeroU32::new(iterations).unwrap(),
            &salt,
            b"pw",
            &mut aes_key,
        );
        let encrypting =
            PaddedBlockEncryptingKey::cbc_pkcs7(UnboundCipherKey::new(&AES_128, &aes_key).unwrap())
                .unwrap();
        let mut data = key.pkcs8_der().to_vec();
        encrypting
            .less_safe_encrypt(
                &mut data,
                aws_lc_rs::cipher::EncryptionContext::Iv128(iv.into()),
            )
            .unwrap();
        data.truncate(data.len() - cut);
        let length = key_length.map(der::uint_u64).unwrap_or_default();
        let kdf_params = der::seq(&[
            &der::octet_string(&salt),
            &der::uint_u64(u64::from(iterations)),
            &length,
            &der::seq(&[&der::oid(&[1, 2, 840, 113549, 2, prf_arc]), &[0x05, 0x00]]),
        ]);
        let kdf = der::seq(&[&der::oid(&[1, 2, 840, 113549, 1, 5, 12]), &kdf_params]);
        let cipher = der::seq(&[
            &der::oid(&[2, 16, 840, 1, 101, 3, 4, 1, 2]),
            &der::octet_string(&iv),
        ]);
        let alg = der::seq(&[
            &der::oid(&[1, 2, 840, 113549, 1, 5, 13]),
            &der::seq(&[&kdf, &cipher]),
        ]);
        der::seq(&[&alg, &der::octet_string(&data)])
    }

    #[test]
    fn pbes2_with_an_explicit_sha1_prf_and_key_length() {
        let key = PrivateKey::generate(crate::KeyAlgorithm::EcdsaP256).unwrap();
        let read = |der: Vec<u8>| read_private_key(&der, Some(b"pw"));
        // hmacWithSHA1 written out (openssl leaves the default out), with and without keyLength.
        for length in [None, Some(16)] {
            let got = read(pbes2_file(&key, 7, length, 0)).unwrap();
            assert_eq!(got.pkcs8_der(), key.pkcs8_der());
        }
        assert_eq!(
            read(pbes2_file(&key, 9, None, 0)).unwrap().pkcs8_der(),
            key.pkcs8_der()
        );
        let malformed = PkiError::InvalidKey("malformed encrypted PKCS#8 key".into());
        // A keyLength that is not the cipher's, and a ciphertext cut short of a block.
        assert_eq!(
            read(pbes2_file(&key, 7, Some(32), 0)).unwrap_err(),
            malformed
        );
        assert_eq!(read(pbes2_file(&key, 7, None, 1)).unwrap_err(), malformed);
        // hmacWithSHA224 (…2.8) is not one we derive with.
        assert!(
            read(pbes2_file(&key, 8, None, 0))
                .unwrap_err()
                .to_string()
                .contains("unsupported PBKDF2 hash")
        );
    }

    #[test]
    fn garbage_is_refused_without_panics() {
        for bad in [
            &b""[..],
            b"garbage",
            b"\x30\x03\x02\x01\x00",
            b"\x30\x80\x30\x80",
            b"\x30\x84\xff\xff\xff\xff",
            b"\x30\x0a\x30\x08\x06\x06\x2a\x86\x48\x86\xf7\x0d",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
        ] {
            assert!(
                matches!(
                    read_private_key(bad, Some(b"x")),
                    Err(PkiError::InvalidKey(_))
                ),
                "{bad:?}"
            );
        }
        assert!(read_private_key(&vec![b'A'; MAX_KEY_FILE_LEN + 1], None).is_err());
    }

    #[test]
    fn evp_bytes_to_key_as_openssl() {
        // `openssl enc -aes-256-cbc -P -md md5 -pass pass:password -S 0102030405060708`
        let key = evp_bytes_to_key(b"password", &[1, 2, 3, 4, 5, 6, 7, 8], 32);
        assert_eq!(
            hex::encode_upper(key),
            "E7B0971E52CA5CC8D0539FB3412F6316F7BA2E6EE293D9F3457B99436B51CE02"
        );
    }

    #[test]
    fn der_lengths_in_short_and_long_form() {
        let read = |bytes: &[u8]| {
            Reader::new(bytes)
                .expect(0x04)
                .map(|(c, r)| (c.len(), r.len()))
        };
        let content = [7u8; 300];
        let with = |head: &[u8], n: usize| [head, &content[..n]].concat();
        // Short form up to 127; the content may end the input exactly.
        assert_eq!(read(&with(&[0x04, 0x7f], 127)), Ok((127, 0)));
        assert_eq!(read(&with(&[0x04, 0x02], 3)), Ok((2, 1)));
        assert_eq!(read(&with(&[0x04, 0x02], 1)), Err(()));
        // Long form: 128 needs one length octet, 256 two.
        assert_eq!(read(&with(&[0x04, 0x81, 0x80], 128)), Ok((128, 0)));
        assert_eq!(read(&with(&[0x04, 0x82, 0x01, 0x00], 256)), Ok((256, 0)));
        assert_eq!(read(&with(&[0x04, 0x82, 0x01, 0x2c], 300)), Ok((300, 0)));
        for not_der in [
            &[0x04, 0x80][..],            // indefinite length
            &[0x04, 0x81, 0x7f],          // 127 in long form
            &[0x04, 0x82, 0x00, 0x80],    // a leading zero octet
            &[0x04, 0x85, 0, 0, 0, 1, 0], // more than four length octets
            &[0x04, 0x82, 0x01],          // length octets cut short
            &[0x05, 0x00],                // another tag
        ] {
            assert_eq!(read(&with(not_der, 200)), Err(()), "{not_der:02x?}");
        }
        // Four length octets are read: 16 MiB of content.
        let mut big = vec![0x04, 0x84, 0x01, 0, 0, 0];
        big.resize(big.len() + (1 << 24), 0);
        assert_eq!(read(&big), Ok((1 << 24, 0)));
        // Length octets cut short, with nothing after them.
        assert_eq!(read(&[0x04, 0x82, 0x01]), Err(()));
    }

    #[test]
    fn der_reader_and_integers() {
        assert_eq!(small_uint(&[0x00, 0x80]), Some(128));
        assert_eq!(small_uint(&[0x08, 0x00]), Some(2048));
        assert_eq!(small_uint(&[0x80]), None);
        assert_eq!(small_uint(&[]), None);
        assert_eq!(small_uint(&[1; 9]), None);
        // Eight octets still fit, with or without a leading zero octet.
        assert_eq!(
            small_uint(&[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Some(i64::MAX as u64)
        );
        assert_eq!(
            small_uint(&[0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Some(u64::MAX)
        );
        let r = Reader::new(&[0x04, 0x02, 1, 2, 0x05, 0x00]);
        assert_eq!(r.expect(0x04), Ok((&[1u8, 2][..], &[0x05u8, 0x00][..])));
        assert!(r.expect(0x30).is_err());
        // A long form that a short form could say, and a length past the end: not DER.
        assert!(Reader::new(&[0x04, 0x81, 0x01, 0x00]).expect(0x04).is_err());
        assert!(Reader::new(&[0x04, 0x05, 0x00]).expect(0x04).is_err());
        assert!(looks_encrypted_pkcs8(&[0x30, 0x04, 0x30, 0x02, 0x06, 0x00]));
        assert!(!looks_encrypted_pkcs8(&[0x30, 0x03, 0x02, 0x01, 0x00]));
    }
}
