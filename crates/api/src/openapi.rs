//! The OpenAPI document, generated from the handlers' annotations and served at
//! `/openapi.json`. A test pins it (see `openapi.json` at the repository root), so any change
//! to the API shows up as a diff in review.

use std::sync::LazyLock;

use axum::Json;
use axum::http::Method;
use stagecoach_domain::idempotency;
use stagecoach_domain::identifier::MAX_IDENTIFIER_CHARS;
use stagecoach_domain::scope::{Access, Scope, TexterGrant, TexterScope};
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::RefOr;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Stagecoach",
        description = "Self-hosted conversational CRM. Speaks Chatvolt's CRM API, Texter's \
            chat API and TeleCRM's lead API, plus its own `/v1` API. Authenticate with \
            `Authorization: Bearer <token>`. A token created with scopes may call an operation \
            when it holds one of the scopes the operation's `security` lists: `AREA:read` or \
            `AREA:write` (write includes read) for the areas `scenarios`, `conversations`, \
            `contacts`, `leads`, `webhooks` and `admin`, or, for Texter's endpoints, the \
            scope Texter gives them. Otherwise it is refused with 403 `MISSING_SCOPE`.",
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
    document_scopes(&mut doc);
    optional_bodies_are_not_null(&mut doc);
    document_idempotency_keys(&mut doc);
    doc
}

/// Every POST that takes a token takes `Idempotency-Key` (see `crate::idempotency`), and
/// may be answered 409 or 422 for it, in the dialect's error body (the one its other
/// refusals have).
fn document_idempotency_keys(doc: &mut Document) {
    let key = ParameterBuilder::new()
        .name(idempotency::HEADER)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes the request safe to retry: its answer is kept 24 hours under this key \
             (per token) and given again, with `Idempotent-Replayed: true`, to a retry of the \
             same request, without the work being done twice. Up to 255 printable ASCII \
             characters; a UUID does. An answer that refused the request without changing \
             anything is not kept, so a corrected request may reuse the key.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(MAX_IDENTIFIER_CHARS)),
        ))
        .build();
    for (path, item) in doc.paths.paths.iter_mut() {
        if crate::scopes::PUBLIC_ROUTES.contains(&path.as_str()) {
            continue;
        }
        let Some(operation) = item.post.as_mut() else {
            continue;
        };
        operation
            .parameters
            .get_or_insert_with(Vec::new)
            .push(RefOr::T(key.clone()));
        let dialect_error = ["400", "401", "404", "405"].into_iter().find_map(|status| {
            match operation.responses.responses.get(status) {
                Some(RefOr::T(response)) if !response.content.is_empty() => {
                    Some(response.content.clone())
                }
                _ => None,
            }
        });
        let Some(content) = dialect_error else {
            continue;
        };
        for (status, description) in [
            (
                "400",
                "The `Idempotency-Key` is not 1 to 255 printable ASCII characters",
            ),
            (
                "409",
                "A request with this `Idempotency-Key` is still running \
                 (`IDEMPOTENCY_KEY_IN_USE`, with `Retry-After`), or its server stopped after \
                 doing the work but before answering (`IDEMPOTENCY_ANSWER_LOST`; the work is \
                 not done again)",
            ),
            (
                "422",
                "This `Idempotency-Key` came with a different request \
                 (`IDEMPOTENCY_KEY_REUSED`)",
            ),
        ] {
            match operation.responses.responses.get_mut(status) {
                // The operation answers this status for its own reasons already: a 400
                // names the header like any other field.
                Some(RefOr::T(_)) if status == "400" => {}
                Some(RefOr::T(existing)) if existing.description.is_empty() => {
                    existing.description = description.to_owned();
                }
                Some(RefOr::T(existing)) => {
                    existing.description = format!("{}; or: {description}", existing.description);
                }
                Some(RefOr::Ref(_)) => {}
                None => {
                    let mut response = Response::new(description);
                    response.content = content.clone();
                    operation
                        .responses
                        .responses
                        .insert(status.to_owned(), RefOr::T(response));
                }
            }
        }
    }
}

/// A handler whose body may be left out declares `request_body = Option<T>`. utoipa marks
/// such a body not required, and also lets it be JSON `null`, which no handler reads (every
/// body must be an object): the schema is put back to `T`.
fn optional_bodies_are_not_null(doc: &mut Document) {
    let operations = doc.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
    });
    for operation in operations {
        let Some(RefOr::T(body)) = operation.request_body.as_mut() else {
            continue;
        };
        for content in body.content.values_mut() {
            let RefOr::T(content) = content else {
                continue;
            };
            let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else {
                continue;
            };
            let (nulls, others): (Vec<_>, Vec<_>) =
                one_of.items.iter().cloned().partition(is_null_schema);
            if let ([_], [only]) = (nulls.as_slice(), others.as_slice()) {
                content.schema = Some(only.clone());
            }
        }
    }
}

fn is_null_schema(schema: &RefOr<Schema>) -> bool {
    matches!(schema, RefOr::T(Schema::Object(object))
        if object.schema_type == SchemaType::Type(Type::Null))
}

/// Writes each operation's scopes from [`crate::scopes`] into its `security`: the
/// alternatives that open it (the scope, the write scope of its area, Texter's names), or
/// none for the providers' webhooks, which take no token.
fn document_scopes(doc: &mut Document) {
    for (method, path, needed) in crate::scopes::all() {
        let Some(operation) = operation_mut(doc, method, path) else {
            continue;
        };
        let mut names = vec![needed.scope.to_string()];
        if needed.scope.access == Access::Read {
            names.push(Scope::write(needed.scope.area).to_string());
        }
        match needed.texter {
            Some(TexterGrant::Scope(texter)) => names.push(texter.name().to_owned()),
            Some(TexterGrant::AnyScope) => {
                names.extend(TexterScope::ALL.iter().map(|t| t.name().to_owned()));
            }
            None => {}
        }
        operation.security = Some(
            names
                .into_iter()
                .map(|name| SecurityRequirement::new("bearerAuth", [name]))
                .collect(),
        );
    }
    for path in crate::scopes::PUBLIC_ROUTES {
        if let Some(item) = doc.paths.paths.get_mut(path) {
            for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
                operation.security = Some(vec![]);
            }
        }
    }
}

fn operation_mut<'a>(
    doc: &'a mut Document,
    method: &Method,
    path: &str,
) -> Option<&'a mut Operation> {
    let item = doc.paths.paths.get_mut(path)?;
    let slot = match *method {
        Method::GET => &mut item.get,
        Method::POST => &mut item.post,
        Method::PUT => &mut item.put,
        Method::PATCH => &mut item.patch,
        Method::DELETE => &mut item.delete,
        _ => return None,
    };
    slot.as_mut()
}

pub(crate) async fn serve_document() -> Json<&'static Document> {
    static DOCUMENT: LazyLock<Document> = LazyLock::new(document);
    Json(&DOCUMENT)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    /// Types of one name share one entry of `components.schemas`: of two dialects' bodies
    /// named alike, one would document the other's operation. Every name is one schema.
    #[test]
    fn no_two_dialects_give_one_schema_name_different_shapes() {
        let dialects = [
            ("chatvolt", crate::dialects::chatvolt::routes()),
            ("native", crate::dialects::native::routes()),
            ("texter", crate::dialects::texter::routes()),
            ("telecrm", crate::dialects::telecrm::routes()),
        ];
        let mut seen: BTreeMap<String, (&str, serde_json::Value)> = BTreeMap::new();
        for (dialect, routes) in dialects {
            let (_, doc) = routes.split_for_parts();
            let schemas = doc.components.map(|c| c.schemas).unwrap_or_default();
            for (name, schema) in schemas {
                let schema = serde_json::to_value(schema).unwrap();
                match seen.get(&name) {
                    Some((other, first)) => assert!(
                        *first == schema,
                        "{other} and {dialect} both name a schema {name}: rename one"
                    ),
                    None => {
                        seen.insert(name, (dialect, schema));
                    }
                }
            }
        }
    }

    /// Every operation of the document says which scopes open it, or that it takes no
    /// token; and the scope table names no route the document lacks.
    #[test]
    fn every_operation_has_scopes_or_is_public() {
        let doc = serde_json::to_value(super::document()).unwrap();
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                operations += 1;
                let security = operation["security"].as_array().unwrap_or_else(|| {
                    panic!("{method} {path} has no scope: add it to crate::scopes")
                });
                let public = crate::scopes::PUBLIC_ROUTES.contains(&path.as_str());
                assert_eq!(security.is_empty(), public, "{method} {path}: {security:?}");
            }
        }
        let table: Vec<_> = crate::scopes::all().collect();
        let public_operations = 3;
        assert_eq!(operations, table.len() + public_operations);
    }

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
