//! Accounts (RFC 8555 §7.3): `new-account` (with `onlyReturnExisting` and
//! external account binding), `account/{id}` (read, update contacts,
//! deactivate) and `key-change`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::context::{Acme, ByAccount, ByKey, json_reply, payload_as};
use super::eab::ExternalAccountBinding;
use super::jws::Payload;
use super::key_change::verify_key_change;
use super::resources;
use crate::service::acme::accounts::{self, AccountKey, KeyInUse};
use crate::service::acme::{Problem, ProblemType};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewAccount {
    #[serde(default)]
    contact: Option<Vec<String>>,
    #[serde(default)]
    #[allow(dead_code)]
    terms_of_service_agreed: Option<bool>,
    #[serde(default)]
    only_return_existing: Option<bool>,
    #[serde(default)]
    external_account_binding: Option<Value>,
}

pub async fn new_account(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ByKey(acme, key, jws): ByKey,
) -> Result<Response, Problem> {
    let input: NewAccount = payload_as(&jws.payload)?;
    let existing = accounts::by_key(&acme.state, &acme.dir, key.thumbprint()).await?;
    if let Some(account) = existing {
        return Ok(reply(&acme, StatusCode::OK, &account));
    }
    if input.only_return_existing == Some(true) {
        return Err(Problem::new(
            ProblemType::AccountDoesNotExist,
            "no account has this key",
        ));
    }
    acme.state.acme.limits.new_account(peer.ip())?;
    let binding = match &input.external_account_binding {
        None => None,
        Some(value) => {
            let eab = ExternalAccountBinding::parse(value)?;
            let (binding, hmac_key) = accounts::eab_key(&acme.state, &acme.dir, eab.kid()).await?;
            eab.verify(&hmac_key, &acme.url, &key)?;
            Some(binding)
        }
    };
    let jwk = key.canonical_json();
    let (account, created) = accounts::register(
        &acme.state,
        &acme.dir,
        AccountKey {
            thumbprint: key.thumbprint(),
            jwk: &jwk,
        },
        input.contact.as_deref().unwrap_or_default(),
        binding,
    )
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(reply(&acme, status, &account))
}

fn reply(acme: &Acme, status: StatusCode, account: &crate::service::acme::AccountRow) -> Response {
    json_reply(
        status,
        &resources::account(&acme.urls, account),
        Some(acme.urls.account(account.id)),
        &[],
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountUpdate {
    #[serde(default)]
    contact: Option<Vec<String>>,
    #[serde(default)]
    status: Option<String>,
}

pub async fn account(
    Path((_, id)): Path<(String, String)>,
    ByAccount(acme, signed): ByAccount,
) -> Result<Response, Problem> {
    if id.parse::<i64>().ok() != Some(signed.account.id) {
        return Err(Problem::new(
            ProblemType::Unauthorized,
            "an account can only read and change itself",
        ));
    }
    let account = match &signed.payload {
        Payload::PostAsGet => signed.account.clone(),
        payload => {
            let update: AccountUpdate = payload_as(payload)?;
            let deactivate = match update.status.as_deref() {
                None => false,
                Some("deactivated") => true,
                Some(other) => {
                    return Err(Problem::malformed(format!(
                        "an account's status can only be set to \"deactivated\", not {other:?}"
                    )));
                }
            };
            accounts::update(
                &acme.state,
                &acme.dir,
                &signed.account,
                update.contact.as_deref(),
                deactivate,
            )
            .await?
        }
    };
    Ok(reply(&acme, StatusCode::OK, &account))
}

pub async fn key_change(ByAccount(acme, signed): ByAccount) -> Result<Response, Problem> {
    let account_url = acme.urls.account(signed.account.id);
    let new_key = verify_key_change(&signed.payload, &signed.url, &account_url, &signed.key)?;
    let jwk = new_key.canonical_json();
    let key = AccountKey {
        thumbprint: new_key.thumbprint(),
        jwk: &jwk,
    };
    match accounts::change_key(&acme.state, &acme.dir, &signed.account, key).await {
        Ok(()) => {
            let account = accounts::by_id(&acme.state, &acme.dir, signed.account.id).await?;
            Ok(reply(&acme, StatusCode::OK, &account))
        }
        Err(KeyInUse::By(other)) => {
            let problem = Problem::malformed("the new key is already the key of another account")
                .with_status(409);
            let mut resp = problem.into_response();
            if let Ok(v) = axum::http::HeaderValue::from_str(&acme.urls.account(other)) {
                resp.headers_mut().insert(axum::http::header::LOCATION, v);
            }
            Ok(resp)
        }
        Err(KeyInUse::Problem(p)) => Err(p),
    }
}
