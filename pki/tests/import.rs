//! CAs made by `openssl`: their key files in every form openssl writes, their certificates
//! checked for import, the CAs signing certificates that openssl verifies (issuer bytes
//! untouched), and a CA's CSR signed by openssl as an outside root would.

mod common;

use chrono::Duration;
use common::*;
use pki::{
    CertRequest, KeyAlgorithm, PkiError, PrivateKey, Profile, Sans, Signer, ca_csr,
    check_ca_certificate, issue, parse_dn, random_serial, read_certificates, read_private_key,
    verify_chain,
};
use test_support::openssl::openssl_ok;
use test_support::process::Files;
use x509_parser::prelude::{FromDer, X509Certificate};

fn key_err(r: Result<PrivateKey, PkiError>) -> String {
    match r {
        Err(PkiError::InvalidKey(m)) => m,
        other => panic!("expected InvalidKey, got {other:?}"),
    }
}

/// Every form openssl writes of one key loads as the same key; encrypted ones need the
/// right passphrase, and the errors never echo it.
#[test]
fn openssl_key_files_in_every_form() {
    let f = Files::new();
    let k = f.path("k.pem");
    for (alg, gen_args, want) in [
        (
            "rsa",
            vec!["genrsa", "-out", &k, "2048"],
            KeyAlgorithm::Rsa { bits: 2048 },
        ),
        (
            "p256",
            vec!["ecparam", "-genkey", "-name", "prime256v1", "-out", &k],
            KeyAlgorithm::EcdsaP256,
        ),
        (
            "p384",
            vec!["ecparam", "-genkey", "-name", "secp384r1", "-out", &k],
            KeyAlgorithm::EcdsaP384,
        ),
        (
            "ed25519",
            vec!["genpkey", "-algorithm", "ed25519", "-out", &k],
            KeyAlgorithm::Ed25519,
        ),
    ] {
        openssl_ok(&gen_args);
        let native = std::fs::read(&k).unwrap();
        let reference = read_private_key(&native, None).unwrap();
        assert_eq!(reference.algorithm(), want, "{alg}");
        let path = |n: &str| f.path(&format!("{alg}-{n}"));
        let (p8, p8der, native_der) = (path("p8.pem"), path("p8.der"), path("native.der"));
        let (enc, enc_der, enc_sha1, enc_128) = (
            path("enc.pem"),
            path("enc.der"),
            path("enc-sha1.pem"),
            path("enc-128.pem"),
        );
        let enc_384 = path("enc-384.pem");
        let pass = "pass:s3cret pass";
        #[rustfmt::skip]
        let runs: [&[&str]; 8] = [
            &["pkcs8", "-topk8", "-nocrypt", "-in", &k, "-out", &p8],
            &["pkcs8", "-topk8", "-nocrypt", "-in", &k, "-outform", "DER", "-out", &p8der],
            &["pkey", "-in", &k, "-outform", "DER", "-out", &native_der],
            &["pkcs8", "-topk8", "-v2", "aes256", "-passout", pass, "-in", &k, "-out", &enc],
            &["pkcs8", "-topk8", "-v2", "aes256", "-passout", pass, "-in", &k, "-outform", "DER", "-out", &enc_der],
            &["pkcs8", "-topk8", "-v2", "aes192", "-v2prf", "hmacWithSHA1", "-passout", pass, "-in", &k, "-out", &enc_sha1],
            &["pkcs8", "-topk8", "-v2", "aes128", "-v2prf", "hmacWithSHA512", "-iter", "10000", "-passout", pass, "-in", &k, "-out", &enc_128],
            &["pkcs8", "-topk8", "-v2", "aes256", "-v2prf", "hmacWithSHA384", "-passout", pass, "-in", &k, "-out", &enc_384],
        ];
        for args in runs {
            openssl_ok(args);
        }
        for p in [&p8, &p8der, &native_der] {
            let key = read_private_key(&std::fs::read(p).unwrap(), None).unwrap();
            assert_eq!(key.public_key_der(), reference.public_key_der(), "{p}");
        }
        for p in [&enc, &enc_der, &enc_sha1, &enc_128, &enc_384] {
            let data = std::fs::read(p).unwrap();
            let key = read_private_key(&data, Some(b"s3cret pass")).unwrap();
            assert_eq!(key.public_key_der(), reference.public_key_der(), "{p}");
            let m = key_err(read_private_key(&data, None));
            assert!(m.contains("give its passphrase"), "{m}");
            let m = key_err(read_private_key(&data, Some(b"wrong")));
            assert!(m.contains("wrong passphrase"), "{m}");
        }
    }
    // OpenSSL's traditional encryption, as step-ca writes its CA keys (SEC1, and PKCS#1 for
    // RSA, with `Proc-Type: 4,ENCRYPTED` and `DEK-Info: AES-256-CBC,...`).
    let f2 = Files::new();
    let (ec, rsa) = (f2.path("ec.pem"), f2.path("rsa.pem"));
    openssl_ok(&[
        "ecparam",
        "-genkey",
        "-name",
        "prime256v1",
        "-noout",
        "-out",
        &ec,
    ]);
    openssl_ok(&["genrsa", "-traditional", "-out", &rsa, "2048"]);
    for (kind, clear, cipher) in [
        ("ec", &ec, "-aes256"),
        ("ec", &ec, "-aes128"),
        ("rsa", &rsa, "-aes192"),
        ("rsa", &rsa, "-aes256"),
    ] {
        let enc = f2.path("legacy.pem");
        #[rustfmt::skip]
        let mut args = vec![kind, "-in", clear, cipher, "-passout", "pass:step pass", "-out", &enc];
        if kind == "rsa" {
            args.push("-traditional");
        }
        openssl_ok(&args);
        let data = std::fs::read(&enc).unwrap();
        assert!(String::from_utf8_lossy(&data).contains("Proc-Type: 4,ENCRYPTED"));
        let reference = read_private_key(&std::fs::read(clear).unwrap(), None).unwrap();
        let key = read_private_key(&data, Some(b"step pass")).unwrap();
        assert_eq!(
            key.public_key_der(),
            reference.public_key_der(),
            "{kind} {cipher}"
        );
        let m = key_err(read_private_key(&data, None));
        assert!(m.contains("give its passphrase"), "{m}");
        let m = key_err(read_private_key(&data, Some(b"wrong")));
        assert!(m.contains("wrong passphrase"), "{m}");
        // Proc-Type without DEK-Info is an encrypted key that cannot be read, not a clear one.
        let text = String::from_utf8(data.clone()).unwrap();
        let no_dek: String = text
            .lines()
            .filter(|l| !l.starts_with("DEK-Info"))
            .map(|l| format!("{l}\n"))
            .collect();
        let m = key_err(read_private_key(no_dek.as_bytes(), Some(b"step pass")));
        assert!(m.contains("without its DEK-Info header"), "{m}");
        // A ciphertext cut short of a whole block is malformed, whatever the passphrase.
        let block = ::pem::parse(&text).unwrap();
        let mut cut = block.contents().to_vec();
        cut.pop();
        let body = ::pem::encode(&::pem::Pem::new(block.tag(), cut));
        let headers: String = text
            .lines()
            .filter(|l| l.starts_with("Proc-Type") || l.starts_with("DEK-Info"))
            .map(|l| format!("{l}\n"))
            .collect();
        let (begin, rest) = body.split_once('\n').unwrap();
        let short = format!("{begin}\n{headers}\n{rest}");
        let m = key_err(read_private_key(short.as_bytes(), Some(b"step pass")));
        assert_eq!(m, "malformed encrypted PEM key", "{short}");
    }
    // OpenSSL 3's `genrsa -aes256` writes encrypted PKCS#8 too.
    let enc = f.path("genrsa-aes.pem");
    openssl_ok(&[
        "genrsa", "-aes256", "-passout", "pass:pw", "-out", &enc, "2048",
    ]);
    let key = read_private_key(&std::fs::read(&enc).unwrap(), Some(b"pw")).unwrap();
    assert_eq!(key.algorithm(), KeyAlgorithm::Rsa { bits: 2048 });
}

/// Key files up to 64 KiB are read; a larger one is refused before it is parsed.
#[test]
fn key_file_size_bound_is_inclusive() {
    let m = key_err(read_private_key(&vec![b'x'; 64 * 1024], None));
    assert!(!m.contains("more than"), "{m}");
    let m = key_err(read_private_key(&vec![b'x'; 64 * 1024 + 1], None));
    assert!(m.contains("a key file of more than 65536 bytes"), "{m}");
}

#[test]
fn unsupported_encryptions_say_how_to_convert() {
    let f = Files::new();
    let k = f.path("k.pem");
    openssl_ok(&[
        "ecparam",
        "-genkey",
        "-name",
        "prime256v1",
        "-noout",
        "-out",
        &k,
    ]);
    let des = f.path("des.pem");
    openssl_ok(&[
        "ec", "-in", &k, "-des3", "-passout", "pass:pw", "-out", &des,
    ]);
    let m = key_err(read_private_key(&std::fs::read(&des).unwrap(), Some(b"pw")));
    assert!(
        m.contains("DES-EDE3-CBC") && m.contains("openssl pkcs8"),
        "{m}"
    );
    let scrypt = f.path("scrypt.pem");
    openssl_ok(&[
        "pkcs8", "-topk8", "-scrypt", "-passout", "pass:pw", "-in", &k, "-out", &scrypt,
    ]);
    let m = key_err(read_private_key(
        &std::fs::read(&scrypt).unwrap(),
        Some(b"pw"),
    ));
    assert!(m.contains("scrypt"), "{m}");
    let v1 = f.path("v1.pem");
    #[rustfmt::skip]
    openssl_ok(&["pkcs8", "-topk8", "-v1", "PBE-SHA1-3DES", "-passout", "pass:pw", "-in", &k, "-out", &v1]);
    let m = key_err(read_private_key(&std::fs::read(&v1).unwrap(), Some(b"pw")));
    assert!(m.contains("PBES1"), "{m}");
}

/// A root made by `openssl req -x509`, its key file, and openssl's view of its subject.
struct OpensslRoot {
    f: Files,
    cert: String,
    key: String,
}

fn openssl_root(genkey: &[&str], subj: &str, extra: &[&str]) -> OpensslRoot {
    let f = Files::new();
    let key = f.path("root.key");
    let cert = f.path("root.pem");
    // `KEY` in `genkey` stands for the key file.
    let args: Vec<&str> = genkey
        .iter()
        .map(|a| if *a == "KEY" { key.as_str() } else { a })
        .collect();
    openssl_ok(&args);
    let mut args = vec![
        "req", "-x509", "-new", "-key", &key, "-days", "30", "-subj", subj, "-out", &cert,
    ];
    args.extend(extra);
    openssl_ok(&args);
    OpensslRoot { f, cert, key }
}

/// Issues a server certificate from `ca` with pki and has openssl verify it.
fn issue_and_verify(root: &OpensslRoot, ca: &pki::Issuer) -> Vec<u8> {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let sans = Sans {
        dns: vec!["leaf.example.com".into()],
        ..Sans::default()
    };
    let leaf = issue(
        &CertRequest {
            subject: &parse_dn("CN=leaf.example.com").unwrap(),
            public_key_der: &key.public_key_der(),
            profile: Profile::Server,
            sans: &sans,
            serial: &random_serial(),
            not_before: now(),
            not_after: now() + Duration::days(7),
            crl_url: None,
            ca_issuers_url: None,
        },
        Signer::Issuer(ca),
    )
    .unwrap();
    let leaf_path = root.f.write("leaf.pem", &leaf.pem);
    let out = openssl_ok(&["verify", "-CAfile", &root.cert, &leaf_path]);
    assert!(out.contains(": OK"), "{out}");
    leaf.der
}

/// Roots as openssl and step-ca make them: RSA (default openssl.cnf extensions, no
/// KeyUsage), ECDSA P-256 with a SEC1 key and pathlen 1, Ed25519; and a subject pki's own DN
/// encoder would not write (PrintableString CN, a multi-valued RDN), kept byte for byte.
#[test]
fn openssl_roots_import_and_issue() {
    let roots = [
        openssl_root(
            &["genrsa", "-traditional", "-out", "KEY", "2048"],
            "/C=US/O=Example/CN=Example RSA Root",
            &[],
        ),
        openssl_root(
            &["ecparam", "-genkey", "-name", "prime256v1", "-out", "KEY"],
            "/O=Smallstep Example/CN=Example Root CA",
            &[
                "-addext",
                "basicConstraints=critical,CA:TRUE,pathlen:1",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        ),
        openssl_root(
            &["genpkey", "-algorithm", "ed25519", "-out", "KEY"],
            "/CN=Ed Root",
            &[],
        ),
        openssl_root(
            &["ecparam", "-genkey", "-name", "secp384r1", "-out", "KEY"],
            "/CN=Odd Root+OU=Multi/O=Example",
            &["-multivalue-rdn", "-utf8"],
        ),
    ];
    for root in &roots {
        let certs = read_certificates(&std::fs::read(&root.cert).unwrap()).unwrap();
        assert_eq!(certs.len(), 1);
        let key = read_private_key(&std::fs::read(&root.key).unwrap(), None).unwrap();
        let ca = check_ca_certificate(&certs[0], key, now()).unwrap();
        assert!(ca.self_signed);
        let leaf = issue_and_verify(root, &ca.issuer);
        let (_, leaf) = X509Certificate::from_der(&leaf).unwrap();
        let (_, root_cert) = X509Certificate::from_der(&certs[0]).unwrap();
        assert_eq!(leaf.issuer().as_raw(), root_cert.subject().as_raw());
    }
    // Our DN encoder would have written that subject otherwise (one attribute per RDN):
    // the bytes signed with are the certificate's, not a re-encoding.
    let key = read_private_key(&std::fs::read(&roots[3].key).unwrap(), None).unwrap();
    let der = read_certificates(&std::fs::read(&roots[3].cert).unwrap()).unwrap();
    let ca = check_ca_certificate(&der[0], key, now()).unwrap();
    assert!(ca.subject.contains('+'), "{}", ca.subject);
    let ours = ca.subject_dn.as_ref().unwrap().to_der();
    assert_ne!(ours.as_slice(), ca.issuer.subject_der());
}

/// A CA certificate whose KeyUsage lacks keyCertSign cannot issue, and one that lacks
/// cRLSign cannot publish the CRLs revocation needs: both are refused at import, and an
/// issuer made from the second refuses to sign a CRL.
#[test]
fn ca_certificates_that_cannot_sign_are_refused() {
    let genkey = ["ecparam", "-genkey", "-name", "prime256v1", "-out", "KEY"];
    let with_usage = |usage: &str| {
        let ku = format!("keyUsage=critical,{usage}");
        openssl_root(
            &genkey,
            "/CN=Limited Root",
            &[
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                &ku,
            ],
        )
    };
    let load = |root: &OpensslRoot| {
        let der = read_certificates(&std::fs::read(&root.cert).unwrap()).unwrap();
        let key = read_private_key(&std::fs::read(&root.key).unwrap(), None).unwrap();
        (der.into_iter().next().unwrap(), key)
    };
    let no_cert_sign = with_usage("cRLSign,digitalSignature");
    let (der, key) = load(&no_cert_sign);
    let err = check_ca_certificate(&der, key, now()).unwrap_err();
    assert!(err.to_string().contains("lacks keyCertSign"), "{err}");

    let no_crl_sign = with_usage("keyCertSign");
    let (der, key) = load(&no_crl_sign);
    let err = check_ca_certificate(&der, key, now()).unwrap_err();
    assert!(err.to_string().contains("lacks cRLSign"), "{err}");
    let (der, key) = load(&no_crl_sign);
    let issuer = pki::Issuer::from_der(&der, key).unwrap();
    let err = pki::build_crl(&issuer, &[], 1, now(), now() + Duration::days(1)).unwrap_err();
    assert!(err.to_string().contains("lacks cRLSign"), "{err}");
}

/// The size bounds of what an import reads: certificates up to 64 KiB (an RSA-4096 root
/// is read), at most 16 in a file and 16 issuers in a chain.
#[test]
fn import_bounds_are_inclusive() {
    let larger = |e: PkiError| e.to_string().contains("a certificate of more than");
    let err = read_certificates(&vec![0x30; 64 * 1024]).unwrap_err();
    assert!(!larger(err.clone()), "{err}");
    assert!(larger(
        read_certificates(&vec![0x30; 64 * 1024 + 1]).unwrap_err()
    ));

    let big = openssl_root(&["genrsa", "-out", "KEY", "4096"], "/CN=Big RSA Root", &[]);
    let pem = std::fs::read_to_string(&big.cert).unwrap();
    let one = read_certificates(pem.as_bytes()).unwrap();
    assert!(
        one[0].len() > 1100,
        "an RSA-4096 certificate: {} bytes",
        one[0].len()
    );
    assert_eq!(
        read_certificates(pem.repeat(16).as_bytes()).unwrap().len(),
        16
    );
    let err = read_certificates(pem.repeat(17).as_bytes()).unwrap_err();
    assert!(
        err.to_string().contains("more than 16 certificates"),
        "{err}"
    );

    // A root over itself sixteen times is a chain that verifies; seventeen is refused.
    let issuers = vec![one[0].clone(); 17];
    assert_eq!(verify_chain(&one[0], &issuers[..16]).unwrap(), None);
    let err = verify_chain(&one[0], &issuers).unwrap_err();
    assert!(
        err.to_string().contains("a chain of more than 16 issuers"),
        "{err}"
    );
}

/// Self-signed means the same name and the certificate's own key: a root re-keyed under its
/// old name and signed by the old key is self-issued, not self-signed.
#[test]
fn self_issued_is_not_self_signed() {
    let old = openssl_root(
        &["ecparam", "-genkey", "-name", "prime256v1", "-out", "KEY"],
        "/CN=Same Name Root",
        &[],
    );
    let new_key = old.f.path("new.key");
    openssl_ok(&[
        "ecparam",
        "-genkey",
        "-name",
        "prime256v1",
        "-out",
        &new_key,
    ]);
    let csr = old.f.path("new.csr");
    openssl_ok(&[
        "req",
        "-new",
        "-key",
        &new_key,
        "-subj",
        "/CN=Same Name Root",
        "-out",
        &csr,
    ]);
    let ext = old.f.write(
        "ext.cnf",
        "[v3]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
    );
    let signed = old.f.path("new.pem");
    #[rustfmt::skip]
    openssl_ok(&["x509", "-req", "-in", &csr, "-CA", &old.cert, "-CAkey", &old.key,
        "-CAcreateserial", "-days", "10", "-extfile", &ext, "-extensions", "v3", "-out", &signed]);
    let der = read_certificates(&std::fs::read(&signed).unwrap()).unwrap();
    let key = read_private_key(&std::fs::read(&new_key).unwrap(), None).unwrap();
    let ca = check_ca_certificate(&der[0], key, now()).unwrap();
    assert!(!ca.self_signed);
    let der = read_certificates(&std::fs::read(&old.cert).unwrap()).unwrap();
    let key = read_private_key(&std::fs::read(&old.key).unwrap(), None).unwrap();
    assert!(
        check_ca_certificate(&der[0], key, now())
            .unwrap()
            .self_signed
    );
}

/// A chain signed with an algorithm the verifier does not support says which one.
#[test]
fn a_chain_signed_with_an_unsupported_algorithm_says_so() {
    let root = openssl_root(
        &["ecparam", "-genkey", "-name", "prime256v1", "-out", "KEY"],
        "/CN=SHA-224 Root",
        &[],
    );
    let key = root.f.path("ca.key");
    openssl_ok(&["ecparam", "-genkey", "-name", "prime256v1", "-out", &key]);
    let csr = root.f.path("ca.csr");
    openssl_ok(&[
        "req",
        "-new",
        "-key",
        &key,
        "-subj",
        "/CN=SHA-224 Issuing CA",
        "-out",
        &csr,
    ]);
    let ext = root.f.write(
        "ext.cnf",
        "[v3]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
    );
    let signed = root.f.path("ca.pem");
    #[rustfmt::skip]
    openssl_ok(&["x509", "-req", "-sha224", "-in", &csr, "-CA", &root.cert, "-CAkey", &root.key,
        "-CAcreateserial", "-days", "10", "-extfile", &ext, "-extensions", "v3", "-out", &signed]);
    let der = read_certificates(&std::fs::read(&signed).unwrap()).unwrap();
    let root_der = read_certificates(&std::fs::read(&root.cert).unwrap()).unwrap();
    let err = verify_chain(&der[0], &root_der).unwrap_err();
    assert_eq!(
        err.to_string(),
        PkiError::InvalidCertificate(
            "the signature algorithm of the certificate (1.2.840.10045.4.3.1) is not supported"
                .into()
        )
        .to_string()
    );
}

/// A CA's CSR goes to an outside root (openssl `x509 -req`), comes back as a CA certificate
/// for the same key, and chains to that root.
#[test]
fn ca_csr_signed_by_openssl() {
    let root = openssl_root(
        &["ecparam", "-genkey", "-name", "prime256v1", "-out", "KEY"],
        "/CN=Offline Root",
        &["-addext", "basicConstraints=critical,CA:TRUE,pathlen:1"],
    );
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
    let subject = parse_dn("CN=Issuing CA,O=Example").unwrap().to_der();
    let csr = ca_csr(&key, &subject, Some(0)).unwrap();
    let csr_path = root.f.write("ca.csr", &csr);
    let out = openssl_ok(&["req", "-in", &csr_path, "-noout", "-verify", "-text"]);
    assert!(
        out.contains("verify OK") || out.contains("verify ok"),
        "{out}"
    );
    assert!(out.contains("CA:TRUE, pathlen:0"), "{out}");
    assert!(
        out.contains("Digital Signature, Certificate Sign, CRL Sign"),
        "{out}"
    );
    let ext = root.f.write(
        "ext.cnf",
        "[v3]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
    );
    let signed = root.f.path("ca.pem");
    #[rustfmt::skip]
    openssl_ok(&["x509", "-req", "-in", &csr_path, "-CA", &root.cert, "-CAkey", &root.key,
        "-CAcreateserial", "-days", "10", "-extfile", &ext, "-extensions", "v3", "-out", &signed]);
    let cert = read_certificates(&std::fs::read(&signed).unwrap()).unwrap();
    let root_der = read_certificates(&std::fs::read(&root.cert).unwrap()).unwrap();
    let ca = check_ca_certificate(&cert[0], key.clone(), now()).unwrap();
    assert!(!ca.self_signed);
    assert_eq!(ca.issuer.subject_der(), subject.as_slice());
    assert_eq!(verify_chain(&cert[0], &root_der).unwrap(), Some(0));
    // The signed certificate is for this key only.
    let other = PrivateKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
    assert_eq!(
        check_ca_certificate(&cert[0], other, now()).unwrap_err(),
        PkiError::KeyMismatch
    );
    // The new CA issues, and openssl follows the whole chain.
    let leaf_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let leaf = issue(
        &CertRequest {
            subject: &parse_dn("CN=svc.example.com").unwrap(),
            public_key_der: &leaf_key.public_key_der(),
            profile: Profile::Client,
            sans: &Sans::default(),
            serial: &random_serial(),
            not_before: now(),
            not_after: now() + Duration::days(1),
            crl_url: None,
            ca_issuers_url: None,
        },
        Signer::Issuer(&ca.issuer),
    )
    .unwrap();
    let leaf_path = root.f.write("leaf.pem", &leaf.pem);
    #[rustfmt::skip]
    let out = openssl_ok(&["verify", "-CAfile", &root.cert, "-untrusted", &signed, &leaf_path]);
    assert!(out.contains(": OK"), "{out}");
}
