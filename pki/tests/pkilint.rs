//! Lint tests: every profile and key algorithm, and the CRL, must have no pkilint ERROR or FATAL.
//!
//! pkilint is a Python tool (`pip install pkilint`); these tests fail when it is missing.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration as StdDuration;

use chrono::Duration;
use common::*;
use pki::{KeyAlgorithm, PrivateKey, Profile, RevocationReason, RevokedEntry, Sans, build_crl};

/// One pkilint finding.
#[derive(Debug)]
struct Finding {
    severity: String,
    code: String,
    message: String,
    node: String,
}

/// A finding deliberately tolerated, and why.
struct Tolerated {
    tool: &'static str,
    code: &'static str,
    /// Only findings whose message contains this (empty: any message).
    message_contains: &'static str,
    #[allow(dead_code)]
    why: &'static str,
}

const TOLERATED: &[Tolerated] = &[
    Tolerated {
        tool: "lint_cabf_serverauth_cert",
        code: "cabf.serverauth.subscriber.certificate_policies_extension_absent",
        message_contains: "",
        // The Baseline Requirements make subscribers assert a CA/B Forum reserved policy
        // OID (2.23.140.1.2.x). A private CA is not audited against the BRs, so asserting
        // one would be a false claim: certificatePolicies is left out on purpose.
        why: "private CA: no CA/B Forum policy OID can truthfully be asserted",
    },
    Tolerated {
        tool: "lint_pkix_cert",
        code: "pkix.invalid_domain_name_syntax",
        message_contains: "\"*.",
        // RFC 5280 only knows RFC 1034 preferred name syntax; wildcard dNSNames come from
        // RFC 6125 / BR 7.1.4.2.1 (leftmost label only), which validate_dns_name enforces
        // and which the CA/B Forum linter checks (see cabf_server_leaf).
        why: "wildcard SANs are defined by RFC 6125, not RFC 5280",
    },
];

fn run_lint(tool: &str, args: &[&str], file: &Path) -> Vec<Finding> {
    let mut cmd = Command::new(tool);
    cmd.arg("lint")
        .args(args)
        .args(["-f", "JSON", "-s", "NOTICE"])
        .arg(file);
    let out = try_run_with_timeout(&mut cmd, StdDuration::from_secs(120)).unwrap_or_else(|e| {
        panic!(
            "{tool} could not be run ({e}): pkilint is required for these tests; install it \
             with `pip install pkilint`"
        )
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{tool} {args:?} {} produced no JSON ({e}):\n{stdout}\n{}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let findings = findings_of(&json).unwrap_or_else(|e| {
        panic!(
            "{tool} {args:?} {}: pkilint's JSON output is not the shape these tests read ({e}); \
             was pkilint upgraded past the version scripts/test.sh pins?\n{stdout}",
            file.display()
        )
    });
    // pkilint exits with the number of findings it reported (at most 255): any other
    // status means it failed, or that its contract changed under these tests.
    let expected = findings.len().min(255) as i32;
    assert_eq!(
        out.status.code(),
        Some(expected),
        "{tool} {args:?} {}: exit status {:?} for {} findings\n{stdout}\n{}",
        file.display(),
        out.status,
        findings.len(),
        String::from_utf8_lossy(&out.stderr)
    );
    findings
}

/// Reads pkilint's JSON report strictly: `{"results": [{"node_path", "validator",
/// "finding_descriptions": [{"severity", "code", "message"}]}]}`. A missing or renamed key
/// is an error, not an empty list, so a format change cannot make every lint pass.
fn findings_of(json: &serde_json::Value) -> Result<Vec<Finding>, String> {
    let results = json
        .get("results")
        .and_then(|r| r.as_array())
        .ok_or("no \"results\" array")?;
    let mut findings = Vec::new();
    for result in results {
        let node = result
            .get("node_path")
            .and_then(|n| n.as_str())
            .ok_or_else(|| format!("a result without \"node_path\": {result}"))?;
        result
            .get("validator")
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("a result without \"validator\": {result}"))?;
        let descriptions = result
            .get("finding_descriptions")
            .and_then(|d| d.as_array())
            .filter(|d| !d.is_empty())
            .ok_or_else(|| format!("a result without \"finding_descriptions\": {result}"))?;
        for f in descriptions {
            let severity = f
                .get("severity")
                .and_then(|s| s.as_str())
                .filter(|s| ["FATAL", "ERROR", "WARNING", "NOTICE"].contains(s))
                .ok_or_else(|| format!("a finding without a known \"severity\": {f}"))?;
            let code = f
                .get("code")
                .and_then(|c| c.as_str())
                .filter(|c| !c.is_empty())
                .ok_or_else(|| format!("a finding without \"code\": {f}"))?;
            let message = match f.get("message") {
                Some(serde_json::Value::String(m)) => m.clone(),
                Some(serde_json::Value::Null) => String::new(),
                _ => return Err(format!("a finding without \"message\": {f}")),
            };
            findings.push(Finding {
                severity: severity.to_string(),
                code: code.to_string(),
                message,
                node: node.to_string(),
            });
        }
    }
    Ok(findings)
}

/// Lints `file` and fails on any ERROR/FATAL that is not tolerated; prints everything found.
fn assert_clean(label: &str, tool: &str, args: &[&str], file: &Path) {
    let findings = run_lint(tool, args, file);
    let mut bad = Vec::new();
    for f in &findings {
        let tolerated = TOLERATED
            .iter()
            .any(|t| t.tool == tool && t.code == f.code && f.message.contains(t.message_contains));
        println!(
            "{label}: {tool}: {} {} {} @ {}{}",
            f.severity,
            f.code,
            f.message,
            f.node,
            if tolerated { " (tolerated)" } else { "" }
        );
        if matches!(f.severity.as_str(), "ERROR" | "FATAL") && !tolerated {
            bad.push(f);
        }
    }
    assert!(bad.is_empty(), "{label}: {tool} errors: {bad:#?}");
}

/// Lints every profile for `alg`; `extras` adds the name-shape variants (one algorithm suffices).
fn lint_all_profiles(alg: KeyAlgorithm, extras: bool) {
    let dir = Dir::new();
    let root = root(alg);
    let inter = intermediate(&root.issuer(), alg);
    let ca = inter.issuer();
    let key = || PrivateKey::generate(alg).unwrap();
    let both = Sans {
        dns: vec!["svc.example.com".into()],
        ips: vec!["10.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
        emails: vec![],
    };
    let email = Sans {
        emails: vec!["alice@example.com".into()],
        ..Sans::default()
    };
    let mut certs = vec![
        ("root", root.cert.pem.clone()),
        ("intermediate", inter.cert.pem.clone()),
        (
            "server",
            leaf(
                &ca,
                alg,
                Profile::Server,
                "www.example.com",
                &dns(&["www.example.com", "*.api.example.com"]),
            )
            .cert
            .pem,
        ),
        (
            "client",
            leaf(&ca, alg, Profile::Client, "alice@example.com", &email)
                .cert
                .pem,
        ),
        (
            "dual-purpose",
            leaf(&ca, alg, Profile::DualPurpose, "svc.example.com", &both)
                .cert
                .pem,
        ),
        (
            "leaf-ca",
            leaf(&ca, alg, Profile::LeafCa, "Leaf CA", &Sans::default())
                .cert
                .pem,
        ),
    ];
    if extras {
        certs.extend([
            (
                "client-no-san",
                leaf(&ca, alg, Profile::Client, "alice", &Sans::default())
                    .cert
                    .pem,
            ),
            (
                "empty-subject",
                make(
                    "",
                    key(),
                    Profile::Server,
                    &dns(&["e.example.com"]),
                    Some(&ca),
                    90,
                )
                .cert
                .pem,
            ),
            (
                "every-attribute",
                make(
                    "C=US,ST=California,L=San Francisco,STREET=1 Main St,O=Acme\\, Inc,OU=Ops,OU=Web,\
                     title=Dr,GN=Ann,SN=Lee,serialNumber=A-1234,UID=ann,DC=example,DC=com,\
                     emailAddress=ann@example.com,CN=Ann Lee",
                    key(),
                    Profile::Client,
                    // RFC 5280 4.1.2.6: a subject emailAddress must also be an rfc822Name SAN.
                    &Sans {
                        emails: vec!["ann@example.com".into()],
                        ..Sans::default()
                    },
                    Some(&ca),
                    90,
                )
                .cert
                .pem,
            ),
            (
                "root-no-pathlen",
                make(
                    "CN=Unconstrained Root",
                    key(),
                    Profile::RootCa { path_len: None },
                    &Sans::default(),
                    None,
                    3650,
                )
                .cert
                .pem,
            ),
        ]);
    }
    for (name, pem) in certs {
        let file = dir.write(&format!("{name}.pem"), &pem);
        assert_clean(&format!("{alg} {name}"), "lint_pkix_cert", &[], &file);
    }
}

#[test]
fn pkix_rsa() {
    lint_all_profiles(KeyAlgorithm::Rsa { bits: 2048 }, false);
}

#[test]
fn pkix_p256() {
    lint_all_profiles(KeyAlgorithm::EcdsaP256, true);
}

#[test]
fn pkix_p384() {
    lint_all_profiles(KeyAlgorithm::EcdsaP384, false);
}

#[test]
fn pkix_ed25519() {
    lint_all_profiles(KeyAlgorithm::Ed25519, false);
}

#[test]
fn crls() {
    let entry = |reason: Option<u8>| RevokedEntry {
        serial_hex: pki::random_serial().hex(),
        revoked_at: now() - Duration::hours(1),
        reason: reason.map(|c| RevocationReason::from_code(c).unwrap()),
    };
    let next = now() + Duration::days(7);
    let dir = Dir::new();
    for alg in ALGS {
        let issuer = root(alg).issuer();
        // Every reason a complete CRL may carry, against the RFC 5280 profile.
        let all: Vec<RevokedEntry> = [
            None,
            Some(0),
            Some(1),
            Some(2),
            Some(3),
            Some(4),
            Some(5),
            Some(6),
            Some(9),
            Some(10),
        ]
        .into_iter()
        .map(entry)
        .collect();
        let crl = build_crl(&issuer, &all, 3, now(), next).unwrap();
        let file = dir.write(&format!("{}.crl.pem", alg.name()), &crl.pem);
        assert_clean(
            &format!("{alg} crl"),
            "lint_crl",
            &["-t", "CRL", "-p", "PKIX"],
            &file,
        );
    }
    let issuer = root(KeyAlgorithm::EcdsaP256).issuer();
    // Only the reasons the Baseline Requirements allow, against both profiles (as DER).
    let br: Vec<RevokedEntry> = [None, Some(1), Some(3), Some(4), Some(5), Some(9)]
        .into_iter()
        .map(entry)
        .collect();
    let crl = build_crl(&issuer, &br, 4, now(), next).unwrap();
    let br_file = dir.write("br.crl.der", &crl.der);
    // And a CRL without entries (revokedCertificates absent).
    let empty = build_crl(&issuer, &[], 5, now(), next).unwrap();
    let empty_file = dir.write("empty.crl.pem", &empty.pem);
    for (label, file) in [("br crl", &br_file), ("empty crl", &empty_file)] {
        for profile in ["PKIX", "BR"] {
            assert_clean(label, "lint_crl", &["-t", "CRL", "-p", profile], file);
        }
    }
}

#[test]
fn cabf_server_leaf() {
    // BR 7.1.3 allows only RSA and ECDSA keys and signatures: Ed25519 is out of the BR's
    // scope by design (it is still linted against RFC 5280 above).
    for alg in [
        KeyAlgorithm::Rsa { bits: 2048 },
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
    ] {
        let dir = Dir::new();
        let root = root(alg);
        let inter = intermediate(&root.issuer(), alg);
        // A DV-shaped subscriber: CN only (the BR also fix an RDN order; our DNs keep the
        // caller's order, so a CN-only subject keeps this check about the profile).
        let server = make(
            "CN=www.example.com",
            PrivateKey::generate(alg).unwrap(),
            Profile::Server,
            &dns(&["www.example.com", "example.com", "*.api.example.com"]),
            Some(&inter.issuer()),
            90,
        );
        let file = dir.write("server.pem", &server.cert.pem);
        assert_clean(
            &format!("{alg} server"),
            "lint_cabf_serverauth_cert",
            &["-t", "DV-FINAL-CERTIFICATE"],
            &file,
        );
    }
}

/// Runs `openssl` in `dir`; fails with its output if it does not succeed.
fn openssl(dir: &Dir, args: &[&str]) {
    let mut cmd = Command::new("openssl");
    cmd.current_dir(dir.0.path()).args(args);
    let out = try_run_with_timeout(&mut cmd, StdDuration::from_secs(60))
        .unwrap_or_else(|e| panic!("openssl could not be run ({e})"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The canary: artefacts made with openssl to break rules pkilint reports as ERROR must
/// be reported, so a pkilint that silently reports nothing (or reports in a shape
/// `findings_of` no longer reads) fails the suite instead of passing every lint above.
#[test]
fn canary_non_conformant_artefacts_are_reported() {
    let dir = Dir::new();
    // A CA certificate whose basicConstraints is not critical and whose keyUsage lacks
    // keyCertSign (RFC 5280 4.2.1.9 and 4.2.1.3).
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-subj",
            "/CN=Canary CA",
            "-days",
            "30",
            "-addext",
            "basicConstraints=CA:TRUE",
            "-addext",
            "keyUsage=digitalSignature",
            "-out",
            "ca.pem",
        ],
    );
    // A version 1 CRL: no cRLNumber nor authorityKeyIdentifier (RFC 5280 5.2.1, 5.2.3).
    dir.write("index.txt", "");
    dir.write(
        "ca.cnf",
        "[ca]\ndefault_ca = c\n[c]\ndatabase = index.txt\ndefault_md = sha256\n\
         default_crl_days = 7\n",
    );
    openssl(
        &dir,
        &[
            "ca", "-config", "ca.cnf", "-gencrl", "-keyfile", "ca.key", "-cert", "ca.pem", "-out",
            "v1.crl",
        ],
    );
    for (tool, args, file, expected) in [
        (
            "lint_pkix_cert",
            &[][..],
            "ca.pem",
            &[
                "pkix.basic_constraints_extension_not_critical",
                "pkix.ca_certificate_keycertsign_keyusage_not_set",
            ][..],
        ),
        (
            "lint_crl",
            &["-t", "CRL", "-p", "PKIX"][..],
            "v1.crl",
            &[
                "pkix.crl_number_missing",
                "pkix.authority_key_identifier_missing",
            ][..],
        ),
    ] {
        let findings = run_lint(tool, args, &dir.path(file));
        for code in expected {
            assert!(
                findings
                    .iter()
                    .any(|f| f.code == *code && f.severity == "ERROR"),
                "canary: {tool} did not report ERROR {code} on {file}: {findings:#?}"
            );
        }
    }
}
