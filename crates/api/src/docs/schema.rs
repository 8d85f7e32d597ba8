//! Schemas the way a reader scans them: a type label for each value ("string (uuid)",
//! "array of Agent", "ConversationStatus"), and for objects one row per property, with
//! nested anonymous objects indented under theirs.
//!
//! A reference to a named schema is a link to its entry under Schemas. Only the schema a
//! body or an entry is about is expanded (following references and `allOf`), and a name
//! already being expanded is never expanded again, so every view is finite even when
//! schemas refer to themselves.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::prose::{Line, Prose, prose_of};

const COMPONENT_PREFIX: &str = "#/components/schemas/";

/// How deep anonymous objects are shown inline, and how deep labels describe nested types.
/// The document's own nesting is shallow; the bound keeps a hostile document from
/// exhausting the stack.
const MAX_DEPTH: usize = 8;

/// The anchor of a named schema's entry.
pub(super) fn schema_anchor(name: &str) -> String {
    format!("schema-{}", super::slug(name))
}

/// A schema as shown: its type, and the rows of its properties when it has some.
#[derive(Debug, Default)]
pub(super) struct SchemaView {
    pub label: Line,
    pub nullable: bool,
    pub description: Prose,
    pub notes: Vec<Line>,
    pub rows: Vec<Row>,
}

/// One line of a field list: a property, a parameter, or one alternative of a `oneOf`.
#[derive(Debug)]
pub(super) struct Row {
    /// How far the row is indented under the object it belongs to.
    pub depth: usize,
    pub name: String,
    /// An alternative of a `oneOf` / `anyOf` (its name is "variant N"), not a property.
    pub variant: bool,
    /// Where a parameter goes (path, query, header, cookie); `None` for properties.
    pub location: Option<String>,
    pub label: Line,
    pub required: bool,
    pub nullable: bool,
    pub description: Prose,
    pub notes: Vec<Line>,
}

/// The properties an object schema has once its references and `allOf` parts are merged.
#[derive(Default)]
struct Shape<'a> {
    properties: Vec<(&'a str, &'a Value)>,
    required: BTreeSet<&'a str>,
    additional: Option<&'a Value>,
}

/// Reads the schemas of one document.
pub(super) struct Schemas<'a> {
    components: Option<&'a Map<String, Value>>,
}

impl<'a> Schemas<'a> {
    pub fn new(document: &'a Value) -> Schemas<'a> {
        Schemas {
            components: document
                .pointer("/components/schemas")
                .and_then(Value::as_object),
        }
    }

    /// The named schemas, in the document's order.
    pub fn named(&self) -> impl Iterator<Item = (&'a str, &'a Value)> {
        self.components
            .into_iter()
            .flatten()
            .map(|(name, schema)| (name.as_str(), schema))
    }

    /// A request or response body: its type, and its fields when `expand` is set.
    pub fn body(&self, schema: &'a Value, expand: bool) -> SchemaView {
        let mut rows = Vec::new();
        if expand {
            self.expand(schema, 0, true, &mut Vec::new(), &mut rows);
        }
        SchemaView {
            label: self.label(schema),
            nullable: nullable(schema),
            description: own_description(schema),
            notes: self.notes(schema, 0),
            rows,
        }
    }

    /// A named schema's entry: everything it says, with the schemas it names as links.
    pub fn entry(&self, name: &'a str, schema: &'a Value) -> SchemaView {
        let mut rows = Vec::new();
        self.expand(schema, 0, true, &mut vec![name], &mut rows);
        let mut description = own_description(schema);
        for part in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            description
                .paragraphs
                .extend(own_description(part).paragraphs);
        }
        SchemaView {
            label: self.label(schema),
            nullable: nullable(schema),
            description,
            notes: self.notes(schema, 0),
            rows,
        }
    }

    /// A parameter's row.
    pub fn parameter(&self, parameter: &'a Value) -> Row {
        let schema = parameter
            .get("schema")
            .or_else(|| {
                parameter
                    .get("content")
                    .and_then(Value::as_object)
                    .and_then(|content| content.values().next())
                    .and_then(|media| media.get("schema"))
            })
            .unwrap_or(&Value::Null);
        let mut notes = self.notes(schema, 0);
        if parameter.get("deprecated") == Some(&Value::Bool(true)) {
            notes.push(Line::plain("deprecated"));
        }
        let mut description = prose_of(parameter.get("description"));
        if description.is_empty() {
            description = self.description(schema);
        }
        Row {
            depth: 0,
            name: text_of(parameter.get("name")),
            variant: false,
            location: Some(text_of(parameter.get("in"))),
            label: self.label(schema),
            required: parameter.get("required") == Some(&Value::Bool(true)),
            nullable: nullable(schema),
            description,
            notes,
        }
    }

    /// The schema a local reference names, with its name.
    fn component(&self, reference: &str) -> Option<(&'a str, &'a Value)> {
        let name = reference.strip_prefix(COMPONENT_PREFIX)?;
        self.components?
            .get_key_value(name)
            .map(|(name, schema)| (name.as_str(), schema))
    }

    /// A short label for a schema's type.
    pub fn label(&self, schema: &'a Value) -> Line {
        let mut line = Line::default();
        self.write_label(schema, &mut line, 0);
        line
    }

    fn write_label(&self, schema: &'a Value, line: &mut Line, depth: usize) {
        if depth > MAX_DEPTH {
            line.text("…");
            return;
        }
        if let Some(reference) = reference_of(schema) {
            match self.component(reference) {
                Some((name, _)) => line.link(name, schema_anchor(name)),
                None => line.code(reference),
            };
            return;
        }
        if let Some(constant) = schema.get("const") {
            line.code(shown_value(constant));
            return;
        }
        if let Some(alternatives) = alternatives(schema) {
            if alternatives.is_empty() {
                line.text("null");
            }
            for (index, alternative) in alternatives.into_iter().enumerate() {
                if index > 0 {
                    line.text(" or ");
                }
                self.write_label(alternative, line, depth + 1);
            }
            return;
        }
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            self.write_all_of_label(parts, line, depth);
            return;
        }
        let types = types(schema);
        if types.is_empty() {
            let fallback = if schema.get("properties").is_some() {
                "object"
            } else if schema.get("enum").is_some() {
                "enum"
            } else if is_null(schema) {
                "null"
            } else {
                "any"
            };
            line.text(fallback);
            return;
        }
        for (index, kind) in types.into_iter().enumerate() {
            if index > 0 {
                line.text(" or ");
            }
            match kind {
                "array" => match schema.get("items") {
                    Some(items) => {
                        line.text("array of ");
                        self.write_label(items, line, depth + 1);
                    }
                    None => {
                        line.text("array");
                    }
                },
                "object" => match schema.get("additionalProperties") {
                    Some(values @ Value::Object(_)) if schema.get("properties").is_none() => {
                        line.text("map of ");
                        self.write_label(values, line, depth + 1);
                    }
                    _ => {
                        line.text("object");
                    }
                },
                other => {
                    line.text(other);
                    if let Some(format) = schema.get("format").and_then(Value::as_str) {
                        line.text(format!(" ({format})"));
                    }
                }
            }
        }
    }

    /// `allOf`: the schemas it names, and "object" for its anonymous parts.
    fn write_all_of_label(&self, parts: &'a [Value], line: &mut Line, depth: usize) {
        let named: Vec<&Value> = parts
            .iter()
            .filter(|part| reference_of(part).is_some())
            .collect();
        let anonymous = named.len() < parts.len();
        for (index, part) in named.into_iter().enumerate() {
            if index > 0 {
                line.text(" and ");
            }
            self.write_label(part, line, depth + 1);
        }
        if anonymous {
            if !line.is_empty() {
                line.text(" and ");
            }
            line.text("object");
        }
    }

    /// Constraints a reader needs: allowed values, defaults, bounds.
    fn notes(&self, schema: &'a Value, depth: usize) -> Vec<Line> {
        let mut notes = Vec::new();
        if depth > MAX_DEPTH {
            return notes;
        }
        write_constraints(schema, &mut notes);
        let core = core(schema);
        if !std::ptr::eq(core, schema) {
            write_constraints(core, &mut notes);
        }
        // A named enum's values are worth repeating where it is used.
        if let Some((_, target)) = reference_of(core).and_then(|r| self.component(r))
            && target.get("enum").is_some()
        {
            notes.extend(self.notes(target, depth + 1));
        }
        if types(core).contains(&"array")
            && let Some(items) = core.get("items")
        {
            for note in self.notes(items, depth + 1) {
                let mut line = Line::plain("each item: ");
                line.append(note);
                notes.push(line);
            }
        }
        notes
    }

    /// A value's description: its own, or that of what it wraps (`oneOf` with null).
    fn description(&self, schema: &'a Value) -> Prose {
        let own = own_description(schema);
        if own.is_empty() && reference_of(core(schema)).is_none() {
            own_description(core(schema))
        } else {
            own
        }
    }

    /// Appends the rows of `schema`'s fields. `follow` expands a reference in place (the
    /// schema the view is about); otherwise a reference stays a link in its row's label.
    fn expand(
        &self,
        schema: &'a Value,
        depth: usize,
        follow: bool,
        expanding: &mut Vec<&'a str>,
        rows: &mut Vec<Row>,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        let schema = core(schema);
        if types(schema) == ["array"] {
            if let Some(items) = schema.get("items") {
                self.expand(items, depth, follow, expanding, rows);
            }
            return;
        }
        if let Some(reference) = reference_of(schema) {
            let Some((name, target)) = self.component(reference) else {
                return;
            };
            if !follow || expanding.contains(&name) {
                return;
            }
            expanding.push(name);
            self.expand(target, depth, follow, expanding, rows);
            expanding.pop();
            return;
        }
        if let Some(alternatives) = alternatives(schema)
            && alternatives.len() > 1
        {
            for (index, alternative) in alternatives.into_iter().enumerate() {
                rows.push(Row {
                    depth,
                    name: format!("variant {}", index + 1),
                    variant: true,
                    location: None,
                    label: self.label(alternative),
                    required: false,
                    nullable: false,
                    description: self.description(alternative),
                    notes: self.notes(alternative, 0),
                });
                self.expand(alternative, depth + 1, follow, expanding, rows);
            }
            return;
        }
        let mut shape = Shape::default();
        self.collect(schema, expanding, &mut shape, 0);
        let has_properties = !shape.properties.is_empty();
        for (name, property) in shape.properties {
            rows.push(Row {
                depth,
                name: name.to_owned(),
                variant: false,
                location: None,
                label: self.label(property),
                required: shape.required.contains(name),
                nullable: nullable(property),
                description: self.description(property),
                notes: self.notes(property, 0),
            });
            self.expand(property, depth + 1, false, expanding, rows);
        }
        let Some(values) = shape.additional else {
            return;
        };
        if has_properties {
            rows.push(Row {
                depth,
                name: "any other key".to_owned(),
                variant: false,
                location: None,
                label: self.label(values),
                required: false,
                nullable: nullable(values),
                description: self.description(values),
                notes: self.notes(values, 0),
            });
            self.expand(values, depth + 1, false, expanding, rows);
        } else {
            // A map: its row's label already says "map of …"; the values' fields go under it.
            self.expand(values, depth, false, expanding, rows);
        }
    }

    /// Gathers an object's properties through its references and `allOf` parts.
    fn collect(
        &self,
        schema: &'a Value,
        expanding: &mut Vec<&'a str>,
        shape: &mut Shape<'a>,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        if let Some(reference) = reference_of(schema) {
            if let Some((name, target)) = self.component(reference)
                && !expanding.contains(&name)
            {
                expanding.push(name);
                self.collect(target, expanding, shape, depth + 1);
                expanding.pop();
            }
            return;
        }
        for part in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.collect(part, expanding, shape, depth + 1);
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                match shape.properties.iter_mut().find(|(known, _)| known == name) {
                    // A later allOf part refines an earlier one's property.
                    Some(known) => known.1 = property,
                    None => shape.properties.push((name.as_str(), property)),
                }
            }
        }
        shape.required.extend(
            schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        );
        if let Some(values @ Value::Object(_)) = schema.get("additionalProperties") {
            shape.additional = Some(values);
        }
    }
}

fn reference_of(schema: &Value) -> Option<&str> {
    schema.get("$ref").and_then(Value::as_str)
}

/// The types a schema names, without `null` (shown as "nullable" instead).
fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(kind)) if kind != "null" => vec![kind.as_str()],
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .filter(|kind| *kind != "null")
            .collect(),
        _ => Vec::new(),
    }
}

fn is_null(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(kind)) => kind == "null",
        Some(Value::Array(kinds)) => kinds.iter().all(|kind| kind == "null") && !kinds.is_empty(),
        _ => false,
    }
}

/// The non-null alternatives of a `oneOf` / `anyOf`.
fn alternatives(schema: &Value) -> Option<Vec<&Value>> {
    let list = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)?;
    Some(list.iter().filter(|option| !is_null(option)).collect())
}

/// Whether the value may be `null` (3.1 type lists, `oneOf` with null, 3.0 `nullable`).
fn nullable(schema: &Value) -> bool {
    let in_types = matches!(schema.get("type"), Some(Value::Array(kinds)) if kinds.iter().any(|kind| kind == "null"));
    let in_alternatives = ["oneOf", "anyOf"].iter().any(|key| {
        schema
            .get(*key)
            .and_then(Value::as_array)
            .is_some_and(|list| list.iter().any(is_null))
    });
    in_types || in_alternatives || schema.get("nullable") == Some(&Value::Bool(true))
}

/// What a wrapper stands for: the one alternative of a `oneOf` with null, or the one part of
/// an `allOf`.
fn core(schema: &Value) -> &Value {
    let mut current = schema;
    for _ in 0..MAX_DEPTH {
        let single = match alternatives(current) {
            Some(alternatives) if alternatives.len() == 1 => alternatives[0],
            Some(_) => return current,
            None => match current.get("allOf").and_then(Value::as_array) {
                Some(parts) if parts.len() == 1 => &parts[0],
                _ => return current,
            },
        };
        current = single;
    }
    current
}

fn own_description(schema: &Value) -> Prose {
    prose_of(schema.get("description"))
}

fn write_constraints(schema: &Value, notes: &mut Vec<Line>) {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let mut line = Line::plain("one of ");
        for (index, value) in values.iter().enumerate() {
            if index > 0 {
                line.text(", ");
            }
            line.code(shown_value(value));
        }
        notes.push(line);
    }
    for (keyword, wording) in [
        ("minimum", "at least "),
        ("maximum", "at most "),
        ("exclusiveMinimum", "more than "),
        ("exclusiveMaximum", "less than "),
        ("minLength", "characters, at least "),
        ("maxLength", "characters, at most "),
        ("minItems", "items, at least "),
        ("maxItems", "items, at most "),
        ("pattern", "matches "),
        ("default", "default "),
    ] {
        if let Some(value) = schema.get(keyword) {
            let mut line = Line::plain(wording);
            line.code(shown_value(value));
            notes.push(line);
        }
    }
    for (keyword, wording) in [
        ("readOnly", "read-only"),
        ("writeOnly", "write-only"),
        ("deprecated", "deprecated"),
    ] {
        if schema.get(keyword) == Some(&Value::Bool(true)) {
            notes.push(Line::plain(wording));
        }
    }
}

/// A JSON value as a reader types it: strings without quotes, the rest as JSON.
fn shown_value(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn text_of(value: Option<&Value>) -> String {
    value.and_then(Value::as_str).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::docs::prose::Style;

    fn text(line: &Line) -> String {
        line.pieces
            .iter()
            .map(|piece| piece.text.as_str())
            .collect()
    }

    fn links(line: &Line) -> Vec<&str> {
        line.pieces
            .iter()
            .filter_map(|piece| match &piece.style {
                Style::Link(anchor) => Some(anchor.as_str()),
                _ => None,
            })
            .collect()
    }

    fn document() -> Value {
        json!({
            "components": { "schemas": {
                "Agent": {
                    "type": "object",
                    "required": ["id"],
                    "properties": {
                        "id": { "type": "string", "format": "uuid" },
                        "status": { "oneOf": [{ "$ref": "#/components/schemas/Status" }, { "type": "null" }] },
                        "tools": { "type": "array", "items": { "type": "object", "required": ["kind"], "properties": {
                            "kind": { "type": "string" }
                        } } },
                        "owner": { "$ref": "#/components/schemas/Member" }
                    }
                },
                "Member": { "type": "object", "properties": { "email": { "type": "string" } } },
                "Status": { "type": "string", "enum": ["open", "closed"] },
                "Node": {
                    "type": "object",
                    "properties": {
                        "parent": { "oneOf": [{ "$ref": "#/components/schemas/Node" }, { "type": "null" }] },
                        "children": { "type": "array", "items": { "$ref": "#/components/schemas/Node" } }
                    }
                },
                "Loop": { "$ref": "#/components/schemas/Knot" },
                "Knot": { "allOf": [{ "$ref": "#/components/schemas/Loop" }, {
                    "type": "object", "properties": { "tie": { "type": "boolean" } }
                }] }
            } }
        })
    }

    #[test]
    fn a_body_reference_is_expanded_and_nested_references_are_links() {
        let document = document();
        let schemas = Schemas::new(&document);
        let view = schemas.body(&json!({ "$ref": "#/components/schemas/Agent" }), true);
        assert_eq!(text(&view.label), "Agent");
        assert_eq!(links(&view.label), ["schema-Agent"]);
        let rows: Vec<(usize, &str, String, bool, bool)> = view
            .rows
            .iter()
            .map(|row| {
                (
                    row.depth,
                    row.name.as_str(),
                    text(&row.label),
                    row.required,
                    row.nullable,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (0, "id", "string (uuid)".to_owned(), true, false),
                (0, "owner", "Member".to_owned(), false, false),
                (0, "status", "Status".to_owned(), false, true),
                (0, "tools", "array of object".to_owned(), false, false),
                (1, "kind", "string".to_owned(), true, false),
            ]
        );
        // The named enum's values are repeated where it is used.
        let status = &view.rows[2];
        assert_eq!(
            status.notes.iter().map(text).collect::<Vec<_>>(),
            ["one of open, closed"]
        );
        assert_eq!(links(&view.rows[1].label), ["schema-Member"]);
    }

    #[test]
    fn a_schema_that_refers_to_itself_is_finite() {
        let document = document();
        let schemas = Schemas::new(&document);
        let node = &document["components"]["schemas"]["Node"];
        let view = schemas.entry("Node", node);
        let names: Vec<&str> = view.rows.iter().map(|row| row.name.as_str()).collect();
        assert_eq!(names, ["children", "parent"]);
        assert_eq!(text(&view.rows[0].label), "array of Node");
        assert_eq!(links(&view.rows[1].label), ["schema-Node"]);

        // A reference loop through allOf: each name is expanded once, then stops.
        for name in ["Loop", "Knot"] {
            let view = schemas.entry(name, &document["components"]["schemas"][name]);
            let names: Vec<&str> = view.rows.iter().map(|row| row.name.as_str()).collect();
            assert_eq!(names, ["tie"], "{name}");
        }
        let body = schemas.body(&json!({ "$ref": "#/components/schemas/Loop" }), true);
        assert_eq!(body.rows.len(), 1);
    }

    #[test]
    fn labels_name_types_formats_and_maps() {
        let document = document();
        let schemas = Schemas::new(&document);
        for (schema, expected) in [
            (
                json!({ "type": ["integer", "null"], "format": "int64" }),
                "integer (int64)",
            ),
            (
                json!({ "type": "object", "additionalProperties": { "type": "string" } }),
                "map of string",
            ),
            (
                json!({ "type": "array", "items": { "$ref": "#/components/schemas/Agent" } }),
                "array of Agent",
            ),
            (
                json!({ "oneOf": [{ "type": "string" }, { "type": "integer" }] }),
                "string or integer",
            ),
            (
                json!({ "allOf": [{ "$ref": "#/components/schemas/Member" }, { "type": "object" }] }),
                "Member and object",
            ),
            (json!({ "$ref": "other.json#/Thing" }), "other.json#/Thing"),
            (json!({ "const": "fixed" }), "fixed"),
            (json!({}), "any"),
        ] {
            assert_eq!(text(&schemas.label(&schema)), expected, "{schema}");
        }
    }

    #[test]
    fn deep_nesting_is_cut_off() {
        let mut schema = json!({ "type": "string" });
        for _ in 0..200 {
            schema = json!({ "type": "object", "properties": { "inner": schema } });
        }
        let document = json!({});
        let schemas = Schemas::new(&document);
        let view = schemas.body(&schema, true);
        assert_eq!(view.rows.len(), MAX_DEPTH + 1);
    }
}
