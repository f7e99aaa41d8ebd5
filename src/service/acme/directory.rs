//! The directory an ACME request is addressed to, and the service account it
//! issues as.

use super::problem::{Problem, ProblemType};
use crate::auth::Principal;
use crate::service::AppState;
use crate::store;
use crate::store::acme::directories::DirectoryRow;

/// The directory named `name`; 404 when there is none.
pub async fn load(state: &AppState, name: &str) -> Result<DirectoryRow, Problem> {
    let mut c = state.db.read().await?;
    store::acme::directories::by_name(&mut c, name)
        .await?
        .ok_or_else(|| {
            Problem::malformed(format!("there is no ACME directory named {name:?}"))
                .with_status(404)
        })
}

/// The service account an account of `dir` issues as (`own`: the one its EAB
/// key named, else the directory's), as a caller of the certificate use cases.
pub async fn issuer_principal(
    state: &AppState,
    dir: &DirectoryRow,
    own: Option<i64>,
) -> Result<Principal, Problem> {
    let id = own.unwrap_or(dir.service_account_id);
    let mut c = state.db.read().await?;
    let account = store::service_accounts::get(&mut c, id)
        .await?
        .filter(|a| a.disabled_at.is_none())
        .ok_or_else(|| {
            Problem::new(
                ProblemType::Unauthorized,
                "the service account this ACME account issues as is disabled or gone",
            )
        })?;
    Ok(Principal::ServiceAccount {
        account,
        token_id: 0,
    })
}
