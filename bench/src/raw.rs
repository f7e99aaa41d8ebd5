//! The machine's raw limit for each signing algorithm: signatures and key
//! generations per second with aws-lc-rs directly (no HTTP, no database), one
//! thread per core. Also the same signature through the `pki` crate, to show
//! what the crate itself costs before any HTTP or SQL.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    RSA_PKCS1_SHA256, RsaKeyPair,
};
use chrono::Utc;

/// The algorithms measured, in the order they are reported.
pub const ALGS: [pki::KeyAlgorithm; 5] = [
    pki::KeyAlgorithm::Rsa { bits: 2048 },
    pki::KeyAlgorithm::Rsa { bits: 4096 },
    pki::KeyAlgorithm::EcdsaP256,
    pki::KeyAlgorithm::EcdsaP384,
    pki::KeyAlgorithm::Ed25519,
];

/// A rate, two ways. On a shared machine other processes take CPU from the
/// threads measuring, so the limit is taken from the CPU time the threads
/// really got: operations per CPU-second times the number of threads (at most
/// one per core). `wall` is what the threads did per wall-clock second.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rate {
    pub limit: f64,
    pub wall: f64,
}

/// Figures for one algorithm (operations per second, all cores together).
#[derive(Clone, Debug)]
pub struct RawFigures {
    pub alg: pki::KeyAlgorithm,
    /// aws-lc-rs sign of a 1 KiB message with a loaded key.
    pub sign_per_s: Rate,
    /// aws-lc-rs key generation.
    pub keygen_per_s: Rate,
    /// `pki::issue` of a server certificate with a ready `pki::Issuer`.
    pub pki_issue_per_s: Rate,
    /// What the server does per request: `PrivateKey::from_pem` + `Issuer::new` + `pki::issue`.
    pub pki_load_issue_per_s: Rate,
    /// Cores used by every other process meanwhile (the machine may be shared).
    pub other_cores: f64,
}

/// Runs `op` on `threads` threads until `dur` has passed; returns operations per second.
/// Each thread finishes the operation it is in, so the rate divides by the real elapsed time.
fn rate<F>(threads: usize, dur: Duration, op: F) -> Result<Rate>
where
    F: Fn() -> Result<()> + Sync,
{
    let count = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let cpu0 = crate::server::cpu_seconds(std::process::id())?;
    let start = Instant::now();
    let deadline = start + dur;
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while Instant::now() < deadline {
                    if op().is_err() {
                        failed.store(true, Ordering::Relaxed);
                        return;
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    if failed.load(Ordering::Relaxed) {
        return Err(anyhow!("an operation failed"));
    }
    let cpu = crate::server::cpu_seconds(std::process::id())? - cpu0;
    let n = count.load(Ordering::Relaxed) as f64;
    let cores = std::thread::available_parallelism().map_or(threads, |c| c.get());
    Ok(Rate {
        limit: n / cpu.max(0.01) * threads.min(cores) as f64,
        wall: n / elapsed,
    })
}

fn keygen(alg: pki::KeyAlgorithm) -> Result<()> {
    let ok = match alg {
        pki::KeyAlgorithm::Rsa { bits: 2048 } => RsaKeyPair::generate(KeySize::Rsa2048).is_ok(),
        pki::KeyAlgorithm::Rsa { bits: 4096 } => RsaKeyPair::generate(KeySize::Rsa4096).is_ok(),
        pki::KeyAlgorithm::Rsa { .. } => false,
        pki::KeyAlgorithm::EcdsaP256 => {
            EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).is_ok()
        }
        pki::KeyAlgorithm::EcdsaP384 => {
            EcdsaKeyPair::generate(&ECDSA_P384_SHA384_ASN1_SIGNING).is_ok()
        }
        pki::KeyAlgorithm::Ed25519 => Ed25519KeyPair::generate().is_ok(),
    };
    ok.then_some(())
        .ok_or_else(|| anyhow!("key generation failed"))
}

/// A key loaded into aws-lc-rs once, as a server with a key cache would hold it.
enum Loaded {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl Loaded {
    fn from_pki(key: &pki::PrivateKey) -> Result<Self> {
        let der = key.pkcs8_der();
        Ok(match key.algorithm() {
            pki::KeyAlgorithm::Rsa { .. } => {
                Loaded::Rsa(RsaKeyPair::from_pkcs8(der).map_err(|e| anyhow!("{e}"))?)
            }
            pki::KeyAlgorithm::EcdsaP256 => Loaded::Ecdsa(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der)
                    .map_err(|e| anyhow!("{e}"))?,
            ),
            pki::KeyAlgorithm::EcdsaP384 => Loaded::Ecdsa(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, der)
                    .map_err(|e| anyhow!("{e}"))?,
            ),
            pki::KeyAlgorithm::Ed25519 => {
                Loaded::Ed25519(Ed25519KeyPair::from_pkcs8(der).map_err(|e| anyhow!("{e}"))?)
            }
        })
    }

    fn sign(&self, rng: &SystemRandom, msg: &[u8]) -> Result<()> {
        match self {
            Loaded::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, rng, msg, &mut sig)
                    .map_err(|_| anyhow!("RSA signing failed"))
            }
            Loaded::Ecdsa(k) => k
                .sign(rng, msg)
                .map(|_| ())
                .map_err(|_| anyhow!("ECDSA signing failed")),
            Loaded::Ed25519(k) => k
                .try_sign(msg)
                .map(|_| ())
                .map_err(|_| anyhow!("Ed25519 signing failed")),
        }
    }
}

/// One figure, measured again right before the workload compared with it, so that
/// both are taken under the same conditions on a shared machine.
pub fn measure_one(
    alg: pki::KeyAlgorithm,
    keygen_rate: bool,
    threads: usize,
    dur: Duration,
) -> Result<Rate> {
    if keygen_rate {
        return rate(threads, dur, || keygen(alg));
    }
    let rng = SystemRandom::new();
    let mut msg = vec![0u8; 1024];
    aws_lc_rs::rand::fill(&mut msg).map_err(|_| anyhow!("random"))?;
    let loaded = Loaded::from_pki(&pki::PrivateKey::generate(alg)?)?;
    rate(threads, dur, || loaded.sign(&rng, &msg))
}

/// A self-signed CA of `key`, for the `pki` path figures.
pub fn self_signed_ca(key: &pki::PrivateKey, name: &str) -> Result<pki::IssuedCert> {
    let dn = pki::parse_dn(&format!("CN={name},O=FastPKI Bench"))?;
    let now = Utc::now();
    Ok(pki::issue(
        &pki::CertRequest {
            subject: &dn,
            public_key_der: &key.public_key_der(),
            profile: pki::Profile::RootCa { path_len: None },
            sans: &pki::Sans::default(),
            serial: &pki::random_serial(),
            not_before: now,
            not_after: now + chrono::Duration::days(3650),
            crl_url: None,
            ca_issuers_url: None,
        },
        pki::Signer::SelfSigned(key),
    )?)
}

/// Issues one server certificate for `leaf_spki` (what sign-csr signs).
pub fn issue_leaf(issuer: &pki::Issuer, leaf_spki: &[u8], n: u64) -> Result<pki::IssuedCert> {
    let name = format!("host-{n}.bench.example.com");
    let dn = pki::parse_dn(&format!("CN={name}"))?;
    let now = Utc::now();
    Ok(pki::issue(
        &pki::CertRequest {
            subject: &dn,
            public_key_der: leaf_spki,
            profile: pki::Profile::Server,
            sans: &pki::Sans {
                dns: vec![name],
                ips: vec![],
                emails: vec![],
            },
            serial: &pki::random_serial(),
            not_before: now,
            not_after: now + chrono::Duration::days(365),
            crl_url: Some("http://127.0.0.1:8000/crl/bench-1"),
            ca_issuers_url: Some("http://127.0.0.1:8000/ca/bench-1.crt"),
        },
        pki::Signer::Issuer(issuer),
    )?)
}

/// Measures every algorithm for `dur` per figure on `threads` threads.
pub fn measure(threads: usize, dur: Duration) -> Result<Vec<RawFigures>> {
    let rng = SystemRandom::new();
    let mut msg = vec![0u8; 1024];
    aws_lc_rs::rand::fill(&mut msg).map_err(|_| anyhow!("random"))?;
    let leaf = pki::PrivateKey::generate(pki::KeyAlgorithm::EcdsaP256)?;
    let leaf_spki = leaf.public_key_der();
    let mut out = Vec::new();
    for alg in ALGS {
        eprintln!("  raw limit: {alg} ...");
        let key = pki::PrivateKey::generate(alg).with_context(|| format!("generate {alg}"))?;
        let (t0, all0, me0) = (
            Instant::now(),
            crate::server::machine_busy_seconds()?,
            crate::server::cpu_seconds(std::process::id())?,
        );
        let loaded = Loaded::from_pki(&key)?;
        let sign_per_s = rate(threads, dur, || loaded.sign(&rng, &msg))?;
        let keygen_per_s = rate(threads, dur, || keygen(alg))?;
        let ca = self_signed_ca(&key, &format!("Raw {alg}"))?;
        let issuer = pki::Issuer::new(&ca.pem, key.clone())?;
        let n = AtomicU64::new(0);
        let pki_issue_per_s = rate(threads, dur, || {
            issue_leaf(&issuer, &leaf_spki, n.fetch_add(1, Ordering::Relaxed)).map(|_| ())
        })?;
        let key_pem = key.to_pem();
        let pki_load_issue_per_s = rate(threads, dur, || {
            let issuer = pki::Issuer::new(&ca.pem, pki::PrivateKey::from_pem(&key_pem)?)?;
            issue_leaf(&issuer, &leaf_spki, n.fetch_add(1, Ordering::Relaxed)).map(|_| ())
        })?;
        let (all1, me1) = (
            crate::server::machine_busy_seconds()?,
            crate::server::cpu_seconds(std::process::id())?,
        );
        let other_cores = ((all1 - all0) - (me1 - me0)).max(0.0) / t0.elapsed().as_secs_f64();
        out.push(RawFigures {
            alg,
            other_cores,
            sign_per_s,
            keygen_per_s,
            pki_issue_per_s,
            pki_load_issue_per_s,
        });
    }
    Ok(out)
}
