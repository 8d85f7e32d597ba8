//! The requests providers expect: WhatsApp Cloud API messages and Z-API texts, and how to
//! read the reason out of their error answers.

use serde_json::{Value, json};

/// A provider request, before any transport.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

/// A phone number as providers take it: digits only.
pub fn phone_digits(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

fn whatsapp_message(
    base: &str,
    phone_number_id: &str,
    access_token: &str,
    body: Value,
) -> ProviderRequest {
    ProviderRequest {
        url: format!("{}/{phone_number_id}/messages", base.trim_end_matches('/')),
        headers: vec![("authorization".into(), format!("Bearer {access_token}"))],
        body,
    }
}

/// A free-text message (only within 24 hours of the contact's last message).
pub fn whatsapp_text(
    base: &str,
    phone_number_id: &str,
    access_token: &str,
    to: &str,
    text: &str,
) -> ProviderRequest {
    whatsapp_message(
        base,
        phone_number_id,
        access_token,
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": phone_digits(to),
               "type": "text", "text": {"preview_url": false, "body": text}}),
    )
}

/// A template message: name, language and the body's parameters, in order.
pub fn whatsapp_template(
    base: &str,
    phone_number_id: &str,
    access_token: &str,
    to: &str,
    name: &str,
    language: &str,
    parameters: &[String],
) -> ProviderRequest {
    let mut template = json!({"name": name, "language": {"code": language}});
    if !parameters.is_empty() {
        let parameters: Vec<Value> = parameters
            .iter()
            .map(|text| json!({"type": "text", "text": text}))
            .collect();
        template["components"] = json!([{"type": "body", "parameters": parameters}]);
    }
    whatsapp_message(
        base,
        phone_number_id,
        access_token,
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": phone_digits(to),
               "type": "template", "template": template}),
    )
}

/// A text through a Z-API instance.
pub fn zapi_text(
    base: &str,
    instance: &str,
    instance_token: &str,
    client_token: &str,
    phone: &str,
    message: &str,
) -> ProviderRequest {
    ProviderRequest {
        url: format!(
            "{}/instances/{instance}/token/{instance_token}/send-text",
            base.trim_end_matches('/')
        ),
        headers: vec![("client-token".into(), client_token.to_owned())],
        body: json!({"phone": phone_digits(phone), "message": message}),
    }
}

/// The id a provider gave a message it accepted: WhatsApp's `messages[0].id`, Z-API's
/// `messageId`.
pub fn provider_message_id(answer: &str) -> Option<String> {
    let answer: Value = serde_json::from_str(answer).ok()?;
    answer["messages"][0]["id"]
        .as_str()
        .or(answer["messageId"].as_str())
        .map(str::to_owned)
}

/// The reason in a provider's error answer: WhatsApp's `error.message` (with its code),
/// Z-API's `error` or `message`, else the raw start of the body.
pub fn provider_error(status: u16, body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let reason = parsed.as_ref().and_then(|v| {
        if let Some(error) = v.get("error").filter(|e| e.is_object()) {
            let message = error.get("message").and_then(Value::as_str)?;
            return Some(match error.get("code") {
                Some(code) => format!("{message} (code {code})"),
                None => message.to_owned(),
            });
        }
        v.get("error")
            .or_else(|| v.get("message"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    match reason {
        Some(reason) => format!("HTTP {status}: {reason}"),
        None if body.trim().is_empty() => format!("HTTP {status}"),
        None => format!(
            "HTTP {status}: {}",
            body.chars().take(200).collect::<String>()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatsapp_requests_follow_the_cloud_api() {
        let text = whatsapp_text(
            "https://graph.example/v21.0/",
            "123",
            "tok",
            "+55 (11) 98765-4321",
            "Oi",
        );
        assert_eq!(text.url, "https://graph.example/v21.0/123/messages");
        assert_eq!(
            text.headers,
            vec![("authorization".to_owned(), "Bearer tok".to_owned())]
        );
        assert_eq!(text.body["to"], "5511987654321");
        assert_eq!(text.body["text"]["body"], "Oi");
        let template = whatsapp_template(
            "https://g",
            "123",
            "t",
            "55",
            "welcome",
            "pt_BR",
            &["Ana".into()],
        );
        assert_eq!(template.body["template"]["name"], "welcome");
        assert_eq!(template.body["template"]["language"]["code"], "pt_BR");
        assert_eq!(
            template.body["template"]["components"][0]["parameters"][0]["text"],
            "Ana"
        );
        let bare = whatsapp_template("https://g", "123", "t", "55", "hello_world", "en_US", &[]);
        assert!(bare.body["template"].get("components").is_none());
    }

    #[test]
    fn zapi_sends_to_the_instance_with_the_client_token() {
        let request = zapi_text(
            "https://api.z-api.example",
            "INST",
            "TOKEN",
            "CLIENT",
            "+55 11 90000-0000",
            "Lead!",
        );
        assert_eq!(
            request.url,
            "https://api.z-api.example/instances/INST/token/TOKEN/send-text"
        );
        assert_eq!(
            request.headers,
            vec![("client-token".to_owned(), "CLIENT".to_owned())]
        );
        assert_eq!(
            request.body,
            json!({"phone": "5511900000000", "message": "Lead!"})
        );
    }

    #[test]
    fn accepted_messages_carry_the_provider_id() {
        assert_eq!(
            provider_message_id(
                r#"{"messaging_product":"whatsapp","messages":[{"id":"wamid.X"}]}"#
            ),
            Some("wamid.X".into())
        );
        assert_eq!(
            provider_message_id(r#"{"zaapId":"z","messageId":"3EB0"}"#),
            Some("3EB0".into())
        );
        assert_eq!(provider_message_id("ok"), None);
    }

    #[test]
    fn provider_errors_name_the_reason() {
        assert_eq!(
            provider_error(
                400,
                r#"{"error":{"message":"Invalid parameter","code":100}}"#
            ),
            "HTTP 400: Invalid parameter (code 100)"
        );
        assert_eq!(
            provider_error(400, r#"{"error":"Instance not found"}"#),
            "HTTP 400: Instance not found"
        );
        assert_eq!(provider_error(404, ""), "HTTP 404");
        assert_eq!(provider_error(502, "bad gateway"), "HTTP 502: bad gateway");
    }
}
