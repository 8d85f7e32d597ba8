//! Pages for people: `GET /`, a landing page linking to what the server offers, and
//! `GET /docs`, the API reference rendered from the OpenAPI document.
//!
//! Both are rendered once from what the binary carries (templates, styles and the document),
//! with no script and nothing fetched from elsewhere, so they work on a server without
//! internet access. The templates are askama's, which escapes every value it writes; the
//! document's text is only ever written through them.

mod prose;
mod reference;
mod schema;

use std::sync::LazyLock;

use askama::Template;
use axum::Router;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

/// Why a page could not be rendered.
#[derive(Debug, thiserror::Error)]
enum RenderError {
    #[error("the OpenAPI document does not convert to JSON: {0}")]
    Document(#[from] serde_json::Error),
    #[error("the page template failed: {0}")]
    Template(#[from] askama::Error),
}

/// The pages change only with the binary. Five minutes spare a reader repeat downloads of
/// the reference (about half a megabyte) without leaving an upgraded server's old one in
/// browsers for long.
const CACHE: HeaderValue = HeaderValue::from_static("public, max-age=300");

/// No script, no frame, nothing loaded from anywhere: the styles are inline.
const POLICY: HeaderValue = HeaderValue::from_static(
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'",
);

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(serve_landing))
        .route("/docs", get(serve_reference))
}

async fn serve_landing() -> Response {
    static PAGE: LazyLock<Result<String, RenderError>> = LazyLock::new(|| {
        LandingPage {
            version: env!("CARGO_PKG_VERSION"),
            links: LANDING_LINKS,
        }
        .render()
        .map_err(RenderError::from)
    });
    html(&PAGE)
}

async fn serve_reference() -> Response {
    static PAGE: LazyLock<Result<String, RenderError>> =
        LazyLock::new(|| render_reference(&serde_json::to_value(crate::openapi::document())?));
    html(&PAGE)
}

fn render_reference(document: &serde_json::Value) -> Result<String, RenderError> {
    Ok(reference::build(document).render()?)
}

fn html(page: &'static Result<String, RenderError>) -> Response {
    match page {
        Ok(body) => (
            [
                (
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (CACHE_CONTROL, CACHE),
                (CONTENT_SECURITY_POLICY, POLICY),
                (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            ],
            body.as_str(),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "page failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A link on the landing page.
struct LandingLink {
    href: &'static str,
    label: &'static str,
    about: &'static str,
}

/// What the landing page offers, in order. The web UI's `/ui/` goes first once it exists.
const LANDING_LINKS: &[LandingLink] = &[
    LandingLink {
        href: "/ui/",
        label: "Web UI",
        about: "Sign in with an API token to see each scenario's board and move conversations.",
    },
    LandingLink {
        href: "/docs",
        label: "API reference",
        about: "Every operation of every dialect, with its parameters, bodies and answers.",
    },
    LandingLink {
        href: "/openapi.json",
        label: "OpenAPI document",
        about: "The same reference as OpenAPI 3.1 JSON, for clients and code generators.",
    },
    LandingLink {
        href: "/healthz",
        label: "Liveness",
        about: "Answers while the process serves HTTP.",
    },
    LandingLink {
        href: "/readyz",
        label: "Readiness",
        about: "Answers while the database is reachable.",
    },
];

#[derive(Template)]
#[template(path = "docs/landing.html")]
struct LandingPage {
    version: &'static str,
    links: &'static [LandingLink],
}

/// An element id (and so a fragment) made of the safe characters of `text`.
fn slug(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const HOSTILE: &str = r#"<script>alert("x")</script> & <img src=x onerror=alert(1)> 'quoted'"#;

    #[test]
    fn the_real_document_renders_every_operation() {
        let document = serde_json::to_value(crate::openapi::document()).unwrap();
        let page = render_reference(&document).unwrap();
        let mut operations = 0;
        for (path, item) in document["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                let heading = format!(
                    r#"<span class="method {method}">{}</span> <code class="path">{path}</code>"#,
                    method.to_uppercase()
                );
                assert!(page.contains(&heading), "{method} {path} is missing");
                operations += 1;
            }
        }
        assert!(operations > 50, "the document lost its operations");
        assert!(page.contains(r#"id="schema-ErrorBody""#));
    }

    #[test]
    fn text_from_the_document_is_escaped_everywhere() {
        let document = json!({
            "info": { "title": HOSTILE, "version": HOSTILE, "description": HOSTILE },
            "security": [{ HOSTILE: [HOSTILE] }],
            "components": {
                "securitySchemes": { HOSTILE: { "type": "apiKey", "in": HOSTILE, "name": HOSTILE, "description": HOSTILE } },
                "schemas": { HOSTILE: {
                    "type": "object", "description": HOSTILE, "required": [HOSTILE],
                    "properties": { HOSTILE: { "type": HOSTILE, "enum": [HOSTILE], "description": HOSTILE } }
                } }
            },
            "tags": [{ "name": HOSTILE, "description": HOSTILE }],
            "paths": { format!("/crm/{HOSTILE}"): { "get": {
                "tags": [HOSTILE], "summary": HOSTILE, "description": format!("`{HOSTILE}`"),
                "operationId": HOSTILE,
                "parameters": [{ "name": HOSTILE, "in": HOSTILE, "description": HOSTILE, "schema": { "type": "string", "format": HOSTILE } }],
                "requestBody": { "description": HOSTILE, "content": { HOSTILE: { "schema": { "$ref": format!("#/components/schemas/{HOSTILE}") } } } },
                "responses": { HOSTILE: { "description": HOSTILE, "content": { "application/json": { "schema": { "$ref": HOSTILE } } } } }
            } } }
        });
        let page = render_reference(&document).unwrap();
        assert!(!page.contains("<script"), "a script tag got through");
        assert!(!page.contains("<img"), "an image tag got through");
        assert!(!page.contains(r#""x")"#), "a quote got through unescaped");
        assert!(
            !page.contains("'quoted'"),
            "an apostrophe got through unescaped"
        );
        // Still shown, as text.
        assert!(page.contains("&#60;script&#62;alert(&#34;x&#34;)"));
        assert!(page.contains("&#38;"));
    }

    #[test]
    fn schemas_that_refer_to_themselves_render() {
        let document = json!({
            "paths": { "/v1/nodes": { "get": { "responses": { "200": { "content": { "application/json": {
                "schema": { "$ref": "#/components/schemas/Node" }
            } } } } } } },
            "components": { "schemas": {
                "Node": { "type": "object", "properties": {
                    "children": { "type": "array", "items": { "$ref": "#/components/schemas/Node" } },
                    "twin": { "$ref": "#/components/schemas/Twin" }
                } },
                "Twin": { "allOf": [{ "$ref": "#/components/schemas/Node" }, { "$ref": "#/components/schemas/Twin" }] }
            } }
        });
        let page = render_reference(&document).unwrap();
        assert!(page.contains(r##"<a href="#schema-Node">Node</a>"##));
        assert!(page.contains(r#"id="schema-Twin""#));
    }

    #[test]
    fn the_landing_page_links_to_the_reference_and_the_checks() {
        let page = LandingPage {
            version: "9.9.9",
            links: LANDING_LINKS,
        }
        .render()
        .unwrap();
        for href in ["/docs", "/openapi.json", "/healthz", "/readyz"] {
            assert!(page.contains(&format!(r#"href="{href}""#)), "{href}");
        }
        assert!(page.contains("9.9.9"));
    }

    #[test]
    fn slugs_keep_only_safe_characters() {
        assert_eq!(slug("listSteps"), "listSteps");
        assert_eq!(slug("a b/\"c\"<d>"), "a-b--c--d-");
    }
}
