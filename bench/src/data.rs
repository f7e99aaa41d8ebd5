//! Test data: pools of CSRs made before timing, and bulk certificates (real,
//! signed by the CA they are stored under) written straight into the
//! server's database through SQL on its schema (`migrations/`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::Connection;

use crate::server::Database;

/// `n` PEM CSRs for keys of `alg` (distinct keys and names), made on `threads` threads.
pub fn csr_pool(alg: pki::KeyAlgorithm, n: usize, threads: usize) -> Result<Vec<String>> {
    let make = |i: usize| -> Result<String> {
        let key = pki::PrivateKey::generate(alg)?;
        let kp = rcgen::KeyPair::try_from(key.pkcs8_der())?;
        let name = format!("csr-{i}.bench.example.com");
        let mut params = rcgen::CertificateParams::new(vec![name.clone()])?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        Ok(params.serialize_request(&kp)?.pem()?)
    };
    let threads = threads.max(1);
    let mut out: Vec<Option<String>> = vec![None; n];
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || -> Result<Vec<(usize, String)>> {
                    (t..n).step_by(threads).map(|i| Ok((i, make(i)?))).collect()
                })
            })
            .collect();
        for h in handles {
            for (i, pem) in h.join().map_err(|_| anyhow!("CSR thread panicked"))?? {
                out[i] = Some(pem);
            }
        }
        Ok(())
    })?;
    out.into_iter()
        .map(|p| p.ok_or_else(|| anyhow!("missing CSR")))
        .collect()
}

/// The server's time format: RFC 3339, microseconds, `Z` (fixed width, sorts as it reads).
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A bulk load: `rows` server certificates of one CA.
pub struct BulkSpec {
    pub issuer: Arc<pki::Issuer>,
    pub issuer_id: i64,
    pub created_by_user_id: i64,
    pub rows: u64,
    /// Every row but the first is revoked (the first is then revoked through the API,
    /// which re-signs the CRL with all of them).
    pub revoked: bool,
    /// Sign only this many distinct certificates and repeat their PEM under fresh
    /// serial numbers (0: sign every row).
    pub distinct: u64,
    pub prefix: String,
    pub crl_url: String,
    pub ca_url: String,
}

/// How a bulk load went.
#[derive(Clone, Debug, Default)]
pub struct BulkStats {
    pub rows: u64,
    pub signed: u64,
    pub seconds: f64,
    /// Wall time of the signing alone (before any insert for `distinct` loads; overlapped otherwise).
    pub sign_seconds: f64,
    /// Summed over the signing threads.
    pub sign_thread_seconds: f64,
}

struct Row {
    common_name: String,
    subject_dn: String,
    status: &'static str,
    certificate: Arc<str>,
    serial: String,
    not_before: String,
    not_after: String,
    sans: String,
    revoked_at: Option<String>,
    created_at: String,
}

/// A direct connection to the benchmark database.
pub enum Conn {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Conn {
    pub async fn open(db: &Database) -> Result<Conn> {
        Ok(match db {
            Database::Sqlite { path } => {
                use sqlx::ConnectOptions;
                let opts = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(60));
                Conn::Sqlite(opts.connect().await?)
            }
            Database::Postgres { url, .. } => {
                Conn::Postgres(sqlx::PgConnection::connect(url).await?)
            }
        })
    }

    pub async fn execute(&mut self, sql: &str) -> Result<()> {
        match self {
            Conn::Sqlite(c) => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                    .execute(c)
                    .await?;
            }
            Conn::Postgres(c) => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                    .execute(c)
                    .await?;
            }
        }
        Ok(())
    }

    async fn insert(&mut self, spec: &BulkSpec, rows: &[Row]) -> Result<()> {
        const PER_ROW: usize = 10;
        let mut sql = String::from(
            "INSERT INTO certificates (common_name, subject_dn, certificate_type, key_algorithm, key_size, \
             valid_days, status, certificate, key_origin, serial_number, not_before, not_after, san_dns_names, \
             revoked_at, issuer_id, created_by_user_id, created_at, updated_at) VALUES ",
        );
        for i in 0..rows.len() {
            let p = |k: usize| i * PER_ROW + k;
            if i > 0 {
                sql.push_str(", ");
            }
            // Only integers the program made are spliced in; every text is bound.
            sql.push_str(&format!(
                "(${}, ${}, 'server', 'ed25519', 256, 365, ${}, ${}, 'csr', ${}, ${}, ${}, ${}, ${}, {}, {}, ${}, ${})",
                p(1), p(2), p(3), p(4), p(5), p(6), p(7), p(8), p(9),
                spec.issuer_id, spec.created_by_user_id, p(10), p(10)
            ));
        }
        macro_rules! run {
            ($conn:expr) => {{
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in rows {
                    q = q
                        .bind(r.common_name.as_str())
                        .bind(r.subject_dn.as_str())
                        .bind(r.status)
                        .bind(&*r.certificate)
                        .bind(r.serial.as_str())
                        .bind(r.not_before.as_str())
                        .bind(r.not_after.as_str())
                        .bind(r.sans.as_str())
                        .bind(r.revoked_at.as_deref())
                        .bind(r.created_at.as_str());
                }
                q.execute($conn).await?;
            }};
        }
        match self {
            Conn::Sqlite(c) => run!(&mut *c),
            Conn::Postgres(c) => run!(&mut *c),
        }
        Ok(())
    }

    /// The id of the one certificate of a CA that is still valid (batches land in any order).
    pub async fn valid_cert_of(&mut self, issuer_id: i64) -> Result<i64> {
        let sql = "SELECT id FROM certificates WHERE issuer_id = $1 AND status = 'valid' ORDER BY id LIMIT 1";
        Ok(match self {
            Conn::Sqlite(c) => sqlx::query_scalar(sql).bind(issuer_id).fetch_one(c).await?,
            Conn::Postgres(c) => sqlx::query_scalar(sql).bind(issuer_id).fetch_one(c).await?,
        })
    }

    pub async fn close(self) -> Result<()> {
        match self {
            Conn::Sqlite(c) => c.close().await?,
            Conn::Postgres(c) => c.close().await?,
        }
        Ok(())
    }
}

/// Rows per INSERT statement (10 bound values each: within both databases' limits).
const BATCH: usize = 1000;

/// Signs (unless reused) and inserts one batch's rows, `first..first+len`.
struct Maker {
    spec_issuer: Arc<pki::Issuer>,
    subject_keys: Arc<Vec<Vec<u8>>>,
    reused: Arc<Vec<Arc<str>>>,
    prefix: String,
    revoked: bool,
    crl_url: String,
    ca_url: String,
    now: DateTime<Utc>,
}

impl Maker {
    fn row(&self, i: u64, sign: bool) -> Result<Row> {
        let name = format!("{}-{i}.bench.example.com", self.prefix);
        let subject = format!("CN={name}");
        let not_before = self.now - chrono::Duration::minutes(1);
        let not_after = not_before + chrono::Duration::days(365);
        let (certificate, serial) = if sign {
            let dn = pki::parse_dn(&subject)?;
            let key = &self.subject_keys[(i as usize) % self.subject_keys.len()];
            let cert = pki::issue(
                &pki::CertRequest {
                    subject: &dn,
                    public_key_der: key,
                    profile: pki::Profile::Server,
                    sans: &pki::Sans {
                        dns: vec![name.clone()],
                        ips: vec![],
                        emails: vec![],
                    },
                    serial: &pki::random_serial(),
                    not_before,
                    not_after,
                    crl_url: Some(&self.crl_url),
                    ca_issuers_url: Some(&self.ca_url),
                },
                pki::Signer::Issuer(&self.spec_issuer),
            )?;
            (Arc::<str>::from(cert.pem), cert.serial_hex)
        } else {
            let pem = self.reused[(i as usize) % self.reused.len()].clone();
            (pem, pki::random_serial().hex())
        };
        let revoked = self.revoked && i > 0;
        Ok(Row {
            sans: format!("[\"{name}\"]"),
            common_name: name,
            subject_dn: subject,
            status: if revoked { "revoked" } else { "valid" },
            certificate,
            serial,
            not_before: ts(not_before),
            not_after: ts(not_after),
            // Distinct, increasing revocation times, all in the past.
            revoked_at: revoked.then(|| {
                ts(self.now - chrono::Duration::milliseconds(1_000_000 - (i % 1_000_000) as i64))
            }),
            created_at: ts(self.now),
        })
    }
}

/// Loads `spec.rows` certificates into the database, signing on `threads` threads
/// while one connection inserts.
pub async fn bulk_load(db: &Database, spec: &BulkSpec, threads: usize) -> Result<BulkStats> {
    let started = Instant::now();
    let threads = threads.max(1);
    // Subject keys: a pool of Ed25519 public keys, reused round robin (the CA signs each certificate).
    let subject_keys: Vec<Vec<u8>> = (0..1024)
        .map(|_| pki::PrivateKey::generate(pki::KeyAlgorithm::Ed25519).map(|k| k.public_key_der()))
        .collect::<Result<_, _>>()?;
    let mut maker = Maker {
        spec_issuer: spec.issuer.clone(),
        subject_keys: Arc::new(subject_keys),
        reused: Arc::new(vec![]),
        prefix: spec.prefix.clone(),
        revoked: spec.revoked,
        crl_url: spec.crl_url.clone(),
        ca_url: spec.ca_url.clone(),
        now: Utc::now(),
    };
    let mut stats = BulkStats {
        rows: spec.rows,
        ..Default::default()
    };
    let reuse = spec.distinct > 0 && spec.distinct < spec.rows;
    if reuse {
        // Sign the distinct set first, then repeat it.
        let t = Instant::now();
        let n = spec.distinct;
        let m = &maker;
        let pems: Vec<(u64, Arc<str>, f64)> = std::thread::scope(|s| -> Result<Vec<_>> {
            let handles: Vec<_> = (0..threads as u64)
                .map(|t| {
                    s.spawn(move || -> Result<Vec<(u64, Arc<str>, f64)>> {
                        let t0 = Instant::now();
                        let mut v = Vec::new();
                        for i in (t..n).step_by(threads) {
                            v.push((i, m.row(i, true)?.certificate, 0.0));
                        }
                        if let Some(last) = v.last_mut() {
                            last.2 = t0.elapsed().as_secs_f64();
                        }
                        Ok(v)
                    })
                })
                .collect();
            let mut all = Vec::new();
            for h in handles {
                all.extend(h.join().map_err(|_| anyhow!("signing thread panicked"))??);
            }
            Ok(all)
        })?;
        stats.sign_thread_seconds = pems.iter().map(|p| p.2).sum();
        let mut pems = pems;
        pems.sort_by_key(|p| p.0);
        maker.reused = Arc::new(pems.into_iter().map(|p| p.1).collect());
        stats.signed = n;
        stats.sign_seconds = t.elapsed().as_secs_f64();
    }
    let maker = Arc::new(maker);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<Row>>>(threads * 4);
    let rows = spec.rows;
    let mut producers = Vec::new();
    let sign_started = Instant::now();
    for t in 0..threads {
        let (tx, maker) = (tx.clone(), maker.clone());
        producers.push(std::thread::spawn(move || -> f64 {
            let t0 = Instant::now();
            let mut batch_no = t;
            loop {
                let first = (batch_no * BATCH) as u64;
                if first >= rows {
                    break;
                }
                let last = (first + BATCH as u64).min(rows);
                let batch: Result<Vec<Row>> = (first..last).map(|i| maker.row(i, !reuse)).collect();
                let failed = batch.is_err();
                if tx.blocking_send(batch).is_err() || failed {
                    break;
                }
                batch_no += threads;
            }
            t0.elapsed().as_secs_f64()
        }));
    }
    drop(tx);
    let mut conn = Conn::open(db).await?;
    let mut inserted = 0u64;
    let mut last_report = Instant::now();
    while let Some(batch) = rx.recv().await {
        let batch = batch.context("making a certificate")?;
        conn.insert(spec, &batch).await.context("bulk insert")?;
        inserted += batch.len() as u64;
        if last_report.elapsed() > Duration::from_secs(15) {
            eprintln!(
                "    {inserted}/{rows} rows, {:.0} rows/s",
                inserted as f64 / started.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
    }
    let mut thread_secs = 0.0;
    for p in producers {
        thread_secs += p.join().map_err(|_| anyhow!("producer panicked"))?;
    }
    if !reuse {
        stats.signed = rows;
        stats.sign_thread_seconds = thread_secs;
        stats.sign_seconds = sign_started.elapsed().as_secs_f64();
    }
    if inserted != rows {
        return Err(anyhow!("inserted {inserted} rows of {rows}"));
    }
    match db {
        // What autovacuum would soon do: planner statistics for the new rows.
        Database::Postgres { .. } => conn.execute("ANALYZE certificates").await?,
        Database::Sqlite { .. } => conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?,
    }
    conn.close().await?;
    stats.seconds = started.elapsed().as_secs_f64();
    Ok(stats)
}
