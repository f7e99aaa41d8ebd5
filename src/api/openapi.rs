//! The OpenAPI description, Swagger UI and ReDoc (only with `ENABLE_DOCS=true`).

use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, PathItem};
use utoipa::{Modify, OpenApi};
use utoipa_redoc::{Redoc, Servable};
use utoipa_swagger_ui::SwaggerUi;

use crate::api;
use crate::api::errors::{ErrorBody, ValidationErrorBody};
use crate::config::Settings;
use crate::service::AppState;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(description = "A private certificate authority with a REST API compatible with FastPKI 0.4."),
    paths(
        api::auth::token, api::auth::refresh, api::auth::logout, api::auth::invalidate,
        api::users::create, api::users::list, api::users::me, api::users::read, api::users::update, api::users::delete,
        api::orgs::create, api::orgs::list, api::orgs::read, api::orgs::update, api::orgs::delete,
        api::orgs::add_user, api::orgs::remove_user, api::orgs::members,
        api::webhooks::create, api::webhooks::list, api::webhooks::read, api::webhooks::delete,
        api::webhooks::rotate_secret, api::webhooks::deliveries,
        api::audit::list,
        api::cas::create, api::cas::list, api::cas::read, api::cas::private_key, api::cas::chain,
        api::cas::children, api::cas::update, api::cas::revoke, api::cas::delete,
        api::cas::import, api::cas::create_pending, api::cas::csr, api::cas::install,
        api::certs::create, api::certs::sign_csr, api::certs::list, api::certs::read, api::certs::private_key,
        api::certs::revoke, api::certs::renew,
        api::service_accounts::create, api::service_accounts::list, api::service_accounts::read,
        api::service_accounts::update, api::service_accounts::delete, api::service_accounts::create_token,
        api::service_accounts::tokens, api::service_accounts::revoke_token, api::service_accounts::put_policy,
        api::service_accounts::get_policy, api::service_accounts::delete_policy,
        api::acme_directories::create, api::acme_directories::list, api::acme_directories::read,
        api::acme_directories::update, api::acme_directories::delete, api::acme_directories::create_eab_key,
        api::acme_directories::eab_keys, api::acme_directories::revoke_eab_key,
        api::export::ca_certificate, api::export::ca_private_key, api::export::certificate,
        api::export::certificate_private_key, api::export::certificate_chain,
        api::public::crl, api::public::ca_certificate,
    ),
    components(schemas(ErrorBody, ValidationErrorBody)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// Builds the document served at `{API_V1_STR}/openapi.json`, paths under the API prefix.
pub fn document(settings: &Settings) -> Document {
    let mut doc = ApiDoc::openapi();
    doc.info.title = settings.project_name.clone();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    let paths = std::mem::take(&mut doc.paths.paths);
    doc.paths.paths = paths
        .into_iter()
        .map(|(path, item): (String, PathItem)| {
            let public = path.starts_with("/crl/") || path.starts_with("/ca/");
            (
                if public {
                    path
                } else {
                    format!("{}{}", settings.api_prefix, path)
                },
                item,
            )
        })
        .collect();
    doc
}

pub fn router(settings: &Settings) -> Router<AppState> {
    let doc = document(settings);
    let spec_url = format!("{}/openapi.json", settings.api_prefix);
    Router::new()
        .merge(SwaggerUi::new("/docs").url(spec_url, doc.clone()))
        .merge(Redoc::with_url("/redoc", doc))
}
