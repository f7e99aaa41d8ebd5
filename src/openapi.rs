//! The OpenAPI description, Swagger UI and ReDoc (only with `ENABLE_DOCS=true`).

use axum::Router;
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder};
use utoipa_redoc::{Redoc, Servable};
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Settings;
use crate::state::AppState;

/// Builds the document served at `{API_V1_STR}/openapi.json`.
pub fn document(settings: &Settings) -> OpenApi {
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(settings.project_name.clone())
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "A private certificate authority with a REST API compatible with FastPKI 0.4.",
                ))
                .build(),
        )
        .build()
}

pub fn router(settings: &Settings) -> Router<AppState> {
    let doc = document(settings);
    let spec_url = format!("{}/openapi.json", settings.api_prefix);
    Router::new()
        .merge(SwaggerUi::new("/docs").url(spec_url, doc.clone()))
        .merge(Redoc::with_url("/redoc", doc))
}
