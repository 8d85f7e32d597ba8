//! Placeholders in message texts (`{{contact.name}}`, `{{conversation.id}}`,
//! `{{step.name}}`, `{{scenario.name}}`, `{{crm.plan}}`), filled in at send time.

use serde_json::Value;

/// The text with its placeholders filled from `values` (a JSON object whose paths they
/// name), and the placeholders that named nothing (they render empty).
pub fn render(template: &str, values: &Value) -> (String, Vec<String>) {
    let mut out = String::with_capacity(template.len());
    let mut unknown = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return (out, unknown);
        };
        let path = after[..end].trim();
        match lookup(values, path) {
            Some(Value::String(s)) => out.push_str(s),
            Some(Value::Null) | None => unknown.push(path.to_owned()),
            Some(other) => out.push_str(&other.to_string()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    (out, unknown)
}

fn lookup<'a>(values: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(values, |node, key| node.get(key))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn placeholders_fill_from_paths_and_unknown_ones_render_empty() {
        let values = json!({"contact": {"name": "Ana"}, "crm": {"plan": "pro", "seats": 3}});
        let (text, unknown) = render(
            "Hi {{contact.name}}, plan {{ crm.plan }} x{{crm.seats}} {{nope.x}}!",
            &values,
        );
        assert_eq!(text, "Hi Ana, plan pro x3 !");
        assert_eq!(unknown, ["nope.x"]);
        assert_eq!(render("no {{end", &values).0, "no {{end");
    }
}
