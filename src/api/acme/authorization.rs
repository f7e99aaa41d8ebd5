//! Authorizations and challenges (RFC 8555 §7.5): `authz/{id}` (read,
//! deactivate) and `chall/{id}` (read, answer).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::context::{Acme, json_reply, payload_as, retry_after};
use super::jws::Payload;
use super::resources;
use crate::api::extract::BaseUrl;
use crate::service::AppState;
use crate::service::acme::{Problem, authorizations};

fn id_of(id: &str, what: &str) -> Result<i64, Problem> {
    id.parse()
        .map_err(|_| Problem::malformed(format!("no such {what}")).with_status(404))
}

#[derive(Deserialize)]
struct AuthorizationUpdate {
    status: String,
}

pub async fn authorization(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path((name, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        let acme = Acme::open(state, &base, &name, &uri).await?;
        let signed = acme.with_account(&headers, body).await?;
        let id = id_of(&id, "authorization")?;
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
        Ok::<_, Problem>(json_reply(
            StatusCode::OK,
            &resources::authorization(&acme.urls, &view),
            None,
            &[],
        ))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// POST-as-GET reads a challenge; any JSON object (`{}`) answers it.
pub async fn challenge(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path((name, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        let acme = Acme::open(state, &base, &name, &uri).await?;
        let signed = acme.with_account(&headers, body).await?;
        let id = id_of(&id, "challenge")?;
        let view = match &signed.payload {
            Payload::PostAsGet => {
                authorizations::challenge(&acme.state, &signed.account, id).await?
            }
            Payload::Json(_) => authorizations::respond(&acme.state, &signed.account, id).await?,
        };
        let up = format!("<{}>;rel=\"up\"", acme.urls.authz(view.authorization_id));
        let resp = json_reply(
            StatusCode::OK,
            &resources::challenge(&acme.urls, &view),
            None,
            &[up],
        );
        Ok::<_, Problem>(if view.status == "processing" {
            retry_after(resp, 1)
        } else {
            resp
        })
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}
