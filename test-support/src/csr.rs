//! Certificate signing requests made by the `openssl` command line, as a client would.

use crate::openssl::openssl_ok;
use crate::process::Files;

/// A CSR and its private key (both PEM), made by `openssl`. `alg` is `rsa` (2048),
/// `p256` or `ed25519`; `subject` is in openssl's `/CN=.../O=...` form; `addext` are
/// `-addext` values.
pub fn make_csr(alg: &str, subject: &str, addext: &[&str]) -> (String, String) {
    let f = Files::new();
    let key = f.path("key.pem");
    let csr = f.path("csr.pem");
    let keygen: Vec<&str> = match alg {
        "rsa" => vec!["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        "p256" => vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "ed25519" => vec!["-algorithm", "ED25519"],
        other => panic!("unknown CSR algorithm {other}"),
    };
    let mut args = vec!["genpkey"];
    args.extend(keygen);
    args.extend(["-out", &key]);
    openssl_ok(&args);
    let mut args = vec!["req", "-new", "-key", &key, "-subj", subject, "-out", &csr];
    for e in addext {
        args.extend(["-addext", e]);
    }
    openssl_ok(&args);
    (f.read("csr.pem"), f.read("key.pem"))
}
