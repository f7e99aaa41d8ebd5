//! The `openssl` command line, always with a deadline (never a hang): runs,
//! certificate fields, PEM blocks, and a TLS server for handshakes.
//!
//! A missing `openssl` fails the test: these tests never skip.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::ports::free_port;
use crate::process::{Files, KillOnDrop, output_text, try_run_with_timeout};

/// How long one `openssl` run may take.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `openssl` with the arguments within `timeout`; the output whatever the exit status.
pub fn openssl_output(args: &[&str], timeout: Duration) -> Output {
    try_run_with_timeout(Command::new("openssl").args(args), timeout)
        .unwrap_or_else(|e| panic!("openssl is required for these tests and cannot run: {e}"))
}

/// Runs `openssl` (`TIMEOUT` at most); the success flag and stdout + stderr as text.
pub fn openssl(args: &[&str]) -> (bool, String) {
    let out = openssl_output(args, TIMEOUT);
    (out.status.success(), output_text(&out))
}

/// Runs `openssl`, asserting success; returns stdout + stderr as text.
#[track_caller]
pub fn openssl_ok(args: &[&str]) -> String {
    let (ok, text) = openssl(args);
    assert!(ok, "openssl {args:?} failed:\n{text}");
    text
}

/// Runs `openssl` in `dir` (for relative paths, as in an `openssl ca` configuration),
/// asserting success.
#[track_caller]
pub fn openssl_ok_in(dir: &std::path::Path, args: &[&str]) -> String {
    let mut cmd = Command::new("openssl");
    cmd.current_dir(dir).args(args);
    let out = try_run_with_timeout(&mut cmd, TIMEOUT)
        .unwrap_or_else(|e| panic!("openssl could not be run ({e})"));
    let text = output_text(&out);
    assert!(out.status.success(), "openssl {args:?}: {text}");
    text
}

/// `openssl x509 -noout -text` of a PEM certificate.
pub fn x509_text(pem: &str) -> String {
    let f = Files::new();
    let p = f.write("c.pem", pem);
    openssl_ok(&["x509", "-in", &p, "-noout", "-text"])
}

/// One `openssl x509 -noout <opt>` line of a PEM certificate, e.g. `-subject`.
pub fn x509_field(pem: &str, opt: &str) -> String {
    let f = Files::new();
    let p = f.write("c.pem", pem);
    openssl_ok(&["x509", "-in", &p, "-noout", opt])
        .trim()
        .to_string()
}

/// The SubjectPublicKeyInfo PEM of a certificate.
pub fn cert_public_key(pem: &str) -> String {
    x509_field(pem, "-pubkey")
}

/// The SubjectPublicKeyInfo PEM of a private key (checks that it parses).
pub fn key_public_key(key_pem: &str) -> String {
    let f = Files::new();
    let p = f.write("k.pem", key_pem);
    openssl_ok(&["pkey", "-in", &p, "-pubout"])
        .trim()
        .to_string()
}

/// The PEM blocks (`-----BEGIN ...` to `-----END ...-----`) of a text.
pub fn pem_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("-----BEGIN ") {
            current = Some(String::new());
        }
        if let Some(c) = current.as_mut() {
            c.push_str(line);
            c.push('\n');
        }
        if line.starts_with("-----END ") {
            blocks.extend(current.take());
        }
    }
    blocks
}

/// The section of `openssl ... -text` output that follows the line containing `header`
/// (the lines indented deeper than the header line).
pub fn text_section(text: &str, header: &str) -> String {
    let mut lines = text.lines();
    let Some(first) = lines.by_ref().find(|l| l.contains(header)) else {
        return String::new();
    };
    let indent = first.len() - first.trim_start().len();
    lines
        .take_while(|l| l.len() - l.trim_start().len() > indent)
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
}

/// `openssl s_server` on a free loopback port, requiring a client certificate;
/// killed when dropped. Its files are in a `Files` folder: `root.pem` (the trust
/// anchor of both sides), `inter.pem` (the chain both sides send), `server.pem`,
/// `server.key`, `client.pem`, `client.key`.
pub struct SServer {
    /// `127.0.0.1:<port>`, for `s_client -connect`.
    pub accept: String,
    _child: KillOnDrop,
}

impl SServer {
    /// Starts the server for `naccept` connections and waits (15 s at most) until it
    /// says it accepts.
    pub fn mutual_tls(f: &Files, naccept: u32) -> SServer {
        let accept = format!("127.0.0.1:{}", free_port());
        let mut child = Command::new("openssl")
            .args(["s_server", "-accept", &accept])
            .args(["-naccept", &naccept.to_string()])
            .args([
                "-cert",
                &f.path("server.pem"),
                "-key",
                &f.path("server.key"),
            ])
            .args(["-cert_chain", &f.path("inter.pem")])
            .args(["-CAfile", &f.path("root.pem"), "-Verify", "1"])
            .arg("-verify_return_error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl is required for this test: cannot start s_server");
        let stdout = child.stdout.take().unwrap();
        let child = KillOnDrop(child);
        let (tx, rx) = mpsc::channel();
        // Reads to the end, after this function returns too: a closed pipe would kill it.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if line.contains("ACCEPT") => break,
                Ok(_) => continue,
                Err(e) => panic!("s_server did not start: {e}"),
            }
        }
        SServer {
            accept,
            _child: child,
        }
    }

    /// `openssl s_client` to this server (20 s at most), verifying it against `root.pem`
    /// with the `verify` options (`-verify_hostname localhost`...), and presenting
    /// `client.pem` with `inter.pem` when `with_cert`: the success flag and stdout + stderr.
    pub fn client(&self, f: &Files, verify: &[&str], with_cert: bool) -> (bool, String) {
        let (root, cert, key, chain) = (
            f.path("root.pem"),
            f.path("client.pem"),
            f.path("client.key"),
            f.path("inter.pem"),
        );
        let mut args = vec!["s_client", "-connect", &self.accept];
        args.extend(["-verify_return_error", "-CAfile", &root]);
        args.extend_from_slice(verify);
        if with_cert {
            args.extend(["-cert", &cert, "-key", &key, "-cert_chain", &chain]);
        }
        let out = openssl_output(&args, Duration::from_secs(20));
        (out.status.success(), output_text(&out))
    }
}
