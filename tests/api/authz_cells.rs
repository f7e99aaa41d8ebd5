//! Every route against every kind of caller: the exact status the contract
//! prescribes, cell by cell. One table; each row is one route (with its
//! request), each column one caller:
//!
//! | column  | caller                                                    |
//! |---------|-----------------------------------------------------------|
//! | anon    | no token                                                  |
//! | root    | superuser                                                 |
//! | adm_a   | admin of organization A                                   |
//! | usr_a   | user of A with all five capability flags                  |
//! | ro_a    | user of A with no flag (read-only)                        |
//! | adm_b   | admin of organization B                                   |
//! | usr_b   | user of B with all five flags                             |
//! | no_org  | user without an organization, with all five flags         |
//! | sa_a    | service account of A with all five flags and a policy     |
//! | sa_none | service account of A with no flag (same policy)           |
//!
//! The shared resources belong to organization A and were made by `adm_a`
//! (so no caller but `adm_a` is their creator; the creator rule is
//! `pki_matrix.rs`'s). A placeholder named `fresh_*`, `member`, `b_member`, `free_user`,
//! `orphan_ca` or `policy_sa` is made anew for each cell, so that
//! destructive cells do not depend on each other.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Who {
    Anon,
    Root,
    AdmA,
    UsrA,
    RoA,
    AdmB,
    UsrB,
    NoOrg,
    SaA,
    SaNone,
}

const WHO: [Who; 10] = [
    Who::Anon,
    Who::Root,
    Who::AdmA,
    Who::UsrA,
    Who::RoA,
    Who::AdmB,
    Who::UsrB,
    Who::NoOrg,
    Who::SaA,
    Who::SaNone,
];

impl Who {
    fn username(self) -> Option<&'static str> {
        match self {
            Who::Root => Some("root"),
            Who::AdmA => Some("adm_a"),
            Who::UsrA => Some("usr_a"),
            Who::RoA => Some("ro_a"),
            Who::AdmB => Some("adm_b"),
            Who::UsrB => Some("usr_b"),
            Who::NoOrg => Some("no_org"),
            Who::Anon | Who::SaA | Who::SaNone => None,
        }
    }
}

struct Cell {
    method: &'static str,
    path: &'static str,
    /// JSON text with placeholders; `form:` for a form body; empty for none.
    body: &'static str,
    /// The bearer is a fresh login of the caller (logout, invalidate).
    session: bool,
    /// Expected status per column of `WHO`.
    want: [u16; 10],
}

const fn cell(
    method: &'static str,
    path: &'static str,
    body: &'static str,
    want: [u16; 10],
) -> Cell {
    Cell {
        method,
        path,
        body,
        session: false,
        want,
    }
}

const fn session(
    method: &'static str,
    path: &'static str,
    body: &'static str,
    want: [u16; 10],
) -> Cell {
    Cell {
        method,
        path,
        body,
        session: true,
        want,
    }
}

// Common columns.                   anon root adm_a usr_a ro_a adm_b usr_b no_org sa_a sa_none
const ANY_AUTH: [u16; 10] = [401, 200, 200, 200, 200, 200, 200, 200, 200, 200];
const PUBLIC: [u16; 10] = [200, 200, 200, 200, 200, 200, 200, 200, 200, 200];
/// Read an organization-A CA or certificate (steps 1, 4, 6).
const READ_A: [u16; 10] = [401, 200, 200, 200, 200, 403, 403, 403, 200, 200];
/// Export an organization-A private key (steps 1, 4, 5, 7).
const EXPORT_A: [u16; 10] = [401, 200, 200, 200, 403, 403, 403, 403, 200, 403];
/// Superuser only.
const SUPER_200: [u16; 10] = [401, 200, 403, 403, 403, 403, 403, 403, 403, 403];
const SUPER_204: [u16; 10] = [401, 204, 403, 403, 403, 403, 403, 403, 403, 403];
/// Superuser or admin of organization A.
const ADMIN_A_200: [u16; 10] = [401, 200, 200, 403, 403, 403, 403, 403, 403, 403];
/// Managing an organization-A service account: another organization's admin gets 404.
const SA_MANAGE_200: [u16; 10] = [401, 200, 200, 403, 403, 404, 403, 403, 403, 403];
const SA_MANAGE_201: [u16; 10] = [401, 201, 201, 403, 403, 404, 403, 403, 403, 403];
const SA_MANAGE_204: [u16; 10] = [401, 204, 204, 403, 403, 404, 403, 403, 403, 403];
/// Managing organization A's ACME directories: its admins and superusers.
const ADMIN_A_201: [u16; 10] = [401, 201, 201, 403, 403, 403, 403, 403, 403, 403];
const ADMIN_A_204: [u16; 10] = [401, 204, 204, 403, 403, 403, 403, 403, 403, 403];
/// A missing ACME directory: 404 to admins and superusers, 403 to the others.
const ACME_MISSING: [u16; 10] = [401, 404, 404, 403, 403, 404, 403, 403, 403, 403];
/// A missing resource: 404 for everyone authenticated.
const MISSING: [u16; 10] = [401, 404, 404, 404, 404, 404, 404, 404, 404, 404];
/// Routes about people and organizations: any user; a service account 403.
const ANY_USER: [u16; 10] = [401, 200, 200, 200, 200, 200, 200, 200, 403, 403];
/// Read organization A itself (its record, members): its members; never a service account.
const MEMBER_A: [u16; 10] = [401, 200, 200, 200, 200, 403, 403, 403, 403, 403];
/// A missing user, organization or service account: 404 to users, 403 to a service account.
const MISSING_TO_USERS: [u16; 10] = [401, 404, 404, 404, 404, 404, 404, 404, 403, 403];

const CERT: &str = r#"{"common_name": "cell-{uniq}.example.com", "certificate_type": "server", "key_algorithm": "ecdsa-p256", "valid_days": 90}"#;
const POLICY: &str = r#"{"cn_patterns": ["*.example.com"], "san_dns_patterns": ["*.example.com"], "san_ip_cidrs": [], "san_email_domains": [], "allowed_ca_ids": [{ca}], "allowed_certificate_types": ["server", "client"], "max_validity_days": 365}"#;

#[rustfmt::skip]
const CELLS: &[Cell] = &[
    //                                                                                       anon root adm_a usr_a ro_a adm_b usr_b no_org sa_a sa_none
    // --- /auth
    cell("POST", "/auth/token", "form:username=target_a&password=wrong-password",           [401, 401, 401, 401, 401, 401, 401, 401, 401, 401]),
    cell("POST", "/auth/token", "form:username=target_a&password=correct horse battery",    PUBLIC),
    cell("POST", "/auth/refresh", r#"{"refresh_token": "{fresh_refresh}"}"#,                PUBLIC),
    cell("POST", "/auth/refresh", r#"{"refresh_token": "no-such-token"}"#,                  [401, 401, 401, 401, 401, 401, 401, 401, 401, 401]),
    session("POST", "/auth/logout", r#"{"refresh_token": "{own_refresh}"}"#,                [401, 204, 204, 204, 204, 204, 204, 204, 403, 403]),
    session("POST", "/auth/logout", r#"{"refresh_token": "{fresh_refresh}"}"#,              [401, 403, 403, 403, 403, 403, 403, 403, 403, 403]),
    session("POST", "/auth/invalidate", "",                                                 [401, 204, 204, 204, 204, 204, 204, 204, 403, 403]),
    // --- /users
    cell("POST", "/users/", r#"{"username": "u{uniq}", "email": "u{uniq}@example.com", "password": "password123", "organization_id": {org_a}}"#,
                                                                                            [403, 201, 201, 201, 201, 403, 403, 403, 403, 403]),
    cell("POST", "/users/", r#"{"username": "u{uniq}", "email": "u{uniq}@example.com", "password": "password123", "role": "admin", "organization_id": {org_a}}"#,
                                                                                            [403, 201, 403, 403, 403, 403, 403, 403, 403, 403]),
    cell("POST", "/users/", r#"{"username": "u{uniq}", "email": "u{uniq}@example.com", "password": "password123", "can_create_ca": true}"#,
                                                                                            [403, 201, 201, 403, 403, 201, 403, 403, 403, 403]),
    cell("POST", "/users/", r#"{"username": "u{uniq}", "email": "u{uniq}@example.com", "password": "password123", "can_create_ca": true, "organization_id": {org_b}}"#,
                                                                                            [403, 201, 403, 403, 403, 201, 403, 403, 403, 403]),
    cell("GET", "/users/", "",                                                              SUPER_200),
    cell("GET", "/users/me", "",                                                            [401, 200, 200, 200, 200, 200, 200, 200, 403, 403]),
    cell("GET", "/users/{target_a}", "",                                                    ADMIN_A_200),
    cell("PATCH", "/users/{target_a}", r#"{"email": "t{uniq}@example.com"}"#,              ADMIN_A_200),
    cell("PATCH", "/users/{target_a}", r#"{"can_create_cert": true}"#,                     ADMIN_A_200),
    cell("PATCH", "/users/{member}", r#"{"role": "admin"}"#,                               SUPER_200),
    cell("PATCH", "/users/{member}", r#"{"is_active": false}"#,                            SUPER_200),
    cell("PATCH", "/users/{member}", r#"{"organization_id": {org_b}}"#,                    SUPER_200),
    cell("DELETE", "/users/{member}", "",                                                   SUPER_204),
    cell("GET", "/users/999999", "",                                                        MISSING_TO_USERS),
    // --- /organizations
    cell("POST", "/organizations/", r#"{"name": "o{uniq}"}"#,                               [401, 201, 201, 403, 403, 201, 403, 403, 403, 403]),
    cell("GET", "/organizations/", "",                                                      ANY_USER),
    cell("GET", "/organizations/{org_a}", "",                                               MEMBER_A),
    cell("PUT", "/organizations/{org_a}", r#"{"name": "org-a", "description": "d{uniq}"}"#, ADMIN_A_200),
    cell("DELETE", "/organizations/{fresh_org}", "",                                        SUPER_204),
    cell("GET", "/organizations/{org_a}/users", "",                                         MEMBER_A),
    cell("POST", "/organizations/{org_a}/users/{free_user}", "",                            ADMIN_A_200),
    cell("POST", "/organizations/{org_a}/users/{b_member}", "",                             SUPER_200),
    cell("DELETE", "/organizations/{org_a}/users/{member}", "",                             ADMIN_A_200),
    cell("GET", "/organizations/999999", "",                                                MISSING_TO_USERS),
    // --- /organizations/{id}/webhooks (as PUT /organizations/{id}: its admins and superusers)
    cell("POST", "/organizations/{org_a}/webhooks", r#"{"url": "https://hooks.example.com/{uniq}"}"#,
                                                                                            ADMIN_A_201),
    cell("GET", "/organizations/{org_a}/webhooks", "",                                      ADMIN_A_200),
    cell("GET", "/organizations/{org_a}/webhooks/{webhook}", "",                            ADMIN_A_200),
    cell("POST", "/organizations/{org_a}/webhooks/{webhook}/rotate-secret", "",             ADMIN_A_200),
    cell("GET", "/organizations/{org_a}/webhooks/{webhook}/deliveries", "",                 ADMIN_A_200),
    cell("DELETE", "/organizations/{org_a}/webhooks/{fresh_webhook}", "",                   ADMIN_A_204),
    cell("GET", "/organizations/999999/webhooks", "",                                       MISSING_TO_USERS),
    // --- /audit-logs
    cell("GET", "/audit-logs/", "",                                                         [401, 200, 200, 403, 403, 200, 403, 403, 403, 403]),
    // --- /cas (a new root CA belongs to the caller's organization: none is step 3, denied;
    //     a service account is held to its policy, which allows no root and no type `ca` here)
    cell("POST", "/cas/", r#"{"name": "c{uniq}", "subject_dn": "CN=c{uniq}", "key_algorithm": "ecdsa-p256"}"#,
                                                                                            [401, 201, 201, 201, 403, 201, 201, 403, 400, 403]),
    cell("POST", "/cas/", r#"{"name": "c{uniq}", "subject_dn": "CN=c{uniq}", "key_algorithm": "ecdsa-p256", "parent_ca_id": {parent}}"#,
                                                                                            [401, 201, 201, 201, 403, 403, 403, 403, 400, 403]),
    // Importing a CA, a pending CA and its CSR: as creating a root (the caller's organization).
    cell("POST", "/cas/import", r#"{"name": "i{uniq}", "certificate": {fresh_root_cert}, "private_key": {fresh_root_key}}"#,
                                                                                            [401, 201, 201, 201, 403, 201, 201, 403, 400, 403]),
    cell("POST", "/cas/csr", r#"{"name": "p{uniq}", "subject_dn": "CN=p{uniq}", "key_algorithm": "ecdsa-p256"}"#,
                                                                                            [401, 201, 201, 201, 403, 201, 201, 403, 400, 403]),
    // A CSR for organization A's CA (create_ca on it); a policy allows no CA signed outside.
    cell("POST", "/cas/{ca}/csr", "{}",                                                     [401, 200, 200, 200, 403, 403, 403, 403, 400, 403]),
    cell("POST", "/cas/{ca}/csr", r#"{"new_key": true}"#,                                   [401, 201, 201, 201, 403, 403, 403, 403, 400, 403]),
    cell("PUT", "/cas/{fresh_pending}/certificate", r#"{"certificate": {fresh_pending_cert}, "chain": {outside_root}}"#,
                                                                                            [401, 200, 200, 200, 403, 403, 403, 403, 400, 403]),
    cell("GET", "/cas/", "",                                                                ANY_AUTH),
    cell("GET", "/cas/{ca}", "",                                                            READ_A),
    cell("GET", "/cas/{ca}/private-key", "",                                                EXPORT_A),
    cell("GET", "/cas/{ca}/chain", "",                                                      READ_A),
    cell("GET", "/cas/{ca}/children", "",                                                   READ_A),
    cell("PATCH", "/cas/{orphan_ca}", r#"{"organization_id": {org_a}}"#,                   SUPER_200),
    cell("DELETE", "/cas/{fresh_ca}", "",                                                   [401, 204, 204, 204, 403, 403, 403, 403, 204, 403]),
    cell("GET", "/cas/999999", "",                                                          MISSING),
    // --- /certificates
    cell("POST", "/certificates/?ca_id={ca}", CERT,                                         [401, 201, 201, 201, 403, 403, 403, 403, 201, 403]),
    cell("POST", "/certificates/sign-csr", r#"{"csr": {csr}, "ca_id": {ca}, "certificate_type": "client"}"#,
                                                                                            [401, 201, 201, 201, 403, 403, 403, 403, 201, 403]),
    // The CA by name: looked up in the caller's organization (any, for a superuser).
    cell("POST", "/certificates/sign-csr", r#"{"csr": {csr}, "ca_name": "Cells CA", "certificate_type": "client"}"#,
                                                                                            [401, 201, 201, 201, 403, 404, 404, 404, 201, 403]),
    cell("GET", "/certificates/", "",                                                       ANY_AUTH),
    cell("GET", "/certificates/?ca_id={ca}", "",                                            ANY_AUTH),
    cell("GET", "/certificates/{cert}", "",                                                 READ_A),
    cell("GET", "/certificates/{cert}/private-key", "",                                     EXPORT_A),
    cell("POST", "/certificates/{fresh_cert}/revoke", r#"{"reason": "superseded"}"#,        [401, 200, 200, 200, 403, 403, 403, 403, 200, 403]),
    cell("POST", "/certificates/{cert}/renew", "{}",                                        [401, 201, 201, 201, 403, 403, 403, 403, 201, 403]),
    cell("GET", "/certificates/999999", "",                                                 MISSING),
    cell("POST", "/certificates/?ca_id=999999", CERT,                                       MISSING),
    // --- /export
    cell("GET", "/export/ca/{ca}/certificate", "",                                          READ_A),
    cell("GET", "/export/ca/{ca}/private-key", "",                                          EXPORT_A),
    cell("GET", "/export/certificate/{cert}", "",                                           READ_A),
    cell("GET", "/export/certificate/{cert}/private-key", "",                               EXPORT_A),
    cell("GET", "/export/certificate/{cert}/chain", "",                                     READ_A),
    cell("GET", "/export/certificate/999999", "",                                           MISSING),
    // --- /service-accounts (read by members, managed by admins and superusers only;
    //     an admin's organization_id is ignored: adm_b's account lands in B)
    cell("POST", "/service-accounts/", r#"{"name": "s{uniq}", "organization_id": {org_a}}"#,
                                                                                            [401, 201, 201, 403, 403, 201, 403, 403, 403, 403]),
    cell("GET", "/service-accounts/", "",                                                   ANY_USER),
    cell("GET", "/service-accounts/{sa}", "",                                               [401, 200, 200, 200, 200, 404, 404, 404, 403, 403]),
    cell("PATCH", "/service-accounts/{sa}", r#"{"description": "d{uniq}"}"#,                SA_MANAGE_200),
    cell("DELETE", "/service-accounts/{fresh_sa}", "",                                      SA_MANAGE_204),
    cell("GET", "/service-accounts/{sa}/tokens", "",                                        SA_MANAGE_200),
    cell("POST", "/service-accounts/{sa}/tokens", r#"{"name": "t{uniq}"}"#,                 SA_MANAGE_201),
    cell("DELETE", "/service-accounts/{fresh_sa}/tokens/{fresh_token}", "",                 SA_MANAGE_204),
    cell("GET", "/service-accounts/{sa}/policy", "",                                        SA_MANAGE_200),
    cell("PUT", "/service-accounts/{fresh_sa}/policy", POLICY,                              SA_MANAGE_200),
    cell("DELETE", "/service-accounts/{policy_sa}/policy", "",                              SA_MANAGE_204),
    cell("GET", "/service-accounts/999999", "",                                             MISSING_TO_USERS),
    // --- /acme-directories (admins of the CA's organization and superusers only;
    //     adm_b may not use A's CA, nor see A's directory: 403 as for CAs)
    cell("POST", "/acme-directories/", r#"{"name": "d{uniq}", "ca_id": {ca}, "service_account_id": {sa}}"#,
                                                                                            ADMIN_A_201),
    cell("GET", "/acme-directories/", "",                                                   [401, 200, 200, 403, 403, 200, 403, 403, 403, 403]),
    cell("GET", "/acme-directories/{acme}", "",                                             ADMIN_A_200),
    cell("PATCH", "/acme-directories/{acme}", r#"{"require_eab": true}"#,                   ADMIN_A_200),
    cell("DELETE", "/acme-directories/{fresh_acme}", "",                                    ADMIN_A_204),
    cell("POST", "/acme-directories/{acme}/eab-keys", "{}",                                 ADMIN_A_201),
    cell("GET", "/acme-directories/{acme}/eab-keys", "",                                    ADMIN_A_200),
    cell("DELETE", "/acme-directories/{acme}/eab-keys/{fresh_kid}", "",                     ADMIN_A_204),
    cell("GET", "/acme-directories/999999", "",                                             ACME_MISSING),
    // --- public routes: no token needed, a token changes nothing
    cell("GET", "/crl/{slug}", "",                                                          PUBLIC),
    cell("GET", "/crl/{slug}.pem", "",                                                      PUBLIC),
    cell("GET", "/ca/{slug}.crt", "",                                                       PUBLIC),
    cell("GET", "/ca/{slug}.pem", "",                                                       PUBLIC),
    cell("GET", "/", "",                                                                    PUBLIC),
    cell("GET", "/healthz", "",                                                             PUBLIC),
    cell("GET", "/readyz", "",                                                              PUBLIC),
    // Open without METRICS_TOKEN (tests/api/metrics.rs tests it set).
    cell("GET", "/metrics", "",                                                             PUBLIC),
];

/// The shared world of the table.
struct Fixture {
    root: String,
    org_a: i64,
    org_b: i64,
    ca: i64,
    parent: i64,
    cert: i64,
    target_a: i64,
    sa: i64,
    acme: i64,
    webhook: i64,
    slug: String,
    csr: String,
    /// A root outside FastPKI (certificate, key PEM) that signs pending CAs.
    outside: (String, String),
    /// The pending CA of the current cell: (cell number, id, its signed certificate).
    pending: std::sync::Mutex<Option<(usize, i64, String)>>,
    tokens: HashMap<Who, String>,
}

impl Fixture {
    async fn build(s: &Server) -> Fixture {
        let root = s.bootstrap().await;
        let org_a = s.create_org(&root, "org-a").await;
        let org_b = s.create_org(&root, "org-b").await;
        let all = json!({"can_create_ca": true, "can_create_cert": true, "can_revoke_cert": true,
                         "can_export_private_key": true, "can_delete_ca": true});
        let mut tokens = HashMap::from([(Who::Root, root.clone())]);
        for (who, role, org, flags) in [
            (Who::AdmA, "admin", Some(org_a), json!({})),
            (Who::UsrA, "user", Some(org_a), all.clone()),
            (Who::RoA, "user", Some(org_a), json!({})),
            (Who::AdmB, "admin", Some(org_b), json!({})),
            (Who::UsrB, "user", Some(org_b), all.clone()),
            (Who::NoOrg, "user", None, all.clone()),
        ] {
            let (_, t) = s
                .create_user(&root, who.username().unwrap(), role, org, flags)
                .await;
            tokens.insert(who, t);
        }
        let (target_a, _) = s
            .create_user(&root, "target_a", "user", Some(org_a), json!({}))
            .await;
        let adm_a = tokens[&Who::AdmA].clone();
        let ca = s.create_ca(&adm_a, "Cells CA", json!({})).await["id"]
            .as_i64()
            .unwrap();
        let parent = s.create_ca(&adm_a, "Cells Parent", json!({})).await["id"]
            .as_i64()
            .unwrap();
        let cert = s
            .issue(&adm_a, ca, "cert.example.com", "server", json!({}))
            .await["id"]
            .as_i64()
            .unwrap();
        let (csr, _) = make_csr("p256", "/CN=csr.example.com", &[]);
        let mut f = Fixture {
            root,
            org_a,
            org_b,
            ca,
            parent,
            cert,
            target_a,
            sa: 0,
            acme: 0,
            webhook: 0,
            slug: format!("cells-ca-{ca}"),
            csr,
            outside: openssl_root("/CN=Cells Outside Root"),
            pending: std::sync::Mutex::new(None),
            tokens,
        };
        f.sa = f.account(s, "target-sa", json!({})).await;
        f.acme = f.directory(s, "cells").await;
        f.webhook = f.webhook(s).await;
        for (who, name, flags) in [
            (Who::SaA, "sa-all", all.clone()),
            (Who::SaNone, "sa-none", json!({})),
        ] {
            let id = f.account(s, name, flags).await;
            let t = expect(
                s.post(
                    &format!("/service-accounts/{id}/tokens"),
                    Some(&f.root),
                    json!({"name": "cells"}),
                )
                .await,
                201,
            );
            f.tokens
                .insert(who, t["token"].as_str().unwrap().to_string());
        }
        f
    }

    /// A service account of organization A with `flags` and the permissive policy.
    async fn account(&self, s: &Server, name: &str, flags: Value) -> i64 {
        let body = merged(json!({"name": name, "organization_id": self.org_a}), flags);
        let id = expect(
            s.post("/service-accounts/", Some(&self.root), body).await,
            201,
        )["id"]
            .as_i64()
            .unwrap();
        let policy: Value =
            serde_json::from_str(&POLICY.replace("{ca}", &self.ca.to_string())).unwrap();
        expect(
            s.put(
                &format!("/service-accounts/{id}/policy"),
                Some(&self.root),
                policy,
            )
            .await,
            200,
        );
        id
    }

    /// An ACME directory of organization A on `ca`, issuing as `sa`.
    async fn directory(&self, s: &Server, name: &str) -> i64 {
        let body = json!({"name": name, "ca_id": self.ca, "service_account_id": self.sa});
        expect(
            s.post("/acme-directories/", Some(&self.root), body).await,
            201,
        )["id"]
            .as_i64()
            .unwrap()
    }

    /// A webhook of organization A.
    async fn webhook(&self, s: &Server) -> i64 {
        expect(
            s.post(
                &format!("/organizations/{}/webhooks", self.org_a),
                Some(&self.root),
                json!({"url": "https://hooks.example.com/cells"}),
            )
            .await,
            201,
        )["id"]
            .as_i64()
            .unwrap()
    }

    /// The text of `template` with its placeholders filled for this cell.
    async fn fill(&self, s: &Server, template: &str, n: usize, own_refresh: &str) -> String {
        let mut out = template.to_string();
        let has = |k: &str| template.contains(&format!("{{{k}}}"));
        let mut put = |k: &str, v: String| out = out.replace(&format!("{{{k}}}"), &v);
        let root = Some(self.root.as_str());
        put("uniq", n.to_string());
        put("org_a", self.org_a.to_string());
        put("org_b", self.org_b.to_string());
        put("ca", self.ca.to_string());
        put("parent", self.parent.to_string());
        put("cert", self.cert.to_string());
        put("target_a", self.target_a.to_string());
        put("sa", self.sa.to_string());
        put("acme", self.acme.to_string());
        put("webhook", self.webhook.to_string());
        put("slug", self.slug.clone());
        put("csr", serde_json::to_string(&self.csr).unwrap());
        put("own_refresh", own_refresh.to_string());
        if has("fresh_refresh") {
            put("fresh_refresh", s.login_pair("target_a", PASSWORD).await.1);
        }
        if has("member") {
            let (id, _) = s
                .create_user(
                    &self.root,
                    &format!("member{n}"),
                    "user",
                    Some(self.org_a),
                    json!({}),
                )
                .await;
            put("member", id.to_string());
        }
        if has("free_user") {
            let (id, _) = s
                .create_user(&self.root, &format!("free{n}"), "user", None, json!({}))
                .await;
            put("free_user", id.to_string());
        }
        if has("b_member") {
            let (id, _) = s
                .create_user(
                    &self.root,
                    &format!("bmember{n}"),
                    "user",
                    Some(self.org_b),
                    json!({}),
                )
                .await;
            put("b_member", id.to_string());
        }
        if has("fresh_org") {
            put(
                "fresh_org",
                s.create_org(&self.root, &format!("fresh-org-{n}"))
                    .await
                    .to_string(),
            );
        }
        if has("fresh_ca") {
            let id = s
                .create_ca(&self.tokens[&Who::AdmA], &format!("Fresh {n}"), json!({}))
                .await["id"]
                .as_i64()
                .unwrap();
            put("fresh_ca", id.to_string());
        }
        if has("orphan_ca") {
            let id = s
                .create_ca(&self.root, &format!("Orphan {n}"), json!({}))
                .await["id"]
                .as_i64()
                .unwrap();
            put("orphan_ca", id.to_string());
        }
        if has("fresh_cert") {
            let id = s
                .issue(
                    &self.tokens[&Who::AdmA],
                    self.ca,
                    &format!("fresh{n}.example.com"),
                    "server",
                    json!({}),
                )
                .await["id"]
                .as_i64()
                .unwrap();
            put("fresh_cert", id.to_string());
        }
        if has("fresh_sa") {
            let id = expect(
                s.post(
                    "/service-accounts/",
                    root,
                    json!({"name": format!("fresh-sa-{n}"), "organization_id": self.org_a}),
                )
                .await,
                201,
            )["id"]
                .as_i64()
                .unwrap();
            if has("fresh_token") {
                let t = expect(
                    s.post(
                        &format!("/service-accounts/{id}/tokens"),
                        root,
                        json!({"name": "t"}),
                    )
                    .await,
                    201,
                );
                put("fresh_token", t["id"].as_i64().unwrap().to_string());
            }
            put("fresh_sa", id.to_string());
        }
        if has("fresh_webhook") {
            put("fresh_webhook", self.webhook(s).await.to_string());
        }
        if has("fresh_acme") {
            let id = self.directory(s, &format!("fresh-{n}")).await;
            put("fresh_acme", id.to_string());
        }
        if has("fresh_kid") {
            let k = expect(
                s.post(
                    &format!("/acme-directories/{}/eab-keys", self.acme),
                    root,
                    json!({}),
                )
                .await,
                201,
            );
            put("fresh_kid", k["kid"].as_str().unwrap().to_string());
        }
        put(
            "outside_root",
            serde_json::to_string(&self.outside.0).unwrap(),
        );
        if has("fresh_root_cert") {
            let (cert, key) = openssl_root(&format!("/CN=Imported {n}"));
            put("fresh_root_cert", serde_json::to_string(&cert).unwrap());
            put("fresh_root_key", serde_json::to_string(&key).unwrap());
        }
        if has("fresh_pending") || has("fresh_pending_cert") {
            // The path names the pending CA, the body its certificate: one CA per cell.
            let cached = self.pending.lock().unwrap().clone().filter(|c| c.0 == n);
            let (_, pid, signed) = match cached {
                Some(c) => c,
                None => {
                    let p = expect(
                        s.post(
                            "/cas/csr",
                            Some(&self.tokens[&Who::AdmA]),
                            json!({"name": format!("Pending {n}"), "subject_dn": format!("CN=Pending {n}"),
                                   "key_algorithm": "ecdsa-p256"}),
                        )
                        .await,
                        201,
                    );
                    let signed = openssl_sign_ca(
                        p["csr"].as_str().unwrap(),
                        &self.outside.0,
                        &self.outside.1,
                    );
                    let c = (n, p["id"].as_i64().unwrap(), signed);
                    *self.pending.lock().unwrap() = Some(c.clone());
                    c
                }
            };
            put("fresh_pending", pid.to_string());
            put(
                "fresh_pending_cert",
                serde_json::to_string(&signed).unwrap(),
            );
        }
        if has("policy_sa") {
            put(
                "policy_sa",
                self.account(s, &format!("policy-sa-{n}"), json!({}))
                    .await
                    .to_string(),
            );
        }
        assert!(
            !out.contains("{fresh") && !out.contains("{member}"),
            "unfilled placeholder in {out}"
        );
        out
    }
}

#[tokio::test]
async fn every_route_for_every_caller() {
    let s = Server::start().await;
    let mut f = Fixture::build(&s).await;
    let mut wrong = Vec::new();
    let mut table = String::new();
    let mut n = 0;
    for c in CELLS {
        // The end of the body tells the rows of one route apart.
        let skip = c.body.chars().count().saturating_sub(60);
        let body: String = c.body.chars().skip(skip).collect();
        let mut line = format!("{:6} {:50} {:60}", c.method, c.path, body);
        for (who, want) in WHO.iter().zip(c.want) {
            n += 1;
            // The bearer, and the refresh token of the same session.
            let (bearer, own_refresh) = match (who, who.username()) {
                (Who::Anon, _) => (None, "no-such-token".to_string()),
                (_, Some(u)) if c.session => {
                    let (a, r) = s.login_pair(u, PASSWORD).await;
                    (Some(a), r)
                }
                _ => (Some(f.tokens[who].clone()), "no-such-token".to_string()),
            };
            let path = f.fill(&s, c.path, n, &own_refresh).await;
            let body = f.fill(&s, c.body, n, &own_refresh).await;
            let method = Method::from_bytes(c.method.as_bytes()).unwrap();
            let mut rb = s.req(method, &path, bearer.as_deref());
            if let Some(form) = body.strip_prefix("form:") {
                let pairs: Vec<(&str, &str)> = form
                    .split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .collect();
                rb = rb.form(&pairs);
            } else if !body.is_empty() {
                rb = rb
                    .header("content-type", "application/json")
                    .body(body.clone());
            }
            let r = rb.send().await.expect("request sent");
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            line.push_str(&format!(" {:>3}", status.as_u16()));
            if status.as_u16() != want {
                wrong.push(format!(
                    "{} {} as {who:?}: {status}, the contract says {want}; body {}",
                    c.method,
                    path,
                    text.chars().take(200).collect::<String>()
                ));
            }
            // An invalidation ends every token of the caller: log in again.
            if c.session
                && status.is_success()
                && let Some(u) = who.username()
            {
                f.tokens.insert(*who, s.login(u).await);
                if *who == Who::Root {
                    f.root = f.tokens[who].clone();
                }
            }
        }
        table.push_str(&line);
        table.push('\n');
    }
    println!(
        "{:118} anon root adm_a usr_a ro_a adm_b usr_b no_org sa_a sa_none\n{table}",
        ""
    );
    println!("{n} cells");
    assert!(
        wrong.is_empty(),
        "{} of {n} cells differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // The 200s of the lists above are scoped: after the table, organizations
    // A and B both have CAs, certificates, accounts and audit entries, and
    // each caller sees only its own organization's (a superuser, all).
    let own: [(Who, Option<i64>); 8] = [
        (Who::AdmA, Some(f.org_a)),
        (Who::UsrA, Some(f.org_a)),
        (Who::RoA, Some(f.org_a)),
        (Who::AdmB, Some(f.org_b)),
        (Who::UsrB, Some(f.org_b)),
        (Who::NoOrg, None),
        (Who::SaA, Some(f.org_a)),
        (Who::SaNone, Some(f.org_a)),
    ];
    let adm_b = f.tokens[&Who::AdmB].clone();
    let b_ca = s.create_ca(&adm_b, "B CA", json!({})).await["id"]
        .as_i64()
        .unwrap();
    s.issue(&adm_b, b_ca, "b.example.com", "server", json!({}))
        .await;
    let b_sa = expect(
        s.post("/service-accounts/", Some(&adm_b), json!({"name": "b-sa"}))
            .await,
        201,
    )["id"]
        .as_i64()
        .unwrap();
    expect(
        s.post(
            "/acme-directories/",
            Some(&adm_b),
            json!({"name": "b-dir", "ca_id": b_ca, "service_account_id": b_sa}),
        )
        .await,
        201,
    );
    let lists = [
        ("/cas/?limit=1000", "organization_id"),
        ("/certificates/?limit=1000", "organization_id"),
        ("/audit-logs/?limit=1000", "organization_id"),
        ("/service-accounts/?limit=1000", "organization_id"),
        ("/acme-directories/?limit=1000", "organization_id"),
        ("/organizations/?limit=1000", "id"),
    ];
    for (path, field) in lists {
        let everything = expect(s.get(path, Some(&f.root)).await, 200);
        let orgs: std::collections::HashSet<Option<i64>> = everything
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[field].as_i64())
            .collect();
        assert!(
            orgs.contains(&Some(f.org_a)) && orgs.contains(&Some(f.org_b)),
            "{path}: the superuser sees both organizations' rows"
        );
        for (who, org) in own {
            let (status, rows) = s.get(path, Some(&f.tokens[&who])).await;
            if status != reqwest::StatusCode::OK {
                continue; // 403 above, for this caller
            }
            let rows = rows.as_array().unwrap().clone();
            for r in &rows {
                assert_eq!(r[field].as_i64(), org, "{path} as {who:?} shows {r}");
            }
            match org {
                // Organization-less rows are denied to it (step 3): nothing to list.
                None => assert!(rows.is_empty(), "{path} as {who:?} shows {rows:?}"),
                Some(o) if o == f.org_a => {
                    assert!(!rows.is_empty(), "{path} as {who:?} is empty")
                }
                Some(_) => {}
            }
        }
    }
}
