//! Certificates (RFC 8555 §7.4.2, §7.6): `cert/{id}` (the PEM chain) and
//! `revoke-cert` (by the ordering account or by the certificate's key).

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::context::{ByAccount, ByEither, EitherSigned, payload_as, resource_id};
use super::encoding::b64url_decode;
use crate::service::acme::Problem;
use crate::service::acme::certificates::{self, Revoker};

pub async fn certificate(
    Path((_, id)): Path<(String, String)>,
    ByAccount(acme, signed): ByAccount,
) -> Result<Response, Problem> {
    if signed.json().is_some() {
        return Err(Problem::malformed(
            "a certificate is read with POST-as-GET (an empty payload)",
        ));
    }
    let id = resource_id(&id, "certificate")?;
    let pem = certificates::chain(&acme.state, &signed.account, id).await?;
    let mut resp = (StatusCode::OK, pem).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pem-certificate-chain"),
    );
    Ok(resp)
}

#[derive(Deserialize)]
struct RevokePayload {
    certificate: String,
    #[serde(default)]
    reason: Option<i64>,
}

pub async fn revoke_cert(ByEither(acme, signed): ByEither) -> Result<Response, Problem> {
    let payload = match &signed {
        EitherSigned::Key(_, jws) => &jws.payload,
        EitherSigned::Account(s) => &s.payload,
    };
    let input: RevokePayload = payload_as(payload)?;
    let der = b64url_decode(&input.certificate)
        .map_err(|e| Problem::malformed(format!("\"certificate\": {e}")))?;
    let (state, dir) = (&acme.state, &acme.dir);
    match &signed {
        EitherSigned::Account(s) => {
            let who = Revoker::Account(&s.account);
            certificates::revoke(state, dir, who, &der, input.reason).await?
        }
        EitherSigned::Key(key, _) => {
            let is_key = |spki: &[u8]| key.is_key_of(spki);
            let who = Revoker::CertificateKey(&is_key);
            certificates::revoke(state, dir, who, &der, input.reason).await?
        }
    }
    Ok(StatusCode::OK.into_response())
}
