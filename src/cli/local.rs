//! What the client does on this machine, with no server call: key generation and CSRs
//! for `cert sign-csr --generate-key` (the private key never leaves the machine),
//! `cert inspect`, and the spinner shown while something slow runs.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use super::{Failure, Res};

/// Runs `f` under a spinner on stderr (drawn only when stderr is a terminal).
pub fn with_spinner<T>(message: &str, f: impl FnOnce() -> T) -> T {
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        pb.set_style(style);
    }
    pb.set_message(message.to_string());
    pb.enable_steady_tick(Duration::from_millis(100));
    let out = f();
    pb.finish_and_clear();
    out
}

/// Key algorithms `--key-algorithm` accepts (the server's `key_algorithm` names).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlg {
    Rsa,
    #[value(name = "ecdsa-p256")]
    EcdsaP256,
    #[value(name = "ecdsa-p384")]
    EcdsaP384,
    Ed25519,
}

impl KeyAlg {
    /// The name the server and `pki` use.
    pub fn name(self) -> &'static str {
        match self {
            KeyAlg::Rsa => "rsa",
            KeyAlg::EcdsaP256 => "ecdsa-p256",
            KeyAlg::EcdsaP384 => "ecdsa-p384",
            KeyAlg::Ed25519 => "ed25519",
        }
    }
}

/// Generates a private key here; RSA sizes 2048, 3072, 4096 or 8192.
pub fn generate_key(alg: KeyAlg, rsa_bits: u32) -> Res<pki::PrivateKey> {
    let alg = pki::KeyAlgorithm::parse(alg.name(), rsa_bits)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let msg = format!("Generating a {} key on this machine", describe(alg));
    with_spinner(&msg, || pki::PrivateKey::generate(alg)).map_err(|e| Failure::Usage(e.to_string()))
}

fn describe(alg: pki::KeyAlgorithm) -> String {
    match alg {
        pki::KeyAlgorithm::Rsa { bits } => format!("{bits}-bit RSA"),
        other => other.name().to_string(),
    }
}

/// The subject alternative names asked for on the command line.
#[derive(Debug, Default, Clone)]
pub struct SanArgs {
    pub dns: Vec<String>,
    pub ips: Vec<String>,
    pub emails: Vec<String>,
}

fn ia5(s: &str, what: &str) -> Res<rcgen::string::Ia5String> {
    rcgen::string::Ia5String::try_from(s.to_string())
        .map_err(|_| Failure::Usage(format!("{what} {s:?} must be ASCII")))
}

/// A PEM PKCS#10 request for `subject_dn` (our DN syntax) and the SANs, signed with `key`.
pub fn build_csr(key: &pki::PrivateKey, subject_dn: &str, sans: &SanArgs) -> Res<String> {
    let dn = pki::parse_dn(subject_dn).map_err(|e| Failure::Usage(format!("--subject-dn: {e}")))?;
    let mut name = rcgen::DistinguishedName::new();
    for attr in dn.attributes() {
        let arcs: Vec<u64> = attr
            .oid()
            .split('.')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| Failure::Usage(format!("bad attribute type {}", attr.oid())))?;
        let value = match attr.oid().as_str() {
            // countryName is a PrintableString (X.520); emailAddress and DC are IA5Strings.
            "2.5.4.6" => rcgen::DnValue::PrintableString(
                rcgen::string::PrintableString::try_from(attr.value().to_string())
                    .map_err(|_| Failure::Usage(format!("bad country {:?}", attr.value())))?,
            ),
            "1.2.840.113549.1.9.1" | "0.9.2342.19200300.100.1.25" => {
                rcgen::DnValue::Ia5String(ia5(attr.value(), &attr.key())?)
            }
            _ => rcgen::DnValue::Utf8String(attr.value().to_string()),
        };
        name.push(rcgen::DnType::from_oid(&arcs), value);
    }
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = name;
    params.subject_alt_names = Vec::new();
    for d in &sans.dns {
        params
            .subject_alt_names
            .push(rcgen::SanType::DnsName(ia5(d, "DNS name")?));
    }
    for ip in &sans.ips {
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| Failure::Usage(format!("{ip:?} is not an IP address")))?;
        params.subject_alt_names.push(rcgen::SanType::IpAddress(ip));
    }
    for e in &sans.emails {
        params
            .subject_alt_names
            .push(rcgen::SanType::Rfc822Name(ia5(e, "e-mail address")?));
    }
    let key_pair = rcgen::KeyPair::try_from(key.pkcs8_der())
        .map_err(|e| Failure::Other(format!("cannot load the generated key: {e}")))?;
    params
        .serialize_request(&key_pair)
        .and_then(|csr| csr.pem())
        .map_err(|e| Failure::Other(format!("cannot build the CSR: {e}")))
}

/// Writes a new private key file with mode 0600; never replaces an existing file.
pub fn write_new_key(path: &Path, pem: &str) -> Res<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Failure::Usage(format!(
                "{} already exists; refusing to overwrite a private key",
                path.display()
            )),
            _ => Failure::Other(format!("cannot write {}: {e}", path.display())),
        })?;
    f.write_all(pem.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| Failure::Other(format!("cannot write {}: {e}", path.display())))
}

/// A file name made from a common name: `www.example.com` -> `www.example.com.key`.
pub fn default_key_path(cn: &str) -> std::path::PathBuf {
    let safe: String = cn
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = safe.trim_start_matches('.');
    let safe = if safe.is_empty() { "private" } else { safe };
    std::path::PathBuf::from(format!("{safe}.key"))
}

fn sans_json(s: &pki::Sans) -> Value {
    json!({
        "dns": s.dns,
        "ip": s.ips.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "email": s.emails,
    })
}

/// The PEM blocks with the given label, in order.
fn pem_blocks<'a>(text: &'a str, label: &str) -> Vec<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let Some(stop) = rest[start..].find(&end) else {
            break;
        };
        let stop = start + stop + end.len();
        out.push(&rest[start..stop]);
        rest = &rest[stop..];
    }
    out
}

fn cert_json(input: &[u8], now: chrono::DateTime<chrono::Utc>) -> Res<Value> {
    let info = pki::inspect_cert(input).map_err(|e| Failure::Other(e.to_string()))?;
    let der = if input.trim_ascii_start().starts_with(b"-----BEGIN") {
        let text = std::str::from_utf8(input).unwrap_or_default();
        pki::cert_pem_to_der(text).map_err(|e| Failure::Other(e.to_string()))?
    } else {
        input.to_vec()
    };
    let fingerprint = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
    let fingerprint = fingerprint
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let status = if now < info.not_before {
        "not yet valid"
    } else if now > info.not_after {
        "expired"
    } else {
        "valid"
    };
    Ok(json!({
        "type": "certificate",
        "subject": info.subject,
        "issuer": info.issuer,
        "common_name": info.common_name,
        "serial_number": info.serial_hex,
        "not_before": info.not_before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "not_after": info.not_after.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "validity": status,
        "days_left": (info.not_after - now).num_days(),
        "is_ca": info.is_ca,
        "path_length": info.path_len,
        "self_issued": info.self_issued,
        "key_algorithm": info.public_key_algorithm,
        "key_size": info.key_algorithm.map(|k| k.key_size()),
        "subject_key_id": info.ski_hex,
        "authority_key_id": info.aki_hex,
        "subject_alt_names": sans_json(&info.sans),
        "sha256_fingerprint": fingerprint,
    }))
}

/// Reads a certificate (PEM, PEM bundle or DER) or a CSR (PEM); one JSON object per item.
pub fn inspect_file(path: &Path) -> Res<Vec<Value>> {
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::Other(format!("cannot read {}: {e}", path.display())))?;
    let now = chrono::Utc::now();
    let text = std::str::from_utf8(&bytes).ok();
    if let Some(text) = text {
        if text.contains("CERTIFICATE REQUEST-----") {
            let info = pki::parse_csr(text).map_err(|e| Failure::Other(e.to_string()))?;
            let subject = info
                .subject
                .attributes()
                .iter()
                .map(|a| format!("{}={}", a.key(), a.value().replace(',', "\\,")))
                .collect::<Vec<_>>()
                .join(",");
            return Ok(vec![json!({
                "type": "certificate request",
                "subject": subject,
                "common_name": info.common_name,
                "key_algorithm": info.algorithm.name(),
                "key_size": info.algorithm.key_size(),
                "subject_alt_names": sans_json(&info.sans),
                "signature_valid": true,
            })]);
        }
        let blocks = pem_blocks(text, "CERTIFICATE");
        if !blocks.is_empty() {
            return blocks
                .iter()
                .map(|b| cert_json(b.as_bytes(), now))
                .collect();
        }
        if text.contains("-----BEGIN") {
            return Err(Failure::Other(format!(
                "{} holds no certificate or certificate request",
                path.display()
            )));
        }
    }
    Ok(vec![cert_json(&bytes, now)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_round_trips_through_the_pki_parser() {
        let key = generate_key(KeyAlg::EcdsaP256, 2048).unwrap();
        let sans = SanArgs {
            dns: vec!["a.example.com".into()],
            ips: vec!["10.0.0.1".into()],
            emails: vec![],
        };
        let pem = build_csr(&key, r"CN=a.example.com,O=Smith\, Inc,C=us", &sans).unwrap();
        let info = pki::parse_csr(&pem).unwrap();
        assert_eq!(info.common_name.as_deref(), Some("a.example.com"));
        assert_eq!(info.sans.dns, vec!["a.example.com".to_string()]);
        assert_eq!(info.public_key_der, key.public_key_der());
        let keys: Vec<String> = info.subject.attributes().iter().map(|a| a.key()).collect();
        assert_eq!(keys, ["CN", "O", "C"]);
        assert!(build_csr(&key, "CN=x,C=USA", &SanArgs::default()).is_err());
    }

    #[test]
    fn key_paths_are_safe() {
        assert_eq!(
            default_key_path("www.example.com").to_str(),
            Some("www.example.com.key")
        );
        assert_eq!(default_key_path("../x y").to_str(), Some("_x_y.key"));
    }
}
