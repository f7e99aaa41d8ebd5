//! `fastpki import fastpki`: moves a FastPKI 0.4 deployment (its SQLite or
//! PostgreSQL database) into ours, in one transaction: organizations, users
//! (password hashes as they are), service accounts with their tokens (digests
//! as they are: the same pepper verifies them) and policies, CAs and
//! certificates with their keys (opened with the old Fernet key, sealed with
//! ours), revocations, the audit log, and the sessions still alive.
//!
//! Ids are kept where free, so that scripts' ids keep working; a row whose id
//! is taken gets a new one, and what points at it follows. Rows the target
//! already holds (an earlier import, matched by natural key: an organization's
//! name, a user's name and e-mail, a CA's certificate, a certificate's issuer
//! and serial, a token's public id) are left alone, so a second run of the
//! same import changes nothing. A non-empty target is refused unless the
//! caller asks to merge, or it holds an earlier import of the same source.
//!
//! - `convert`: FastPKI's stored values into ours (pure)
//! - `identities`: organizations, users, service accounts, tokens, policies
//! - `authorities`: CAs, certificates, revocations, the first CRLs
//! - `history`: the audit log, refresh tokens, revoked access tokens
//! - `report`: what was imported, skipped, renumbered, and why

mod authorities;
mod convert;
mod history;
mod identities;
pub mod report;

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};

pub use report::{Kind, Report};

use crate::service::keystore::KeyStore;
use crate::store::fastpki04::Source;
use crate::store::import::{self as target_store, Table};
use crate::store::{self, Db, Tx};

/// What the command line asks for.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The FastPKI database: `sqlite:///path`, `postgresql://...` (SQLAlchemy forms too).
    pub from: String,
    /// The old server's PRIVATE_KEY_ENCRYPTION_KEY (its keys are sealed with it).
    pub encryption_key: Option<String>,
    /// The old server's SERVICE_ACCOUNT_TOKEN_PEPPER (or its SECRET_KEY, which
    /// FastPKI used when no pepper was set): only compared with ours.
    pub pepper: Option<String>,
    /// Do everything, then roll back.
    pub dry_run: bool,
    /// Import into a target that already holds data.
    pub merge: bool,
}

/// Our side: the database and the settings the import needs.
pub struct Target<'a> {
    pub db: &'a Db,
    /// Our PRIVATE_KEY_ENCRYPTION_KEY: imported keys are sealed with it.
    pub keys: &'a KeyStore,
    /// Our SERVICE_ACCOUNT_TOKEN_PEPPER.
    pub pepper: &'a str,
    pub crl_validity_days: i64,
}

/// The `app_state` key that records an import of one source.
fn marker_key(fingerprint: &str) -> String {
    format!("import.fastpki04.{fingerprint}")
}

/// What the marker of an import remembers.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Marker {
    imported_at: String,
    /// The last source audit entry imported: a re-run imports those after it.
    audit_max_id: i64,
}

/// Where the next id of a table comes from when a source id is taken.
struct Ids {
    /// The table was empty: every source id is free.
    fresh: bool,
    /// Above every id of the target and of the source.
    next: i64,
}

/// One import under way: the source snapshot, our transaction, and the maps
/// from source ids to ours.
struct Importer<'a> {
    src: Source,
    tx: Tx,
    target: &'a Target<'a>,
    old_keys: KeyStore,
    report: Report,
    ids: HashMap<Table, Ids>,
    orgs: HashMap<i64, i64>,
    users: HashMap<i64, i64>,
    service_accounts: HashMap<i64, i64>,
    cas: HashMap<i64, i64>,
    certs: HashMap<i64, i64>,
    /// CAs that need a CRL signed (new, or with new revocations).
    crl_due: BTreeSet<i64>,
    now: DateTime<Utc>,
}

/// Runs the import; on success the report says what was done (or, with
/// `dry_run`, what would be). Any error leaves the target untouched.
pub async fn fastpki04(target: &Target<'_>, opts: &Options) -> anyhow::Result<Report> {
    let old_keys = KeyStore::new(opts.encryption_key.as_deref())
        .context("--encryption-key is not a valid Fernet key")?;
    let mut src = Source::open(&opts.from).await?;
    src.check_schema().await?;
    let fingerprint = convert::fingerprint(&src.identity().await?);
    let mut tx = target.db.begin().await?;

    let marker: Option<Marker> = target_store::state_value(&mut tx, &marker_key(&fingerprint))
        .await?
        .and_then(|v| serde_json::from_str(&v).ok());
    if marker.is_none() && !opts.merge && !target_store::is_empty(&mut tx).await? {
        bail!(
            "the target database is not empty: refusing to import into it. Import into a new database, \
             or give --merge to add this FastPKI's data to what is there (ids kept where free, \
             colliding names renamed or skipped, as the report says)"
        );
    }

    let mut ids = HashMap::new();
    for t in Table::ALL {
        let ours = target_store::max_id(&mut tx, t).await?;
        let theirs = src.max_id(source_table(t)).await?;
        ids.insert(
            t,
            Ids {
                fresh: ours == 0,
                next: ours.max(theirs) + 1,
            },
        );
    }
    let mut report = Report::new(src.shown_url.clone(), opts.dry_run);
    report.rerun = marker.is_some();
    let mut im = Importer {
        src,
        tx,
        target,
        old_keys,
        report,
        ids,
        orgs: HashMap::new(),
        users: HashMap::new(),
        service_accounts: HashMap::new(),
        cas: HashMap::new(),
        certs: HashMap::new(),
        crl_due: BTreeSet::new(),
        now: Utc::now(),
    };

    im.organizations().await?;
    im.users().await?;
    im.service_accounts().await?;
    im.tokens().await?;
    im.authorities().await?;
    let revocations = im.crl_entries().await?;
    im.certificates(revocations).await?;
    im.policies().await?;
    let audit_max_id = im
        .audit(marker.as_ref().map_or(0, |m| m.audit_max_id))
        .await?;
    im.refresh_tokens().await?;
    im.blocklist().await?;
    im.sign_crls().await?;
    im.notes(opts);

    let Importer {
        src,
        mut tx,
        mut report,
        ..
    } = im;
    src.close().await?;
    if report.total_imported() > 0 || marker.is_none() {
        let value = Marker {
            imported_at: store::now_ts(),
            audit_max_id,
        };
        target_store::put_state_value(
            &mut tx,
            &marker_key(&fingerprint),
            &serde_json::to_string(&value)?,
        )
        .await?;
    }
    if report.counts(Kind::User).imported > 0 {
        // A deployment with users has had its first user: no bootstrap here.
        store::sessions::claim_flag(&mut tx, "bootstrap_user", &store::now_ts()).await?;
    }
    if opts.dry_run {
        tx.rollback().await?;
    } else {
        target_store::advance_sequences(&mut tx, target.db.backend).await?;
        tx.commit()
            .await
            .context("the import could not be committed")?;
    }
    Ok(report)
}

/// FastPKI's table for each of ours.
fn source_table(t: Table) -> &'static str {
    match t {
        Table::Organizations => "organizations",
        Table::Users => "users",
        Table::ServiceAccounts => "service_accounts",
        Table::Tokens => "service_account_tokens",
        Table::Policies => "issuance_policies",
        Table::Cas => "certificate_authorities",
        Table::Certificates => "certificates",
        Table::Audit => "audit_logs",
        Table::RefreshTokens => "refresh_tokens",
    }
}

impl Importer<'_> {
    /// The id a new row of `table` gets: the source's when free, else the
    /// next one above both databases' (reported).
    async fn id_for(&mut self, table: Table, kind: Kind, source_id: i64) -> anyhow::Result<i64> {
        let fresh = self.ids.get(&table).is_some_and(|i| i.fresh);
        if source_id > 0
            && (fresh || !target_store::id_taken(&mut self.tx, table, source_id).await?)
        {
            return Ok(source_id);
        }
        let ids = self
            .ids
            .get_mut(&table)
            .context("an import table without an id counter")?;
        let id = ids.next;
        ids.next += 1;
        self.report.renumbered.push(report::Renumbered {
            kind,
            source_id,
            id,
        });
        Ok(id)
    }

    /// A historical reference (an audit entry's actor or resource): the row
    /// it became here, else the source id when nothing of that table could
    /// have been renumbered, else none (it would name another row).
    fn history_ref(&self, map: &HashMap<i64, i64>, table: Table, id: Option<i64>) -> Option<i64> {
        let id = id?;
        match map.get(&id) {
            Some(ours) => Some(*ours),
            None if self.ids.get(&table).is_some_and(|i| i.fresh) => Some(id),
            None => None,
        }
    }

    /// A private key as FastPKI stored it, as PEM.
    fn open_old_key(&self, stored: &str, what: &str) -> anyhow::Result<String> {
        use crate::service::keystore::OpenError;
        self.old_keys.open(stored).map_err(|e| match e {
            OpenError::NoKey => anyhow::anyhow!(
                "the private key of {what} is encrypted: give --encryption-key (the old server's \
                 PRIVATE_KEY_ENCRYPTION_KEY)"
            ),
            OpenError::WrongKey => anyhow::anyhow!(
                "the private key of {what} cannot be decrypted with --encryption-key: is it the old \
                 server's PRIVATE_KEY_ENCRYPTION_KEY?"
            ),
        })
    }

    /// Warnings about settings, once the rows are in.
    fn notes(&mut self, opts: &Options) {
        let tokens = self.report.counts(Kind::ServiceAccountToken).found;
        if tokens > 0 {
            match &opts.pepper {
                Some(p) if p != self.target.pepper => self.report.warnings.push(
                    "service-account tokens were imported with their digests, which only the old pepper \
                     verifies: set SERVICE_ACCOUNT_TOKEN_PEPPER to the value given with --pepper before \
                     starting the server, or the imported tokens will not work"
                        .into(),
                ),
                Some(_) => {}
                None => self.report.warnings.push(
                    "service-account tokens were imported with their digests: they work only if \
                     SERVICE_ACCOUNT_TOKEN_PEPPER here is the old server's (or its SECRET_KEY, if it had no \
                     pepper); give --pepper to have this checked"
                        .into(),
                ),
            }
        }
        let keys = self.report.counts(Kind::CertificateAuthority).imported
            + self.report.counts(Kind::Certificate).imported;
        if keys > 0 && !self.target.keys.encrypts() {
            self.report.warnings.push(
                "PRIVATE_KEY_ENCRYPTION_KEY is not set here: imported private keys are stored unencrypted \
                 (set it and start the server to seal them)"
                    .into(),
            );
        }
    }
}
