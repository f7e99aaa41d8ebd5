//! The API's request bodies on hostile input, through the server's own extractors
//! (`fastpki::api::extract::{Json, JsonOrDefault, Form}`, serde_path_to_error and the
//! FastAPI-style 422 rendering), then through the checks each use case runs before it
//! touches the database, ending in a real `pki::issue` from a fixed CA for certificate
//! requests. Issuance policies go through `policy::validate` and, when valid, are
//! evaluated against the request in the same input (a `Policy` accepts any object, so
//! one input is often both).
//!
//! Properties: no panic; every refusal is a 4xx whose body is `{"detail": ...}` JSON
//! (422 details are FastAPI `{loc, msg, type}` lists starting at `body`); what the checks
//! accept, `pki::issue` signs or refuses with a 4xx, never a 500.

use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use chrono::Duration;
use fastpki::api::auth::{LoginForm, RefreshBody};
use fastpki::api::extract::{Form, Json, JsonOrDefault};
use fastpki::auth::Role;
use fastpki::error::Error;
use fastpki::service::cas::{CaCreate, CaUpdate};
use fastpki::service::certs::{
    CertCreate, CertType, Renew, RequestedNames, SignCsr, add_subject_emails, effective_sans,
    effective_subject, merge_csr,
};
use fastpki::service::orgs::{OrgCreate, OrgUpdate};
use fastpki::service::policy::{self, Policy};
use fastpki::service::request_fields::{check_days, key_algorithm};
use fastpki::service::revocation::Revoke;
use fastpki::service::service_accounts::{AccountCreate, AccountUpdate, TokenCreate};
use fastpki::service::users::{UserCreate, UserUpdate, valid_email};
use serde::de::DeserializeOwned;
use serde_json::Value;

const CA_CERT_PEM: &str = include_str!("../fixtures/ca-ed25519.cert.pem");
const CA_KEY_PEM: &str = include_str!("../fixtures/ca-ed25519.key.pem");
/// The server's defaults (`CERT_KEY_SIZE`, `CERT_DAYS`, `CA_KEY_SIZE`, `CA_CERT_DAYS`).
const DEFAULT_RSA_BITS: u32 = 2048;
const DEFAULT_CERT_DAYS: i64 = 365;
const DEFAULT_CA_DAYS: i64 = 3650;

fn issuer() -> &'static pki::Issuer {
    static ISSUER: OnceLock<pki::Issuer> = OnceLock::new();
    ISSUER.get_or_init(|| {
        let key = pki::PrivateKey::from_pem(CA_KEY_PEM).expect("fixture CA key");
        pki::Issuer::new(CA_CERT_PEM, key).expect("fixture CA")
    })
}

/// Polls a future that cannot wait (the body is already in memory) to completion.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("an in-memory request body did not complete at once"),
    }
}

fn request(data: &[u8], content_type: &str) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri("/")
        .header("content-type", content_type)
        .body(Body::from(data.to_vec()))
        .expect("request")
}

/// A refusal must be a 4xx with a `{"detail": ...}` JSON body, as the server renders it.
fn refused(e: Error) {
    let status = fastpki::api::errors::status(&e);
    assert!(status.is_client_error(), "refused with {status}: {e:?}");
    let response = e.into_response();
    assert_eq!(response.status(), status);
    let body =
        block_on(axum::body::to_bytes(response.into_body(), usize::MAX)).expect("error body");
    let v: Value = serde_json::from_slice(&body).expect("error body is JSON");
    let detail = v.get("detail").expect("error body has a detail");
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        let list = detail.as_array().expect("422 detail is a list");
        assert!(!list.is_empty());
        for item in list {
            let loc = item["loc"].as_array().expect("loc is a list");
            assert_eq!(loc.first(), Some(&Value::from("body")), "{item}");
            assert!(item["msg"].is_string() && item["type"].is_string());
        }
    }
}

/// `Ok` passes through; an error must be a proper refusal.
fn checked<T>(r: fastpki::error::Result<T>) -> Option<T> {
    r.map_err(refused).ok()
}

fn json<T: DeserializeOwned>(data: &[u8]) -> Option<T> {
    let r = block_on(<Json<T> as FromRequest<()>>::from_request(
        request(data, "application/json"),
        &(),
    ));
    checked(r).map(|Json(v)| v)
}

fn json_or_default<T: DeserializeOwned + Default>(data: &[u8]) -> Option<T> {
    let r = block_on(<JsonOrDefault<T> as FromRequest<()>>::from_request(
        request(data, "application/json"),
        &(),
    ));
    checked(r).map(|JsonOrDefault(v)| v)
}

fn form<T: DeserializeOwned>(data: &[u8]) -> Option<T> {
    let r = block_on(<Form<T> as FromRequest<()>>::from_request(
        request(data, "application/x-www-form-urlencoded"),
        &(),
    ));
    checked(r).map(|Form(v)| v)
}

fn profile(t: CertType) -> pki::Profile {
    match t {
        CertType::Server => pki::Profile::Server,
        CertType::Client => pki::Profile::Client,
        CertType::DualPurpose => pki::Profile::DualPurpose,
        CertType::Ca => pki::Profile::LeafCa,
    }
}

/// What `service::certs::issue` does once the request is resolved, minus the database:
/// policy, canonical subject, validity, signing. The result is read back.
fn issue(
    cert_type: CertType,
    common_name: &str,
    subject: &pki::DistinguishedName,
    sans: &pki::Sans,
    days: i64,
    public_key_der: &[u8],
    policy: Option<&Policy>,
) {
    // The subject as stored (`subject_dn`) must read back as the same name.
    if !subject.is_empty() {
        let shown = subject.to_string();
        assert_eq!(pki::parse_dn(&shown).as_ref(), Ok(subject), "{shown:?}");
    }
    assert_eq!(sans.normalized().as_ref(), Ok(sans));
    if let Some(p) = policy {
        let cns = subject
            .attributes()
            .iter()
            .filter(|a| a.key() == "CN")
            .map(|a| a.value());
        for cn in std::iter::once(common_name).chain(cns) {
            let _ = policy::evaluate(
                p,
                &policy::Request {
                    ca_id: 1,
                    certificate_type: cert_type.as_str(),
                    valid_days: days,
                    common_name: cn,
                    dns: &sans.dns,
                    ips: &sans.ips,
                    emails: &sans.emails,
                },
            );
        }
    }
    let ca = issuer();
    let now = ca.not_before() + Duration::days(1);
    let Some((not_before, not_after)) =
        checked(pki::validity(now, days, Some(ca.not_after())).map_err(Error::from))
    else {
        return;
    };
    let subject = subject.canonical();
    let serial = pki::random_serial();
    let result = pki::issue(
        &pki::CertRequest {
            subject: &subject,
            public_key_der,
            profile: profile(cert_type),
            sans,
            serial: &serial,
            not_before,
            not_after,
            crl_url: Some("http://localhost:8000/crl/fuzz-root-1.crl"),
            ca_issuers_url: Some("http://localhost:8000/ca/fuzz-root-1.crt"),
        },
        pki::Signer::Issuer(ca),
    );
    if let Some(cert) = checked(result.map_err(Error::from)) {
        let info = pki::inspect_cert(&cert.der).expect("an issued certificate inspects");
        assert_eq!(info.sans, *sans);
        assert_eq!(info.issuer, ca.subject());
    }
}

/// `POST /certificates/?ca_id=`: `service::certs::create` up to the database.
fn cert_create(input: CertCreate, policy: Option<&Policy>) {
    if input.common_name.trim().is_empty() || input.common_name.chars().count() > 64 {
        return; // a 422 in the service
    }
    let Some(_alg) = checked(key_algorithm(
        input.key_algorithm.as_deref(),
        input.key_size,
        DEFAULT_RSA_BITS,
    )) else {
        return;
    };
    let Some(days) = checked(check_days(input.valid_days.unwrap_or(DEFAULT_CERT_DAYS))) else {
        return;
    };
    let Some(subject) = checked(effective_subject(
        input.subject_dn.as_deref(),
        &input.common_name,
    )) else {
        return;
    };
    let mut names = RequestedNames {
        dns: input.san_dns_names.unwrap_or_default(),
        ips: input.san_ip_addresses.unwrap_or_default(),
        emails: input.san_email_addresses.unwrap_or_default(),
    };
    if checked(add_subject_emails(
        input.certificate_type,
        &subject,
        &mut names,
    ))
    .is_none()
    {
        return;
    }
    let Some(sans) = checked(effective_sans(
        input.certificate_type,
        Some(&input.common_name),
        names,
    )) else {
        return;
    };
    // The server makes the key; a fixed one keeps this fast (the algorithm only changes
    // the KeyUsage bits).
    let key = issuer().key().public_key_der();
    issue(
        input.certificate_type,
        input.common_name.trim(),
        &subject,
        &sans,
        days,
        &key,
        policy,
    );
}

/// `POST /certificates/sign-csr`: `service::certs::sign_csr` up to the database.
fn sign_csr(input: SignCsr, policy: Option<&Policy>) {
    let cert_type = input.certificate_type.unwrap_or(CertType::Server);
    if cert_type == CertType::Ca {
        return; // a 400 in the service
    }
    let Some(days) = checked(check_days(input.valid_days.unwrap_or(DEFAULT_CERT_DAYS))) else {
        return;
    };
    let Some(csr) = checked(pki::parse_csr(&input.csr).map_err(Error::from)) else {
        return;
    };
    // The production merge of the CSR with the request's overrides.
    let Some(merged) = checked(merge_csr(cert_type, input, csr)) else {
        return;
    };
    assert!(!merged.common_name.trim().is_empty());
    issue(
        cert_type,
        &merged.common_name,
        &merged.subject,
        &merged.sans,
        days,
        &merged.public_key_der,
        policy,
    );
}

/// `POST /cas/`: the checks of `service::cas::create` before the database.
fn ca_create(input: CaCreate) {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return;
    }
    let Some(subject) = checked(pki::parse_dn(&input.subject_dn).map_err(Error::from)) else {
        return;
    };
    if checked(key_algorithm(
        input.key_algorithm.as_deref(),
        input.key_size,
        DEFAULT_RSA_BITS,
    ))
    .is_none()
    {
        return;
    }
    if checked(check_days(input.valid_days.unwrap_or(DEFAULT_CA_DAYS))).is_none() {
        return;
    }
    let canonical = subject.canonical();
    assert_eq!(canonical.attributes().len(), subject.attributes().len());
}

/// One input through the target's checks: panics on a finding.
pub fn run(data: &[u8]) {
    // A policy first: `PUT /service-accounts/{id}/policy` refuses what `validate` refuses.
    let policy: Option<Policy> = json::<Policy>(data).filter(|p| {
        let valid = policy::validate(p).is_ok();
        if valid {
            for pattern in p.cn_patterns.iter().chain(&p.san_dns_patterns) {
                // A pattern without wildcards matches itself.
                assert!(
                    pattern.contains(['*', '?', '[']) || policy::glob(pattern, pattern, false),
                    "{pattern:?}"
                );
            }
        }
        valid
    });
    let policy = policy.as_ref();

    if let Some(body) = json::<CertCreate>(data) {
        cert_create(body, policy);
    }
    if let Some(body) = json::<SignCsr>(data) {
        sign_csr(body, policy);
    }
    if let Some(body) = json_or_default::<Renew>(data)
        && let Some(csr) = body.csr
    {
        let _ = checked(pki::parse_csr(&csr).map_err(Error::from));
    }
    if let Some(body) = json_or_default::<Revoke>(data)
        && let Some(reason) = body.reason
        && let Some(r) = pki::RevocationReason::from_text(&reason)
    {
        assert_eq!(pki::RevocationReason::from_code(r.code()), Some(r));
        assert_eq!(pki::RevocationReason::from_text(r.name()), Some(r));
    }
    if let Some(body) = json::<CaCreate>(data) {
        ca_create(body);
    }
    let _ = json::<CaUpdate>(data);
    if let Some(body) = json::<UserCreate>(data) {
        let _ = valid_email(&body.email);
        let _ = body.role.as_deref().map(Role::parse);
    }
    if let Some(body) = json::<UserUpdate>(data) {
        let _ = body.email.as_deref().map(valid_email);
        let _ = body.role.as_deref().map(Role::parse);
    }
    let _ = json::<OrgCreate>(data);
    let _ = json::<OrgUpdate>(data);
    let _ = json::<AccountCreate>(data);
    let _ = json::<AccountUpdate>(data);
    let _ = json_or_default::<TokenCreate>(data);
    let _ = json::<RefreshBody>(data);
    let _ = form::<LoginForm>(data);
}
