//! Shared helpers for the integration tests: building chains and running external tools.
#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use pki::{
    CertRequest, DistinguishedName, IssuedCert, Issuer, KeyAlgorithm, PrivateKey, Profile, Sans,
    Signer, issue, parse_dn, random_serial,
};

/// The four key algorithms, RSA at 2048 bits to keep the suite fast.
pub const ALGS: [KeyAlgorithm; 4] = [
    KeyAlgorithm::Rsa { bits: 2048 },
    KeyAlgorithm::EcdsaP256,
    KeyAlgorithm::EcdsaP384,
    KeyAlgorithm::Ed25519,
];

pub const CRL_URL: &str = "http://pki.example.com/crl/test-ca-1";
pub const CA_URL: &str = "http://pki.example.com/ca/test-ca-1.crt";

/// The tests may read the clock: certificates must be valid for openssl right now.
pub fn now() -> DateTime<Utc> {
    Utc::now() - Duration::minutes(5)
}

/// A key and its certificate.
pub struct Made {
    pub key: PrivateKey,
    pub cert: IssuedCert,
}

impl Made {
    pub fn issuer(&self) -> Issuer {
        Issuer::new(&self.cert.pem, self.key.clone()).unwrap()
    }
}

pub fn make(
    subject: &str,
    key: PrivateKey,
    profile: Profile,
    sans: &Sans,
    signer: Option<&Issuer>,
    days: i64,
) -> Made {
    let dn: DistinguishedName = if subject.is_empty() {
        DistinguishedName::new()
    } else {
        parse_dn(subject).unwrap()
    };
    let serial = random_serial();
    let is_root = signer.is_none();
    let cert = issue(
        &CertRequest {
            subject: &dn,
            public_key_der: &key.public_key_der(),
            profile,
            sans,
            serial: &serial,
            not_before: now(),
            not_after: now() + Duration::days(days),
            crl_url: (!is_root).then_some(CRL_URL),
            ca_issuers_url: (!is_root).then_some(CA_URL),
        },
        match signer {
            Some(i) => Signer::Issuer(i),
            None => Signer::SelfSigned(&key),
        },
    )
    .unwrap();
    Made { key, cert }
}

pub fn root(alg: KeyAlgorithm) -> Made {
    make(
        &format!("CN=FastPKI Test Root {},O=FastPKI Tests,C=US", alg.name()),
        PrivateKey::generate(alg).unwrap(),
        Profile::RootCa { path_len: Some(1) },
        &Sans::default(),
        None,
        3650,
    )
}

pub fn intermediate(parent: &Issuer, alg: KeyAlgorithm) -> Made {
    make(
        &format!(
            "CN=FastPKI Test Issuing {},O=FastPKI Tests,C=US",
            alg.name()
        ),
        PrivateKey::generate(alg).unwrap(),
        Profile::IntermediateCa { path_len: Some(0) },
        &Sans::default(),
        Some(parent),
        1825,
    )
}

pub fn dns(names: &[&str]) -> Sans {
    Sans {
        dns: names.iter().map(|s| s.to_string()).collect(),
        ..Sans::default()
    }
}

pub fn leaf(issuer: &Issuer, alg: KeyAlgorithm, profile: Profile, cn: &str, sans: &Sans) -> Made {
    make(
        &format!("CN={cn},O=FastPKI Tests,C=US"),
        PrivateKey::generate(alg).unwrap(),
        profile,
        sans,
        Some(issuer),
        90,
    )
}

/// A temporary directory with helpers to write files into it.
pub struct Dir(pub tempfile::TempDir);

impl Dir {
    pub fn new() -> Self {
        Dir(tempfile::tempdir().unwrap())
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    pub fn s(&self, name: &str) -> String {
        self.path(name).to_string_lossy().into_owned()
    }
}

/// Runs a command to completion, killing it after `timeout`. Panics if it cannot start.
pub fn run_with_timeout(cmd: &mut Command, timeout: StdDuration) -> Output {
    try_run_with_timeout(cmd, timeout).unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command to completion, killing it after `timeout`; `Err` if it cannot start.
pub fn try_run_with_timeout(cmd: &mut Command, timeout: StdDuration) -> std::io::Result<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let status = child.wait().unwrap();
            panic!("{cmd:?} timed out after {timeout:?} ({status})");
        }
        std::thread::sleep(StdDuration::from_millis(20));
    };
    Ok(Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    })
}

/// Runs `openssl` with the arguments; returns the output whatever the exit status.
pub fn openssl(args: &[&str]) -> Output {
    run_with_timeout(
        Command::new("openssl").args(args),
        StdDuration::from_secs(60),
    )
}

/// Runs `openssl`, asserting success, and returns stdout + stderr as text.
pub fn openssl_ok(args: &[&str]) -> String {
    let out = openssl(args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "openssl {args:?} failed:\n{text}");
    text
}
