//! Group commit of issued certificates: one writer task takes every pending
//! certificate (with its audit entry) and commits them in one transaction, so
//! many concurrent issuances share one commit. A caller is answered only after
//! the transaction holding its rows has committed: nothing acknowledged can be
//! lost. If a batch fails, each of its certificates is written again alone, so
//! one bad row (a deleted CA, a repeated serial) only fails its own request.
//! SQLite has one writer; on PostgreSQL several writers share the queue, so
//! batches commit side by side. The `certificate.issued` webhook events of a
//! batch are written in its transaction too (when some receiver takes them).

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use crate::service::metrics::Metrics;
use crate::service::webhooks::{EventType, Outbox, events};
use crate::store::{self, Db, audit::NewAuditEntry, certs::CertRow, certs::NewCert};

/// At most this many certificates share a transaction.
const MAX_BATCH: usize = 256;

/// A certificate to store and the audit entry that records it (its
/// `resource_id` is set to the new row's id).
pub struct CertWrite {
    pub cert: NewCert,
    pub audit: NewAuditEntry,
}

struct Job {
    write: CertWrite,
    reply: oneshot::Sender<Result<CertRow, sqlx::Error>>,
}

/// The handle requests use; the writer task runs while a handle exists.
#[derive(Clone)]
pub struct CertWriter {
    jobs: mpsc::Sender<Job>,
}

impl CertWriter {
    /// Starts the writer tasks (as many as the database takes concurrent
    /// write transactions) on the current runtime.
    /// Committed certificates and batch sizes go to `metrics`, their events to `outbox`.
    pub fn start(db: Db, metrics: Arc<Metrics>, outbox: Outbox) -> Self {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..db.write_concurrency() {
            tokio::spawn(run(db.clone(), rx.clone(), metrics.clone(), outbox.clone()));
        }
        CertWriter { jobs }
    }

    /// Stores the certificate and its audit entry; returns once committed.
    pub async fn write(&self, write: CertWrite) -> Result<CertRow, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { write, reply })
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        answer.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

async fn run(db: Db, rx: Arc<Mutex<mpsc::Receiver<Job>>>, metrics: Arc<Metrics>, outbox: Outbox) {
    let batches = metrics.commit_batches();
    let committed = |row: &CertRow| metrics.issued(row.issuer_id, &row.certificate_type);
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    // The lock is held only while waiting for work: a writer takes what is queued and lets go.
    while rx.lock().await.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let batch: Vec<Job> = std::mem::take(&mut jobs);
        let writes: Vec<&CertWrite> = batch.iter().map(|j| &j.write).collect();
        match write_all(&db, &writes, &outbox).await {
            Ok(rows) => {
                batches.record(rows.len() as f64);
                for (job, row) in batch.into_iter().zip(rows) {
                    committed(&row);
                    let _ = job.reply.send(Ok(row));
                }
            }
            Err(e) if batch.len() == 1 => {
                let job = batch.into_iter().next().expect("one job");
                let _ = job.reply.send(Err(e));
            }
            Err(e) if crate::error::database_unreachable(&e) => {
                // Nothing was committed, and writing each alone would only
                // wait for the database again, once per certificate.
                let said = e.to_string();
                let mut first = Some(e);
                for job in batch {
                    let e = first.take().unwrap_or_else(|| {
                        sqlx::Error::Io(std::io::Error::new(
                            std::io::ErrorKind::NotConnected,
                            format!("the database is unavailable: {said}"),
                        ))
                    });
                    let _ = job.reply.send(Err(e));
                }
            }
            Err(_) => {
                // Nothing of the batch was committed: write each alone to find the culprit.
                for job in batch {
                    let result = write_all(&db, &[&job.write], &outbox).await;
                    if let Ok(rows) = &result {
                        batches.record(1.0);
                        rows.iter().for_each(committed);
                    }
                    let _ = job.reply.send(result.map(|mut rows| rows.remove(0)));
                }
            }
        }
    }
}

/// Writes every certificate, audit entry and webhook event in one
/// transaction: two statements, and one or two for the events (which
/// organizations of the batch have a webhook for them; the events, when
/// some do or `WEBHOOK_URLS` is set). Each statement is a round trip to the
/// database's thread or server.
async fn write_all(
    db: &Db,
    writes: &[&CertWrite],
    outbox: &Outbox,
) -> Result<Vec<CertRow>, sqlx::Error> {
    let at = chrono::Utc::now();
    let now = store::ts(at);
    let certs: Vec<&NewCert> = writes.iter().map(|w| &w.cert).collect();
    let mut tx = db.begin().await?;
    let rows = store::certs::insert_many(&mut tx, &certs, &now).await?;
    let entries: Vec<_> = writes
        .iter()
        .zip(&rows)
        .map(|(w, row)| {
            let mut entry = w.audit.clone();
            entry.resource_id = Some(row.id);
            entry
        })
        .collect();
    store::audit::insert_many(&mut tx, &entries, &now).await?;
    let written: Vec<(&CertRow, &NewAuditEntry)> =
        rows.iter().zip(writes.iter().map(|w| &w.audit)).collect();
    let recorded = outbox
        .record(
            &mut tx,
            EventType::CertificateIssued,
            &written,
            |(row, _)| row.organization_id,
            |(row, by)| events::issued(row, by, at),
        )
        .await?;
    tx.commit().await?;
    if recorded > 0 {
        outbox.notify();
    }
    Ok(rows)
}
