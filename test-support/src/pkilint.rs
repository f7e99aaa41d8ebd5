//! pkilint (`pip install pkilint`, pinned by scripts/test.sh): runs a linter on a
//! file, reads its JSON report strictly, and fails on any ERROR or FATAL finding
//! that is not deliberately tolerated. A missing pkilint fails the test.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::openssl::openssl_ok_in;
use crate::process::{Files, try_run_with_timeout};

/// How long one linter run may take.
const TIMEOUT: Duration = Duration::from_secs(120);

/// One pkilint finding.
#[derive(Debug)]
pub struct Finding {
    pub severity: String,
    pub code: String,
    pub message: String,
    pub node: String,
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
        // and which the CA/B Forum linter checks.
        why: "wildcard SANs are defined by RFC 6125, not RFC 5280",
    },
];

/// One lint to run: a label, the tool (`lint_pkix_cert`, `lint_crl`, ...), its
/// arguments, the file.
pub struct Lint {
    pub label: String,
    pub tool: &'static str,
    pub args: Vec<&'static str>,
    pub file: String,
}

impl Lint {
    pub fn new(
        label: impl Into<String>,
        tool: &'static str,
        args: &[&'static str],
        file: impl Into<String>,
    ) -> Lint {
        Lint {
            label: label.into(),
            tool,
            args: args.to_vec(),
            file: file.into(),
        }
    }
}

/// Runs one lint; returns every finding, after checking the report's shape and the exit status.
pub fn findings(l: &Lint) -> Vec<Finding> {
    let mut cmd = Command::new(l.tool);
    cmd.arg("lint")
        .args(&l.args)
        .args(["-f", "JSON", "-s", "NOTICE"])
        .arg(&l.file);
    let out = try_run_with_timeout(&mut cmd, TIMEOUT).unwrap_or_else(|e| {
        panic!(
            "{} could not be run ({e}): pkilint is required for these tests; install it \
             with `pip install pkilint`",
            l.tool
        )
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{} {:?} {} produced no JSON ({e}):\n{stdout}\n{}",
            l.tool,
            l.args,
            l.file,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let findings = findings_of(&json).unwrap_or_else(|e| {
        panic!(
            "{} {:?} {}: pkilint's JSON output is not the shape these tests read ({e}); \
             was pkilint upgraded past the version scripts/test.sh pins?\n{stdout}",
            l.tool, l.args, l.file
        )
    });
    // pkilint exits with the number of findings it reported (at most 255): any other
    // status means it failed, or that its contract changed under these tests.
    let expected = findings.len().min(255) as i32;
    assert_eq!(
        out.status.code(),
        Some(expected),
        "{} {:?} {}: exit status {:?} for {} findings\n{stdout}\n{}",
        l.tool,
        l.args,
        l.file,
        out.status,
        findings.len(),
        String::from_utf8_lossy(&out.stderr)
    );
    findings
}

/// Reads pkilint's JSON report strictly: `{"results": [{"node_path", "validator",
/// "finding_descriptions": [{"severity", "code", "message"}]}]}`. A missing or renamed key
/// is an error, not an empty list, so a format change cannot make every lint pass.
fn findings_of(json: &Value) -> Result<Vec<Finding>, String> {
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
                Some(Value::String(m)) => m.clone(),
                Some(Value::Null) => String::new(),
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

/// Runs one lint and prints every finding; returns the ERROR/FATAL ones that are not
/// tolerated, one line each.
fn untolerated(l: &Lint) -> Vec<String> {
    let mut bad = Vec::new();
    for f in findings(l) {
        let tolerated = TOLERATED.iter().any(|t| {
            t.tool == l.tool && t.code == f.code && f.message.contains(t.message_contains)
        });
        let line = format!(
            "{}: {} {} {} {} @ {}{}",
            l.label,
            l.tool,
            f.severity,
            f.code,
            f.message,
            f.node,
            if tolerated { " (tolerated)" } else { "" }
        );
        println!("{line}");
        if matches!(f.severity.as_str(), "ERROR" | "FATAL") && !tolerated {
            bad.push(line);
        }
    }
    bad
}

/// Runs one lint; fails on any ERROR/FATAL finding that is not tolerated.
#[track_caller]
pub fn assert_clean(l: &Lint) {
    let bad = untolerated(l);
    assert!(bad.is_empty(), "pkilint errors:\n{}", bad.join("\n"));
}

/// Runs the lints, three at a time; fails listing every untolerated error.
pub fn run_lints(lints: Vec<Lint>) {
    let queue = std::sync::Mutex::new(lints);
    let bad = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().unwrap().pop();
                    let Some(l) = next else { break };
                    let found = untolerated(&l);
                    bad.lock().unwrap().extend(found);
                }
            });
        }
    });
    let bad = bad.into_inner().unwrap();
    assert!(bad.is_empty(), "pkilint errors:\n{}", bad.join("\n"));
}

/// The canary: artefacts made with openssl to break rules pkilint reports as ERROR must
/// be reported, so that a pkilint that silently reports nothing (or reports in a shape
/// `findings_of` no longer reads) fails the suite instead of passing every lint.
pub fn assert_canary_reported() {
    let f = Files::new();
    // A CA certificate whose basicConstraints is not critical and whose keyUsage lacks
    // keyCertSign (RFC 5280 4.2.1.9 and 4.2.1.3).
    openssl_ok_in(
        f.dir(),
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
    f.write("index.txt", "");
    f.write(
        "ca.cnf",
        "[ca]\ndefault_ca = c\n[c]\ndatabase = index.txt\ndefault_md = sha256\n\
         default_crl_days = 7\n",
    );
    openssl_ok_in(
        f.dir(),
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
        let found = findings(&Lint::new("canary", tool, args, f.path(file)));
        for code in expected {
            assert!(
                found
                    .iter()
                    .any(|x| x.code == *code && x.severity == "ERROR"),
                "canary: {tool} did not report ERROR {code} on {file}: {found:#?}"
            );
        }
    }
}
