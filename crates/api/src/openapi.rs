//! The OpenAPI document, generated from the handlers' annotations and served at
//! `/openapi.json`. A test pins it (see `openapi.json` at the repository root), so any change
//! to the API shows up as a diff in review.

use std::sync::LazyLock;

use axum::Json;
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Stagecoach",
        description = "Self-hosted conversational CRM. Speaks Chatvolt's CRM API; \
            authenticate with `Authorization: Bearer <token>`.",
    ),
    modifiers(&BearerAuth),
    security(("bearerAuth" = [])),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Every documented route, with its part of the document.
pub(crate) fn split_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::dialects::chatvolt::routes())
        .merge(crate::dialects::native::routes())
        .merge(crate::dialects::texter::routes())
        .merge(crate::dialects::telecrm::routes())
}

/// The whole document.
pub fn document() -> Document {
    let (_, mut doc) = split_router().split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.info.license = None;
    doc
}

pub(crate) async fn serve_document() -> Json<&'static Document> {
    static DOCUMENT: LazyLock<Document> = LazyLock::new(document);
    Json(&DOCUMENT)
}

#[cfg(test)]
mod tests {
    /// The committed document must match the code. After an intended API change, refresh it
    /// with `STAGECOACH_UPDATE_OPENAPI=1 cargo test -p stagecoach-api openapi` and review the
    /// diff.
    #[test]
    fn openapi_document_is_pinned() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.json");
        let generated = serde_json::to_string_pretty(&super::document()).unwrap() + "\n";
        if std::env::var_os("STAGECOACH_UPDATE_OPENAPI").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "openapi.json is out of date: run STAGECOACH_UPDATE_OPENAPI=1 cargo test -p stagecoach-api openapi"
        );
    }
}
