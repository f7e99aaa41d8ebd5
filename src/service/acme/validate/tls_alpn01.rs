//! tls-alpn-01 (RFC 8737; RFC 8738 §6 for IP identifiers): a TLS handshake
//! with the identifier on `ACME_TLSALPN01_PORT`, offering only the ALPN
//! protocol `acme-tls/1` and naming the identifier in SNI (an IP address by
//! its reverse-DNS name). The self-signed certificate is not verified as a
//! chain; it must have exactly one subjectAltName, the identifier, and the
//! critical id-pe-acmeIdentifier extension holding SHA-256 of the key
//! authorization.
//!
//! Also the TLS client configuration of an http-01 redirect to `https://`,
//! which accepts any certificate as well (RFC 8555 §8.3 leaves it to the
//! server; Let's Encrypt's does the same).

use std::net::IpAddr;
use std::sync::Arc;

use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::WebPkiSupportedAlgorithms;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, PeerMisbehaved, SignatureScheme,
};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::targets::Host;
use super::{Inner, key_authorization_digest};
use crate::service::acme::problem::{Problem, ProblemType};

/// The ALPN protocol of tls-alpn-01 (RFC 8737 §6.2).
pub(super) const ACME_TLS_1: &[u8] = b"acme-tls/1";

/// id-pe-acmeIdentifier (RFC 8737 §6.1).
const ACME_IDENTIFIER_OID: &str = "1.3.6.1.5.5.7.1.31";

/// A TLS client that accepts any certificate (the handshake signatures are
/// still checked), offering `alpn`.
pub(super) fn insecure_client_config(alpn: &[&[u8]]) -> anyhow::Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = AnyCertificate {
        algorithms: provider.signature_verification_algorithms,
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// The name a TLS client sends in SNI for `host`: the DNS name, or the
/// reverse-DNS name of an address (RFC 8738 §6: `1.0.0.127.in-addr.arpa`).
pub(super) fn sni_name(host: &Host) -> String {
    match host {
        Host::Name(n) => n.trim_end_matches('.').to_ascii_lowercase(),
        Host::Ip(IpAddr::V4(ip)) => {
            let o = ip.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        Host::Ip(IpAddr::V6(ip)) => {
            let mut labels: Vec<String> = ip
                .octets()
                .iter()
                .flat_map(|b| [b >> 4, b & 0xf])
                .map(|n| format!("{n:x}"))
                .collect();
            labels.reverse();
            format!("{}.ip6.arpa", labels.join("."))
        }
    }
}

pub(super) async fn validate(
    v: &Inner,
    host: &Host,
    key_authorization: &str,
) -> Result<(), Problem> {
    let port = v.tlsalpn01_port;
    let sni = sni_name(host);
    let server_name = ServerName::try_from(sni.clone())
        .map_err(|_| Problem::malformed(format!("{sni:?} cannot be sent as a TLS server name")))?;
    let (tcp, addr) = v.targets.connect(&v.resolver, host, port).await?;
    let tls = TlsConnector::from(v.tls_alpn.clone())
        .connect(server_name, tcp)
        .await
        .map_err(|e| {
            Problem::new(
                ProblemType::Tls,
                format!(
                    "TLS handshake with {host} at {addr} (SNI {sni}, ALPN acme-tls/1) failed: {e}"
                ),
            )
        })?;
    let conn = tls.get_ref().1;
    if conn.alpn_protocol() != Some(ACME_TLS_1) {
        let got = conn
            .alpn_protocol()
            .map(|p| format!("{:?}", String::from_utf8_lossy(p)))
            .unwrap_or_else(|| "none".into());
        return Err(Problem::new(
            ProblemType::Tls,
            format!("{host} at {addr} did not negotiate ALPN acme-tls/1 (negotiated: {got})"),
        ));
    }
    let cert = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| {
            Problem::new(
                ProblemType::Tls,
                format!("{host} at {addr} presented no certificate"),
            )
        })?;
    check_certificate(cert.as_ref(), host, key_authorization).map_err(|why| {
        Problem::new(
            ProblemType::Unauthorized,
            format!("the tls-alpn-01 certificate of {host} at {addr} {why}"),
        )
    })
}

/// RFC 8737 §3's checks of the challenge certificate; `Err` completes the
/// sentence "the certificate ...".
fn check_certificate(der: &[u8], host: &Host, key_authorization: &str) -> Result<(), String> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("cannot be parsed: {e}"))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| format!("has an invalid subjectAltName extension: {e}"))?
        .ok_or("has no subjectAltName extension")?;
    let names = &san.value.general_names;
    let matches = |name: &GeneralName| match (name, host) {
        (GeneralName::DNSName(d), Host::Name(n)) => d
            .trim_end_matches('.')
            .eq_ignore_ascii_case(n.trim_end_matches('.')),
        (GeneralName::IPAddress(b), Host::Ip(IpAddr::V4(ip))) => *b == ip.octets(),
        (GeneralName::IPAddress(b), Host::Ip(IpAddr::V6(ip))) => *b == ip.octets(),
        _ => false,
    };
    if names.len() != 1 || !matches(&names[0]) {
        let listed: Vec<String> = names.iter().take(5).map(describe).collect();
        return Err(format!(
            "must name exactly {host} in subjectAltName, it names [{}]{}",
            listed.join(", "),
            if names.len() > 5 { ", ..." } else { "" }
        ));
    }
    let mut found = cert
        .extensions()
        .iter()
        .filter(|e| e.oid.to_id_string() == ACME_IDENTIFIER_OID);
    let ext = found
        .next()
        .ok_or("has no id-pe-acmeIdentifier (1.3.6.1.5.5.7.1.31) extension")?;
    if found.next().is_some() {
        return Err("has id-pe-acmeIdentifier twice".into());
    }
    if !ext.critical {
        return Err("has an id-pe-acmeIdentifier extension that is not critical".into());
    }
    // The value is an OCTET STRING of the 32-byte digest.
    let mut expected = vec![0x04, 0x20];
    expected.extend_from_slice(&key_authorization_digest(key_authorization));
    if ext.value != expected.as_slice() {
        return Err(format!(
            "has an id-pe-acmeIdentifier that is not SHA-256 of the key authorization \
             (got {}, expected {})",
            hex::encode(&ext.value[..ext.value.len().min(40)]),
            hex::encode(&expected)
        ));
    }
    Ok(())
}

fn describe(name: &GeneralName) -> String {
    match name {
        GeneralName::DNSName(d) => format!("DNS:{d}"),
        GeneralName::IPAddress(b) if b.len() == 4 => {
            format!(
                "IP:{}",
                IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or_default())
            )
        }
        GeneralName::IPAddress(b) if b.len() == 16 => {
            format!(
                "IP:{}",
                IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or_default())
            )
        }
        other => format!("{other:?}").chars().take(60).collect(),
    }
}

/// Accepts any certificate: a tls-alpn-01 certificate is self-signed by design.
/// The handshake signature is still checked, with the certificate's key read
/// here: rustls's own check parses the certificate with webpki, which refuses
/// the critical id-pe-acmeIdentifier extension it does not know.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl AnyCertificate {
    fn verify_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let (_, parsed) = X509Certificate::from_der(cert.as_ref())
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let key = &parsed.public_key().subject_public_key.data;
        let candidates = self
            .algorithms
            .mapping
            .iter()
            .find(|(scheme, _)| *scheme == dss.scheme)
            .map(|(_, algs)| *algs)
            .ok_or(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme)?;
        if candidates
            .iter()
            .any(|alg| alg.verify_signature(key, message, dss.signature()).is_ok())
        {
            Ok(HandshakeSignatureValid::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::BadSignature,
            ))
        }
    }
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_dns_names_of_addresses() {
        assert_eq!(
            sni_name(&Host::Ip("127.0.0.1".parse().unwrap())),
            "1.0.0.127.in-addr.arpa"
        );
        assert_eq!(
            sni_name(&Host::Ip("2001:db8::567:89ab".parse().unwrap())),
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
        assert_eq!(
            sni_name(&Host::Name("Example.TEST.".into())),
            "example.test"
        );
    }

    fn challenge_cert(sans: Vec<rcgen::SanType>, digest: Option<(&str, bool)>) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::default();
        params.subject_alt_names = sans;
        if let Some((ka, critical)) = digest {
            let mut value = vec![0x04, 0x20];
            value.extend_from_slice(&key_authorization_digest(ka));
            let mut ext =
                rcgen::CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 31], value);
            ext.set_criticality(critical);
            params.custom_extensions.push(ext);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn certificate_checks() {
        let dns = |n: &str| rcgen::SanType::DnsName(n.try_into().unwrap());
        let host = Host::Name("a.example".into());
        let ok = challenge_cert(vec![dns("a.example")], Some(("tok.thumb", true)));
        assert_eq!(check_certificate(&ok, &host, "tok.thumb"), Ok(()));
        let why = check_certificate(&ok, &host, "other.thumb").unwrap_err();
        assert!(why.contains("not SHA-256"), "{why}");

        let two = challenge_cert(vec![dns("a.example"), dns("b.example")], Some(("k", true)));
        let why = check_certificate(&two, &host, "k").unwrap_err();
        assert!(why.contains("DNS:b.example"), "{why}");

        let not_critical = challenge_cert(vec![dns("a.example")], Some(("k", false)));
        let why = check_certificate(&not_critical, &host, "k").unwrap_err();
        assert!(why.contains("not critical"), "{why}");

        let missing = challenge_cert(vec![dns("a.example")], None);
        let why = check_certificate(&missing, &host, "k").unwrap_err();
        assert!(why.contains("no id-pe-acmeIdentifier"), "{why}");

        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let by_ip = challenge_cert(vec![rcgen::SanType::IpAddress(ip)], Some(("k", true)));
        assert_eq!(check_certificate(&by_ip, &Host::Ip(ip), "k"), Ok(()));
        let why = check_certificate(&by_ip, &host, "k").unwrap_err();
        assert!(why.contains("IP:192.0.2.1"), "{why}");
    }
}
