//! What an import did: per kind of row, how many were found, imported,
//! already present or skipped; which rows changed id or name; why rows were
//! skipped; and what to do next. Printed as text or JSON.

use std::fmt;

use serde::Serialize;

/// The kinds of rows, in the order they are imported and reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Organization,
    User,
    ServiceAccount,
    ServiceAccountToken,
    CertificateAuthority,
    Certificate,
    CrlEntry,
    IssuancePolicy,
    AuditEntry,
    RefreshToken,
    RevokedAccessToken,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::Organization,
        Kind::User,
        Kind::ServiceAccount,
        Kind::ServiceAccountToken,
        Kind::CertificateAuthority,
        Kind::Certificate,
        Kind::CrlEntry,
        Kind::IssuancePolicy,
        Kind::AuditEntry,
        Kind::RefreshToken,
        Kind::RevokedAccessToken,
    ];

    pub fn singular(self) -> &'static str {
        match self {
            Kind::Organization => "organization",
            Kind::User => "user",
            Kind::ServiceAccount => "service account",
            Kind::ServiceAccountToken => "service-account token",
            Kind::CertificateAuthority => "CA",
            Kind::Certificate => "certificate",
            Kind::CrlEntry => "CRL entry",
            Kind::IssuancePolicy => "issuance policy",
            Kind::AuditEntry => "audit entry",
            Kind::RefreshToken => "refresh token",
            Kind::RevokedAccessToken => "revoked access token",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::Organization => "organizations",
            Kind::User => "users",
            Kind::ServiceAccount => "service accounts",
            Kind::ServiceAccountToken => "service-account tokens",
            Kind::CertificateAuthority => "CAs",
            Kind::Certificate => "certificates",
            Kind::CrlEntry => "CRL entries",
            Kind::IssuancePolicy => "issuance policies",
            Kind::AuditEntry => "audit entries",
            Kind::RefreshToken => "refresh tokens (live)",
            Kind::RevokedAccessToken => "revoked access tokens (live)",
        }
    }
}

/// The counts of one kind.
#[derive(Clone, Debug, Serialize)]
pub struct Counts {
    pub kind: Kind,
    /// Rows of this kind read from the source.
    pub found: u64,
    /// Rows written to the target.
    pub imported: u64,
    /// Rows the target already held (an earlier import, or the same row).
    pub already_present: u64,
    /// Rows left out; `skipped` says why.
    pub skipped: u64,
}

/// A row left out, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    pub kind: Kind,
    pub source_id: i64,
    pub reason: String,
}

/// A row whose id was taken in the target: it got another.
#[derive(Clone, Debug, Serialize)]
pub struct Renumbered {
    pub kind: Kind,
    pub source_id: i64,
    pub id: i64,
}

/// A row whose name was taken in the target: it got another.
#[derive(Clone, Debug, Serialize)]
pub struct Renamed {
    pub kind: Kind,
    pub source_id: i64,
    pub from: String,
    pub to: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The source database (password hidden).
    pub source: String,
    /// Nothing was written.
    pub dry_run: bool,
    /// The target already held an import of this source (a re-run).
    pub rerun: bool,
    pub counts: Vec<Counts>,
    pub skipped: Vec<Skipped>,
    pub renumbered: Vec<Renumbered>,
    pub renamed: Vec<Renamed>,
    /// What needs the operator's attention.
    pub warnings: Vec<String>,
    /// What FastPKI has that is never imported, and why.
    pub not_imported: Vec<String>,
}

impl Report {
    pub fn new(source: String, dry_run: bool) -> Self {
        Report {
            source,
            dry_run,
            rerun: false,
            counts: Kind::ALL
                .iter()
                .map(|&kind| Counts {
                    kind,
                    found: 0,
                    imported: 0,
                    already_present: 0,
                    skipped: 0,
                })
                .collect(),
            skipped: Vec::new(),
            renumbered: Vec::new(),
            renamed: Vec::new(),
            warnings: Vec::new(),
            not_imported: vec![
                "JWT access tokens: they are not stored; they stay valid only where SECRET_KEY is the old one, \
                 until they expire (minutes)"
                    .into(),
                "refresh tokens that are revoked or expired, and revoked access-token ids that have expired: \
                 they can never be used again"
                    .into(),
                "the CRLs FastPKI signed: they are signed on the fly there and not stored; each imported CA gets \
                 a new CRL here, listing the same serials"
                    .into(),
            ],
        }
    }

    pub fn counts(&mut self, kind: Kind) -> &mut Counts {
        let i = Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        &mut self.counts[i]
    }

    pub fn found(&mut self, kind: Kind, n: usize) {
        self.counts(kind).found += n as u64;
    }

    pub fn imported(&mut self, kind: Kind) {
        self.counts(kind).imported += 1;
    }

    pub fn already(&mut self, kind: Kind) {
        self.counts(kind).already_present += 1;
    }

    pub fn skip(&mut self, kind: Kind, source_id: i64, reason: impl Into<String>) {
        self.counts(kind).skipped += 1;
        self.skipped.push(Skipped {
            kind,
            source_id,
            reason: reason.into(),
        });
    }

    /// Rows written in all.
    pub fn total_imported(&self) -> u64 {
        self.counts.iter().map(|c| c.imported).sum()
    }
}

/// Lines of one list shown in the text form before "... and N more".
const SHOWN: usize = 20;

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Import from FastPKI 0.4 ({})", self.source)?;
        if self.dry_run {
            writeln!(
                f,
                "DRY RUN: nothing was written; this is what an import would do."
            )?;
        }
        if self.rerun {
            writeln!(
                f,
                "This source was imported here before: only what is new was considered."
            )?;
        }
        writeln!(
            f,
            "\n  {:<30} {:>8} {:>9} {:>9} {:>8}",
            "", "found", "imported", "present", "skipped"
        )?;
        for c in &self.counts {
            writeln!(
                f,
                "  {:<30} {:>8} {:>9} {:>9} {:>8}",
                c.kind.plural(),
                c.found,
                c.imported,
                c.already_present,
                c.skipped
            )?;
        }
        section(f, "Skipped", &self.skipped, |s| {
            format!("{} {}: {}", s.kind.singular(), s.source_id, s.reason)
        })?;
        section(
            f,
            "New ids (the source's was taken)",
            &self.renumbered,
            |r| format!("{} {} is now {}", r.kind.singular(), r.source_id, r.id),
        )?;
        section(
            f,
            "New names (the source's was taken)",
            &self.renamed,
            |r| {
                format!(
                    "{} {}: '{}' is now '{}'",
                    r.kind.singular(),
                    r.source_id,
                    r.from,
                    r.to
                )
            },
        )?;
        section(f, "Warnings", &self.warnings, |w| w.clone())?;
        section(f, "Never imported", &self.not_imported, |w| w.clone())?;
        Ok(())
    }
}

fn section<T>(
    f: &mut fmt::Formatter<'_>,
    title: &str,
    items: &[T],
    line: impl Fn(&T) -> String,
) -> fmt::Result {
    if items.is_empty() {
        return Ok(());
    }
    writeln!(f, "\n{title}:")?;
    for item in items.iter().take(SHOWN) {
        writeln!(f, "  - {}", line(item))?;
    }
    if items.len() > SHOWN {
        writeln!(
            f,
            "  ... and {} more (--json lists all)",
            items.len() - SHOWN
        )?;
    }
    Ok(())
}
