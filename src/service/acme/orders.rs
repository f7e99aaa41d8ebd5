//! ACME orders (RFC 8555 §7.4): a new order checked against the directory's
//! challenge types and its service account's issuance policy
//! (`rejectedIdentifier`), its authorizations made or reused, and its status
//! now, written back when it changed.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};

use super::authorizations::stored_problem;
use super::identifier::{self, Identifier, Refusal, Requested};
use super::problem::{Problem, ProblemType, Subproblem};
use super::{directory, status};
use crate::service::{AppState, policy};
use crate::store::{
    self, Conn, acme::accounts::AccountRow, acme::directories::DirectoryRow, acme::orders::OrderRow,
};

/// At most this many identifiers in one order.
pub const MAX_IDENTIFIERS: usize = 100;
/// How long an order may wait for its authorizations and finalization.
pub const ORDER_LIFETIME: Duration = Duration::days(7);
/// How long a new authorization may wait for a challenge answer.
pub const PENDING_AUTHORIZATION_LIFETIME: Duration = Duration::days(7);
/// How long a validated authorization may be reused by new orders.
pub const VALID_AUTHORIZATION_LIFETIME: Duration = Duration::days(30);

/// An order as its account sees it, with its status now.
pub struct OrderView {
    pub id: i64,
    pub status: String,
    pub expires_at: DateTime<Utc>,
    pub identifiers: Vec<Identifier>,
    pub not_before: Option<DateTime<Utc>>,
    pub not_after: Option<DateTime<Utc>>,
    pub error: Option<Problem>,
    pub authorization_ids: Vec<i64>,
    pub certificate_id: Option<i64>,
    pub replaces: Option<String>,
}

/// What a new-order payload asks for.
pub struct NewOrder {
    pub identifiers: Vec<Identifier>,
    pub not_before: Option<DateTime<Utc>>,
    pub not_after: Option<DateTime<Utc>>,
    pub replaces: Option<String>,
}

/// `POST /new-order`.
pub async fn create(
    state: &AppState,
    dir: &DirectoryRow,
    account: &AccountRow,
    input: NewOrder,
) -> Result<OrderView, Problem> {
    if input.not_before.is_some() || input.not_after.is_some() {
        return Err(Problem::malformed(
            "notBefore and notAfter are not supported: the validity is the directory's",
        ));
    }
    let requested = check_identifiers(state, dir, account, &input.identifiers).await?;
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let mut authorization_ids = Vec::with_capacity(requested.len());
    let mut expires_at = now + ORDER_LIFETIME;
    for (req, kinds) in &requested {
        let authz = match store::acme::authorizations::reusable(
            &mut tx,
            account.id,
            req.kind,
            &req.value,
            req.wildcard,
            now + Duration::hours(1),
        )
        .await?
        {
            Some(authz) => authz,
            None => {
                let authz = store::acme::authorizations::insert(
                    &mut tx,
                    account.id,
                    req.kind,
                    &req.value,
                    req.wildcard,
                    now + PENDING_AUTHORIZATION_LIFETIME,
                    now,
                )
                .await?;
                for kind in kinds {
                    store::acme::challenges::insert(&mut tx, authz.id, kind, &token(), now).await?;
                }
                authz
            }
        };
        expires_at = expires_at.min(authz.expires_at);
        authorization_ids.push(authz.id);
    }
    let listed: Vec<Identifier> = requested.iter().map(|(r, _)| r.as_identifier()).collect();
    let identifiers_json = serde_json::to_string(&listed).map_err(|_| Problem::internal())?;
    let order = store::acme::orders::insert(
        &mut tx,
        &store::acme::orders::NewOrder {
            account_id: account.id,
            identifiers: &identifiers_json,
            not_before: None,
            not_after: None,
            expires_at,
            replaces: input.replaces.as_deref(),
        },
        now,
    )
    .await?;
    for (position, id) in authorization_ids.iter().enumerate() {
        store::acme::orders::link(&mut tx, order.id, *id, position as i64).await?;
    }
    tx.commit().await?;
    get(state, account, order.id).await
}

/// Checks every identifier and collects every refusal, one subproblem each;
/// the answer is the identifiers made canonical (duplicates dropped) with
/// the challenge types each may use.
async fn check_identifiers(
    state: &AppState,
    dir: &DirectoryRow,
    account: &AccountRow,
    identifiers: &[Identifier],
) -> Result<Vec<(Requested, Vec<String>)>, Problem> {
    if identifiers.is_empty() {
        return Err(Problem::malformed("an order needs at least one identifier"));
    }
    if identifiers.len() > MAX_IDENTIFIERS {
        return Err(Problem::new(
            ProblemType::RejectedIdentifier,
            format!("an order has at most {MAX_IDENTIFIERS} identifiers"),
        ));
    }
    let principal = directory::issuer_principal(state, dir, account.service_account_id).await?;
    let policy = policy::policy_of(state, &principal).await.map_err(|_| {
        Problem::new(
            ProblemType::Unauthorized,
            "the service account of this directory has no issuance policy",
        )
    })?;
    let days = issuance_days(state, policy.as_ref());
    let mut accepted: Vec<(Requested, Vec<String>)> = Vec::new();
    let mut refused = Vec::new();
    for id in identifiers {
        let req = match identifier::check(id) {
            Ok(req) => req,
            Err(Refusal::Unsupported(detail)) => {
                refused.push(sub(ProblemType::UnsupportedIdentifier, detail, id));
                continue;
            }
            Err(Refusal::Rejected(detail)) => {
                refused.push(sub(ProblemType::RejectedIdentifier, detail, id));
                continue;
            }
        };
        let kinds = challenge_types(dir, &req);
        if kinds.is_empty() {
            let why = if req.wildcard {
                "a wildcard is validated by dns-01, which this directory does not offer"
            } else {
                "this directory offers no challenge type for it"
            };
            refused.push(sub(ProblemType::RejectedIdentifier, why.into(), id));
            continue;
        }
        if let Some(policy) = &policy {
            let (dns, ips) = match req.kind {
                "ip" => (
                    vec![],
                    vec![req.value.parse().map_err(|_| Problem::internal())?],
                ),
                _ => (vec![req.as_identifier().value], vec![]),
            };
            let judged = policy::Request {
                ca_id: dir.ca_id,
                certificate_type: &dir.certificate_type,
                valid_days: days,
                common_name: &req.as_identifier().value,
                dns: &dns,
                ips: &ips,
                emails: &[],
            };
            if let Err(v) = policy::evaluate(policy, &judged) {
                if matches!(v.field, "ca_id" | "certificate_type" | "valid_days") {
                    return Err(Problem::new(
                        ProblemType::Unauthorized,
                        format!(
                            "the issuance policy of this directory's service account refuses its {} ({})",
                            v.field, v.value
                        ),
                    ));
                }
                refused.push(sub(
                    ProblemType::RejectedIdentifier,
                    format!(
                        "the issuance policy of this directory does not allow {:?}",
                        id.value
                    ),
                    id,
                ));
                continue;
            }
        }
        if !accepted.iter().any(|(r, _)| *r == req) {
            accepted.push((req, kinds));
        }
    }
    match refused.len() {
        0 => Ok(accepted),
        1 => {
            let only = refused.remove(0);
            Err(Problem {
                subproblems: vec![only.clone()],
                ..Problem::new(only.kind, only.detail)
            })
        }
        n => Err(Problem::compound(
            format!("{n} identifiers of the order are refused"),
            refused,
        )),
    }
}

fn sub(kind: ProblemType, detail: String, id: &Identifier) -> Subproblem {
    Subproblem {
        kind,
        detail,
        identifier: id.clone(),
    }
}

/// The days a certificate of this directory is valid: `CERT_DAYS`, within
/// the policy's maximum.
pub fn issuance_days(state: &AppState, policy: Option<&policy::Policy>) -> i64 {
    let days = i64::from(state.settings.cert_days);
    match policy.and_then(|p| p.max_validity_days) {
        Some(max) => days.min(max),
        None => days,
    }
}

/// The directory's challenge types that can prove this identifier: dns-01
/// only for a wildcard, never dns-01 for an IP address (RFC 8738 §7).
fn challenge_types(dir: &DirectoryRow, req: &Requested) -> Vec<String> {
    dir.challenge_types
        .iter()
        .filter(|t| match (t.as_str(), req.kind, req.wildcard) {
            ("dns-01", "ip", _) => false,
            ("dns-01", _, _) => true,
            (_, _, true) => false,
            _ => true,
        })
        .cloned()
        .collect()
}

/// A challenge token: 256 random bits, base64url (RFC 8555 §8.1 asks ≥ 128).
fn token() -> String {
    let mut raw = [0u8; 32];
    let _ = SystemRandom::new().fill(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

/// The order `id` of `account` (404 / 403 otherwise), its status now.
pub async fn get(state: &AppState, account: &AccountRow, id: i64) -> Result<OrderView, Problem> {
    let mut c = state.db.read().await?;
    let row = row_for(&mut c, account, id).await?;
    let (view, changed) = view_of(&mut c, row).await?;
    drop(c);
    if let Some((from, error)) = changed {
        let mut tx = state.db.begin().await?;
        store::acme::orders::transition(
            &mut tx,
            view.id,
            &from,
            &view.status,
            error.as_deref(),
            Utc::now(),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(view)
}

pub async fn row_for(c: &mut Conn, account: &AccountRow, id: i64) -> Result<OrderRow, Problem> {
    let row = store::acme::orders::get(c, id)
        .await?
        .ok_or_else(|| Problem::malformed("no such order").with_status(404))?;
    if row.account_id != account.id {
        return Err(Problem::new(
            ProblemType::Unauthorized,
            "this order belongs to another account",
        ));
    }
    Ok(row)
}

/// The view of an order, and the change to write when its status moved
/// (the status it had, and the problem of an order that became invalid).
async fn view_of(
    c: &mut Conn,
    row: OrderRow,
) -> Result<(OrderView, Option<(String, Option<String>)>), Problem> {
    let now = Utc::now();
    let authorizations = store::acme::authorizations::of_order(c, row.id).await?;
    let authorization_ids: Vec<i64> = authorizations.iter().map(|a| a.id).collect();
    let authz_statuses: Vec<String> = authorizations
        .iter()
        .map(|a| status::authorization(&a.status, a.expires_at, now).to_owned())
        .collect();
    let authz_identifiers: Vec<String> = authorizations
        .into_iter()
        .map(|a| a.identifier_value)
        .collect();
    let statuses: Vec<&str> = authz_statuses.iter().map(String::as_str).collect();
    let (now_status, ended) = status::order(&row.status, row.expires_at, &statuses, now);
    let mut error = stored_problem(row.error.as_deref());
    let mut changed = None;
    if now_status != row.status {
        let problem = ended.map(|e| match e {
            status::Ended::Expired => {
                Problem::malformed("the order expired before it was finalized")
            }
            status::Ended::Authorization(i) => Problem::new(
                ProblemType::Unauthorized,
                format!(
                    "the authorization for {} is {}",
                    authz_identifiers[i], authz_statuses[i]
                ),
            ),
        });
        let json = problem.as_ref().and_then(|p| serde_json::to_string(p).ok());
        if problem.is_some() {
            error = problem;
        }
        changed = Some((row.status.clone(), json));
    }
    let identifiers: Vec<Identifier> = serde_json::from_str(&row.identifiers).map_err(|e| {
        tracing::error!(error = %e, order = row.id, "stored order identifiers do not decode");
        Problem::internal()
    })?;
    Ok((
        OrderView {
            id: row.id,
            status: now_status.to_owned(),
            expires_at: row.expires_at,
            identifiers,
            not_before: row.not_before,
            not_after: row.not_after,
            error,
            authorization_ids,
            certificate_id: row.certificate_id,
            replaces: row.replaces,
        },
        changed,
    ))
}

/// One page of the ids of an account's orders, newest first, before `before`.
pub async fn list(
    state: &AppState,
    account: &AccountRow,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<i64>, Problem> {
    let mut c = state.db.read().await?;
    Ok(
        store::acme::orders::ids_of_account(&mut c, account.id, before.unwrap_or(i64::MAX), limit)
            .await?,
    )
}
