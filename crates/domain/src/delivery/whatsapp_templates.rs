//! The message templates of a WhatsApp Business Account: the Cloud API's requests to list
//! and create them, how its answers read, and what a template needs to be sent with the
//! body parameters Stagecoach sends.

use serde_json::{Value, json};

use super::providers::ProviderRequest;
use crate::error::{Errors, ValidationError};

/// The fields asked for when listing: what Chatvolt's `GET /whatsapp/templates` answers.
const LIST_FIELDS: &str = "name,language,status,category,id,components";
/// Templates per page asked of the Cloud API.
pub const PAGE_SIZE: usize = 100;
/// The categories Meta accepts for a new template.
pub const CATEGORIES: [&str; 3] = ["MARKETING", "UTILITY", "AUTHENTICATION"];

/// One template as the Cloud API describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct WhatsappTemplate {
    pub id: String,
    pub name: String,
    pub language: String,
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`, …
    pub status: String,
    pub category: String,
    /// Header, body, footer and buttons, as Meta gives them.
    pub components: Vec<Value>,
}

impl WhatsappTemplate {
    fn component(&self, kind: &str) -> Option<&Value> {
        self.components.iter().find(|c| {
            c["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(kind))
        })
    }

    /// The body's text, with its `{{1}}`, `{{2}}`, … placeholders.
    pub fn body_text(&self) -> &str {
        self.component("BODY")
            .and_then(|c| c["text"].as_str())
            .unwrap_or_default()
    }

    /// How many body parameters a send must give: the highest `{{n}}` in the body.
    pub fn parameter_count(&self) -> usize {
        placeholders(self.body_text())
            .filter_map(|name| name.parse::<usize>().ok())
            .max()
            .unwrap_or(0)
    }

    /// Why this template cannot be sent with body parameters alone, if it cannot: it is
    /// not approved, or its header, buttons or named placeholders need values that
    /// Stagecoach's sends do not carry.
    pub fn unsendable_reason(&self) -> Option<String> {
        if self.status != "APPROVED" {
            return Some(format!(
                "it is {}, and only approved templates can be sent",
                self.status.to_lowercase()
            ));
        }
        if let Some(header) = self.component("HEADER") {
            let format = header["format"].as_str().unwrap_or("TEXT");
            if !format.eq_ignore_ascii_case("TEXT") {
                return Some(format!(
                    "its header is {}, which needs a media file",
                    format.to_lowercase()
                ));
            }
            if header["text"].as_str().is_some_and(|t| t.contains("{{")) {
                return Some("its header has a variable".to_owned());
            }
        }
        let buttons = self.component("BUTTONS");
        let dynamic_button = buttons
            .and_then(|b| b["buttons"].as_array())
            .into_iter()
            .flatten()
            .any(|button| button["url"].as_str().is_some_and(|url| url.contains("{{")));
        if dynamic_button {
            return Some("a button's URL has a variable".to_owned());
        }
        if placeholders(self.body_text()).any(|name| name.parse::<usize>().is_err()) {
            return Some("its body has named variables".to_owned());
        }
        None
    }

    /// The body with `parameters` in place: the copy kept in the conversation.
    pub fn filled_body(&self, parameters: &[String]) -> String {
        let body = self.body_text();
        let mut filled = String::with_capacity(body.len());
        let mut rest = body;
        while let Some(start) = rest.find("{{") {
            let Some(end) = rest[start..].find("}}") else {
                break;
            };
            let name = rest[start + 2..start + end].trim();
            filled.push_str(&rest[..start]);
            match name
                .parse::<usize>()
                .ok()
                .and_then(|n| parameters.get(n.checked_sub(1)?))
            {
                Some(value) => filled.push_str(value),
                None => filled.push_str(&rest[start..start + end + 2]),
            }
            rest = &rest[start + end + 2..];
        }
        filled.push_str(rest);
        filled
    }
}

/// The names between `{{` and `}}` in a text, in order.
fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.split("{{")
        .skip(1)
        .filter_map(|part| part.split_once("}}").map(|(name, _)| name.trim()))
}

/// The URL of one page of a business account's templates (`after`: the cursor of the
/// page before).
pub fn list_url(base: &str, business_account_id: &str, after: Option<&str>) -> String {
    let mut url = format!(
        "{}/{business_account_id}/message_templates?fields={LIST_FIELDS}&limit={PAGE_SIZE}",
        base.trim_end_matches('/')
    );
    if let Some(after) = after {
        // Meta's cursors are base64, `=` included.
        url.push_str("&after=");
        url.extend(url::form_urlencoded::byte_serialize(after.as_bytes()));
    }
    url
}

/// One page of templates and the cursor of the next, from a listing's answer.
pub fn read_page(answer: &str) -> Result<(Vec<WhatsappTemplate>, Option<String>), String> {
    let answer: Value =
        serde_json::from_str(answer).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let data = answer["data"]
        .as_array()
        .ok_or("the answer has no data array")?;
    let text = |item: &Value, key: &str| item[key].as_str().unwrap_or_default().to_owned();
    let templates = data
        .iter()
        .map(|item| WhatsappTemplate {
            id: text(item, "id"),
            name: text(item, "name"),
            language: text(item, "language"),
            status: text(item, "status"),
            category: text(item, "category"),
            components: item["components"].as_array().cloned().unwrap_or_default(),
        })
        .collect();
    // Meta gives `paging.next` only when another page exists; the cursor alone is given
    // on the last page too.
    let next = answer["paging"]["next"]
        .as_str()
        .and(answer["paging"]["cursors"]["after"].as_str())
        .map(str::to_owned);
    Ok((templates, next))
}

/// A template to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTemplate {
    pub name: String,
    pub category: String,
    pub language: String,
    pub components: Vec<Value>,
}

/// Refuses a new template Meta could never accept; Meta judges the rest (name rules,
/// component contents) and its reasons are passed on.
pub fn check_new_template(template: &NewTemplate) -> Result<(), ValidationError> {
    let mut errors = Errors::default();
    if template.name.trim().is_empty() {
        errors.add("name", "must not be empty");
    }
    if !CATEGORIES.contains(&template.category.as_str()) {
        errors.add(
            "category",
            format!("must be one of {}", CATEGORIES.join(", ")),
        );
    }
    if template.language.trim().is_empty() {
        errors.add("language", "must not be empty");
    }
    if template.components.is_empty() {
        errors.add("components", "must hold at least the body");
    }
    for (i, component) in template.components.iter().enumerate() {
        if !component.is_object() {
            errors.add(format!("components[{i}]"), "must be an object");
        }
    }
    errors.into_result()
}

/// The Cloud API request that creates a template in a business account.
pub fn create_request(
    base: &str,
    business_account_id: &str,
    access_token: &str,
    template: &NewTemplate,
) -> ProviderRequest {
    ProviderRequest {
        url: format!(
            "{}/{business_account_id}/message_templates",
            base.trim_end_matches('/')
        ),
        headers: vec![("authorization".into(), format!("Bearer {access_token}"))],
        body: json!({
            "name": template.name,
            "category": template.category,
            "language": template.language,
            "components": template.components,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(status: &str, components: Value) -> WhatsappTemplate {
        WhatsappTemplate {
            id: "1".into(),
            name: "order_update".into(),
            language: "pt_BR".into(),
            status: status.into(),
            category: "UTILITY".into(),
            components: components.as_array().unwrap().clone(),
        }
    }

    #[test]
    fn the_body_counts_and_takes_its_parameters() {
        let t = template(
            "APPROVED",
            json!([{"type": "BODY", "text": "Oi {{1}}, seu pedido {{2}} saiu. {{1}}!"}]),
        );
        assert_eq!(t.parameter_count(), 2);
        assert_eq!(
            t.filled_body(&["Ana".into(), "#42".into()]),
            "Oi Ana, seu pedido #42 saiu. Ana!"
        );
        // A missing parameter leaves its placeholder, so the copy shows what was not filled.
        assert_eq!(
            t.filled_body(&["Ana".into()]),
            "Oi Ana, seu pedido {{2}} saiu. Ana!"
        );
        assert_eq!(t.unsendable_reason(), None);
        let plain = template("APPROVED", json!([{"type": "BODY", "text": "Hello"}]));
        assert_eq!(plain.parameter_count(), 0);
        assert_eq!(plain.filled_body(&[]), "Hello");
    }

    #[test]
    fn templates_needing_more_than_body_parameters_are_unsendable() {
        let pending = template("PENDING", json!([{"type": "BODY", "text": "x"}]));
        assert!(pending.unsendable_reason().unwrap().contains("pending"));
        let image = template(
            "APPROVED",
            json!([{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "x"}]),
        );
        assert!(image.unsendable_reason().unwrap().contains("image"));
        let header_variable = template(
            "APPROVED",
            json!([{"type": "HEADER", "format": "TEXT", "text": "Hi {{1}}"}, {"type": "BODY", "text": "x"}]),
        );
        assert!(header_variable.unsendable_reason().is_some());
        let static_header = template(
            "APPROVED",
            json!([{"type": "HEADER", "format": "TEXT", "text": "Hi"}, {"type": "BODY", "text": "x"},
                   {"type": "BUTTONS", "buttons": [{"type": "URL", "url": "https://a.example/fixed"}]}]),
        );
        assert_eq!(static_header.unsendable_reason(), None);
        let dynamic_url = template(
            "APPROVED",
            json!([{"type": "BODY", "text": "x"},
                   {"type": "BUTTONS", "buttons": [{"type": "URL", "url": "https://a.example/{{1}}"}]}]),
        );
        assert!(dynamic_url.unsendable_reason().is_some());
        let named = template(
            "APPROVED",
            json!([{"type": "BODY", "text": "Oi {{first_name}}"}]),
        );
        assert!(named.unsendable_reason().unwrap().contains("named"));
    }

    #[test]
    fn pages_follow_the_cursor_only_while_meta_says_there_is_more() {
        let url = list_url("https://graph.example/v21.0/", "WABA1", Some("QVFI=="));
        assert_eq!(
            url,
            "https://graph.example/v21.0/WABA1/message_templates?fields=name,language,status,category,id,components&limit=100&after=QVFI%3D%3D"
        );
        let (page, next) = read_page(
            r#"{"data": [{"id": "9", "name": "hello", "language": "en_US", "status": "APPROVED",
                 "category": "UTILITY", "components": [{"type": "BODY", "text": "Hi"}]}],
                "paging": {"cursors": {"before": "A", "after": "B"}, "next": "https://graph/next"}}"#,
        )
        .unwrap();
        assert_eq!(page[0].name, "hello");
        assert_eq!(page[0].body_text(), "Hi");
        assert_eq!(next.as_deref(), Some("B"));
        let (_, last) =
            read_page(r#"{"data": [], "paging": {"cursors": {"before": "A", "after": "B"}}}"#)
                .unwrap();
        assert_eq!(last, None);
        assert!(read_page("{}").is_err());
    }

    #[test]
    fn new_templates_are_checked_before_meta_sees_them() {
        let good = NewTemplate {
            name: "order_update".into(),
            category: "UTILITY".into(),
            language: "pt_BR".into(),
            components: vec![json!({"type": "BODY", "text": "Oi {{1}}"})],
        };
        assert!(check_new_template(&good).is_ok());
        let bad = NewTemplate {
            name: " ".into(),
            category: "utility".into(),
            language: String::new(),
            components: vec![json!("body")],
        };
        let fields: Vec<String> = check_new_template(&bad)
            .unwrap_err()
            .0
            .iter()
            .map(|e| e.field.to_string())
            .collect();
        assert_eq!(fields, ["name", "category", "language", "components[0]"]);
        let request = create_request("https://g/v21.0", "WABA1", "tok", &good);
        assert_eq!(request.url, "https://g/v21.0/WABA1/message_templates");
        assert_eq!(request.body["components"][0]["type"], "BODY");
        assert_eq!(request.headers[0].1, "Bearer tok");
    }
}
