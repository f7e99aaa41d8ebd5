//! `GET /acme/{name}/renewal-info/{certID}` (RFC 9773): the suggested
//! renewal window of a certificate, named by its CertID
//! (`base64url(AKI keyIdentifier) "." base64url(serial)`).

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::context::{Acme, json_reply, retry_after};
use super::encoding::b64url_decode;
use super::resources::time;
use crate::service::acme::{Problem, renewal};

/// Seconds before a client should ask again (RFC 9773 §4.3: hours, not minutes).
const RETRY_AFTER_SECONDS: u64 = 6 * 3600;

/// The two parts of a CertID.
pub fn parse_cert_id(text: &str) -> Result<(Vec<u8>, Vec<u8>), Problem> {
    let bad = || Problem::malformed("a CertID is base64url(keyIdentifier).base64url(serialNumber)");
    let (aki, serial) = text.split_once('.').ok_or_else(bad)?;
    let aki = b64url_decode(aki).map_err(|_| bad())?;
    let serial = b64url_decode(serial).map_err(|_| bad())?;
    if aki.is_empty() || serial.is_empty() || serial.len() > 21 {
        return Err(bad());
    }
    Ok((aki, serial))
}

pub async fn renewal_info(
    Path((_, cert_id)): Path<(String, String)>,
    acme: Acme,
) -> Result<Response, Problem> {
    let (aki, serial) = parse_cert_id(&cert_id)?;
    let id = renewal::CertId {
        key_identifier: &aki,
        serial: &serial,
    };
    let (start, end) = renewal::window(&acme.state, &acme.dir, &id).await?;
    let body = json!({"suggestedWindow": {"start": time(start), "end": time(end)}});
    Ok(retry_after(
        json_reply(StatusCode::OK, &body, None, &[]),
        RETRY_AFTER_SECONDS,
    ))
}
