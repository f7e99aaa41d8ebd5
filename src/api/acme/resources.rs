//! ACME resources as JSON (RFC 8555 §7.1): directory, account, order,
//! authorization and challenge objects, with their URLs.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::context::Urls;
use crate::service::acme::authorizations::{AuthorizationView, ChallengeView};
use crate::service::acme::orders::OrderView;
use crate::service::acme::{AccountRow, DirectoryRow};

/// RFC 3339 with seconds, `Z` (the form RFC 8555 examples use).
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn directory(urls: &Urls, dir: &DirectoryRow) -> Value {
    json!({
        "newNonce": urls.resource("new-nonce"),
        "newAccount": urls.resource("new-account"),
        "newOrder": urls.resource("new-order"),
        "revokeCert": urls.resource("revoke-cert"),
        "keyChange": urls.resource("key-change"),
        "renewalInfo": urls.resource("renewal-info"),
        "meta": {
            "externalAccountRequired": dir.require_eab,
        },
    })
}

pub fn account(urls: &Urls, a: &AccountRow) -> Value {
    json!({
        "status": a.status,
        "contact": a.contact,
        "orders": urls.orders(a.id),
    })
}

pub fn order(urls: &Urls, o: &OrderView) -> Value {
    let mut v = Map::new();
    v.insert("status".into(), o.status.clone().into());
    v.insert("expires".into(), time(o.expires_at).into());
    v.insert("identifiers".into(), json!(o.identifiers));
    if let Some(t) = o.not_before {
        v.insert("notBefore".into(), time(t).into());
    }
    if let Some(t) = o.not_after {
        v.insert("notAfter".into(), time(t).into());
    }
    if let Some(e) = &o.error {
        v.insert("error".into(), json!(e));
    }
    v.insert(
        "authorizations".into(),
        o.authorization_ids
            .iter()
            .map(|id| urls.authz(*id))
            .collect(),
    );
    v.insert("finalize".into(), urls.finalize(o.id).into());
    if let (Some(id), "valid") = (o.certificate_id, o.status.as_str()) {
        v.insert("certificate".into(), urls.certificate(id).into());
    }
    if let Some(r) = &o.replaces {
        v.insert("replaces".into(), r.clone().into());
    }
    Value::Object(v)
}

pub fn authorization(urls: &Urls, a: &AuthorizationView) -> Value {
    let mut v = Map::new();
    v.insert("identifier".into(), json!(a.identifier));
    v.insert("status".into(), a.status.clone().into());
    v.insert("expires".into(), time(a.expires_at).into());
    v.insert(
        "challenges".into(),
        a.challenges.iter().map(|c| challenge(urls, c)).collect(),
    );
    if a.wildcard {
        v.insert("wildcard".into(), true.into());
    }
    Value::Object(v)
}

pub fn challenge(urls: &Urls, c: &ChallengeView) -> Value {
    let mut v = Map::new();
    v.insert("type".into(), c.kind.clone().into());
    v.insert("url".into(), urls.challenge(c.id).into());
    v.insert("status".into(), c.status.clone().into());
    v.insert("token".into(), c.token.clone().into());
    if let Some(t) = c.validated_at {
        v.insert("validated".into(), time(t).into());
    }
    if let Some(e) = &c.error {
        v.insert("error".into(), json!(e));
    }
    Value::Object(v)
}
