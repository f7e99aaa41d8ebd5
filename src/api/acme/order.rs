//! Orders (RFC 8555 §7.4): `new-order`, `order/{id}`, `order/{id}/finalize`
//! and an account's `orders` list.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::context::{Acme, ByAccount, json_reply, payload_as, resource_id, retry_after};
use super::encoding::b64url_decode;
use super::renewal_info::parse_cert_id;
use super::resources;
use crate::api::extract::BaseUrl;
use crate::service::acme::orders::{self, NewOrder, OrderView};
use crate::service::acme::{Identifier, Problem, ProblemType, finalize, renewal};

/// Orders listed per page of `orders`.
const ORDERS_PAGE: i64 = 50;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewOrderPayload {
    identifiers: Vec<Identifier>,
    #[serde(default)]
    not_before: Option<DateTime<Utc>>,
    #[serde(default)]
    not_after: Option<DateTime<Utc>>,
    #[serde(default)]
    replaces: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    profile: Option<String>,
}

fn reply(acme: &Acme, status: StatusCode, order: &OrderView) -> Response {
    let resp = json_reply(
        status,
        &resources::order(&acme.urls, order),
        Some(acme.urls.order(order.id)),
        &[],
    );
    if order.status == "processing" {
        retry_after(resp, 1)
    } else {
        resp
    }
}

pub async fn new_order(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ByAccount(acme, signed): ByAccount,
) -> Result<Response, Problem> {
    let input: NewOrderPayload = payload_as(&signed.payload)?;
    acme.state
        .acme
        .limits
        .new_order(peer.ip(), signed.account.id)?;
    if let Some(replaces) = &input.replaces {
        let (aki, serial) = parse_cert_id(replaces)?;
        let id = renewal::CertId {
            key_identifier: &aki,
            serial: &serial,
        };
        renewal::check_replaces(&acme.state, &acme.dir, &signed.account, &id).await?;
    }
    let order = orders::create(
        &acme.state,
        &acme.dir,
        &signed.account,
        NewOrder {
            identifiers: input.identifiers,
            not_before: input.not_before,
            not_after: input.not_after,
            replaces: input.replaces,
        },
    )
    .await?;
    Ok(reply(&acme, StatusCode::CREATED, &order))
}

pub async fn order(
    Path((_, id)): Path<(String, String)>,
    ByAccount(acme, signed): ByAccount,
) -> Result<Response, Problem> {
    if signed.json().is_some() {
        return Err(Problem::malformed(
            "an order is read with POST-as-GET (an empty payload)",
        ));
    }
    let order = orders::get(&acme.state, &signed.account, resource_id(&id, "order")?).await?;
    Ok(reply(&acme, StatusCode::OK, &order))
}

#[derive(Deserialize)]
struct FinalizePayload {
    csr: String,
}

pub async fn finalize(
    BaseUrl(base): BaseUrl,
    Path((_, id)): Path<(String, String)>,
    ByAccount(acme, signed): ByAccount,
) -> Result<Response, Problem> {
    let input: FinalizePayload = payload_as(&signed.payload)?;
    let der = b64url_decode(&input.csr)
        .map_err(|e| Problem::new(ProblemType::BadCsr, format!("\"csr\": {e}")))?;
    let key = signed.key.clone();
    let order = finalize::finalize(
        &acme.state,
        &acme.dir,
        &signed.account,
        resource_id(&id, "order")?,
        der,
        move |spki| key.is_key_of(spki),
        &base,
    )
    .await?;
    Ok(reply(&acme, StatusCode::OK, &order))
}

#[derive(Deserialize)]
pub struct Cursor {
    #[serde(default)]
    before: Option<i64>,
}

/// `POST /account/{id}/orders` (RFC 8555 §7.1.2.1), newest first, with a
/// `Link: rel="next"` to the next page.
pub async fn orders(
    Path((_, id)): Path<(String, String)>,
    Query(cursor): Query<Cursor>,
    ByAccount(acme, signed): ByAccount,
) -> Result<Response, Problem> {
    if id.parse::<i64>().ok() != Some(signed.account.id) {
        return Err(Problem::new(
            ProblemType::Unauthorized,
            "an account can only list its own orders",
        ));
    }
    let ids = orders::list(&acme.state, &signed.account, cursor.before, ORDERS_PAGE).await?;
    let urls: Vec<String> = ids.iter().map(|id| acme.urls.order(*id)).collect();
    let mut links = vec![];
    if ids.len() as i64 == ORDERS_PAGE
        && let Some(last) = ids.last()
    {
        links.push(format!(
            "<{}?before={last}>;rel=\"next\"",
            acme.urls.orders(signed.account.id)
        ));
    }
    Ok(json_reply(
        StatusCode::OK,
        &json!({ "orders": urls }),
        None,
        &links,
    ))
}
