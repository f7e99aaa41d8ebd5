//! Peers measured in the same run, on the same machine, with the same load
//! generator: cfssl (`cfssl serve`, CloudFlare's PKI server) and the Python
//! FastPKI server. Each peer workload has the id of the FastPKI workload it
//! mirrors plus `-cfssl` or `-python`, so `--workloads W2c` selects both and
//! the report sets them side by side.
//!
//! cfssl serves one CA per process, so each CA gets its own `cfssl serve`.
//! Every signed certificate is stored in cfssl's certificate database (SQLite,
//! the schema of cfssl's `certdb/sqlite` migrations) as FastPKI stores its
//! own: a signing service that forgets what it signed would not compare.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use anyhow::{Context, Result};
use reqwest::Client;
use serde_json::json;
use sqlx::Connection;

use crate::api::Api;
use crate::load::{MakeRequest, Workload};
use crate::server::{self, Server};
use crate::{Run, raw};

/// cfssl's certificate database (certdb/sqlite/migrations/001_CreateCertificates.sql).
const CFSSL_CERTDB: &str = "
CREATE TABLE certificates (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  ca_label                 blob,
  status                   blob NOT NULL,
  reason                   int,
  expiry                   timestamp,
  revoked_at               timestamp,
  pem                      blob NOT NULL,
  PRIMARY KEY(serial_number, authority_key_identifier)
);
CREATE TABLE ocsp_responses (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  body                     blob NOT NULL,
  expiry                   timestamp,
  PRIMARY KEY(serial_number, authority_key_identifier),
  FOREIGN KEY(serial_number, authority_key_identifier) REFERENCES certificates(serial_number, authority_key_identifier)
);";

/// The CSR pools the FastPKI workloads use, so both sides sign the same requests.
pub struct Csrs {
    pub rsa2048: Arc<Vec<String>>,
    pub p256: Arc<Vec<String>>,
}

/// A `cfssl serve` on its own CA (made here with the same key type as FastPKI's) and database.
async fn start_cfssl(
    bin: &Path,
    dir: &Path,
    alg: pki::KeyAlgorithm,
    label: &str,
    port: u16,
    client: &Client,
) -> Result<Server> {
    let dir = dir.join(format!("cfssl-{label}"));
    std::fs::create_dir_all(&dir)?;
    let (ca_pem, key_pem) = tokio::task::spawn_blocking({
        let label = label.to_string();
        move || -> Result<(String, String)> {
            let key = pki::PrivateKey::generate(alg)?;
            let ca = raw::self_signed_ca(&key, &format!("cfssl bench {label}"))?;
            Ok((ca.pem, key.to_pem()))
        }
    })
    .await??;
    let (ca, key, db) = (
        dir.join("ca.pem"),
        dir.join("ca-key.pem"),
        dir.join("certs.db"),
    );
    std::fs::write(&ca, ca_pem)?;
    std::fs::write(&key, key_pem)?;
    let mut conn =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", db.display())).await?;
    sqlx::raw_sql(CFSSL_CERTDB).execute(&mut conn).await?;
    conn.close().await?;
    let db_config = dir.join("db-config.json");
    std::fs::write(
        &db_config,
        json!({"driver": "sqlite3", "data_source": db}).to_string(),
    )?;
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .arg("-address=127.0.0.1")
        .arg(format!("-port={port}"))
        .arg(format!("-ca={}", ca.display()))
        .arg(format!("-ca-key={}", key.display()))
        .arg(format!("-db-config={}", db_config.display()))
        .arg("-loglevel=2")
        .current_dir(&dir);
    let base = format!("http://127.0.0.1:{port}");
    let info = format!("{base}/api/v1/cfssl/info");
    let (srv, _) = Server::spawn(cmd, base, &dir.join("cfssl.log"), client, move |c| {
        c.post(&info).json(&json!({"label": ""}))
    })
    .await
    .with_context(|| format!("starting {} serve", bin.display()))?;
    Ok(srv)
}

fn cfssl_sign(base: &str, csrs: Arc<Vec<String>>) -> MakeRequest {
    let url = format!("{base}/api/v1/cfssl/sign");
    Arc::new(move |c: &Client, n| {
        let csr = &csrs[(n as usize) % csrs.len()];
        c.post(&url).json(&json!({"certificate_request": csr}))
    })
}

/// The cfssl workloads: W7, W1, W2, W2b, W2c with `-cfssl` ids.
pub async fn cfssl(run: &mut Run, bin: &Path, dir: &Path, csrs: &Csrs) -> Result<()> {
    let version = Command::new(bin).arg("version").output().with_context(|| {
        format!(
            "cannot run {} (Debian: apt-get install golang-cfssl)",
            bin.display()
        )
    })?;
    let version = String::from_utf8_lossy(&version.stdout);
    eprintln!(
        "== peer: cfssl ({}, {})",
        bin.display(),
        version.lines().next().unwrap_or("")
    );
    for (label, alg) in [
        ("rsa2048", pki::KeyAlgorithm::Rsa { bits: 2048 }),
        ("rsa4096", pki::KeyAlgorithm::Rsa { bits: 4096 }),
        ("p256", pki::KeyAlgorithm::EcdsaP256),
    ] {
        let port = server::free_port()?;
        let workloads: Vec<Workload> =
            cfssl_workloads(label, &format!("http://127.0.0.1:{port}"), csrs)
                .into_iter()
                .filter(|w| run.args.selected(&w.id))
                .collect();
        if workloads.is_empty() {
            continue;
        }
        let srv = start_cfssl(bin, dir, alg, label, port, &run.client).await?;
        for w in workloads {
            run.drive(&srv, w).await?;
        }
        srv.stop()?;
    }
    Ok(())
}

/// What each cfssl CA serves: the RSA-2048 one W7, W1 and W2; the others W2b and W2c.
fn cfssl_workloads(label: &str, base: &str, csrs: &Csrs) -> Vec<Workload> {
    let sign = |id: &str, what: &str, csrs: &Arc<Vec<String>>| Workload {
        id: id.into(),
        what: format!("cfssl POST /api/v1/cfssl/sign ({what})"),
        expect: 200,
        make: cfssl_sign(base, csrs.clone()),
    };
    match label {
        "rsa2048" => vec![
            Workload {
                id: "W7-cfssl".into(),
                what: "cfssl POST /api/v1/cfssl/info (the CA certificate)".into(),
                expect: 200,
                make: {
                    let url = format!("{base}/api/v1/cfssl/info");
                    Arc::new(move |c: &Client, _| c.post(&url).json(&json!({"label": ""})))
                },
            },
            Workload {
                id: "W1-cfssl".into(),
                what: "cfssl POST /api/v1/cfssl/newcert (server-side RSA-2048 key, RSA-2048 CA)"
                    .into(),
                expect: 200,
                make: {
                    let url = format!("{base}/api/v1/cfssl/newcert");
                    Arc::new(move |c: &Client, n| {
                        let name = format!("w1-{n}.bench.example.com");
                        c.post(&url).json(&json!({"request": {
                            "CN": name, "hosts": [name],
                            "key": {"algo": "rsa", "size": 2048},
                        }}))
                    })
                },
            },
            sign("W2-cfssl", "RSA-2048 CSR, RSA-2048 CA", &csrs.rsa2048),
        ],
        "rsa4096" => vec![sign(
            "W2b-cfssl",
            "RSA-2048 CSR, RSA-4096 CA",
            &csrs.rsa2048,
        )],
        _ => vec![sign("W2c-cfssl", "P-256 CSR, P-256 CA", &csrs.p256)],
    }
}

/// The Python FastPKI server (the project this one re-implements): its
/// `run.sh` on a fresh SQLite database in the run's folder, with `workers`
/// uvicorn processes (the CPU figures count the workers too).
async fn start_python(run_sh: &Path, dir: &Path, workers: u32, client: &Client) -> Result<Server> {
    let dir = dir.join("python-fastpki");
    std::fs::create_dir_all(&dir)?;
    let port = server::free_port()?;
    let mut cmd = Command::new(run_sh);
    cmd.env(
        "DATABASE_URL",
        format!("sqlite+aiosqlite:///{}", dir.join("fastpki.db").display()),
    )
    .env("PORT", port.to_string())
    .env("WORKERS", workers.to_string())
    .env("AUTH_RATE_LIMIT", "100000000/minute");
    let base = format!("http://127.0.0.1:{port}");
    let ready = format!("{base}/api/v1/openapi.json");
    let (srv, _) = Server::spawn(cmd, base, &dir.join("server.log"), client, move |c| {
        c.get(&ready)
    })
    .await
    .with_context(|| format!("starting {}", run_sh.display()))?;
    Ok(srv)
}

/// The Python FastPKI workloads: W7, W5, W6, W1, W2, W2b with `-python` ids
/// (it makes RSA keys only: no W2c).
pub async fn python(
    run: &mut Run,
    run_sh: &Path,
    workers: u32,
    dir: &Path,
    csrs: &Csrs,
) -> Result<()> {
    eprintln!(
        "== peer: Python FastPKI ({}, {workers} workers)",
        run_sh.display()
    );
    // Workers racing to make the tables at start-up fail: one makes them first.
    start_python(run_sh, dir, 1, &run.client).await?.stop()?;
    let srv = start_python(run_sh, dir, workers, &run.client).await?;
    let api = Api::new(run.client.clone(), &srv.base);
    api.bootstrap().await?;
    let token = api.login().await?;
    let (rsa2048, rsa4096) = api.rsa_cas(&token).await?;
    let cert_id = api
        .issue_p256(&token, rsa2048.id, "read-me.bench.example.com")
        .await?;
    let base = srv.base.clone();
    let token = api.login().await?;
    for w in [
        Workload {
            id: "W7-python".into(),
            what: "Python FastPKI GET /ca/{slug}.pem".into(),
            expect: 200,
            make: crate::get(&base, format!("/ca/{}.pem", rsa2048.slug())),
        },
        Workload {
            id: "W5-python".into(),
            what: "Python FastPKI GET /api/v1/certificates/{id}".into(),
            expect: 200,
            make: crate::get_auth(&api, format!("/certificates/{cert_id}"), &token),
        },
        Workload {
            id: "W6-python".into(),
            what: "Python FastPKI POST /api/v1/auth/token (login)".into(),
            expect: 200,
            make: crate::login(&api),
        },
        Workload {
            id: "W1-python".into(),
            what: "Python FastPKI POST /api/v1/certificates/?ca_id= (server-side RSA-2048 key)"
                .into(),
            expect: 201,
            make: crate::server_keygen(&api, &token, rsa2048.id, "w1"),
        },
        Workload {
            id: "W2-python".into(),
            what: "Python FastPKI POST /api/v1/certificates/sign-csr (RSA-2048 CSR, RSA-2048 CA)"
                .into(),
            expect: 201,
            make: crate::sign_csr(&api, &token, rsa2048.id, csrs.rsa2048.clone()),
        },
        Workload {
            id: "W2b-python".into(),
            what: "Python FastPKI POST /api/v1/certificates/sign-csr (RSA-2048 CSR, RSA-4096 CA)"
                .into(),
            expect: 201,
            make: crate::sign_csr(&api, &token, rsa4096.id, csrs.rsa2048.clone()),
        },
    ] {
        run.drive(&srv, w).await?;
    }
    srv.stop()?;
    Ok(())
}
