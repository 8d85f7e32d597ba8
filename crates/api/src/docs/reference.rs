//! The API reference page: the OpenAPI document's operations grouped by dialect and tag,
//! each with its parameters, body, responses and authentication, then every named schema.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use askama::Template;
use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::prose::{Line, Prose, Style, line, prose_of};
use super::schema::{Row, SchemaView, Schemas, schema_anchor};
use super::slug;

/// One API dialect, recognized by the paths it serves.
struct Dialect {
    name: &'static str,
    anchor: &'static str,
    about: &'static str,
    /// Whole leading path segments: `/conversation` matches `/conversation/x`, not
    /// `/conversations`.
    prefixes: &'static [&'static str],
}

const DIALECTS: &[Dialect] = &[
    Dialect {
        name: "Chatvolt",
        anchor: "chatvolt",
        about: "Chatvolt's CRM API: scenarios and their steps, conversations and their logs, \
            agents, contacts, and WhatsApp templates.",
        prefixes: &[
            "/crm",
            "/conversation",
            "/conversations",
            "/agents",
            "/contacts",
            "/whatsapp",
        ],
    },
    Dialect {
        name: "Texter",
        anchor: "texter",
        about: "Texter's v2 server API: chats, labels and messages.",
        prefixes: &["/server/api/v2"],
    },
    Dialect {
        name: "TeleCRM",
        anchor: "telecrm",
        about: "TeleCRM's enterprise API: leads and their actions, fields, the stage pipeline \
            and team members, and the asynchronous lead update.",
        prefixes: &["/autoupdate/v2", "/enterprise"],
    },
    Dialect {
        name: "Stagecoach",
        anchor: "native",
        about: "Stagecoach's own API: channels and their inbound webhooks, inbound messages, \
            webhook endpoints and deliveries, lead settings and payments.",
        prefixes: &["/v1", "/webhooks"],
    },
];

/// Where operations under none of the dialects' paths go, so none is ever left off the page.
const OTHER: Dialect = Dialect {
    name: "Other",
    anchor: "other",
    about: "Operations outside the dialects above.",
    prefixes: &[],
};

/// The path item keys that are operations, in the order the page lists them.
const METHODS: &[&str] = &[
    "get", "post", "put", "patch", "delete", "head", "options", "trace",
];

const UNTAGGED: &str = "General";

/// Tags sort by their place among the document's declared tags (undeclared ones last), then
/// by name regardless of case: (place, lower-cased name, name).
type TagKey = (usize, String, String);

#[derive(Template)]
#[template(path = "docs/reference.html")]
pub(super) struct ReferencePage {
    pub title: String,
    pub version: String,
    pub description: Prose,
    pub auth: AuthView,
    pub dialects: Vec<DialectView>,
    pub schemas: Vec<NamedSchemaView>,
}

pub(super) struct AuthView {
    /// What every operation needs unless it says otherwise.
    pub default: Option<Line>,
    pub schemes: Vec<SchemeView>,
}

pub(super) struct SchemeView {
    pub name: String,
    pub anchor: String,
    pub kind: Line,
    pub description: Prose,
    /// Scopes a flow of the scheme declares, with what they allow.
    pub declared_scopes: Vec<(String, Prose)>,
    /// Scopes the operations ask of this scheme.
    pub used_scopes: Vec<String>,
}

pub(super) struct DialectView {
    pub name: &'static str,
    pub anchor: &'static str,
    pub about: &'static str,
    pub tags: Vec<TagView>,
}

pub(super) struct TagView {
    pub name: String,
    /// False for a dialect's only tag when it bears the dialect's name (Texter's "Texter"):
    /// a heading would repeat the dialect's.
    pub headed: bool,
    pub anchor: String,
    pub description: Prose,
    pub operations: Vec<OperationView>,
}

pub(super) struct OperationView {
    /// Upper case, as in a request line.
    pub method: String,
    /// Lower case, for the method's colour.
    pub method_class: String,
    pub path: String,
    /// The path cut after each `/`, where the table of contents may wrap it.
    pub path_segments: Vec<String>,
    pub anchor: String,
    pub summary: Line,
    pub description: Prose,
    pub operation_id: Option<String>,
    pub deprecated: bool,
    /// The operation's own security requirement, when it has one.
    pub security: Option<Line>,
    pub parameters: Vec<Row>,
    pub request: Option<RequestView>,
    pub responses: Vec<ResponseView>,
}

pub(super) struct RequestView {
    pub required: bool,
    pub description: Prose,
    pub contents: Vec<ContentView>,
}

pub(super) struct ContentView {
    pub media_type: String,
    pub schema: Option<SchemaView>,
    /// Nothing to show beyond the type: it fits on the line of its response or body.
    pub inline: bool,
}

pub(super) struct ResponseView {
    pub status: String,
    pub reason: String,
    pub success: bool,
    pub description: Prose,
    pub contents: Vec<ContentView>,
}

pub(super) struct NamedSchemaView {
    pub name: String,
    pub anchor: String,
    pub view: SchemaView,
}

/// Builds the page from an OpenAPI 3 document.
pub(super) fn build(document: &Value) -> ReferencePage {
    let schemas = Schemas::new(document);
    let info = document.get("info");
    let mut anchors = Anchors::default();
    let mut used_scopes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if let Some(security) = document.get("security") {
        note_scopes(security, &mut used_scopes);
    }

    let tag_order: Vec<&str> = document
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|tag| tag.get("name").and_then(Value::as_str))
        .collect();
    let mut grouped: BTreeMap<usize, BTreeMap<TagKey, Vec<OperationView>>> = BTreeMap::new();
    for (path, item) in paths(document) {
        for method in METHODS {
            let Some(operation) = item.get(*method).filter(|value| value.is_object()) else {
                continue;
            };
            if let Some(security) = operation.get("security") {
                note_scopes(security, &mut used_scopes);
            }
            let tag = operation
                .pointer("/tags/0")
                .and_then(Value::as_str)
                .unwrap_or(UNTAGGED)
                .to_owned();
            let declared = tag_order
                .iter()
                .position(|known| *known == tag)
                .unwrap_or(usize::MAX);
            let view = operation_view(
                document,
                &schemas,
                &mut anchors,
                path,
                item,
                method,
                operation,
            );
            grouped
                .entry(dialect_of(path))
                .or_default()
                .entry((declared, tag.to_lowercase(), tag))
                .or_default()
                .push(view);
        }
    }

    let dialects = grouped
        .into_iter()
        .map(|(index, tags)| {
            let dialect = DIALECTS.get(index).unwrap_or(&OTHER);
            let only_tag = tags.len() == 1;
            DialectView {
                name: dialect.name,
                anchor: dialect.anchor,
                about: dialect.about,
                tags: tags
                    .into_iter()
                    .map(|((_, _, name), operations)| TagView {
                        headed: !(only_tag && name == dialect.name),
                        anchor: anchors.claim(&format!("tag-{}-{}", dialect.anchor, slug(&name))),
                        description: tag_description(document, &name),
                        name,
                        operations,
                    })
                    .collect(),
            }
        })
        .collect();

    ReferencePage {
        title: text_at(info, "title").unwrap_or_else(|| "API".to_owned()),
        version: text_at(info, "version").unwrap_or_default(),
        description: prose_of(info.and_then(|info| info.get("description"))),
        auth: auth_view(document, &used_scopes),
        dialects,
        schemas: schemas
            .named()
            .map(|(name, schema)| NamedSchemaView {
                name: name.to_owned(),
                anchor: schema_anchor(name),
                view: schemas.entry(name, schema),
            })
            .collect(),
    }
}

fn paths(document: &Value) -> impl Iterator<Item = (&str, &Value)> {
    document
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(path, item)| (path.as_str(), item))
}

/// The index in [`DIALECTS`] of the dialect serving `path`, or one past the end for none.
fn dialect_of(path: &str) -> usize {
    DIALECTS
        .iter()
        .position(|dialect| {
            dialect.prefixes.iter().any(|prefix| {
                path.strip_prefix(prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
        })
        .unwrap_or(DIALECTS.len())
}

fn operation_view(
    document: &Value,
    schemas: &Schemas<'_>,
    anchors: &mut Anchors,
    path: &str,
    item: &Value,
    method: &str,
    operation: &Value,
) -> OperationView {
    let operation_id = text_at(Some(operation), "operationId");
    let anchor_base = match &operation_id {
        Some(id) => format!("op-{}", slug(id)),
        None => format!("op-{method}-{}", slug(path)),
    };
    OperationView {
        method: method.to_uppercase(),
        method_class: method.to_owned(),
        path: path.to_owned(),
        path_segments: path.split_inclusive('/').map(str::to_owned).collect(),
        anchor: anchors.claim(&anchor_base),
        summary: text_at(Some(operation), "summary")
            .map(|summary| line(&summary))
            .unwrap_or_default(),
        description: prose_of(operation.get("description")),
        operation_id,
        deprecated: operation.get("deprecated") == Some(&Value::Bool(true)),
        security: operation
            .get("security")
            .map(|security| requirement(security, declared_schemes(document))),
        parameters: parameters(document, item, operation)
            .into_iter()
            .map(|parameter| schemas.parameter(parameter))
            .collect(),
        request: operation.get("requestBody").map(|body| {
            let body = resolve(document, body);
            RequestView {
                required: body.get("required") == Some(&Value::Bool(true)),
                description: prose_of(body.get("description")),
                contents: contents(schemas, body, true),
            }
        }),
        responses: operation
            .get("responses")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(status, response)| {
                let response = resolve(document, response);
                let success = status.starts_with('2');
                ResponseView {
                    reason: reason(status),
                    status: status.clone(),
                    success,
                    description: prose_of(response.get("description")),
                    // Error bodies are named, not expanded: they repeat on every operation.
                    contents: contents(schemas, response, success),
                }
            })
            .collect(),
    }
}

/// The path item's parameters, then the operation's, which replace those with the same
/// name and location.
fn parameters<'a>(document: &'a Value, item: &'a Value, operation: &'a Value) -> Vec<&'a Value> {
    let mut merged: Vec<&Value> = Vec::new();
    for source in [item, operation] {
        for parameter in source
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let parameter = resolve(document, parameter);
            let key = |p: &Value| (p.get("name").cloned(), p.get("in").cloned());
            merged.retain(|known| key(known) != key(parameter));
            merged.push(parameter);
        }
    }
    merged
}

fn contents(schemas: &Schemas<'_>, holder: &Value, expand: bool) -> Vec<ContentView> {
    holder
        .get("content")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(media_type, media)| {
            let schema = media
                .get("schema")
                .map(|schema| schemas.body(schema, expand));
            ContentView {
                media_type: media_type.clone(),
                inline: schema.as_ref().is_none_or(|view| {
                    view.rows.is_empty() && view.description.is_empty() && view.notes.is_empty()
                }),
                schema,
            }
        })
        .collect()
}

/// Follows local `$ref`s (to components' parameters, bodies, responses); gives up after a
/// few hops, or at one that points nowhere, on the last object reached.
fn resolve<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    let mut current = value;
    for _ in 0..8 {
        let Some(target) = current
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|reference| reference.strip_prefix('#'))
            .and_then(|pointer| document.pointer(pointer))
        else {
            break;
        };
        current = target;
    }
    current
}

fn reason(status: &str) -> String {
    if status == "default" {
        return "any other status".to_owned();
    }
    if let Some(class) = status
        .strip_suffix("XX")
        .or_else(|| status.strip_suffix("xx"))
    {
        return format!("any {class}xx status");
    }
    status
        .parse::<u16>()
        .ok()
        .and_then(|code| StatusCode::from_u16(code).ok())
        .and_then(|code| code.canonical_reason())
        .unwrap_or_default()
        .to_owned()
}

/// A security requirement list: alternatives joined by "or", the schemes one alternative
/// needs together joined by "and", each with the scopes it asks for. A scheme the document
/// declares links to its entry.
fn requirement(security: &Value, declared: Option<&Map<String, Value>>) -> Line {
    let mut line = Line::default();
    let Some(alternatives) = security.as_array() else {
        line.code(security.to_string());
        return line;
    };
    if alternatives.is_empty() {
        line.text("none: no token needed");
        return line;
    }
    for (index, alternative) in alternatives.iter().enumerate() {
        if index > 0 {
            line.text(" or ");
        }
        let schemes = alternative
            .as_object()
            .filter(|schemes| !schemes.is_empty());
        let Some(schemes) = schemes else {
            line.text("no token");
            continue;
        };
        for (position, (scheme, scopes)) in schemes.iter().enumerate() {
            if position > 0 {
                line.text(" and ");
            }
            if declared.is_some_and(|declared| declared.contains_key(scheme)) {
                line.link(scheme.clone(), scheme_anchor(scheme));
            } else {
                line.code(scheme.clone());
            }
            let scopes: Vec<&str> = scopes
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !scopes.is_empty() {
                line.text(if scopes.len() == 1 {
                    " with scope "
                } else {
                    " with scopes "
                });
                for (number, scope) in scopes.into_iter().enumerate() {
                    if number > 0 {
                        line.text(", ");
                    }
                    line.code(scope);
                }
            }
        }
    }
    line
}

fn note_scopes(security: &Value, used: &mut BTreeMap<String, BTreeSet<String>>) {
    for alternative in security.as_array().into_iter().flatten() {
        for (scheme, scopes) in alternative.as_object().into_iter().flatten() {
            let known = used.entry(scheme.clone()).or_default();
            known.extend(
                scopes
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned),
            );
        }
    }
}

fn declared_schemes(document: &Value) -> Option<&Map<String, Value>> {
    document
        .pointer("/components/securitySchemes")
        .and_then(Value::as_object)
}

fn scheme_anchor(name: &str) -> String {
    format!("auth-{}", slug(name))
}

fn auth_view(document: &Value, used: &BTreeMap<String, BTreeSet<String>>) -> AuthView {
    let declared = declared_schemes(document);
    AuthView {
        default: document
            .get("security")
            .map(|security| requirement(security, declared)),
        schemes: declared
            .into_iter()
            .flatten()
            .map(|(name, scheme)| SchemeView {
                name: name.clone(),
                anchor: scheme_anchor(name),
                kind: scheme_kind(scheme),
                description: prose_of(scheme.get("description")),
                declared_scopes: declared_scopes(scheme),
                used_scopes: used.get(name).into_iter().flatten().cloned().collect(),
            })
            .collect(),
    }
}

fn scheme_kind(scheme: &Value) -> Line {
    let field = |key: &str| scheme.get(key).and_then(Value::as_str).unwrap_or_default();
    let mut line = Line::default();
    match field("type") {
        "http" if field("scheme").eq_ignore_ascii_case("bearer") => {
            line.text("HTTP bearer token: send ")
                .code("Authorization: Bearer <token>");
            if !field("bearerFormat").is_empty() {
                line.text(" (").code(field("bearerFormat")).text(")");
            }
        }
        "http" if field("scheme").eq_ignore_ascii_case("basic") => {
            line.text("HTTP basic authentication");
        }
        "http" => {
            line.text("HTTP ")
                .code(field("scheme"))
                .text(" authentication");
        }
        "apiKey" => {
            line.text(format!("API key in the {} ", field("in")))
                .code(field("name"));
        }
        "oauth2" => {
            line.text("OAuth 2.0");
        }
        "openIdConnect" => {
            // Shown, not linked: the page links nowhere off this server.
            line.text("OpenID Connect, discovered at ")
                .code(field("openIdConnectUrl"));
        }
        "mutualTLS" => {
            line.text("mutual TLS (a client certificate)");
        }
        other => {
            line.code(other);
        }
    }
    line
}

fn declared_scopes(scheme: &Value) -> Vec<(String, Prose)> {
    let mut scopes: BTreeMap<String, Prose> = BTreeMap::new();
    for flow in scheme
        .get("flows")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(Map::values)
    {
        for (scope, about) in flow
            .get("scopes")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            scopes.insert(scope.clone(), prose_of(Some(about)));
        }
    }
    scopes.into_iter().collect()
}

fn tag_description(document: &Value, name: &str) -> Prose {
    let declared = document
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|tag| tag.get("name").and_then(Value::as_str) == Some(name));
    prose_of(declared.and_then(|tag| tag.get("description")))
}

fn text_at(value: Option<&Value>, key: &str) -> Option<String> {
    value
        .and_then(|value| value.get(key))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Element ids handed out once each: a second claim of the same id gets a numbered one.
#[derive(Default)]
struct Anchors {
    claimed: HashSet<String>,
}

impl Anchors {
    fn claim(&mut self, wanted: &str) -> String {
        let mut candidate = wanted.to_owned();
        let mut number = 2;
        while !self.claimed.insert(candidate.clone()) {
            candidate = format!("{wanted}-{number}");
            number += 1;
        }
        candidate
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn text(line: &Line) -> String {
        line.pieces
            .iter()
            .map(|piece| piece.text.as_str())
            .collect()
    }

    #[test]
    fn paths_belong_to_the_dialect_of_their_leading_segments() {
        let name = |path| DIALECTS.get(dialect_of(path)).unwrap_or(&OTHER).name;
        assert_eq!(name("/crm/step"), "Chatvolt");
        assert_eq!(name("/conversation"), "Chatvolt");
        assert_eq!(name("/conversations/1/assign"), "Chatvolt");
        assert_eq!(name("/server/api/v2/chats/search"), "Texter");
        assert_eq!(name("/autoupdate/v2/enterprise/1/lead"), "TeleCRM");
        assert_eq!(name("/enterprise/1/autoupdatelead"), "TeleCRM");
        assert_eq!(name("/v1/channels"), "Stagecoach");
        assert_eq!(name("/v10/else"), "Other");
        assert_eq!(name("/crmx"), "Other");
    }

    #[test]
    fn security_requirements_show_alternatives_schemes_and_scopes() {
        let declared = json!({ "bearerAuth": { "type": "http", "scheme": "bearer" } });
        let cases = [
            (json!([]), "none: no token needed"),
            (json!([{}]), "no token"),
            (json!([{ "bearerAuth": [] }]), "bearerAuth"),
            (
                json!([{ "bearerAuth": ["contacts:read", "contacts:write"] }, { "apiKey": [] }]),
                "bearerAuth with scopes contacts:read, contacts:write or apiKey",
            ),
        ];
        for (security, expected) in cases {
            let line = requirement(&security, declared.as_object());
            assert_eq!(text(&line), expected, "{security}");
        }
        // Only a declared scheme links to an entry of the page.
        let line = requirement(
            &json!([{ "bearerAuth": [], "apiKey": [] }]),
            declared.as_object(),
        );
        let styles: Vec<&Style> = line.pieces.iter().map(|piece| &piece.style).collect();
        assert_eq!(
            styles,
            [
                &Style::Code,
                &Style::Plain,
                &Style::Link("auth-bearerAuth".to_owned())
            ]
        );
    }

    #[test]
    fn operations_are_grouped_and_scopes_in_use_are_listed() {
        let document = json!({
            "info": { "title": "T", "version": "1" },
            "security": [{ "bearerAuth": [] }],
            "components": { "securitySchemes": { "bearerAuth": { "type": "http", "scheme": "bearer" } } },
            "paths": {
                "/crm/step": {
                    "parameters": [{ "name": "x", "in": "query", "schema": { "type": "string" } }],
                    "get": { "tags": ["Steps"], "operationId": "listSteps",
                             "security": [{ "bearerAuth": ["steps:read"] }],
                             "parameters": [{ "name": "x", "in": "query", "required": true, "schema": { "type": "integer" } }],
                             "responses": {} },
                    "post": { "operationId": "listSteps", "responses": {} }
                },
                "/elsewhere": { "delete": { "responses": { "204": {} } } },
                "/v1/things": { "get": { "tags": ["Stagecoach"], "responses": {} } }
            }
        });
        let page = build(&document);
        let names: Vec<&str> = page.dialects.iter().map(|dialect| dialect.name).collect();
        assert_eq!(names, ["Chatvolt", "Stagecoach", "Other"]);
        let chatvolt = &page.dialects[0];
        let tags: Vec<&str> = chatvolt.tags.iter().map(|tag| tag.name.as_str()).collect();
        assert_eq!(tags, ["General", "Steps"]);
        let listed = &chatvolt.tags[1].operations[0];
        assert_eq!(
            listed.parameters.len(),
            1,
            "the operation's x replaces the path's"
        );
        assert_eq!(text(&listed.parameters[0].label), "integer");
        assert_eq!(
            text(listed.security.as_ref().unwrap()),
            "bearerAuth with scope steps:read"
        );
        // Duplicate operation ids still get distinct anchors.
        let anchors = [
            listed.anchor.as_str(),
            chatvolt.tags[0].operations[0].anchor.as_str(),
        ];
        assert_eq!(anchors, ["op-listSteps", "op-listSteps-2"]);
        assert_eq!(page.auth.schemes[0].used_scopes, ["steps:read"]);
        assert_eq!(text(page.auth.default.as_ref().unwrap()), "bearerAuth");
        assert!(chatvolt.tags.iter().all(|tag| tag.headed));
        assert!(
            !page.dialects[1].tags[0].headed,
            "a heading would repeat the dialect's"
        );
        assert_eq!(
            page.dialects[2].tags[0].operations[0].responses[0].reason,
            "No Content"
        );
    }
}
