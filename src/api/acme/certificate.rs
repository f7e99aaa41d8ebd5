//! Certificates (RFC 8555 §7.4.2, §7.6): `cert/{id}` (the PEM chain) and
//! `revoke-cert` (by the ordering account or by the certificate's key).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::context::{Acme, EitherSigned, payload_as};
use super::encoding::b64url_decode;
use crate::api::extract::BaseUrl;
use crate::service::AppState;
use crate::service::acme::Problem;
use crate::service::acme::certificates::{self, Revoker};

pub async fn certificate(
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
        if signed.json().is_some() {
            return Err(Problem::malformed(
                "a certificate is read with POST-as-GET (an empty payload)",
            ));
        }
        let id: i64 = id
            .parse()
            .map_err(|_| Problem::malformed("no such certificate").with_status(404))?;
        let pem = certificates::chain(&acme.state, &signed.account, id).await?;
        let mut resp = (StatusCode::OK, pem).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/pem-certificate-chain"),
        );
        Ok::<_, Problem>(resp)
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

#[derive(Deserialize)]
struct RevokePayload {
    certificate: String,
    #[serde(default)]
    reason: Option<i64>,
}

pub async fn revoke_cert(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        let acme = Acme::open(state, &base, &name, &uri).await?;
        let signed = acme.with_either(&headers, body).await?;
        let payload = match &signed {
            EitherSigned::Key(_, jws) => &jws.payload,
            EitherSigned::Account(s) => &s.payload,
        };
        let input: RevokePayload = payload_as(payload)?;
        let der = b64url_decode(&input.certificate)
            .map_err(|e| Problem::malformed(format!("\"certificate\": {e}")))?;
        match &signed {
            EitherSigned::Account(s) => {
                certificates::revoke(
                    &acme.state,
                    &acme.dir,
                    Revoker::Account(&s.account),
                    &der,
                    input.reason,
                )
                .await?
            }
            EitherSigned::Key(key, _) => {
                let is_key = |spki: &[u8]| key.is_key_of(spki);
                certificates::revoke(
                    &acme.state,
                    &acme.dir,
                    Revoker::CertificateKey(&is_key),
                    &der,
                    input.reason,
                )
                .await?
            }
        }
        Ok::<_, Problem>(StatusCode::OK.into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}
