//! Authorizations and challenges (RFC 8555 §7.5): `authz/{id}` (read,
//! deactivate) and `chall/{id}` (read, answer).

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::context::{ByAccount, json_reply, payload_as, resource_id, retry_after};
use super::jws::Payload;
use super::resources;
use crate::service::acme::{Problem, authorizations};

#[derive(Deserialize)]
struct AuthorizationUpdate {
    status: String,
}

pub async fn authorization(
    Path((_, id)): Path<(String, String)>,
    ByAccount(acme, signed): ByAccount,
) -> Result<Response, Problem> {
    let id = resource_id(&id, "authorization")?;
    let view = match &signed.payload {
        Payload::PostAsGet => authorizations::get(&acme.state, &signed.account, id).await?,
        payload => {
            let update: AuthorizationUpdate = payload_as(payload)?;
            if update.status != "deactivated" {
                return Err(Problem::malformed(
                    "an authorization's status can only be set to \"deactivated\"",
                ));
            }
            authorizations::deactivate(&acme.state, &signed.account, id).await?
        }
    };
    Ok(json_reply(
        StatusCode::OK,
        &resources::authorization(&acme.urls, &view),
        None,
        &[],
    ))
}

/// POST-as-GET reads a challenge; any JSON object (`{}`) answers it.
pub async fn challenge(
    Path((_, id)): Path<(String, String)>,
    ByAccount(acme, signed): ByAccount,
) -> Result<Response, Problem> {
    let id = resource_id(&id, "challenge")?;
    let view = match &signed.payload {
        Payload::PostAsGet => authorizations::challenge(&acme.state, &signed.account, id).await?,
        Payload::Json(_) => authorizations::respond(&acme.state, &signed.account, id).await?,
    };
    let up = format!("<{}>;rel=\"up\"", acme.urls.authz(view.authorization_id));
    let resp = json_reply(
        StatusCode::OK,
        &resources::challenge(&acme.urls, &view),
        None,
        &[up],
    );
    Ok(if view.status == "processing" {
        retry_after(resp, 1)
    } else {
        resp
    })
}
