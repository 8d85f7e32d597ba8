//! OpenAI's Chat Completions wire format, the subset Stagecoach speaks: what a request
//! carries and what is read from an answer. Decoding is tolerant (`content` null or
//! missing, `arguments` a string or an object), since compatible servers differ.

use serde::Serialize;
use serde_json::{Value, json};

use super::candidates::Candidate;
use super::decision::{DECISION_TOOL, DecisionFormat, DecisionSchema, decision_schema};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role,
            content: content.into(),
        }
    }
}

/// What one model call asks for.
#[derive(Debug, Clone)]
pub struct ChatRequest<'a> {
    pub model: &'a str,
    pub temperature: f64,
    pub max_tokens: u32,
    pub messages: &'a [ChatMessage],
    pub format: DecisionFormat,
    pub candidates: &'a [Candidate],
}

/// The JSON body of `POST {base}/chat/completions`, as text: written from structs, so the
/// decision schema keeps its properties in order.
pub fn request_body(request: &ChatRequest<'_>) -> String {
    let schema = decision_schema(request.candidates);
    let mut body = ChatBody {
        model: request.model,
        messages: request
            .messages
            .iter()
            .map(|m| WireMessage {
                role: m.role.as_str(),
                content: &m.content,
            })
            .collect(),
        temperature: request.temperature,
        max_tokens: request.max_tokens,
        stream: false,
        response_format: None,
        tools: None,
        tool_choice: None,
    };
    match request.format {
        DecisionFormat::JsonSchema => {
            body.response_format = Some(ResponseFormat {
                kind: "json_schema",
                json_schema: NamedSchema {
                    name: "decision",
                    strict: true,
                    schema: &schema,
                },
            });
        }
        DecisionFormat::Tool => {
            body.tools = Some([Tool {
                kind: "function",
                function: ToolFunction {
                    name: DECISION_TOOL,
                    description: "Record this turn's decision: the reply to the customer and what happens to the conversation.",
                    parameters: &schema,
                },
            }]);
            body.tool_choice =
                Some(json!({"type": "function", "function": {"name": DECISION_TOOL}}));
        }
        DecisionFormat::Text => {}
    }
    serde_json::to_string(&body).expect("request bodies serialize")
}

#[derive(Serialize)]
struct ChatBody<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    temperature: f64,
    max_tokens: u32,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<ResponseFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<[Tool<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct ResponseFormat<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    json_schema: NamedSchema<'a>,
}

#[derive(Serialize)]
struct NamedSchema<'a> {
    name: &'static str,
    strict: bool,
    schema: &'a DecisionSchema,
}

#[derive(Serialize)]
struct Tool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: ToolFunction<'a>,
}

#[derive(Serialize)]
struct ToolFunction<'a> {
    name: &'static str,
    description: &'static str,
    parameters: &'a DecisionSchema,
}

/// What was read from a model's answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelReply {
    /// The message's text, if any.
    pub text: Option<String>,
    /// The arguments of the decision tool's call, as JSON text, if it called it.
    pub tool_arguments: Option<String>,
    pub finish_reason: Option<String>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

impl ModelReply {
    /// Where the decision is: the tool call's arguments, else the text.
    pub fn decision_text(&self) -> &str {
        self.tool_arguments
            .as_deref()
            .or(self.text.as_deref())
            .unwrap_or("")
    }
}

/// Reads a `chat.completion` body.
pub fn read_response(body: &[u8]) -> Result<ModelReply, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let choice = value["choices"].get(0).ok_or("the answer has no choices")?;
    let message = &choice["message"];
    if !message.is_object() {
        return Err("the answer's first choice has no message".into());
    }
    let text = message["content"].as_str().map(str::to_owned);
    let tool_arguments = message["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|call| call["function"]["name"] == DECISION_TOOL)
        .or_else(|| message["tool_calls"].get(0))
        .map(|call| match &call["function"]["arguments"] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        });
    let usage = &value["usage"];
    Ok(ModelReply {
        text,
        tool_arguments,
        finish_reason: choice["finish_reason"].as_str().map(str::to_owned),
        prompt_tokens: usage["prompt_tokens"].as_i64().unwrap_or(0),
        completion_tokens: usage["completion_tokens"].as_i64().unwrap_or(0),
    })
}

/// The message of an error answer (`{"error": {"message": …}}`), or the start of the body.
pub fn error_message(status: u16, body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v["error"]["message"].as_str().or(v["error"].as_str()))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            String::from_utf8_lossy(&body[..body.len().min(300)])
                .trim()
                .to_owned()
        });
    format!("HTTP {status}: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::StepId;

    fn request(format: DecisionFormat) -> Value {
        let messages = [ChatMessage::new(Role::System, "be kind")];
        let candidates = [Candidate {
            step_id: StepId::new(),
            name: "Pricing".into(),
            condition: "asks about prices".into(),
        }];
        let text = request_body(&ChatRequest {
            model: "m",
            temperature: 0.2,
            max_tokens: 100,
            messages: &messages,
            format,
            candidates: &candidates,
        });
        if let Some(properties) = text.find("\"properties\"") {
            let after = &text[properties..];
            assert!(after.find("\"reply\"").unwrap() < after.find("\"reason\"").unwrap());
        }
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn each_format_asks_for_the_decision_its_way() {
        let schema = request(DecisionFormat::JsonSchema);
        assert_eq!(schema["response_format"]["type"], "json_schema");
        assert!(schema.get("tools").is_none());
        let tool = request(DecisionFormat::Tool);
        assert_eq!(tool["tool_choice"]["function"]["name"], DECISION_TOOL);
        assert!(tool.get("response_format").is_none());
        let text = request(DecisionFormat::Text);
        assert!(text.get("tools").is_none() && text.get("response_format").is_none());
        assert_eq!(text["messages"][0]["role"], "system");
        assert_eq!(text["stream"], false);
    }

    #[test]
    fn reads_text_tool_calls_and_usage() {
        let body = br#"{"choices":[{"index":0,"message":{"role":"assistant","content":null,
            "tool_calls":[{"id":"c1","type":"function","function":{"name":"decide","arguments":"{\"action\":\"none\"}"}}]},
            "finish_reason":"tool_calls"}],"usage":{"prompt_tokens":12,"completion_tokens":3}}"#;
        let reply = read_response(body).unwrap();
        assert_eq!(reply.decision_text(), "{\"action\":\"none\"}");
        assert_eq!((reply.prompt_tokens, reply.completion_tokens), (12, 3));
        let plain = read_response(br#"{"choices":[{"message":{"content":"hi"}}]}"#).unwrap();
        assert_eq!(plain.decision_text(), "hi");
        assert!(read_response(b"{\"choices\":[]}").is_err());
        assert!(read_response(b"not json").is_err());
    }

    #[test]
    fn error_messages_come_from_openais_shape() {
        let body = br#"{"error":{"message":"model not found","type":"invalid_request_error"}}"#;
        assert_eq!(error_message(404, body), "HTTP 404: model not found");
        assert_eq!(error_message(502, b"bad gateway"), "HTTP 502: bad gateway");
    }
}
