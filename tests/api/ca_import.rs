//! CAs made elsewhere become FastPKI CAs: roots and intermediates made by openssl and
//! step-ca-style (ECDSA, SEC1 key, pathlen 1), their keys in every form, imported
//! (`POST /cas/import`), issuing certificates that `openssl verify` accepts, revoking them
//! into CRLs that `openssl crl -verify` accepts, their subject bytes untouched. And CAs
//! whose key stays here while a root outside signs them: `POST /cas/csr`,
//! `POST /cas/{id}/csr` (own key, new key), `PUT /cas/{id}/certificate`.

use serde_json::{Value, json};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::common::*;

/// A CA made by openssl: its files, and the PEM texts.
struct Made {
    f: Files,
    cert: String,
    key: String,
}

/// Runs openssl with `KEY`, `CERT` standing for the files of `f`.
fn run(f: &Files, args: &[&str]) {
    let (key, cert) = (f.path("ca.key"), f.path("ca.pem"));
    let args: Vec<&str> = args
        .iter()
        .map(|a| match *a {
            "KEY" => key.as_str(),
            "CERT" => cert.as_str(),
            other => other,
        })
        .collect();
    openssl_ok(&args);
}

/// A root: `genkey` writes KEY, then `req -x509` with `req_extra`.
fn root(genkey: &[&str], subject: &str, req_extra: &[&str]) -> Made {
    let f = Files::new();
    run(&f, genkey);
    let mut args = vec![
        "req", "-x509", "-new", "-key", "KEY", "-days", "60", "-subj", subject, "-out", "CERT",
    ];
    args.extend(req_extra);
    run(&f, &args);
    Made {
        cert: f.read("ca.pem"),
        key: f.read("ca.key"),
        f,
    }
}

/// An intermediate signed by `parent` with openssl (a key of its own, EC P-256).
fn intermediate(parent: &Made, subject: &str, pathlen: Option<u32>) -> Made {
    let f = Files::new();
    run(
        &f,
        &[
            "ecparam",
            "-genkey",
            "-name",
            "prime256v1",
            "-noout",
            "-out",
            "KEY",
        ],
    );
    let csr = f.path("i.csr");
    run(
        &f,
        &["req", "-new", "-key", "KEY", "-subj", subject, "-out", &csr],
    );
    let bc = match pathlen {
        Some(n) => format!("critical,CA:TRUE,pathlen:{n}"),
        None => "critical,CA:TRUE".into(),
    };
    let ext = f.write(
        "ext.cnf",
        format!("[v3]\nbasicConstraints={bc}\nkeyUsage=critical,keyCertSign,cRLSign\n"),
    );
    let (pc, pk) = (parent.f.path("ca.pem"), parent.f.path("ca.key"));
    #[rustfmt::skip]
    run(&f, &["x509", "-req", "-in", &csr, "-CA", &pc, "-CAkey", &pk, "-CAcreateserial",
        "-days", "30", "-extfile", &ext, "-extensions", "v3", "-out", "CERT"]);
    Made {
        cert: f.read("ca.pem"),
        key: f.read("ca.key"),
        f,
    }
}

fn der_of(pem: &str) -> Vec<u8> {
    pki::cert_pem_to_der(pem).unwrap()
}

fn subject_der(pem: &str) -> Vec<u8> {
    let der = der_of(pem);
    let (_, c) = X509Certificate::from_der(&der).unwrap();
    c.subject().as_raw().to_vec()
}

fn issuer_der(pem: &str) -> Vec<u8> {
    let der = der_of(pem);
    let (_, c) = X509Certificate::from_der(&der).unwrap();
    c.issuer().as_raw().to_vec()
}

async fn import(token: &str, s: &Server, body: Value) -> (reqwest::StatusCode, Value) {
    s.post("/cas/import", Some(token), body).await
}

/// A CA's slug, as the server makes it (for the names used here).
fn slug(name: &str, id: i64) -> String {
    let kept: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ')
        .collect();
    format!(
        "{}-{id}",
        kept.split_whitespace().collect::<Vec<_>>().join("-")
    )
}

fn detail(v: &Value) -> String {
    v["detail"].to_string()
}

/// Issues a leaf from CA `ca` (its id and name), checks it with `openssl verify`
/// (`trusted` the anchor, `untrusted` intermediates), revokes it, and checks the CA's CRL:
/// its signature with `openssl crl -verify`, and `verify -crl_check` now says revoked.
/// The leaf's issuer is the CA certificate's subject, byte for byte.
async fn issues_and_revokes(
    s: &Server,
    token: &str,
    ca: &Value,
    trusted: &str,
    untrusted: &[&str],
) {
    let ca_id = id(ca);
    let ca_pem = ca["certificate"].as_str().unwrap();
    let leaf = s
        .issue(
            token,
            ca_id,
            &format!("leaf{ca_id}.example.com"),
            "server",
            json!({"key_algorithm": "ecdsa-p256", "valid_days": 7}),
        )
        .await;
    let leaf_pem = leaf["certificate"].as_str().unwrap();
    assert_eq!(issuer_der(leaf_pem), subject_der(ca_pem), "issuer bytes");
    assert_eq!(
        x509_field(leaf_pem, "-issuer"),
        x509_field(ca_pem, "-subject").replacen("subject", "issuer", 1)
    );
    let f = Files::new();
    let anchor = f.write("anchor.pem", trusted);
    let inter = f.write("inter.pem", untrusted.concat());
    let leaf_file = f.write("leaf.pem", leaf_pem);
    let mut args = vec!["verify", "-CAfile", &anchor];
    if !untrusted.is_empty() {
        args.extend(["-untrusted", &inter]);
    }
    args.push(&leaf_file);
    let out = openssl_ok(&args);
    assert!(out.contains(": OK"), "{out}");

    expect(
        s.post(
            &format!("/certificates/{}/revoke", id(&leaf)),
            Some(token),
            json!({"reason": "keyCompromise"}),
        )
        .await,
        200,
    );
    let slug = slug(ca["name"].as_str().unwrap(), ca_id);
    let crl = s.raw(&format!("/crl/{slug}.pem"), None).await;
    assert_eq!(crl.status, 200, "{slug}");
    let crl_file = f.write("crl.pem", crl.text());
    let ca_file = f.write("ca.pem", ca_pem);
    let out = openssl_ok(&[
        "crl", "-in", &crl_file, "-noout", "-verify", "-CAfile", &ca_file,
    ]);
    assert!(out.contains("verify OK"), "{out}");
    let text = openssl_ok(&["crl", "-in", &crl_file, "-noout", "-text"]);
    let serial = leaf["serial_number"].as_str().unwrap().to_uppercase();
    assert!(
        text.replace(':', "")
            .contains(serial.trim_start_matches('0')),
        "{serial} not in {text}"
    );
    // The CRL's issuer is the CA's subject too.
    let crl_issuer = openssl_ok(&[
        "crl", "-in", &crl_file, "-noout", "-issuer", "-nameopt", "RFC2253",
    ]);
    let ca_subject = openssl_ok(&[
        "x509", "-in", &ca_file, "-noout", "-subject", "-nameopt", "RFC2253",
    ]);
    assert_eq!(
        crl_issuer.trim().trim_start_matches("issuer="),
        ca_subject.trim().trim_start_matches("subject=")
    );
    let mut args = vec![
        "verify",
        "-crl_check",
        "-CRLfile",
        &crl_file,
        "-CAfile",
        &anchor,
    ];
    if !untrusted.is_empty() {
        args.extend(["-untrusted", &inter]);
    }
    args.push(&leaf_file);
    let (ok, out) = openssl(&args);
    assert!(!ok && out.contains("revoked"), "{out}");
}

/// Roots as openssl makes them (RSA: PKCS#1, PKCS#8, encrypted PKCS#8, DER) and as
/// step-ca makes them (ECDSA P-256 with a SEC1 key, pathlen 1), and an Ed25519 root:
/// each imported, issuing and revoking.
#[tokio::test]
async fn ca_import_openssl_and_step_ca_roots_issue_and_revoke() {
    let s = Server::start().await;
    let root_token = s.bootstrap().await;
    let t = root_token.as_str();

    // RSA, PKCS#1 key (`genrsa -traditional`), openssl.cnf's default extensions (no KeyUsage).
    let rsa = root(
        &["genrsa", "-traditional", "-out", "KEY", "2048"],
        "/C=US/O=Example/CN=Example RSA Root",
        &[],
    );
    assert!(rsa.key.contains("BEGIN RSA PRIVATE KEY"));
    let ca = expect(
        import(
            t,
            &s,
            json!({"name": "rsa pkcs1", "certificate": rsa.cert, "private_key": rsa.key}),
        )
        .await,
        201,
    );
    assert_eq!(ca["is_root"], true);
    assert_eq!(ca["parent_ca_id"], Value::Null);
    assert_eq!(ca["key_algorithm"], "rsa");
    assert_eq!(ca["key_size"], 2048);
    assert_eq!(ca["pending"], false);
    assert_eq!(ca["subject_dn"], "C=US,O=Example,CN=Example RSA Root");
    assert!(ca.get("private_key").is_none(), "{ca}");
    assert_eq!(
        der_of(ca["certificate"].as_str().unwrap()),
        der_of(&rsa.cert)
    );
    issues_and_revokes(&s, t, &ca, &rsa.cert, &[]).await;
    let entries = s.audit_for(t, "ca_import", id(&ca)).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(
        entries[0]["detail"]
            .as_str()
            .unwrap()
            .contains("Imported root CA 'rsa pkcs1'")
    );
    // Nothing of the key in the audit entry, nor in the answer.
    assert!(!entries[0].to_string().contains("PRIVATE"));

    // RSA, PKCS#8 (`genpkey`), certificate and key as DER (base64 in JSON).
    let rsa8 = root(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "KEY",
        ],
        "/CN=Example RSA PKCS8 Root",
        &[],
    );
    assert!(rsa8.key.contains("BEGIN PRIVATE KEY"));
    let (cert_der, key_der) = (rsa8.f.path("ca.der"), rsa8.f.path("key.der"));
    run(
        &rsa8.f,
        &["x509", "-in", "CERT", "-outform", "DER", "-out", &cert_der],
    );
    run(
        &rsa8.f,
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", "KEY", "-outform", "DER", "-out", &key_der,
        ],
    );
    use base64::Engine as _;
    let b64 = |p: &str| base64::engine::general_purpose::STANDARD.encode(std::fs::read(p).unwrap());
    let ca = expect(
        import(
            t,
            &s,
            json!({"name": "rsa der", "certificate": b64(&cert_der), "private_key": b64(&key_der)}),
        )
        .await,
        201,
    );
    issues_and_revokes(&s, t, &ca, &rsa8.cert, &[]).await;

    // RSA, encrypted PKCS#8 and its passphrase.
    let enc = rsa8.f.path("enc.pem");
    run(
        &rsa8.f,
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes256",
            "-passout",
            "pass:open sesame",
            "-in",
            "KEY",
            "-out",
            &enc,
        ],
    );
    let enc_key = std::fs::read_to_string(&enc).unwrap();
    assert!(enc_key.contains("ENCRYPTED PRIVATE KEY"));
    let body = json!({"name": "rsa encrypted", "certificate": rsa8.cert, "private_key": enc_key});
    let (st, v) = import(t, &s, body.clone()).await;
    assert_eq!(st, 400, "{v}");
    assert!(detail(&v).contains("give its passphrase"), "{v}");
    let (st, v) = import(t, &s, merged(body.clone(), json!({"passphrase": "wrong"}))).await;
    assert_eq!(st, 400, "{v}");
    assert!(detail(&v).contains("wrong passphrase"), "{v}");
    assert!(
        !v.to_string().contains("wrong\""),
        "the passphrase echoed: {v}"
    );
    // The same certificate as "rsa der": refused, two CAs would publish contradicting CRLs.
    let (st, v) = import(t, &s, merged(body, json!({"passphrase": "open sesame"}))).await;
    assert_eq!(st, 409, "{v}");
    assert!(detail(&v).contains("already CA 'rsa der'"), "{v}");
    let enc_root = root(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-aes-256-cbc",
            "-pass",
            "pass:open sesame",
            "-out",
            "KEY",
        ],
        "/CN=Example Encrypted Root",
        &["-passin", "pass:open sesame"],
    );
    assert!(enc_root.key.contains("ENCRYPTED PRIVATE KEY"));
    let ca = expect(
        import(
            t,
            &s,
            json!({"name": "rsa encrypted", "certificate": enc_root.cert,
            "private_key": enc_root.key, "passphrase": "open sesame"}),
        )
        .await,
        201,
    );
    issues_and_revokes(&s, t, &ca, &enc_root.cert, &[]).await;
    // The key is kept as our keys are: PKCS#8, readable by the export route.
    let exported = expect(
        s.get(&format!("/cas/{}/private-key", id(&ca)), Some(t))
            .await,
        200,
    );
    let pem = exported["private_key"].as_str().unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
    assert_eq!(key_public_key(pem), cert_public_key(&enc_root.cert));

    // step-ca style: ECDSA P-256, `ecparam -genkey` (EC PARAMETERS + SEC1), pathlen 1.
    let step = root(
        &["ecparam", "-genkey", "-name", "prime256v1", "-out", "KEY"],
        "/O=Smallstep/CN=Smallstep Root CA",
        &[
            "-addext",
            "basicConstraints=critical,CA:TRUE,pathlen:1",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    assert!(step.key.contains("BEGIN EC PRIVATE KEY"));
    // step-ca keeps its keys encrypted the traditional OpenSSL way (SEC1, AES-256-CBC).
    let step_key = step.f.path("step.key");
    #[rustfmt::skip]
    run(&step.f, &["ec", "-in", "KEY", "-aes256", "-passout", "pass:step pass", "-out", &step_key]);
    let step_key = std::fs::read_to_string(&step_key).unwrap();
    assert!(step_key.contains("Proc-Type: 4,ENCRYPTED"), "{step_key}");
    let ca = expect(
        import(
            t,
            &s,
            json!({"name": "step root", "certificate": step.cert, "private_key": step_key,
                   "passphrase": "step pass"}),
        )
        .await,
        201,
    );
    assert_eq!(ca["key_algorithm"], "ecdsa-p256");
    assert_eq!(ca["path_length"], 1);
    issues_and_revokes(&s, t, &ca, &step.cert, &[]).await;

    // Ed25519.
    let ed = root(
        &["genpkey", "-algorithm", "ed25519", "-out", "KEY"],
        "/CN=Ed25519 Root",
        &[],
    );
    let ca = expect(
        import(
            t,
            &s,
            json!({"name": "ed root", "certificate": ed.cert, "private_key": ed.key}),
        )
        .await,
        201,
    );
    assert_eq!(ca["key_algorithm"], "ed25519");
    issues_and_revokes(&s, t, &ca, &ed.cert, &[]).await;

    // A subject FastPKI's own DN encoder would not write: a multi-valued RDN, a
    // PrintableString common name. The bytes stay as they are.
    let odd = root(
        &["ecparam", "-genkey", "-name", "secp384r1", "-out", "KEY"],
        "/CN=Odd Root+OU=Multi/O=Example/C=DE",
        &["-multivalue-rdn"],
    );
    let ca = expect(
        import(
            t,
            &s,
            json!({"name": "odd root", "certificate": odd.cert, "private_key": odd.key,
            "first_crl_number": 1000}),
        )
        .await,
        201,
    );
    assert_eq!(ca["subject_dn"], "OU=Multi+CN=Odd Root,O=Example,C=DE");
    issues_and_revokes(&s, t, &ca, &odd.cert, &[]).await;
    // CRL numbers continue from where the CA left them.
    let crl = s
        .raw(&format!("/crl/{}.pem", slug("odd root", id(&ca))), None)
        .await;
    let f = Files::new();
    let crl_file = f.write("crl.pem", crl.text());
    let num = openssl_ok(&["crl", "-in", &crl_file, "-noout", "-crlnumber"]);
    assert!(num.to_uppercase().contains("03E9"), "{num}");
}

/// Intermediates: under an imported parent (and refused when they do not chain to it or
/// its path length allows none), and under a root that stays outside FastPKI (`chain`).
#[tokio::test]
async fn ca_import_intermediates_chain_to_their_parent() {
    let s = Server::start().await;
    let root_token = s.bootstrap().await;
    let t = root_token.as_str();
    let top = root(
        &["ecparam", "-genkey", "-name", "prime256v1", "-out", "KEY"],
        "/O=Example/CN=Example Root",
        &[
            "-addext",
            "basicConstraints=critical,CA:TRUE,pathlen:1",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    let parent = expect(
        import(
            t,
            &s,
            json!({"name": "top", "certificate": top.cert, "private_key": top.key}),
        )
        .await,
        201,
    );
    assert_eq!(parent["allow_leaf_certs"], true);
    let inter = intermediate(&top, "/O=Example/CN=Example Issuing", None);
    // Without its issuer named: refused, saying how.
    let (st, v) = import(
        t,
        &s,
        json!({"name": "issuing", "certificate": inter.cert, "private_key": inter.key}),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert!(detail(&v).contains("not self-signed"), "{v}");
    let ca = expect(
        import(
            t,
            &s,
            json!({"name": "issuing", "certificate": inter.cert, "private_key": inter.key,
            "parent_ca_id": id(&parent)}),
        )
        .await,
        201,
    );
    assert_eq!(ca["is_root"], false);
    assert_eq!(ca["parent_ca_id"], id(&parent));
    // The root's pathlen 1 leaves none below the intermediate, whatever its own says.
    assert_eq!(ca["path_length"], 0);
    assert!(
        s.audit_for(t, "ca_import", id(&ca)).await[0]["detail"]
            .as_str()
            .unwrap()
            .contains("under 'top'")
    );
    // As for a created intermediate: the parent now signs CAs only.
    let p = expect(s.get(&format!("/cas/{}", id(&parent)), Some(t)).await, 200);
    assert_eq!(p["allow_leaf_certs"], false);
    issues_and_revokes(&s, t, &ca, &top.cert, &[&inter.cert]).await;
    let chain = expect(
        s.get(&format!("/cas/{}/chain", id(&ca)), Some(t)).await,
        200,
    );
    assert_eq!(ids(&chain), vec![id(&ca), id(&parent)]);
    // Revoked by its (imported) parent: into the parent's CRL.
    let sub2 = intermediate(&top, "/O=Example/CN=Example Issuing 2", Some(0));
    let ca2 = expect(
        import(
            t,
            &s,
            json!({"name": "issuing two", "certificate": sub2.cert, "private_key": sub2.key,
            "parent_ca_id": id(&parent)}),
        )
        .await,
        201,
    );
    expect(
        s.post(
            &format!("/cas/{}/revoke", id(&ca2)),
            Some(t),
            json!({"reason_code": 5}),
        )
        .await,
        200,
    );

    // Signed by another root: does not chain to `top`.
    let other = root(
        &["ecparam", "-genkey", "-name", "prime256v1", "-out", "KEY"],
        "/O=Example/CN=Example Root",
        &[],
    );
    let stray = intermediate(&other, "/O=Example/CN=Stray", None);
    let (st, v) = import(
        t,
        &s,
        json!({"name": "stray", "certificate": stray.cert, "private_key": stray.key,
        "parent_ca_id": id(&parent)}),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        detail(&v).contains("does not chain to its parent CA"),
        "{v}"
    );
    assert!(detail(&v).contains("does not verify"), "{v}");
    let (st, v) = import(
        t,
        &s,
        json!({"name": "stray", "certificate": stray.cert, "private_key": stray.key,
        "parent_ca_id": 999999}),
    )
    .await;
    assert_eq!(st, 404, "{v}");

    // Under a root that stays outside: the chain is kept, and ends chain downloads.
    let ca = expect(
        import(
            t,
            &s,
            json!({"name": "outside", "certificate": stray.cert, "private_key": stray.key,
            "chain": other.cert}),
        )
        .await,
        201,
    );
    assert_eq!(ca["is_root"], false);
    assert_eq!(ca["parent_ca_id"], Value::Null);
    assert_eq!(
        der_of(ca["external_chain"].as_str().unwrap()),
        der_of(&other.cert)
    );
    issues_and_revokes(&s, t, &ca, &other.cert, &[&stray.cert]).await;
    let leaf = s
        .issue(
            t,
            id(&ca),
            "chained.example.com",
            "client",
            json!({"key_algorithm": "ed25519"}),
        )
        .await;
    let bundle = s
        .raw(&format!("/export/certificate/{}/chain", id(&leaf)), Some(t))
        .await;
    let blocks = pem_blocks(&bundle.text());
    assert_eq!(blocks.len(), 3, "{}", bundle.text());
    assert_eq!(der_of(&blocks[1]), der_of(&stray.cert));
    assert_eq!(der_of(&blocks[2]), der_of(&other.cert));
    // Its issuer is outside: only that issuer can revoke it.
    let (st, v) = s
        .post(&format!("/cas/{}/revoke", id(&ca)), Some(t), json!({}))
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(detail(&v).contains("outside FastPKI"), "{v}");
    // A chain that does not lead up from the certificate.
    let (st, v) = import(
        t,
        &s,
        json!({"name": "x", "certificate": inter.cert, "private_key": inter.key,
        "chain": other.cert}),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        detail(&v).contains("does not chain to the certificates given"),
        "{v}"
    );
    // Both a parent and a chain: which one?
    let (st, v) = import(
        t,
        &s,
        json!({"name": "x", "certificate": inter.cert, "private_key": inter.key,
        "chain": other.cert, "parent_ca_id": id(&parent)}),
    )
    .await;
    assert_eq!(st, 422, "{v}");

    // Below a parent whose path length is 0: refused as for a created intermediate.
    let zero = root(
        &["ecparam", "-genkey", "-name", "prime256v1", "-out", "KEY"],
        "/CN=Zero Root",
        &["-addext", "basicConstraints=critical,CA:TRUE,pathlen:0"],
    );
    let zero_ca = expect(
        import(
            t,
            &s,
            json!({"name": "zero", "certificate": zero.cert, "private_key": zero.key}),
        )
        .await,
        201,
    );
    let below = intermediate(&zero, "/CN=Below Zero", None);
    let (st, v) = import(
        t,
        &s,
        json!({"name": "below", "certificate": below.cert, "private_key": below.key,
        "parent_ca_id": id(&zero_ca)}),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert!(detail(&v).contains("path length 0"), "{v}");
}

/// What is not a usable CA is refused, with a reason.
#[tokio::test]
async fn ca_import_refuses_what_cannot_be_a_ca() {
    let s = Server::start().await;
    let root_token = s.bootstrap().await;
    let t = root_token.as_str();
    let a = root(
        &["ecparam", "-genkey", "-name", "prime256v1", "-out", "KEY"],
        "/CN=A Root",
        &[],
    );
    let b = root(
        &["ecparam", "-genkey", "-name", "prime256v1", "-out", "KEY"],
        "/CN=B Root",
        &[],
    );
    let refused = |body: Value, status: u16, needle: &'static str| {
        let s = &s;
        async move {
            let (st, v) = import(t, s, body).await;
            assert_eq!(st.as_u16(), status, "{v}");
            assert!(v.to_string().contains(needle), "wanted {needle:?}: {v}");
        }
    };
    // The key of another CA.
    refused(
        json!({"name": "x", "certificate": a.cert, "private_key": b.key}),
        400,
        "does not match the certificate",
    )
    .await;
    // Not a CA: a server certificate openssl made.
    let leaf = Files::new();
    run(
        &leaf,
        &[
            "ecparam",
            "-genkey",
            "-name",
            "prime256v1",
            "-noout",
            "-out",
            "KEY",
        ],
    );
    #[rustfmt::skip]
    run(&leaf, &["req", "-x509", "-new", "-key", "KEY", "-days", "5", "-subj", "/CN=www.example.com",
        "-addext", "basicConstraints=critical,CA:FALSE", "-out", "CERT"]);
    refused(json!({"name": "x", "certificate": leaf.read("ca.pem"), "private_key": leaf.read("ca.key")}),
        400, "not a CA certificate").await;
    // A CA that may not sign CRLs.
    let no_crl = root(
        &["ecparam", "-genkey", "-name", "prime256v1", "-out", "KEY"],
        "/CN=No CRL Root",
        &["-addext", "keyUsage=critical,keyCertSign"],
    );
    refused(
        json!({"name": "x", "certificate": no_crl.cert, "private_key": no_crl.key}),
        400,
        "lacks cRLSign",
    )
    .await;
    // Garbage: not PEM nor base64 (422), base64 of something else (400).
    refused(
        json!({"name": "x", "certificate": "garbage!", "private_key": a.key}),
        422,
        "base64",
    )
    .await;
    refused(
        json!({"name": "x", "certificate": "Z2FyYmFnZQ==", "private_key": a.key}),
        400,
        "invalid certificate",
    )
    .await;
    refused(
        json!({"name": "x", "certificate": a.cert, "private_key": "Z2FyYmFnZQ=="}),
        400,
        "invalid private key",
    )
    .await;
    refused(
        json!({"name": "x", "certificate": a.key, "private_key": a.key}),
        400,
        "no CERTIFICATE block",
    )
    .await;
    refused(
        json!({"name": "x", "certificate": a.cert, "private_key": a.cert}),
        400,
        "invalid private key",
    )
    .await;
    refused(
        json!({"name": "x", "certificate": a.cert}),
        422,
        "private_key",
    )
    .await;
    refused(
        json!({"name": " ", "certificate": a.cert, "private_key": a.key}),
        422,
        "name",
    )
    .await;
    refused(
        json!({"name": "x", "certificate": a.cert, "private_key": a.key, "first_crl_number": 0}),
        422,
        "first_crl_number",
    )
    .await;
    // An RSA key too small to trust.
    let small = root(&["genrsa", "-out", "KEY", "1024"], "/CN=Small Root", &[]);
    refused(
        json!({"name": "x", "certificate": small.cert, "private_key": small.key}),
        400,
        "2048",
    )
    .await;
    // None of that left a CA behind.
    let all = expect(s.get("/cas/?limit=100", Some(t)).await, 200);
    assert_eq!(all.as_array().unwrap().len(), 0, "{all}");
    // Anonymous: 401; a user without create_ca: 403.
    let (st, _) = s.post("/cas/import", None, json!({})).await;
    assert_eq!(st, 401);
    let org = s.create_org(t, "o").await;
    let (_, user) = s
        .create_user(t, "plain", "user", Some(org), json!({}))
        .await;
    let (st, v) = import(
        &user,
        &s,
        json!({"name": "x", "certificate": a.cert, "private_key": a.key}),
    )
    .await;
    assert_eq!(st, 403, "{v}");
}

/// A CA whose key never leaves FastPKI: a pending CA and its CSR, signed by a root
/// outside (openssl), installed, issuing; the same CA renewed; a new key for its
/// subject (rotation); a FastPKI root cross-signed by an outside root.
#[tokio::test]
async fn ca_import_csr_signed_outside_then_installed() {
    let s = Server::start().await;
    let root_token = s.bootstrap().await;
    let t = root_token.as_str();
    let (xroot, xkey) = openssl_root("/O=Offline/CN=Offline Root");
    let f = Files::new();
    let xroot_file = f.write("xroot.pem", &xroot);

    let pending = expect(
        s.post(
            "/cas/csr",
            Some(t),
            json!({"name": "issuing", "subject_dn": "CN=Issuing CA,O=Example",
            "key_algorithm": "ecdsa-p384", "path_length": 0}),
        )
        .await,
        201,
    );
    let pid = id(&pending);
    assert_eq!(pending["pending"], true);
    assert_eq!(pending["certificate"], "");
    assert_eq!(pending["key_algorithm"], "ecdsa-p384");
    assert!(pending.get("private_key").is_none());
    let csr = pending["csr"].as_str().unwrap().to_string();
    let csr_file = f.write("ca.csr", &csr);
    let text = openssl_ok(&["req", "-in", &csr_file, "-noout", "-verify", "-text"]);
    assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
    assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
    // Pending: readable (with its CSR), but it signs nothing and publishes nothing.
    let got = expect(s.get(&format!("/cas/{pid}"), Some(t)).await, 200);
    assert_eq!(got["csr"], csr);
    let (st, v) = s
        .post(
            &format!("/certificates/?ca_id={pid}"),
            Some(t),
            cert_body("x.example.com", "server", json!({})),
        )
        .await;
    assert_eq!(st, 409, "{v}");
    assert!(detail(&v).contains("pending"), "{v}");
    let (st, _) = s
        .post(
            "/cas/",
            Some(t),
            ca_body("sub", json!({"parent_ca_id": pid})),
        )
        .await;
    assert_eq!(st, 409);
    assert_eq!(
        s.raw(&format!("/export/ca/{pid}/certificate"), Some(t))
            .await
            .status,
        409
    );
    assert_eq!(
        s.raw(&format!("/ca/issuing-{pid}.crt"), None).await.status,
        404
    );
    assert_eq!(
        s.raw(&format!("/crl/issuing-{pid}"), None).await.status,
        404
    );
    // Its CSR again, from the CSR route; a new key for it: no.
    let again = expect(
        s.post(&format!("/cas/{pid}/csr"), Some(t), json!({})).await,
        200,
    );
    assert_eq!(again["csr"], csr);
    let (st, _) = s
        .post(
            &format!("/cas/{pid}/csr"),
            Some(t),
            json!({"new_key": true}),
        )
        .await;
    assert_eq!(st, 409);

    // A certificate for another key (same subject): refused.
    let (wrong_csr, _) = make_csr("p256", "/CN=Issuing CA/O=Example", &[]);
    let wrong = openssl_sign_ca(&wrong_csr, &xroot, &xkey);
    let (st, v) = s
        .put(
            &format!("/cas/{pid}/certificate"),
            Some(t),
            json!({"certificate": wrong, "chain": xroot}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(detail(&v).contains("another key"), "{v}");
    // The real one, signed outside; without its chain: refused, saying how.
    let signed = openssl_sign_ca(&csr, &xroot, &xkey);
    let (st, v) = s
        .put(
            &format!("/cas/{pid}/certificate"),
            Some(t),
            json!({"certificate": signed}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(detail(&v).contains("not self-signed"), "{v}");
    let ca = expect(
        s.put(
            &format!("/cas/{pid}/certificate"),
            Some(t),
            json!({"certificate": format!("{signed}{xroot}")}),
        )
        .await,
        200,
    );
    assert_eq!(ca["pending"], false);
    assert!(ca.get("csr").is_none());
    assert_eq!(der_of(ca["certificate"].as_str().unwrap()), der_of(&signed));
    assert_eq!(
        ca["external_chain"].as_str().map(der_of),
        Some(der_of(&xroot))
    );
    assert_eq!(ca["path_length"], 0);
    assert!(!ca["serial_number"].as_str().unwrap().is_empty());
    let entries = s.audit_for(t, "ca_certificate_install", pid).await;
    assert_eq!(entries.len(), 1);
    assert!(
        entries[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("Installed the certificate of CA 'issuing'")
    );
    assert_eq!(s.audit_for(t, "ca_csr", pid).await.len(), 2);
    issues_and_revokes(&s, t, &ca, &xroot, &[&signed]).await;
    // Installed twice: the same certificate again is a renewal of nothing, but allowed;
    // a certificate of another subject for the same key is not.
    let own = expect(
        s.post(&format!("/cas/{pid}/csr"), Some(t), json!({})).await,
        200,
    );
    assert_eq!(own["pending"], false);
    let own_csr = own["csr"].as_str().unwrap();
    let own_csr_file = f.write("own.csr", own_csr);
    let subj = openssl_ok(&[
        "req",
        "-in",
        &own_csr_file,
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253",
    ]);
    assert!(
        subj.contains("O=Example,CN=Issuing CA") || subj.contains("CN=Issuing CA,O=Example"),
        "{subj}"
    );
    let renewed = openssl_sign_ca(own_csr, &xroot, &xkey);
    let before = ca["serial_number"].clone();
    let ca = expect(
        s.put(
            &format!("/cas/{pid}/certificate"),
            Some(t),
            json!({"certificate": renewed}),
        )
        .await,
        200,
    );
    assert_ne!(ca["serial_number"], before);
    assert_eq!(
        der_of(ca["certificate"].as_str().unwrap()),
        der_of(&renewed)
    );
    // (the outside chain it had is kept)
    assert_eq!(
        ca["external_chain"].as_str().map(der_of),
        Some(der_of(&xroot))
    );
    issues_and_revokes(&s, t, &ca, &xroot, &[&renewed]).await;

    // Rotation: a new key for the same subject, a pending CA of its own.
    let next = expect(
        s.post(
            &format!("/cas/{pid}/csr"),
            Some(t),
            json!({"new_key": true, "key_algorithm": "ed25519"}),
        )
        .await,
        201,
    );
    assert_ne!(id(&next), pid);
    assert_eq!(next["name"], "issuing (new key)");
    assert_eq!(next["pending"], true);
    assert_eq!(next["key_algorithm"], "ed25519");
    let next_csr = next["csr"].as_str().unwrap();
    let next_der = pki::pem_to_der(next_csr, "CERTIFICATE REQUEST").unwrap();
    let (_, parsed) = x509_parser::prelude::X509CertificationRequest::from_der(&next_der).unwrap();
    assert_eq!(
        parsed.certification_request_info.subject.as_raw(),
        subject_der(ca["certificate"].as_str().unwrap()).as_slice(),
        "the new key's CSR names the CA's subject, byte for byte"
    );
    // A certificate of the old CA is not one for the new key.
    let (st, _) = s
        .put(
            &format!("/cas/{}/certificate", id(&next)),
            Some(t),
            json!({"certificate": renewed, "chain": xroot}),
        )
        .await;
    assert_eq!(st, 400);
    let next_signed = openssl_sign_ca(next_csr, &xroot, &xkey);
    let next = expect(
        s.put(
            &format!("/cas/{}/certificate", id(&next)),
            Some(t),
            json!({"certificate": next_signed, "chain": xroot}),
        )
        .await,
        200,
    );
    issues_and_revokes(&s, t, &next, &xroot, &[&next_signed]).await;
    // A pending CA that is given up: deleted, with nothing to publish.
    let given_up = expect(
        s.post("/cas/csr", Some(t), json!({"name": "abandoned", "subject_dn": "CN=Abandoned", "key_algorithm": "ecdsa-p256"})).await,
        201,
    );
    let (st, _) = s.delete(&format!("/cas/{}", id(&given_up)), Some(t)).await;
    assert_eq!(st, 204);
    assert_eq!(
        s.raw(&format!("/ca/abandoned-{}.crt", id(&given_up)), None)
            .await
            .status,
        404
    );

    // Cross-signing: a FastPKI root gets a certificate from the outside root for its own
    // key; what it issued before now also verifies from the outside root.
    let own_root = s
        .create_ca(t, "home", json!({"key_algorithm": "ecdsa-p256"}))
        .await;
    let before = s
        .issue(
            t,
            id(&own_root),
            "old.example.com",
            "server",
            json!({"key_algorithm": "ecdsa-p256"}),
        )
        .await;
    let home_csr = expect(
        s.post(&format!("/cas/{}/csr", id(&own_root)), Some(t), json!({}))
            .await,
        200,
    );
    let cross = openssl_sign_ca(home_csr["csr"].as_str().unwrap(), &xroot, &xkey);
    let home = expect(
        s.put(
            &format!("/cas/{}/certificate", id(&own_root)),
            Some(t),
            json!({"certificate": cross, "chain": xroot}),
        )
        .await,
        200,
    );
    assert_eq!(home["is_root"], false);
    let (cross_file, old_file) = (
        f.write("cross.pem", &cross),
        f.write("old.pem", before["certificate"].as_str().unwrap()),
    );
    let out = openssl_ok(&[
        "verify",
        "-CAfile",
        &xroot_file,
        "-untrusted",
        &cross_file,
        &old_file,
    ]);
    assert!(out.contains(": OK"), "{out}");
    issues_and_revokes(&s, t, &home, &xroot, &[&cross]).await;
    // Another subject for the same key: what it issued would no longer name it.
    let f2 = Files::new();
    let key_file = f2.write(
        "home.key",
        expect(
            s.get(&format!("/cas/{}/private-key", id(&own_root)), Some(t))
                .await,
            200,
        )["private_key"]
            .as_str()
            .unwrap(),
    );
    let other_csr = f2.path("o.csr");
    openssl_ok(&[
        "req",
        "-new",
        "-key",
        &key_file,
        "-subj",
        "/CN=Someone Else",
        "-out",
        &other_csr,
    ]);
    let other = openssl_sign_ca(&f2.read("o.csr"), &xroot, &xkey);
    let (st, v) = s
        .put(
            &format!("/cas/{}/certificate", id(&own_root)),
            Some(t),
            json!({"certificate": other, "chain": xroot}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(detail(&v).contains("is not the CA's"), "{v}");
}
