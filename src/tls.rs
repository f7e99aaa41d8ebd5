//! HTTPS without a proxy (`FASTPKI_TLS_CERT`, `FASTPKI_TLS_KEY`): the
//! listener's certificate and key as PEM files, re-read when either changes
//! (checked at most every few seconds, on a handshake), so a renewed
//! certificate (ACME clients and cert-manager renew on their own) is served
//! without a restart. A file that does not load keeps the previous pair.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::{CryptoProvider, aws_lc_rs};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{ServerConfig, version};

/// How often the files' modification times are looked at.
const RECHECK: Duration = Duration::from_secs(2);

/// The acceptor of the HTTPS listener.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let resolver = Arc::new(ReloadingCert::load(cert, key, provider.clone())?);
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&version::TLS13, &version::TLS12])
        .context("TLS versions")?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[derive(Debug)]
struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Mutex<Current>,
}

#[derive(Debug)]
struct Current {
    key: Arc<CertifiedKey>,
    stamps: (Option<SystemTime>, Option<SystemTime>),
    checked: Instant,
}

fn stamp(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn load_pair(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read FASTPKI_TLS_CERT {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| {
            format!(
                "FASTPKI_TLS_CERT {} is not PEM certificates",
                cert.display()
            )
        })?;
    if chain.is_empty() {
        anyhow::bail!("FASTPKI_TLS_CERT {} holds no certificate", cert.display());
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("FASTPKI_TLS_KEY {} is not a PEM private key", key.display()))?;
    CertifiedKey::from_der(chain, private, provider).with_context(|| {
        "FASTPKI_TLS_KEY is not the key of FASTPKI_TLS_CERT's certificate".to_string()
    })
}

impl ReloadingCert {
    fn load(cert: &Path, key: &Path, provider: Arc<CryptoProvider>) -> Result<Self> {
        let pair = load_pair(cert, key, &provider)?;
        Ok(ReloadingCert {
            cert_path: cert.to_owned(),
            key_path: key.to_owned(),
            current: Mutex::new(Current {
                key: Arc::new(pair),
                stamps: (stamp(cert), stamp(key)),
                checked: Instant::now(),
            }),
            provider,
        })
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.checked.elapsed() >= RECHECK {
            current.checked = Instant::now();
            let stamps = (stamp(&self.cert_path), stamp(&self.key_path));
            if stamps != current.stamps {
                // Stat and parse are small file reads, rare (the files changed).
                match load_pair(&self.cert_path, &self.key_path, &self.provider) {
                    Ok(pair) => {
                        current.key = Arc::new(pair);
                        current.stamps = stamps;
                        tracing::info!("HTTPS certificate reloaded");
                    }
                    Err(e) => {
                        // Not retried until the files change again.
                        current.stamps = stamps;
                        tracing::warn!(
                            error = format!("{e:#}"),
                            "HTTPS certificate changed but does not load: serving the previous one"
                        );
                    }
                }
            }
        }
        Some(current.key.clone())
    }
}
