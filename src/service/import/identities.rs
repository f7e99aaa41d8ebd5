//! Who: organizations, users, service accounts, their tokens and issuance policies.

use std::collections::HashMap;

use anyhow::Context;

use super::convert;
use super::report::{Kind, Renamed};
use super::{Importer, Table};
use crate::capabilities::Capabilities;
use crate::store::import::{
    self as target_store, ImportedServiceAccount, ImportedToken, ImportedUser,
};
use crate::store::service_accounts::PolicyValues;
use crate::store::ts;

impl Importer<'_> {
    /// Organizations; one whose name the target has is the same organization
    /// (merged into it).
    pub(super) async fn organizations(&mut self) -> anyhow::Result<()> {
        let rows = self.src.organizations().await?;
        self.report.found(Kind::Organization, rows.len());
        for o in rows {
            if let Some(id) = target_store::org_by_name(&mut self.tx, &o.name).await? {
                self.orgs.insert(o.id, id);
                self.report.already(Kind::Organization);
                continue;
            }
            let id = self
                .id_for(Table::Organizations, Kind::Organization, o.id)
                .await?;
            target_store::insert_org(
                &mut self.tx,
                id,
                &o.name,
                o.description.as_deref(),
                o.created_at,
                o.updated_at,
            )
            .await
            .with_context(|| format!("organization {}", o.id))?;
            self.orgs.insert(o.id, id);
            self.report.imported(Kind::Organization);
        }
        Ok(())
    }

    /// Users with their bcrypt hashes unchanged. The same name and e-mail is
    /// the same user; a name or e-mail held by someone else is a conflict.
    pub(super) async fn users(&mut self) -> anyhow::Result<()> {
        let rows = self.src.users().await?;
        self.report.found(Kind::User, rows.len());
        for u in rows {
            let Some(role) = convert::role(&u.role) else {
                self.report
                    .skip(Kind::User, u.id, format!("unknown role {:?}", u.role));
                continue;
            };
            let holders =
                target_store::user_by_name_or_email(&mut self.tx, &u.username, &u.email).await?;
            if let Some((id, _, _)) = holders.iter().find(|(_, name, email)| {
                *name == u.username && email.eq_ignore_ascii_case(&u.email)
            }) {
                self.users.insert(u.id, *id);
                self.report.already(Kind::User);
                continue;
            }
            if let Some((id, name, _)) = holders.first() {
                let what = if *name == u.username {
                    "username"
                } else {
                    "e-mail"
                };
                self.report.skip(
                    Kind::User,
                    u.id,
                    format!(
                        "'{}': the {what} is already used by user {id} here (another person?); its \
                         certificates are imported without their creator",
                        u.username
                    ),
                );
                continue;
            }
            let org = self.org_ref(u.organization_id, Kind::User, u.id);
            let id = self.id_for(Table::Users, Kind::User, u.id).await?;
            let new = ImportedUser {
                id,
                username: &u.username,
                email: &u.email,
                hashed_password: &u.hashed_password,
                role,
                is_active: u.is_active,
                organization_id: org,
                caps: Capabilities::from(u.caps.values()),
                tokens_invalidated_at: u.tokens_invalidated_at,
                created_at: u.created_at,
                updated_at: u.updated_at,
            };
            target_store::insert_user(&mut self.tx, &new)
                .await
                .with_context(|| format!("user {}", u.id))?;
            self.users.insert(u.id, id);
            self.report.imported(Kind::User);
        }
        Ok(())
    }

    /// An organization reference of a row being imported: ours, or none with
    /// a warning when the source's points nowhere.
    fn org_ref(&mut self, org: Option<i64>, kind: Kind, id: i64) -> Option<i64> {
        let org = org?;
        match self.orgs.get(&org) {
            Some(ours) => Some(*ours),
            None => {
                self.report.warnings.push(format!(
                    "{} {id}: its organization {org} does not exist in the source; imported without one",
                    kind.singular()
                ));
                None
            }
        }
    }

    /// Service accounts. One of the same name in the same organization and
    /// created at the same time is the same account; another name collision
    /// gets `name (imported)`.
    pub(super) async fn service_accounts(&mut self) -> anyhow::Result<()> {
        let rows = self.src.service_accounts().await?;
        self.report.found(Kind::ServiceAccount, rows.len());
        for s in rows {
            let Some(org) = s.organization_id.and_then(|o| self.orgs.get(&o).copied()) else {
                self.report.skip(
                    Kind::ServiceAccount,
                    s.id,
                    format!(
                        "its organization {:?} is not in the source",
                        s.organization_id
                    ),
                );
                continue;
            };
            let mut name = s.name.clone();
            let mut n = 0;
            while let Some((id, created)) =
                target_store::service_account_by_name(&mut self.tx, Some(org), &name).await?
            {
                if created == ts(s.created_at) {
                    self.service_accounts.insert(s.id, id);
                    self.report.already(Kind::ServiceAccount);
                    break;
                }
                n += 1;
                name = convert::imported_name(&s.name, n);
            }
            if self.service_accounts.contains_key(&s.id) {
                continue;
            }
            if n > 0 {
                self.report.renamed.push(Renamed {
                    kind: Kind::ServiceAccount,
                    source_id: s.id,
                    from: s.name.clone(),
                    to: name.clone(),
                });
            }
            let id = self
                .id_for(Table::ServiceAccounts, Kind::ServiceAccount, s.id)
                .await?;
            let new = ImportedServiceAccount {
                id,
                name: &name,
                description: s.description.as_deref(),
                organization_id: Some(org),
                caps: Capabilities::from(s.caps.values()),
                disabled_at: s.disabled_at,
                created_by_user_id: s
                    .created_by_user_id
                    .and_then(|u| self.users.get(&u).copied()),
                created_at: s.created_at,
                updated_at: s.updated_at,
            };
            target_store::insert_service_account(&mut self.tx, &new)
                .await
                .with_context(|| format!("service account {}", s.id))?;
            self.service_accounts.insert(s.id, id);
            self.report.imported(Kind::ServiceAccount);
        }
        Ok(())
    }

    /// Tokens, digests as they are (HMAC-SHA256 with the pepper, hex, as ours).
    /// FastPKI keeps only a revoked flag: the time comes from its audit entry.
    pub(super) async fn tokens(&mut self) -> anyhow::Result<()> {
        let revoked_when: HashMap<i64, _> = self
            .src
            .token_revocations()
            .await?
            .into_iter()
            .filter_map(|e| {
                Some((
                    convert::revoked_token_id(e.detail.as_deref()?)?,
                    e.created_at,
                ))
            })
            .collect();
        let rows = self.src.tokens().await?;
        self.report.found(Kind::ServiceAccountToken, rows.len());
        for t in rows {
            let Some(&account) = self.service_accounts.get(&t.service_account_id) else {
                self.report.skip(
                    Kind::ServiceAccountToken,
                    t.id,
                    format!(
                        "its service account {} was not imported",
                        t.service_account_id
                    ),
                );
                continue;
            };
            match target_store::token_digest(&mut self.tx, &t.public_id).await? {
                Some(d) if d == t.digest => {
                    self.report.already(Kind::ServiceAccountToken);
                    continue;
                }
                Some(_) => {
                    self.report.skip(
                        Kind::ServiceAccountToken,
                        t.id,
                        "its public id is already used by another token here",
                    );
                    continue;
                }
                None => {}
            }
            if t.pepper_version != 1 {
                self.report.warnings.push(format!(
                    "service-account token {}: pepper version {} (FastPKI 0.4 knows only 1); imported as is",
                    t.id, t.pepper_version
                ));
            }
            let revoked_at = t.revoked.then(|| {
                revoked_when
                    .get(&t.id)
                    .copied()
                    .or(t.last_used_at)
                    .unwrap_or(t.created_at)
            });
            let id = self
                .id_for(Table::Tokens, Kind::ServiceAccountToken, t.id)
                .await?;
            let new = ImportedToken {
                id,
                service_account_id: account,
                public_id: &t.public_id,
                secret_digest: &t.digest,
                name: t.name.as_deref(),
                expires_at: t.expires_at,
                revoked_at,
                last_used_at: t.last_used_at,
                created_at: t.created_at,
            };
            target_store::insert_token(&mut self.tx, &new)
                .await
                .with_context(|| format!("service-account token {}", t.id))?;
            self.report.imported(Kind::ServiceAccountToken);
        }
        Ok(())
    }

    /// Issuance policies (after the CAs: they name CA ids). FastPKI's glob
    /// let `*` match a wildcard name; here that takes `allow_wildcards`,
    /// which imported policies do not get (as for our own older policies).
    pub(super) async fn policies(&mut self) -> anyhow::Result<()> {
        let rows = self.src.policies().await?;
        self.report.found(Kind::IssuancePolicy, rows.len());
        let mut wildcard_patterns = Vec::new();
        for p in rows {
            let Some(&account) = self.service_accounts.get(&p.service_account_id) else {
                self.report.skip(
                    Kind::IssuancePolicy,
                    p.id,
                    format!(
                        "its service account {} was not imported",
                        p.service_account_id
                    ),
                );
                continue;
            };
            if target_store::has_policy(&mut self.tx, account).await? {
                self.report.already(Kind::IssuancePolicy);
                continue;
            }
            let list = |what: &str, json: Option<&str>| {
                convert::strings(json).with_context(|| format!("issuance policy {}: {what}", p.id))
            };
            let mut allowed_ca_ids = Vec::new();
            for ca in convert::ids(p.allowed_ca_ids.as_deref())
                .with_context(|| format!("issuance policy {}: allowed_ca_ids", p.id))?
            {
                match self.cas.get(&ca) {
                    Some(ours) => allowed_ca_ids.push(*ours),
                    None => self.report.warnings.push(format!(
                        "issuance policy {}: CA {ca} was not imported; dropped from allowed_ca_ids",
                        p.id
                    )),
                }
            }
            let values = PolicyValues {
                cn_patterns: list("cn_patterns", p.cn_patterns.as_deref())?,
                san_dns_patterns: list("san_dns_patterns", p.san_dns_patterns.as_deref())?,
                san_ip_cidrs: list("san_ip_cidrs", p.san_ip_cidrs.as_deref())?,
                san_email_domains: list("san_email_domains", p.san_email_domains.as_deref())?,
                allowed_ca_ids,
                allowed_certificate_types: list(
                    "allowed_certificate_types",
                    p.allowed_certificate_types.as_deref(),
                )?
                .into_iter()
                .map(|t| t.to_ascii_lowercase())
                .collect(),
                max_validity_days: p.max_validity_days,
                allow_wildcards: false,
            };
            if values
                .cn_patterns
                .iter()
                .chain(&values.san_dns_patterns)
                .any(|pat| pat.contains('*'))
            {
                wildcard_patterns.push(account);
            }
            let id = self
                .id_for(Table::Policies, Kind::IssuancePolicy, p.id)
                .await?;
            let new = target_store::ImportedPolicy {
                id,
                service_account_id: account,
                values: &values,
                created_at: p.created_at,
                updated_at: p.updated_at,
            };
            target_store::insert_policy(&mut self.tx, &new)
                .await
                .with_context(|| format!("issuance policy {}", p.id))?;
            self.report.imported(Kind::IssuancePolicy);
        }
        if !wildcard_patterns.is_empty() {
            self.report.warnings.push(format!(
                "the policies of service accounts {wildcard_patterns:?} have `*` patterns: they match names \
                 as before, but a wildcard certificate (`*.example.com` itself) now needs allow_wildcards, \
                 which imported policies do not have (PUT the policy with allow_wildcards: true to allow it)"
            ));
        }
        Ok(())
    }
}
