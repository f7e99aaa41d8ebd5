//! ACME authorizations and their challenges (RFC 8555 §7.1.4, §7.5): what
//! an account sees of them, deactivation, and answering a challenge.

use chrono::{DateTime, Utc};

use super::identifier::Identifier;
use super::problem::{Problem, ProblemType};
use super::status;
use crate::service::AppState;
use crate::store::{
    self, Conn, acme::accounts::AccountRow, acme::authorizations::AuthorizationRow,
    acme::challenges::ChallengeRow,
};

/// A challenge as its account sees it.
pub struct ChallengeView {
    pub id: i64,
    pub authorization_id: i64,
    pub kind: String,
    pub token: String,
    pub status: String,
    pub validated_at: Option<DateTime<Utc>>,
    pub error: Option<Problem>,
}

impl ChallengeView {
    fn from_row(row: ChallengeRow) -> Self {
        ChallengeView {
            id: row.id,
            authorization_id: row.authorization_id,
            error: stored_problem(row.error.as_deref()),
            kind: row.kind,
            token: row.token,
            status: row.status,
            validated_at: row.validated_at,
        }
    }
}

/// An authorization as its account sees it, with its status now.
pub struct AuthorizationView {
    pub id: i64,
    pub identifier: Identifier,
    pub wildcard: bool,
    pub status: String,
    pub expires_at: DateTime<Utc>,
    pub challenges: Vec<ChallengeView>,
}

/// A problem stored as JSON; one that no longer reads is logged and shown
/// as `serverInternal` rather than dropped.
pub fn stored_problem(json: Option<&str>) -> Option<Problem> {
    json.map(|text| {
        serde_json::from_str(text).unwrap_or_else(|e| {
            tracing::error!(error = %e, "a stored ACME problem does not decode");
            Problem::internal()
        })
    })
}

/// The authorization `id` of `account` (404 when it is not there, 403 when
/// it is another account's).
pub async fn row_for(
    c: &mut Conn,
    account: &AccountRow,
    id: i64,
) -> Result<AuthorizationRow, Problem> {
    let row = store::acme::authorizations::get(c, id)
        .await?
        .ok_or_else(|| Problem::malformed("no such authorization").with_status(404))?;
    if row.account_id != account.id {
        return Err(Problem::new(
            ProblemType::Unauthorized,
            "this authorization belongs to another account",
        ));
    }
    Ok(row)
}

/// The view of an authorization row, its challenges read.
pub async fn view_of(c: &mut Conn, row: AuthorizationRow) -> Result<AuthorizationView, Problem> {
    let challenges = store::acme::challenges::of_authorization(c, row.id).await?;
    let status = status::authorization(&row.status, row.expires_at, Utc::now()).to_owned();
    Ok(AuthorizationView {
        id: row.id,
        identifier: Identifier {
            kind: row.identifier_type,
            value: row.identifier_value,
        },
        wildcard: row.wildcard,
        status,
        expires_at: row.expires_at,
        challenges: challenges
            .into_iter()
            .map(ChallengeView::from_row)
            .collect(),
    })
}

/// `POST /authz/{id}` as POST-as-GET.
pub async fn get(
    state: &AppState,
    account: &AccountRow,
    id: i64,
) -> Result<AuthorizationView, Problem> {
    let mut c = state.db.read().await?;
    let row = row_for(&mut c, account, id).await?;
    view_of(&mut c, row).await
}

/// `POST /authz/{id}` with `{"status": "deactivated"}` (RFC 8555 §7.5.2):
/// a pending or valid authorization becomes deactivated.
pub async fn deactivate(
    state: &AppState,
    account: &AccountRow,
    id: i64,
) -> Result<AuthorizationView, Problem> {
    let row = {
        let mut c = state.db.read().await?;
        row_for(&mut c, account, id).await?
    };
    let now = Utc::now();
    let current = status::authorization(&row.status, row.expires_at, now);
    if !matches!(current, "pending" | "valid") {
        return Err(Problem::malformed(format!(
            "an authorization that is {current} cannot be deactivated"
        )));
    }
    let mut tx = state.db.begin().await?;
    let moved =
        store::acme::authorizations::transition(&mut tx, id, &row.status, "deactivated", None, now)
            .await?;
    tx.commit().await?;
    if !moved {
        return Err(Problem::malformed(
            "the authorization changed meanwhile: fetch it again",
        ));
    }
    get(state, account, id).await
}

/// The challenge `id` of `account`, with its authorization.
async fn challenge_for(
    c: &mut Conn,
    account: &AccountRow,
    id: i64,
) -> Result<(ChallengeRow, AuthorizationRow), Problem> {
    let challenge = store::acme::challenges::get(c, id)
        .await?
        .ok_or_else(|| Problem::malformed("no such challenge").with_status(404))?;
    let authz = row_for(c, account, challenge.authorization_id).await?;
    Ok((challenge, authz))
}

/// `POST /chall/{id}` as POST-as-GET.
pub async fn challenge(
    state: &AppState,
    account: &AccountRow,
    id: i64,
) -> Result<ChallengeView, Problem> {
    let mut c = state.db.read().await?;
    let (challenge, _) = challenge_for(&mut c, account, id).await?;
    Ok(ChallengeView::from_row(challenge))
}

/// `POST /chall/{id}` with `{}` (RFC 8555 §7.5.1): the client is ready; a
/// pending challenge of a pending authorization starts processing and the
/// validation worker is woken. Anything else is answered as it is.
pub async fn respond(
    state: &AppState,
    account: &AccountRow,
    id: i64,
) -> Result<ChallengeView, Problem> {
    let (row, authz) = {
        let mut c = state.db.read().await?;
        challenge_for(&mut c, account, id).await?
    };
    if row.status == "pending" {
        let now = Utc::now();
        let authz_status = status::authorization(&authz.status, authz.expires_at, now);
        if authz_status != "pending" {
            return Err(Problem::malformed(format!(
                "the authorization is {authz_status}: its challenges cannot be answered"
            )));
        }
        let mut tx = state.db.begin().await?;
        let started = store::acme::challenges::start(&mut tx, id, now).await?;
        tx.commit().await?;
        if started {
            state.acme.wake.notify_one();
        }
    }
    challenge(state, account, id).await
}
