//! What: CAs (parents first) and certificates with their keys, lineage and
//! revocations, and a first CRL signed for each CA that needs one.

use std::collections::{HashMap, HashSet};

use anyhow::Context;

use super::convert;
use super::report::Kind;
use super::{Importer, Table};
use crate::service::{crl, issuers, public_urls, revocation};
use crate::store::fastpki04::{SrcCa, SrcCrlEntry};
use crate::store::import::{self as target_store, ImportedCert};
use crate::store::{self, cas};

/// Certificates read from the source at a time.
const PAGE: i64 = 500;

/// FastPKI's CRL entries by (CA, serial key).
pub(super) type Revocations = HashMap<(i64, String), SrcCrlEntry>;

impl Importer<'_> {
    /// CAs, each after its parent, keys opened with the old key and sealed
    /// with ours. A CA the target already holds (same certificate) is kept.
    pub(super) async fn authorities(&mut self) -> anyhow::Result<()> {
        let rows = self.src.cas().await?;
        self.report.found(Kind::CertificateAuthority, rows.len());
        for ca in parents_first(rows) {
            if let Some(parent) = ca.parent_ca_id
                && !self.cas.contains_key(&parent)
            {
                self.report.skip(
                    Kind::CertificateAuthority,
                    ca.id,
                    format!("'{}': its parent CA {parent} was not imported", ca.name),
                );
                continue;
            }
            if let Some(id) = target_store::ca_by_certificate(&mut self.tx, &ca.certificate).await?
            {
                self.cas.insert(ca.id, id);
                self.report.already(Kind::CertificateAuthority);
                continue;
            }
            let key_pem = self.open_old_key(&ca.private_key, &format!("CA {}", ca.id))?;
            let info = match pki::inspect_cert(ca.certificate.as_bytes()) {
                Ok(i) => i,
                Err(e) => {
                    self.report.skip(
                        Kind::CertificateAuthority,
                        ca.id,
                        format!("'{}': its certificate cannot be read ({e})", ca.name),
                    );
                    continue;
                }
            };
            // The key must open and match the certificate: a CA that cannot sign is no CA.
            if let Err(e) = issuers::issuer_from_pem(&ca.certificate, &key_pem) {
                self.report.skip(
                    Kind::CertificateAuthority,
                    ca.id,
                    format!("'{}': its key and certificate cannot sign ({e})", ca.name),
                );
                continue;
            }
            let Some(alg) = info.key_algorithm else {
                self.report.skip(
                    Kind::CertificateAuthority,
                    ca.id,
                    format!(
                        "'{}': unsupported key algorithm {}",
                        ca.name, info.public_key_algorithm
                    ),
                );
                continue;
            };
            let id = self
                .id_for(Table::Cas, Kind::CertificateAuthority, ca.id)
                .await?;
            if id != ca.id {
                self.report.warnings.push(format!(
                    "CA {} ('{}') is CA {id} here: the CRL and CA-certificate URLs in what it issued end in \
                     /{} (FastPKI's slugs hold the id), which this server does not answer; its URLs here end \
                     in /{}",
                    ca.id,
                    ca.name,
                    public_urls::slug(&ca.name, ca.id),
                    public_urls::slug(&ca.name, id)
                ));
            }
            let sealed = self.target.keys.seal(&key_pem);
            let parent = ca.parent_ca_id.and_then(|p| self.cas.get(&p).copied());
            let new = cas::NewCa {
                name: &ca.name,
                description: ca.description.as_deref(),
                subject_dn: &ca.subject_dn,
                key_algorithm: alg.name(),
                key_size: ca.key_size,
                valid_days: ca.valid_days,
                certificate: &ca.certificate,
                private_key: &sealed,
                serial_number: &info.serial_hex,
                not_before: info.not_before,
                not_after: info.not_after,
                organization_id: ca.organization_id.and_then(|o| self.orgs.get(&o).copied()),
                created_by_user_id: ca
                    .created_by_user_id
                    .and_then(|u| self.users.get(&u).copied()),
                created_by_service_account_id: ca
                    .created_by_service_account_id
                    .and_then(|s| self.service_accounts.get(&s).copied()),
                parent_ca_id: parent,
                path_length: ca.path_length,
                allow_leaf_certs: ca.allow_leaf_certs,
                crl_base_url: ca.crl_base_url.as_deref(),
                is_root: parent.is_none(),
                external_chain: None,
                pending_csr: None,
            };
            cas::insert_with_id(&mut self.tx, id, &new, ca.created_at, ca.updated_at)
                .await
                .with_context(|| format!("CA {}", ca.id))?;
            self.cas.insert(ca.id, id);
            self.crl_due.insert(id);
            self.report.imported(Kind::CertificateAuthority);
        }
        Ok(())
    }

    /// FastPKI's CRL entries: they carry the revocation reason its
    /// certificates lack. Counted here, matched to certificates next.
    pub(super) async fn crl_entries(&mut self) -> anyhow::Result<Revocations> {
        let rows = self.src.crl_entries().await?;
        self.report.found(Kind::CrlEntry, rows.len());
        let mut out = Revocations::new();
        for e in rows {
            out.insert((e.ca_id, convert::serial_key(&e.serial_number)), e);
        }
        Ok(out)
    }

    /// Certificates, a page at a time: serials as FastPKI wrote them, keys
    /// re-sealed, revocations (the certificate's, or its CRL entry's) with
    /// their reason, renewal links once both ends exist.
    pub(super) async fn certificates(
        &mut self,
        mut revocations: Revocations,
    ) -> anyhow::Result<()> {
        let fresh = self.ids.get(&Table::Certificates).is_some_and(|i| i.fresh);
        let mut links = Vec::new();
        let mut after = 0;
        loop {
            let page = self.src.certificates(after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            self.report.found(Kind::Certificate, page.len());
            for c in page {
                let source_issuer = c.issuer_id.unwrap_or(0);
                let entry =
                    revocations.remove(&(source_issuer, convert::serial_key(&c.serial_number)));
                let Some(&issuer) = self.cas.get(&source_issuer) else {
                    self.report.skip(
                        Kind::Certificate,
                        c.id,
                        format!(
                            "'{}': its CA {source_issuer} was not imported",
                            c.common_name
                        ),
                    );
                    self.entry_of_skipped(entry);
                    continue;
                };
                if !fresh
                    && let Some(id) =
                        target_store::cert_by_serial(&mut self.tx, issuer, &c.serial_number).await?
                {
                    self.certs.insert(c.id, id);
                    self.report.already(Kind::Certificate);
                    if entry.is_some() {
                        self.report.already(Kind::CrlEntry);
                    }
                    continue;
                }
                let Some(cert_type) = convert::cert_type(&c.certificate_type) else {
                    self.report.skip(
                        Kind::Certificate,
                        c.id,
                        format!("unknown certificate type {:?}", c.certificate_type),
                    );
                    self.entry_of_skipped(entry);
                    continue;
                };
                let info = match pki::inspect_cert(c.certificate.as_bytes()) {
                    Ok(i) => i,
                    Err(e) => {
                        self.report.skip(
                            Kind::Certificate,
                            c.id,
                            format!("'{}': the certificate cannot be read ({e})", c.common_name),
                        );
                        self.entry_of_skipped(entry);
                        continue;
                    }
                };
                let key = match &c.private_key {
                    Some(k) => {
                        let pem = self.open_old_key(k, &format!("certificate {}", c.id))?;
                        Some(self.target.keys.seal(&pem))
                    }
                    None => None,
                };
                let revoked = convert::is_revoked_status(&c.status) || entry.is_some();
                let revoked_at = revoked.then(|| {
                    c.revoked_at
                        .or(entry.as_ref().map(|e| e.revocation_date))
                        .unwrap_or(c.updated_at)
                });
                let (reason, reason_code) = match entry.as_ref().and_then(|e| e.reason.clone()) {
                    Some(text) => {
                        let input = revocation::Revoke {
                            reason: Some(text.clone()),
                            reason_code: None,
                        };
                        revocation::revocation_reason(&input).unwrap_or((Some(text), None))
                    }
                    None => (None, None),
                };
                let renewed_from = match c.renewed_from_id {
                    Some(from) => match self.certs.get(&from) {
                        Some(ours) => Some(*ours),
                        None => {
                            links.push((c.id, from));
                            None
                        }
                    },
                    None => None,
                };
                let id = self
                    .id_for(Table::Certificates, Kind::Certificate, c.id)
                    .await?;
                let key_algorithm = match info.key_algorithm {
                    Some(a) => a.name().to_string(),
                    None => info.public_key_algorithm.clone(),
                };
                let new = ImportedCert {
                    id,
                    common_name: &c.common_name,
                    subject_dn: &c.subject_dn,
                    certificate_type: cert_type,
                    key_algorithm: &key_algorithm,
                    key_size: c.key_size,
                    valid_days: c.valid_days,
                    status: if revoked { "revoked" } else { "valid" },
                    certificate: &c.certificate,
                    private_key: key.as_deref(),
                    key_origin: if c.is_csr_origin { "csr" } else { "server" },
                    serial_number: &c.serial_number,
                    not_before: c.not_before,
                    not_after: c.not_after,
                    san_dns_names: &info.sans.dns,
                    san_ip_addresses: &info.sans.ips,
                    san_email_addresses: &info.sans.emails,
                    revoked_at,
                    revocation_reason: reason.as_deref(),
                    revocation_reason_code: reason_code,
                    issuer_id: issuer,
                    organization_id: c.organization_id.and_then(|o| self.orgs.get(&o).copied()),
                    created_by_user_id: c
                        .created_by_user_id
                        .and_then(|u| self.users.get(&u).copied()),
                    created_by_service_account_id: c
                        .created_by_service_account_id
                        .and_then(|s| self.service_accounts.get(&s).copied()),
                    renewed_from_id: renewed_from,
                    created_at: c.created_at,
                    updated_at: c.updated_at,
                };
                target_store::insert_cert(&mut self.tx, &new)
                    .await
                    .with_context(|| format!("certificate {}", c.id))?;
                self.certs.insert(c.id, id);
                self.report.imported(Kind::Certificate);
                if revoked {
                    self.crl_due.insert(issuer);
                }
                if entry.is_some() {
                    self.report.imported(Kind::CrlEntry);
                }
            }
        }
        for (source_id, from) in links {
            match (self.certs.get(&source_id), self.certs.get(&from)) {
                (Some(&id), Some(&from_id)) => {
                    target_store::set_renewed_from(&mut self.tx, id, from_id).await?
                }
                _ => self.report.warnings.push(format!(
                    "certificate {source_id}: renewed from certificate {from}, which was not imported; \
                     the link is dropped"
                )),
            }
        }
        // Entries naming no certificate: our CRLs list the certificates we hold.
        let mut left: Vec<_> = revocations.into_values().collect();
        left.sort_by_key(|e| e.id);
        for e in left {
            let why = if self.cas.contains_key(&e.ca_id) {
                format!(
                    "serial {} of CA {}: no such certificate in the source, and CRLs here list only \
                     certificates held",
                    e.serial_number, e.ca_id
                )
            } else {
                format!(
                    "serial {}: its CA {} was not imported",
                    e.serial_number, e.ca_id
                )
            };
            self.report.skip(Kind::CrlEntry, e.id, why);
        }
        Ok(())
    }

    /// The CRL entry of a certificate left out goes with it.
    fn entry_of_skipped(&mut self, entry: Option<SrcCrlEntry>) {
        if let Some(e) = entry {
            self.report
                .skip(Kind::CrlEntry, e.id, "its certificate was not imported");
        }
    }

    /// Signs, in the import's transaction, the next CRL of every CA that is
    /// new or has new revocations: the first request finds it ready.
    pub(super) async fn sign_crls(&mut self) -> anyhow::Result<()> {
        let this_update = self.now;
        let next_update = this_update + chrono::Duration::days(self.target.crl_validity_days);
        let due: Vec<i64> = self.crl_due.iter().copied().collect();
        for id in due {
            let Some(ca) = cas::get(&mut self.tx, id).await? else {
                continue;
            };
            let key = self
                .target
                .keys
                .open(&ca.private_key)
                .with_context(|| format!("the private key of CA {id}"))?;
            let issuer = issuers::issuer_from_pem(&ca.certificate, &key)?;
            let entries = crl::revoked_entries(&mut self.tx, id).await?;
            let number = cas::next_crl_number(&mut self.tx, id).await?;
            let signed =
                match pki::build_crl(&issuer, &entries, number as u64, this_update, next_update) {
                    Ok(crl) => crl,
                    Err(e) => {
                        self.report.warnings.push(format!(
                            "CA {id} ('{}'): no CRL could be signed ({e}); the server will retry",
                            ca.name
                        ));
                        continue;
                    }
                };
            cas::store_crl(
                &mut self.tx,
                id,
                number,
                &signed.der,
                &store::ts(this_update),
                &store::ts(next_update),
            )
            .await?;
        }
        Ok(())
    }
}

/// CAs ordered so that each comes after its parent; those whose parent is
/// missing from the source (or in a cycle) come last, to be skipped.
fn parents_first(rows: Vec<SrcCa>) -> Vec<SrcCa> {
    let ids: HashSet<i64> = rows.iter().map(|c| c.id).collect();
    let mut placed = HashSet::new();
    let mut out = Vec::with_capacity(rows.len());
    let mut rest = rows;
    loop {
        let before = rest.len();
        let (ready, waiting): (Vec<_>, Vec<_>) =
            rest.into_iter().partition(|c| match c.parent_ca_id {
                None => true,
                Some(p) => placed.contains(&p) || !ids.contains(&p),
            });
        for c in ready {
            placed.insert(c.id);
            out.push(c);
        }
        rest = waiting;
        if rest.is_empty() || rest.len() == before {
            break;
        }
    }
    out.extend(rest);
    out
}
