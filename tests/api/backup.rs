//! `fastpki backup` and `fastpki restore` (the real binary) on real SQLite files:
//! a copy taken while the server serves writes is consistent; a restored copy
//! answers the API as the original did; what is not a sound FastPKI database is
//! refused and changes nothing. These run on SQLite whatever the suite's
//! backend: PostgreSQL is copied with pg_dump, which the commands point to.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use test_support::crl::{norm_serial, parse_crl};
use test_support::server::command;

use crate::common::*;

const BIN: &str = env!("CARGO_BIN_EXE_fastpki");
/// Keys at rest are sealed in these tests: a restore needs the same key.
const FERNET: &str = "ZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmQ=";

fn sqlite_url(path: &Path) -> String {
    format!("sqlite:///{}", path.display())
}

/// `fastpki <args>` with DATABASE_URL naming `db`, run off the async runtime
/// (the server under test shares it).
async fn fastpki(db: &Path, args: &[&str]) -> Output {
    // The database's folder may not exist yet (a restore creates it).
    let dir = db
        .ancestors()
        .skip(1)
        .find(|d| d.is_dir())
        .expect("a folder")
        .to_path_buf();
    let url = sqlite_url(db);
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        command(BIN, &dir)
            .args(&args)
            .env("DATABASE_URL", url)
            .output()
            .expect("run fastpki")
    })
    .await
    .expect("join")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_ok(out: &Output, what: &str) -> String {
    assert!(out.status.success(), "{what}: {}", stderr(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a client sees of a server: the answers the restore must reproduce.
async fn snapshot(s: &Server, root: &str, ca_slug: &str) -> Value {
    let get = |path: String| async move { expect(s.get(&path, Some(root)).await, 200) };
    let der = s.raw(&format!("/crl/{ca_slug}"), None).await;
    assert_eq!(der.status, 200, "CRL");
    let mut crl: Vec<String> = parse_crl(&der.body).serials.into_iter().collect();
    crl.sort();
    json!({
        "cas": get("/cas/?limit=1000".into()).await,
        "certificates": get("/certificates/?limit=1000".into()).await,
        "users": get("/users/?limit=1000".into()).await,
        "service_accounts": get("/service-accounts/?limit=1000".into()).await,
        "audit": get("/audit-logs/?limit=1000".into()).await,
        "crl_serials": crl,
    })
}

fn files_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

/// A backup taken while the server issues certificates is one consistent
/// moment; a backup restored into a fresh path serves the same answers: CAs,
/// certificates, users, audit log, CRL serials, logins, tokens and sealed keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_while_serving_restores_to_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original.db");
    let keys = [("PRIVATE_KEY_ENCRYPTION_KEY", FERNET)];
    let s = Server::start_on(sqlite_url(&original), &keys).await;
    let root = s.bootstrap().await;
    let org = s.create_org(&root, "backup-org").await;
    let (_, alice) = s
        .create_user(&root, "alice", "admin", Some(org), json!({}))
        .await;
    let ca = s.create_ca(&alice, "Backup Root", json!({})).await;
    let ca_id = id(&ca);
    let ca_slug = format!("backup-root-{ca_id}");
    let mut certs = Vec::new();
    for n in 0..4 {
        certs.push(
            s.issue(
                &alice,
                ca_id,
                &format!("host{n}.example.com"),
                "server",
                json!({}),
            )
            .await,
        );
    }
    expect(
        s.post(
            &format!("/certificates/{}/revoke", id(&certs[1])),
            Some(&alice),
            json!({"reason": "keyCompromise"}),
        )
        .await,
        200,
    );
    s.service_account(&alice, "deployer", json!({})).await;

    // Writes go on while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, api, token) = (stop.clone(), s.api.clone(), alice.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut issued = 0;
            while !stop.load(Ordering::Relaxed) {
                let r = client
                    .post(format!("{api}/certificates/?ca_id={ca_id}"))
                    .bearer_auth(&token)
                    .json(&cert_body(
                        &format!("busy{issued}.example.com"),
                        "server",
                        json!({}),
                    ))
                    .send()
                    .await
                    .expect("issue");
                assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
                issued += 1;
            }
            issued
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let busy = dir.path().join("busy.db");
    let out = fastpki(&original, &["backup", "--to", busy.to_str().unwrap()]).await;
    let report = assert_ok(&out, "backup while serving");
    assert!(report.contains("integrity ok"), "{report}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let issued = writer.await.unwrap();
    assert!(issued > 0, "the writer issued nothing");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&busy).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "backup mode");

    // The busy copy is one moment: each certificate it holds has its audit entry,
    // and it holds a prefix of what the original issued.
    let busy_restored = dir.path().join("busy-restored.db");
    let out = fastpki(
        &busy_restored,
        &["restore", "--from", busy.to_str().unwrap()],
    )
    .await;
    assert_ok(&out, "restore of the busy copy");
    {
        let r = Server::start_on(sqlite_url(&busy_restored), &keys).await;
        let certs_then = expect(r.get("/certificates/?limit=1000", Some(&root)).await, 200);
        let certs_now = expect(s.get("/certificates/?limit=1000", Some(&root)).await, 200);
        let then = ids(&certs_then);
        let now = ids(&certs_now);
        assert!(
            then.len() >= 4 && then.len() < now.len(),
            "{} then, {} now",
            then.len(),
            now.len()
        );
        assert!(
            then.iter().all(|i| now.contains(i)),
            "the copy holds certificates the original lacks"
        );
        for c in certs_then.as_array().unwrap() {
            let audit = r.audit_for(&root, "cert_create", id(c)).await;
            assert_eq!(
                audit.len(),
                1,
                "certificate {} without its audit entry",
                id(c)
            );
        }
    }

    // Quiet now: a second backup (the server still running) restored into a
    // fresh path answers exactly as the original does.
    let quiet = dir.path().join("quiet.db");
    assert_ok(
        &fastpki(&original, &["backup", "--to", quiet.to_str().unwrap()]).await,
        "backup",
    );
    let before = snapshot(&s, &root, &ca_slug).await;
    let restored = dir.path().join("restored").join("fastpki.db");
    let report = assert_ok(
        &fastpki(&restored, &["restore", "--from", quiet.to_str().unwrap()]).await,
        "restore",
    );
    assert!(report.contains("restored"), "{report}");
    let r = Server::start_on(sqlite_url(&restored), &keys).await;
    let after = snapshot(&r, &root, &ca_slug).await;
    assert_eq!(before, after, "the restored server answers differently");
    let revoked = norm_serial(certs[1]["serial_number"].as_str().unwrap());
    assert!(
        after["crl_serials"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == &revoked),
        "the revocation is not in the restored CRL"
    );
    // The same people log in, tokens made before still work, and the sealed keys open.
    r.login("alice").await;
    expect(r.get("/users/me", Some(&alice)).await, 200);
    let key = r
        .raw(
            &format!("/export/certificate/{}/private-key", id(&certs[0])),
            Some(&alice),
        )
        .await;
    assert_eq!(key.status, 200, "{}", key.text());
    assert!(key.text().contains("PRIVATE KEY"));

    // A backup does not overwrite a file without --force.
    let out = fastpki(&original, &["backup", "--to", quiet.to_str().unwrap()]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_ok(
        &fastpki(
            &original,
            &["backup", "--to", quiet.to_str().unwrap(), "--force"],
        )
        .await,
        "backup --force",
    );
}

/// Files that are not a sound FastPKI database of this version are refused with
/// a message saying why, and the database stays as it was; so does a database
/// a server has open, or one that exists when --force is not given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.db");
    let s = Server::start_on(sqlite_url(&live), &[]).await;
    let root = s.bootstrap().await;
    s.create_ca(&root, "Kept Root", json!({})).await;
    let good = dir.path().join("good.db");
    assert_ok(
        &fastpki(&live, &["backup", "--to", good.to_str().unwrap()]).await,
        "backup",
    );

    // Bad files, each made from scratch.
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x5a; 64 * 1024]).unwrap();
    let other_app = dir.path().join("other.db");
    sqlite3(
        &other_app,
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('hi');",
    );
    let newer = dir.path().join("newer.db");
    std::fs::copy(&good, &newer).unwrap();
    sqlite3(
        &newer,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', 1, x'00', 0);",
    );
    let damaged = dir.path().join("damaged.db");
    damage(&good, &damaged);

    let target = dir.path().join("target").join("fastpki.db");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    assert_ok(
        &fastpki(&target, &["restore", "--from", good.to_str().unwrap()]).await,
        "restore into a fresh path",
    );
    let target_bytes = std::fs::read(&target).unwrap();
    let target_files = files_in(target.parent().unwrap());

    for (file, force, expected) in [
        (&garbage, true, "is not a SQLite database"),
        (
            &other_app,
            true,
            "not a FastPKI one (it has no _sqlx_migrations table)",
        ),
        (
            &newer,
            true,
            "was written by a newer FastPKI (its schema is at migration 9999",
        ),
        (&damaged, true, "is damaged"),
        (&good, false, "pass --force to replace it"),
        (&dir.path().join("missing.db"), true, "cannot read"),
    ] {
        let mut args = vec!["restore", "--from", file.to_str().unwrap()];
        if force {
            args.push("--force");
        }
        let out = fastpki(&target, &args).await;
        let err = stderr(&out);
        assert!(!out.status.success(), "{} was restored", file.display());
        assert!(err.contains(expected), "{}: {err}", file.display());
        assert_eq!(
            std::fs::read(&target).unwrap(),
            target_bytes,
            "{} changed the database",
            file.display()
        );
        assert_eq!(
            files_in(target.parent().unwrap()),
            target_files,
            "{} left files behind",
            file.display()
        );
    }

    // The live server's database: refused even with --force, and it keeps serving.
    let out = fastpki(
        &live,
        &["restore", "--from", good.to_str().unwrap(), "--force"],
    )
    .await;
    assert!(!out.status.success(), "restored under a running server");
    assert!(stderr(&out).contains("is in use"), "{}", stderr(&out));
    let cas = expect(s.get("/cas/", Some(&root)).await, 200);
    assert_eq!(cas.as_array().unwrap().len(), 1);

    // With --force and no server, it replaces the database; a -wal or -shm left
    // beside the old one goes too (SQLite would replay a WAL into the new file).
    let wal = dir.path().join("target").join("fastpki.db-wal");
    let shm = dir.path().join("target").join("fastpki.db-shm");
    std::fs::write(&wal, b"stale").unwrap();
    std::fs::write(&shm, b"stale").unwrap();
    let out = fastpki(
        &target,
        &["restore", "--from", good.to_str().unwrap(), "--force"],
    )
    .await;
    let report = assert_ok(&out, "restore --force");
    assert!(report.contains("replacing"), "{report}");
    assert!(
        !wal.exists() && !shm.exists(),
        "stale WAL files left beside the restored database"
    );
    let r = Server::start_on(sqlite_url(&target), &[]).await;
    let cas = expect(r.get("/cas/", Some(&root)).await, 200);
    assert_eq!(cas.as_array().unwrap().len(), 1, "{cas}");

    // Nothing to back up, and a backup over the database itself.
    let out = fastpki(&dir.path().join("none.db"), &["backup", "--to", "x.db"]).await;
    assert!(
        stderr(&out).contains("there is no database"),
        "{}",
        stderr(&out)
    );
    let out = fastpki(
        &target,
        &["backup", "--to", target.to_str().unwrap(), "--force"],
    )
    .await;
    assert!(
        stderr(&out).contains("is the database itself"),
        "{}",
        stderr(&out)
    );
}

/// On PostgreSQL the commands connect to nothing and say which pg_dump or
/// pg_restore command to run, the password hidden.
#[tokio::test]
async fn postgres_is_pointed_to_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &'static [&'static str]| {
        let dir: PathBuf = dir.path().to_path_buf();
        async move {
            tokio::task::spawn_blocking(move || {
                command(BIN, &dir)
                    .args(args)
                    .env(
                        "DATABASE_URL",
                        "postgresql://pki:s3cretpw@db.invalid:5432/fastpki",
                    )
                    .output()
                    .unwrap()
            })
            .await
            .unwrap()
        }
    };
    let out = run(&["backup", "--to", "/var/backups/fastpki.dump"]).await;
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("pg_dump --format=custom --file=/var/backups/fastpki.dump 'postgresql://pki:***@db.invalid:5432/fastpki'"),
        "{err}"
    );
    let out = run(&["restore", "--from", "/var/backups/fastpki.dump"]).await;
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("pg_restore --clean --if-exists --no-owner"),
        "{err}"
    );
    assert!(!err.contains("s3cretpw"), "{err}");
}

/// Runs SQL on a SQLite file with the sqlite3 driver (creating the file).
fn sqlite3(path: &Path, sql: &str) {
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let sql = sql.to_string();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                use sqlx::Connection;
                let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut c)
                    .await
                    .unwrap();
                c.close().await.unwrap();
            })
    })
    .join()
    .unwrap();
}

/// A copy of `good` with pages in its middle overwritten: still a SQLite file
/// (its header intact), but its b-trees broken.
fn damage(good: &Path, damaged: &Path) {
    let mut bytes = std::fs::read(good).unwrap();
    let page = 4096;
    assert!(
        bytes.len() > 6 * page,
        "the database is too small to damage: {}",
        bytes.len()
    );
    let end = bytes.len() - page;
    for b in &mut bytes[2 * page + 100..end] {
        *b ^= 0xa5;
    }
    std::fs::write(damaged, bytes).unwrap();
}
