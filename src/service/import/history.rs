//! When and who: the audit log with its original times and actors, and the
//! sessions still alive (refresh tokens, revoked access-token ids).

use anyhow::Context;

use super::convert;
use super::report::Kind;
use super::{Importer, Table};
use crate::store::audit::ACTIONS;
use crate::store::import::{self as target_store, ImportedAudit};

/// Audit entries read from the source at a time.
const PAGE: i64 = 1000;

impl Importer<'_> {
    /// Audit entries after the source id `after` (0: all), in order, their
    /// references turned into ours. Returns the last source id seen.
    pub(super) async fn audit(&mut self, after: i64) -> anyhow::Result<i64> {
        let mut last = after;
        let mut unknown = std::collections::BTreeSet::new();
        loop {
            let page = self.src.audit(last, PAGE).await?;
            let Some(end) = page.last() else { break };
            last = end.id;
            self.report.found(Kind::AuditEntry, page.len());
            for e in page {
                let action = convert::audit_action(&e.action);
                if !ACTIONS.contains(&action.as_str()) {
                    unknown.insert(action.clone());
                }
                let resource_id = match e.resource_type.as_deref() {
                    Some("ca") => self.history_ref(&self.cas, Table::Cas, e.resource_id),
                    Some("certificate") => {
                        self.history_ref(&self.certs, Table::Certificates, e.resource_id)
                    }
                    Some("user") => self.history_ref(&self.users, Table::Users, e.resource_id),
                    Some("organization") => {
                        self.history_ref(&self.orgs, Table::Organizations, e.resource_id)
                    }
                    Some("service_account") => self.history_ref(
                        &self.service_accounts,
                        Table::ServiceAccounts,
                        e.resource_id,
                    ),
                    _ => e.resource_id,
                };
                let new = ImportedAudit {
                    id: 0,
                    created_at: e.created_at,
                    action: &action,
                    user_id: self.history_ref(&self.users, Table::Users, e.user_id),
                    username: e.username.as_deref(),
                    organization_id: self.history_ref(
                        &self.orgs,
                        Table::Organizations,
                        e.organization_id,
                    ),
                    resource_type: e.resource_type.as_deref(),
                    resource_id,
                    detail: e.detail.as_deref(),
                    service_account_id: self.history_ref(
                        &self.service_accounts,
                        Table::ServiceAccounts,
                        e.service_account_id,
                    ),
                    service_account_name: e.service_account_name.as_deref(),
                };
                let id = self.id_for(Table::Audit, Kind::AuditEntry, e.id).await?;
                target_store::insert_audit(&mut self.tx, &ImportedAudit { id, ..new })
                    .await
                    .with_context(|| format!("audit entry {}", e.id))?;
                self.report.imported(Kind::AuditEntry);
            }
        }
        if !unknown.is_empty() {
            self.report.warnings.push(format!(
                "audit entries with actions this server does not know were kept as they are: {unknown:?}"
            ));
        }
        Ok(last)
    }

    /// Refresh tokens not revoked and not expired (the same SHA-256 digest as
    /// ours): whoever is logged in stays logged in. Each is a family of its own.
    pub(super) async fn refresh_tokens(&mut self) -> anyhow::Result<()> {
        let rows = self.src.live_refresh_tokens(self.now).await?;
        self.report.found(Kind::RefreshToken, rows.len());
        for r in rows {
            let Some(&user) = self.users.get(&r.user_id) else {
                self.report.skip(
                    Kind::RefreshToken,
                    r.id,
                    format!("its user {} was not imported", r.user_id),
                );
                continue;
            };
            if target_store::refresh_exists(&mut self.tx, &r.token_hash).await? {
                self.report.already(Kind::RefreshToken);
                continue;
            }
            let id = self
                .id_for(Table::RefreshTokens, Kind::RefreshToken, r.id)
                .await?;
            let family = format!("fastpki-{}", r.id);
            target_store::insert_refresh(
                &mut self.tx,
                id,
                user,
                &r.token_hash,
                &family,
                r.expires_at,
                r.created_at,
            )
            .await
            .with_context(|| format!("refresh token {}", r.id))?;
            self.report.imported(Kind::RefreshToken);
        }
        Ok(())
    }

    /// Access-token ids revoked by a logout and not expired yet.
    pub(super) async fn blocklist(&mut self) -> anyhow::Result<()> {
        let rows = self.src.live_blocklist(self.now).await?;
        self.report.found(Kind::RevokedAccessToken, rows.len());
        for r in rows {
            if target_store::insert_blocklisted(&mut self.tx, &r.jti, r.exp).await? {
                self.report.imported(Kind::RevokedAccessToken);
            } else {
                self.report.already(Kind::RevokedAccessToken);
            }
        }
        Ok(())
    }
}
