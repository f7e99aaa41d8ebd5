//! `fastpki import fastpki`: the FastPKI 0.4 database written by the real
//! Python server (`tests/data/fastpki-0.4/`, a copy of the project's
//! `../shared/fixtures/fastpki-0.4/`, so that a clone alone runs it) is imported with the
//! command, then the server started on the result must answer as the old one
//! did: the same users log in with their passwords, the same tokens work, the
//! same CAs, certificates, serials, revocations, keys, audit entries and
//! policies. Also: dry runs, re-runs, a non-empty target (refused, then
//! merged), and a FastPKI database on PostgreSQL.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use sqlx::{Connection, Row};
use test_support::crl::{assert_crl_verifies, norm_serial, parse_crl};
use test_support::database::{fresh_database, postgres_admin_url};

use crate::common::*;

/// The fixture's secrets (its README).
const OLD_FERNET_KEY: &str = "HH1hjG8H4NPAAaadJUgf9i4ZdFYZFrnniwNWkKlh1UY=";
const OLD_PEPPER: &str = "fixture-a-pepper-0123456789abcdef";
/// Ours: a different Fernet key, the same pepper (tokens are kept as digests).
const OUR_FERNET_KEY: &str = "YWJjZGFiY2RhYmNkYWJjZGFiY2RhYmNkYWJjZGFiY2Q=";

fn fixture_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fastpki-0.4");
    assert!(
        dir.join("fastpki.db").is_file(),
        "the FastPKI 0.4 fixture is missing: {}",
        dir.display()
    );
    dir
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(fixture_dir().join("manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("manifest JSON")
}

/// A copy of the fixture database (never opened in place) in `dir`.
fn fixture_copy(dir: &Path) -> PathBuf {
    let path = dir.join("fastpki-0.4.db");
    std::fs::copy(fixture_dir().join("fastpki.db"), &path).expect("copy the fixture");
    let mut perms = std::fs::metadata(&path).expect("copy").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).expect("make the copy writable");
    path
}

/// `fastpki import fastpki --from <from> <args>` into `target`: (success, stdout, stderr).
fn import(target: &str, from: &str, args: &[&str]) -> (bool, String, String) {
    let data = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_fastpki"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", target)
        .env("FASTPKI_DATA_DIR", data.path())
        .env(
            "SECRET_KEY",
            "test-secret-key-that-is-long-enough-0123456789",
        )
        .env("SERVICE_ACCOUNT_TOKEN_PEPPER", OLD_PEPPER)
        .env("PRIVATE_KEY_ENCRYPTION_KEY", OUR_FERNET_KEY)
        .env("LOG_LEVEL", "warn")
        .args(["import", "fastpki", "--from", from])
        .args(args)
        .output()
        .expect("run fastpki import");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An import that must succeed, with its JSON report.
#[track_caller]
fn import_json(target: &str, from: &str, args: &[&str]) -> Value {
    let mut all = vec![
        "--encryption-key",
        OLD_FERNET_KEY,
        "--pepper",
        OLD_PEPPER,
        "--json",
    ];
    all.extend_from_slice(args);
    let (ok, out, err) = import(target, from, &all);
    assert!(ok, "import failed:\n{out}\n{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("report is not JSON ({e}): {out}"))
}

/// The counts of one kind in a report: (found, imported, already present, skipped).
fn counts(report: &Value, kind: &str) -> (u64, u64, u64, u64) {
    let c = report["counts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {report}"));
    let n = |f: &str| c[f].as_u64().unwrap();
    (
        n("found"),
        n("imported"),
        n("already_present"),
        n("skipped"),
    )
}

fn settings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("SERVICE_ACCOUNT_TOKEN_PEPPER", OLD_PEPPER),
        ("PRIVATE_KEY_ENCRYPTION_KEY", OUR_FERNET_KEY),
    ]
}

/// One row of the fixture as the test compares it.
struct OldCert {
    id: i64,
    serial: String,
    issuer_id: i64,
    status: String,
    certificate: String,
    renewed_from_id: Option<i64>,
    organization_id: Option<i64>,
    created_at: String,
}

/// Rows read straight from the fixture, to compare with the API's answers.
async fn old_rows(db: &Path) -> (Vec<(i64, String, Option<i64>, String)>, Vec<OldCert>) {
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .expect("open the fixture copy");
    let cas = sqlx::query(
        "SELECT id, name, parent_ca_id, certificate FROM certificate_authorities ORDER BY id",
    )
    .fetch_all(&mut c)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect();
    let certs = sqlx::query(
        "SELECT id, serial_number, issuer_id, status, certificate, renewed_from_id, organization_id, \
         CAST(created_at AS TEXT) FROM certificates ORDER BY id",
    )
    .fetch_all(&mut c)
    .await
    .unwrap()
    .iter()
    .map(|r| OldCert {
        id: r.get(0),
        serial: r.get(1),
        issuer_id: r.get(2),
        status: r.get(3),
        certificate: r.get(4),
        renewed_from_id: r.get(5),
        organization_id: r.get(6),
        created_at: r.get(7),
    })
    .collect();
    (cas, certs)
}

/// `2026-12-06 09:39:47.859452` (SQLite, naive UTC) as we show times.
fn shown(old: &str) -> String {
    format!("{}Z", old.replacen(' ', "T", 1))
}

#[tokio::test]
async fn a_fastpki_database_imports_and_answers_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture_copy(dir.path());
    let from = format!("sqlite:///{}", src.display());
    let target = fresh_database(dir.path(), "the import tests").await;
    let m = manifest();

    // A dry run reports everything and writes nothing.
    let dry = import_json(&target, &from, &["--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(counts(&dry, "certificate"), (9, 9, 0, 0));
    {
        let db = fastpki::store::Db::connect(&target, backend_of(&target))
            .await
            .unwrap();
        let mut c = db.begin().await.unwrap();
        assert!(
            fastpki::store::import::is_empty(&mut c).await.unwrap(),
            "a dry run wrote"
        );
        drop(c);
        db.close().await;
    }

    // The import: everything, nothing skipped, no id changed.
    let report = import_json(&target, &from, &[]);
    assert_eq!(report["dry_run"], false);
    for (kind, n) in [
        ("organization", 2),
        ("user", 6),
        ("service_account", 2),
        ("service_account_token", 2),
        ("certificate_authority", 5),
        ("certificate", 9),
        ("crl_entry", 2),
        ("issuance_policy", 1),
        ("audit_entry", 39),
    ] {
        assert_eq!(counts(&report, kind), (n, n, 0, 0), "{kind}: {report}");
    }
    assert!(report["skipped"].as_array().unwrap().is_empty(), "{report}");
    assert!(
        report["renumbered"].as_array().unwrap().is_empty(),
        "{report}"
    );
    // The same pepper was given as ours: no warning about tokens.
    assert!(
        !report["warnings"]
            .to_string()
            .contains("SERVICE_ACCOUNT_TOKEN_PEPPER"),
        "{report}"
    );

    // A second run changes nothing.
    let again = import_json(&target, &from, &[]);
    assert_eq!(again["rerun"], true);
    for c in again["counts"].as_array().unwrap() {
        assert_eq!(c["imported"], 0, "re-run imported: {again}");
        assert_eq!(c["skipped"], 0, "re-run skipped: {again}");
    }
    assert_eq!(counts(&again, "certificate"), (9, 0, 9, 0));

    // The stored keys are sealed with our key, not the old one.
    {
        let db = fastpki::store::Db::connect(&target, backend_of(&target))
            .await
            .unwrap();
        let mut c = db.begin().await.unwrap();
        let keys = fastpki::store::cas::all_keys(&mut c).await.unwrap();
        assert_eq!(keys.len(), 5);
        let ours = fastpki::service::keystore::KeyStore::new(Some(OUR_FERNET_KEY)).unwrap();
        let old = fastpki::service::keystore::KeyStore::new(Some(OLD_FERNET_KEY)).unwrap();
        for (id, stored) in keys {
            assert!(
                ours.open(&stored).is_ok(),
                "CA {id} key does not open with ours"
            );
            assert!(
                old.open(&stored).is_err(),
                "CA {id} key still under the old key"
            );
        }
        drop(c);
        db.close().await;
    }

    let s = Server::start_on(target.clone(), &settings()).await;

    // Every user logs in with the password the old server had.
    let mut tokens = std::collections::HashMap::new();
    for (name, u) in m["users"].as_object().unwrap() {
        let (access, _) = s.login_pair(name, u["password"].as_str().unwrap()).await;
        let me = expect(s.get("/users/me", Some(&access)).await, 200);
        assert_eq!(me["id"], u["id"], "{name}");
        assert_eq!(me["role"], u["role"], "{name}");
        assert_eq!(me["organization_id"], u["organization_id"], "{name}");
        for flag in [
            "can_create_cert",
            "can_revoke_cert",
            "can_export_private_key",
        ] {
            if let Some(v) = u.get(flag) {
                assert_eq!(me[flag], *v, "{name} {flag}");
            }
        }
        tokens.insert(name.clone(), access);
    }
    let root = &tokens["root"];
    let admin1 = &tokens["admin1"];

    // The service-account token that worked works; the revoked one does not.
    let ci = m["tokens"]["ci"].as_str().unwrap();
    let revoked = m["tokens"]["revoked"].as_str().unwrap();
    expect(s.get("/cas/", Some(ci)).await, 200);
    expect(s.get("/cas/", Some(revoked)).await, 401);
    let listed = expect(s.get("/service-accounts/1/tokens", Some(admin1)).await, 200);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1]["revoked"], true);
    // Its revocation time is the one the old audit log recorded.
    assert_eq!(listed[1]["revoked_at"], "2026-12-06T09:39:49.109201Z");

    // The CA tree and the certificates: same ids, names, parents, serials, PEMs.
    let (old_cas, old_certs) = old_rows(&src).await;
    for (id, name, parent, pem) in &old_cas {
        let ca = expect(s.get(&format!("/cas/{id}"), Some(root)).await, 200);
        assert_eq!(ca["name"], *name);
        assert_eq!(ca["parent_ca_id"].as_i64(), *parent, "CA {id}");
        assert_eq!(ca["certificate"], *pem);
        assert_eq!(ca["is_root"], parent.is_none());
    }
    let legacy = m["cas"]["legacy"].as_i64().unwrap();
    let ca = expect(s.get(&format!("/cas/{legacy}"), Some(root)).await, 200);
    assert_eq!(ca["organization_id"], m["orgs"]["o1"]);
    let mut revoked_serials = HashSet::new();
    for c in &old_certs {
        let cert = expect(
            s.get(&format!("/certificates/{}", c.id), Some(root)).await,
            200,
        );
        assert_eq!(cert["serial_number"], c.serial, "certificate {}", c.id);
        assert_eq!(cert["issuer_id"], c.issuer_id);
        assert_eq!(cert["certificate"], c.certificate);
        assert_eq!(cert["renewed_from_id"].as_i64(), c.renewed_from_id);
        assert_eq!(cert["organization_id"].as_i64(), c.organization_id);
        assert_eq!(cert["created_at"], shown(&c.created_at));
        assert_eq!(
            cert["status"],
            c.status.to_lowercase(),
            "certificate {}",
            c.id
        );
        if c.status == "REVOKED" {
            revoked_serials.insert(norm_serial(&c.serial));
        }
    }
    let expected_revoked: HashSet<i64> = m["revoked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(revoked_serials.len(), expected_revoked.len());
    let renewed = m["certs"]["renewed"].as_i64().unwrap();
    let original = expect(s.get("/certificates/1", Some(root)).await, 200);
    assert_eq!(original["renewed_to_ids"], json!([renewed]));
    let from_csr = m["certs"]["csr"].as_i64().unwrap();
    let csr = expect(
        s.get(&format!("/certificates/{from_csr}"), Some(root))
            .await,
        200,
    );
    assert_eq!(csr["key_origin"], "csr");
    let by_sa = m["certs"]["by_service_account"].as_i64().unwrap();
    let cert = expect(
        s.get(&format!("/certificates/{by_sa}"), Some(root)).await,
        200,
    );
    assert_eq!(
        cert["created_by_service_account_id"],
        m["service_accounts"]["ci"]
    );

    // The issuing CA's CRL lists the revoked serials, signed by it.
    let f = Files::new();
    let pem_of = |id: i64| old_cas.iter().find(|c| c.0 == id).unwrap().3.clone();
    let inter_crl = test_support::crl::crl_der(&s.client, &s.base, "acme-issuing-ca-2").await;
    assert_crl_verifies(&inter_crl, &pem_of(2));
    assert_eq!(parse_crl(&inter_crl).serials, revoked_serials);
    let root_crl = test_support::crl::crl_der(&s.client, &s.base, "acme-root-ca-1").await;
    assert!(parse_crl(&root_crl).serials.is_empty());
    // The revocation reason FastPKI kept beside its CRL entry.
    let alice = expect(s.get("/certificates/2", Some(root)).await, 200);
    assert_eq!(alice["revocation_reason"], "Key compromise");
    assert_eq!(alice["revocation_reason_code"], 1);

    // Chains verify with openssl; with CRLs, the revoked certificate does not.
    let root_file = f.write("root.pem", pem_of(1));
    let inter_file = f.write("inter.pem", pem_of(2));
    let crls = f.write(
        "crls.pem",
        format!(
            "{}{}",
            der_to_pem_crl(&root_crl),
            der_to_pem_crl(&inter_crl)
        ),
    );
    for c in &old_certs {
        let (chain_root, chain_mid) = match c.issuer_id {
            2 => (pem_of(1), Some(pem_of(2))),
            3 => (pem_of(3), None),
            5 => (pem_of(4), Some(pem_of(5))),
            other => panic!("unexpected issuer {other}"),
        };
        let leaf = f.write(&format!("leaf{}.pem", c.id), &c.certificate);
        let ca_file = f.write(&format!("ca{}.pem", c.id), chain_root);
        let mut args = vec!["verify", "-CAfile", &ca_file];
        let mid;
        if let Some(m) = chain_mid {
            mid = f.write(&format!("mid{}.pem", c.id), m);
            args.extend(["-untrusted", &mid]);
        }
        args.push(&leaf);
        let (ok, out) = openssl(&args);
        assert!(ok && out.contains("OK"), "certificate {}: {out}", c.id);
    }
    let (ok, out) = openssl(&[
        "verify",
        "-crl_check_all",
        "-CAfile",
        &root_file,
        "-untrusted",
        &inter_file,
        "-CRLfile",
        &crls,
        &f.write("alice.pem", &old_certs[1].certificate),
    ]);
    assert!(!ok && out.contains("revoked"), "{out}");
    let (ok, out) = openssl(&[
        "verify",
        "-crl_check_all",
        "-CAfile",
        &root_file,
        "-untrusted",
        &inter_file,
        "-CRLfile",
        &crls,
        &f.write("api.pem", &old_certs[0].certificate),
    ]);
    assert!(ok, "{out}");

    // Private keys (opened with the old key, sealed with ours) export and match.
    let auditor = &tokens["auditor"];
    let key = expect(
        s.get("/certificates/1/private-key", Some(auditor)).await,
        200,
    );
    let key_pem = key["private_key"].as_str().expect("a key");
    assert_eq!(
        key_public_key(key_pem),
        cert_public_key(&old_certs[0].certificate)
    );
    let ca_key = expect(s.get("/cas/2/private-key", Some(root)).await, 200);
    let ca_key = ca_key["private_key"].as_str().expect("a CA key");
    assert_eq!(key_public_key(ca_key), cert_public_key(&pem_of(2)));
    let nokey = m["certs"]["nokey"].as_i64().unwrap();
    let none = expect(
        s.get(&format!("/certificates/{nokey}/private-key"), Some(root))
            .await,
        200,
    );
    assert!(none["private_key"].is_null(), "{none}");

    // The audit log: every entry, with its original time and actor (then ours:
    // the logins above).
    let log = expect(s.get("/audit-logs/?limit=1000", Some(root)).await, 200);
    let log = log.as_array().unwrap();
    let old_ids: HashSet<i64> = log
        .iter()
        .filter_map(|e| e["id"].as_i64())
        .filter(|id| *id <= 39)
        .collect();
    assert_eq!(old_ids.len(), 39);
    assert!(
        log.iter()
            .any(|e| e["id"] == 40 && e["action"] == "login_success")
    );
    let first = log.iter().find(|e| e["id"] == 1).unwrap();
    assert_eq!(first["action"], "user_create");
    assert_eq!(first["created_at"], "2026-12-06T09:39:44.215857Z");
    let by_ci = log.iter().find(|e| e["id"] == 38).unwrap();
    assert_eq!(by_ci["service_account_name"], "ci-runner");
    assert_eq!(by_ci["service_account_id"], 1);
    assert_eq!(by_ci["resource_id"], by_sa);

    // The policy, as set on the old server.
    let p = expect(s.get("/service-accounts/1/policy", Some(admin1)).await, 200);
    assert_eq!(p["cn_patterns"], json!(["*.example.com"]));
    assert_eq!(p["san_dns_patterns"], json!(["*.example.com"]));
    assert_eq!(p["san_ip_cidrs"], json!(["10.0.0.0/8"]));
    assert_eq!(p["san_email_domains"], json!(["example.com"]));
    assert_eq!(p["allowed_ca_ids"], json!([2]));
    assert_eq!(p["allowed_certificate_types"], json!(["server", "client"]));
    assert_eq!(p["max_validity_days"], 90);

    // Life goes on: new rows get new ids, after the imported ones.
    let issued = expect(
        s.post(
            "/certificates/?ca_id=2",
            Some(ci),
            json!({"common_name": "next.example.com", "certificate_type": "server", "valid_days": 30,
                   "key_algorithm": "ecdsa-p256"}),
        )
        .await,
        201,
    );
    assert_eq!(issued["id"], 10);
    let org = s.create_org(root, "Initech").await;
    assert_eq!(org, 3);
}

/// A CRL as PEM, for `openssl verify -CRLfile`.
fn der_to_pem_crl(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN X509 CRL-----\n{}\n-----END X509 CRL-----\n",
        lines.join("\n")
    )
}

fn backend_of(url: &str) -> fastpki::config::Backend {
    if url.starts_with("sqlite") {
        fastpki::config::Backend::Sqlite
    } else {
        fastpki::config::Backend::Postgres
    }
}

#[tokio::test]
async fn a_database_in_use_is_refused_then_merged() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture_copy(dir.path());
    let from = format!("sqlite+aiosqlite:///{}", src.display());
    let target = fresh_database(dir.path(), "the import tests").await;

    // Ours already has a superuser, an "Acme Corp", an "admin1" who is someone
    // else, and a CA with id 1.
    let s = Server::start_on(target.clone(), &settings()).await;
    let boss = {
        let (st, v) = s
            .post("/users/", None, json!({"username": "boss", "email": "boss@example.org", "password": PASSWORD, "role": "superuser"}))
            .await;
        assert_eq!(st.as_u16(), 201, "{v}");
        s.login("boss").await
    };
    let acme = s.create_org(&boss, "Acme Corp").await;
    let (_, _) = s
        .create_user(
            &boss,
            "admin1",
            "user",
            None,
            json!({"email": "someone@example.org"}),
        )
        .await;
    let ours = s.create_ca(&boss, "Our Root", json!({})).await;
    assert_eq!(ours["id"], 1);

    // Refused without --merge, and nothing written.
    let (ok, out, err) = import(&target, &from, &["--encryption-key", OLD_FERNET_KEY]);
    assert!(!ok, "{out}");
    assert!(err.contains("--merge"), "{err}");
    let cas = expect(s.get("/cas/", Some(&boss)).await, 200);
    assert_eq!(cas.as_array().unwrap().len(), 1);

    // Merged: the organization of the same name is the same one; the other
    // admin1 keeps their name (the imported one is skipped); CA 1 is taken,
    // so the imported CA 1 gets the next id and its children follow.
    let report = import_json(&target, &from, &["--merge"]);
    assert_eq!(counts(&report, "organization"), (2, 1, 1, 0));
    assert_eq!(counts(&report, "user"), (6, 5, 0, 1));
    assert_eq!(counts(&report, "certificate_authority"), (5, 5, 0, 0));
    assert_eq!(counts(&report, "certificate"), (9, 9, 0, 0));
    let renumbered = report["renumbered"].as_array().unwrap();
    let moved = renumbered
        .iter()
        .find(|r| r["kind"] == "certificate_authority")
        .expect("CA 1 renumbered");
    assert_eq!(moved["source_id"], 1);
    let new_root = moved["id"].as_i64().unwrap();
    assert_eq!(new_root, 6);
    assert!(report["warnings"].to_string().contains("acme-root-ca"));

    let inter = expect(s.get("/cas/2", Some(&boss)).await, 200);
    assert_eq!(inter["parent_ca_id"], new_root);
    assert_eq!(inter["organization_id"], acme);
    let moved_root = expect(s.get(&format!("/cas/{new_root}"), Some(&boss)).await, 200);
    assert_eq!(moved_root["name"], "Acme Root CA");
    let untouched = expect(s.get("/cas/1", Some(&boss)).await, 200);
    assert_eq!(untouched["name"], "Our Root");
    // Certificate 3 was made by the old admin1, who was not imported.
    let svc = expect(s.get("/certificates/3", Some(&boss)).await, 200);
    assert_eq!(svc["created_by_user_id"], Value::Null);
    assert_eq!(svc["issuer_id"], 2);
    // The imported users log in, into the merged organization.
    let (dev1, _) = s.login_pair("dev1", "dev1-fixture-pw-a").await;
    let me = expect(s.get("/users/me", Some(&dev1)).await, 200);
    assert_eq!(me["organization_id"], acme);

    // The chain under the renumbered root still verifies.
    let f = Files::new();
    let root_pem = f.write("root.pem", moved_root["certificate"].as_str().unwrap());
    let inter_pem = f.write("inter.pem", inter["certificate"].as_str().unwrap());
    let leaf = f.write("leaf.pem", svc["certificate"].as_str().unwrap());
    openssl_ok(&[
        "verify",
        "-CAfile",
        &root_pem,
        "-untrusted",
        &inter_pem,
        &leaf,
    ]);

    // And once more: nothing new.
    let again = import_json(&target, &from, &["--merge"]);
    for c in again["counts"].as_array().unwrap() {
        assert_eq!(c["imported"], 0, "{again}");
    }
}

#[tokio::test]
async fn keys_need_the_old_encryption_key() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture_copy(dir.path());
    let from = format!("sqlite:///{}", src.display());
    let target = fresh_database(dir.path(), "the import tests").await;
    let (ok, _, err) = import(&target, &from, &[]);
    assert!(!ok);
    assert!(err.contains("--encryption-key"), "{err}");
    let (ok, _, err) = import(&target, &from, &["--encryption-key", OUR_FERNET_KEY]);
    assert!(!ok);
    assert!(err.contains("cannot be decrypted"), "{err}");
    // A wrong pepper is reported, and nothing stops the import.
    let (ok, out, err) = import(
        &target,
        &from,
        &[
            "--encryption-key",
            OLD_FERNET_KEY,
            "--pepper",
            "another-pepper-0123456789abcdef-xyz",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("SERVICE_ACCOUNT_TOKEN_PEPPER"), "{out}");
}

/// The fixture's rows copied into a FastPKI schema on PostgreSQL (FastPKI's own DDL:
/// native enums, timestamptz, json, boolean), then imported from there.
#[tokio::test]
async fn a_fastpki_postgres_database_imports_too() {
    let Some(admin) = postgres_admin_url() else {
        return; // SQLite pass: there is no PostgreSQL server to hold the source.
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = fixture_copy(dir.path());
    let source = test_support::database::PostgresDb::create(&admin, "fastpki_src_").await;
    copy_to_postgres(&sqlite, &source.url).await;
    let target = fresh_database(dir.path(), "the import tests").await;

    // SQLAlchemy's URL form, as the old server's DATABASE_URL had it.
    let from = source
        .url
        .replacen("postgres://", "postgresql+asyncpg://", 1);
    let report = import_json(&target, &from, &[]);
    for (kind, n) in [
        ("organization", 2),
        ("user", 6),
        ("service_account_token", 2),
        ("certificate_authority", 5),
        ("certificate", 9),
        ("crl_entry", 2),
        ("issuance_policy", 1),
        ("audit_entry", 39),
    ] {
        assert_eq!(counts(&report, kind), (n, n, 0, 0), "{kind}: {report}");
    }

    let s = Server::start_on(target.clone(), &settings()).await;
    let (root, _) = s.login_pair("root", "root-fixture-pw-a").await;
    let m = manifest();
    expect(
        s.get("/cas/", Some(m["tokens"]["ci"].as_str().unwrap()))
            .await,
        200,
    );
    expect(
        s.get("/cas/", Some(m["tokens"]["revoked"].as_str().unwrap()))
            .await,
        401,
    );
    let (_, old_certs) = old_rows(&sqlite).await;
    for c in &old_certs {
        let cert = expect(
            s.get(&format!("/certificates/{}", c.id), Some(&root)).await,
            200,
        );
        assert_eq!(cert["serial_number"], c.serial);
        assert_eq!(cert["created_at"], shown(&c.created_at));
    }
    let log = expect(s.get("/audit-logs/?limit=1000", Some(&root)).await, 200);
    let first = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == 1)
        .unwrap();
    assert_eq!(first["created_at"], "2026-12-06T09:39:44.215857Z");
    let crl = test_support::crl::crl_der(&s.client, &s.base, "acme-issuing-ca-2").await;
    assert_eq!(parse_crl(&crl).serials.len(), 2);
    let p = expect(s.get("/service-accounts/1/policy", Some(&root)).await, 200);
    assert_eq!(p["allowed_ca_ids"], json!([2]));
}

/// Every row of the SQLite fixture into FastPKI's PostgreSQL schema, each value
/// cast from its text to the column's type there.
async fn copy_to_postgres(sqlite: &Path, pg_url: &str) {
    const TABLES: [&str; 11] = [
        "organizations",
        "users",
        "service_accounts",
        "service_account_tokens",
        "issuance_policies",
        "certificate_authorities",
        "certificates",
        "crl_entries",
        "audit_logs",
        "refresh_tokens",
        "blocklisted_tokens",
    ];
    let ddl = include_str!("../data/fastpki-0.4-postgres.sql");
    let mut pg = sqlx::PgConnection::connect(pg_url)
        .await
        .expect("source database");
    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
        .execute(&mut pg)
        .await
        .expect("FastPKI's schema");
    // The fixture's naive times are UTC.
    sqlx::query("SET TimeZone = 'UTC'")
        .execute(&mut pg)
        .await
        .unwrap();
    let mut lite =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", sqlite.display()))
            .await
            .expect("fixture");
    for table in TABLES {
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name::text, udt_name::text FROM information_schema.columns \
             WHERE table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&mut pg)
        .await
        .unwrap();
        let select = columns
            .iter()
            .map(|(c, _)| format!("CAST({c} AS TEXT)"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {select} FROM {table} ORDER BY id"
        )))
        .fetch_all(&mut lite)
        .await
        .unwrap();
        let names = columns
            .iter()
            .map(|(c, _)| c.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let values = columns
            .iter()
            .enumerate()
            .map(|(i, (_, t))| format!("CAST(CAST(${} AS TEXT) AS {t})", i + 1))
            .collect::<Vec<_>>()
            .join(", ");
        let insert = format!("INSERT INTO {table} ({names}) VALUES ({values})");
        for row in rows {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(insert.clone()));
            for i in 0..columns.len() {
                q = q.bind(row.get::<Option<String>, _>(i));
            }
            q.execute(&mut pg)
                .await
                .unwrap_or_else(|e| panic!("{table}: {e}"));
        }
    }
}

/// Rows a FastPKI database may hold that do not fit: each is skipped with its
/// reason, or imported with a warning; the rest goes in as usual.
#[tokio::test]
async fn odd_rows_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture_copy(dir.path());
    {
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", src.display()))
            .await
            .unwrap();
        // A key stored before FastPKI had an encryption key: plain PEM.
        let sealed: String =
            sqlx::query_scalar("SELECT private_key FROM certificates WHERE id = 5")
                .fetch_one(&mut c)
                .await
                .unwrap();
        let old = fastpki::service::keystore::KeyStore::new(Some(OLD_FERNET_KEY)).unwrap();
        let plain = old.open(&sealed).unwrap();
        // FastPKI's SQLite connections never turned foreign keys on; sqlx's do.
        sqlx::query("PRAGMA foreign_keys = OFF")
            .execute(&mut c)
            .await
            .unwrap();
        for (sql, bind) in [
            (
                "UPDATE certificates SET private_key = $1 WHERE id = 5",
                Some(plain.as_str()),
            ),
            (
                "UPDATE certificates SET status = 'EXPIRED' WHERE id = 6",
                None,
            ),
            // A renewal recorded before the certificate it renews (ids out of order).
            (
                "UPDATE certificates SET renewed_from_id = 9 WHERE id = 7",
                None,
            ),
            // An organization deleted under a user (SQLite did not enforce the key).
            ("UPDATE users SET organization_id = 77 WHERE id = 5", None),
            // A CRL entry whose certificate is gone, and a certificate whose CA is gone.
            (
                "INSERT INTO crl_entries (id, created_at, serial_number, revocation_date, reason, ca_id) \
                 VALUES (3, '2026-12-06 10:00:00', 'abcdef', '2026-12-06 10:00:00', 'superseded', 2)",
                None,
            ),
            (
                "INSERT INTO certificates SELECT common_name, subject_dn, certificate_type, key_size, \
                 valid_days, status, 20, created_at, updated_at, private_key, certificate, '1234', \
                 not_before, not_after, revoked_at, 99, organization_id, created_by_user_id, \
                 created_by_service_account_id, is_csr_origin, renewed_from_id FROM certificates WHERE id = 4",
                None,
            ),
        ] {
            let mut q = sqlx::query(sql);
            if let Some(b) = bind {
                q = q.bind(b);
            }
            q.execute(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
    let target = fresh_database(dir.path(), "the import tests").await;
    let report = import_json(&target, &format!("sqlite:///{}", src.display()), &[]);
    assert_eq!(counts(&report, "certificate"), (10, 9, 0, 1), "{report}");
    assert_eq!(counts(&report, "crl_entry"), (3, 2, 0, 1), "{report}");
    let skipped = report["skipped"].to_string();
    assert!(skipped.contains("its CA 99 was not imported"), "{skipped}");
    assert!(skipped.contains("serial abcdef"), "{skipped}");
    assert!(
        report["warnings"]
            .to_string()
            .contains("user 5: its organization 77"),
        "{report}"
    );

    let s = Server::start_on(target.clone(), &settings()).await;
    let (root, _) = s.login_pair("root", "root-fixture-pw-a").await;
    let seven = expect(s.get("/certificates/7", Some(&root)).await, 200);
    assert_eq!(seven["renewed_from_id"], 9);
    let six = expect(s.get("/certificates/6", Some(&root)).await, 200);
    assert_eq!(six["status"], "valid");
    let five = expect(s.get("/certificates/5/private-key", Some(&root)).await, 200);
    assert_eq!(
        key_public_key(five["private_key"].as_str().unwrap()),
        cert_public_key(five["certificate"].as_str().unwrap())
    );
    let loner = expect(s.get("/users/5", Some(&root)).await, 200);
    assert_eq!(loner["organization_id"], Value::Null);
    // The orphan entry is not in the CRL: the two revoked certificates are.
    let crl = test_support::crl::crl_der(&s.client, &s.base, "acme-issuing-ca-2").await;
    assert_eq!(parse_crl(&crl).serials.len(), 2);
}
