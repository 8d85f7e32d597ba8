//! A stand-in for an OpenAI-compatible Chat Completions server, on loopback over real
//! HTTP. It checks every request against the wire format, keeps it for the test to
//! inspect, and answers from a script: decisions (as a tool call when tools were offered,
//! else as JSON text), plain text, error statuses, a hang, a broken body, or an answer
//! held until the test releases it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// One scripted answer.
#[derive(Clone)]
pub enum Reply {
    /// A decision, in the form the request asked for it.
    Decision(Value),
    /// A message whose text is this.
    Text(String),
    /// An error status, with `Retry-After` seconds when given.
    Status(u16, Option<u64>),
    /// Never answers (the client's timeout ends the call).
    Hang,
    /// A 200 whose body is not JSON.
    Broken,
    /// Waits until the test calls [`FakeModel::release`], then answers with the decision.
    Held(Value),
}

/// A request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: Value,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<Received>>,
    violations: Mutex<Vec<String>>,
    arrived: Notify,
    release: Notify,
}

pub struct FakeModel {
    /// `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    shared: Arc<Shared>,
}

/// The tokens every answer reports using.
pub const PROMPT_TOKENS: i64 = 40;
pub const COMPLETION_TOKENS: i64 = 10;

impl FakeModel {
    pub async fn start() -> FakeModel {
        let shared = Arc::new(Shared::default());
        let router = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(complete))
            .route(
                "/v1/models",
                axum::routing::get(|| async {
                    Json(json!({"object": "list", "data": [{"id": "fake"}]}))
                }),
            )
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        FakeModel { base_url, shared }
    }

    pub fn push(&self, reply: Reply) {
        self.shared.script.lock().unwrap().push_back(reply);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    pub fn requests(&self) -> Vec<Value> {
        self.received().into_iter().map(|r| r.body).collect()
    }

    /// Waits until `count` requests arrived.
    pub async fn wait_for(&self, count: usize) {
        loop {
            let arrived = self.shared.arrived.notified();
            if self.shared.received.lock().unwrap().len() >= count {
                return;
            }
            arrived.await;
        }
    }

    /// Lets a [`Reply::Held`] answer go.
    pub fn release(&self) {
        self.shared.release.notify_one();
    }

    /// Asserts that every request followed the wire format.
    pub fn assert_protocol_followed(&self) {
        let violations = self.shared.violations.lock().unwrap();
        assert!(
            violations.is_empty(),
            "protocol violations: {violations:#?}"
        );
    }
}

/// A decision as JSON.
pub fn decision(reply: Option<&str>, action: &str, step_id: Option<&str>, reason: &str) -> Value {
    json!({"reply": reply, "action": action, "stepId": step_id,
           "contactFields": {"name": null, "email": null, "phone": null}, "reason": reason})
}

async fn complete(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => return refuse(&shared, format!("body is not JSON: {e}")),
    };
    // The request takes its scripted answer as it is recorded, in one step: a test that
    // saw the request arrive knows which answer it got.
    let next = {
        let mut received = shared.received.lock().unwrap();
        received.push(Received {
            body: body.clone(),
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        });
        check(&body)
            .is_ok()
            .then(|| shared.script.lock().unwrap().pop_front())
            .flatten()
    };
    shared.arrived.notify_waiters();
    if let Err(problem) = check(&body) {
        return refuse(&shared, problem);
    }
    let Some(reply) = next else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the test's script ran out",
        )
            .into_response();
    };
    let tools = body.get("tools").is_some();
    match reply {
        Reply::Decision(decision) => completion(decision, tools),
        Reply::Held(decision) => {
            shared.release.notified().await;
            completion(decision, tools)
        }
        Reply::Text(text) => text_completion(&text),
        Reply::Status(status, retry_after) => {
            let mut response = (
                StatusCode::from_u16(status).unwrap(),
                Json(json!({"error": {"message": format!("scripted {status}"), "type": "scripted", "code": null}})),
            )
                .into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", seconds.to_string().parse().unwrap());
            }
            response
        }
        Reply::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        Reply::Broken => (StatusCode::OK, "{\"choices\": [{\"message\": ").into_response(),
    }
}

fn refuse(shared: &Shared, problem: String) -> Response {
    shared.violations.lock().unwrap().push(problem.clone());
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": {"message": problem, "type": "invalid_request_error", "code": null}})),
    )
        .into_response()
}

fn usage() -> Value {
    json!({"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
           "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS})
}

fn completion(decision: Value, as_tool_call: bool) -> Response {
    if !as_tool_call {
        return text_completion(&decision.to_string());
    }
    Json(json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": "fake",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": null,
            "tool_calls": [{"id": "call_1", "type": "function",
                            "function": {"name": "decide", "arguments": decision.to_string()}}]}}],
        "usage": usage(),
    }))
    .into_response()
}

fn text_completion(text: &str) -> Response {
    Json(json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": "fake",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": usage(),
    }))
    .into_response()
}

/// What OpenAI's API would refuse.
fn check(body: &Value) -> Result<(), String> {
    if body["model"].as_str().is_none_or(|m| m.is_empty()) {
        return Err("model must be a non-empty string".into());
    }
    let messages = body["messages"]
        .as_array()
        .filter(|m| !m.is_empty())
        .ok_or("messages must be a non-empty array")?;
    for (i, message) in messages.iter().enumerate() {
        let role = message["role"].as_str().unwrap_or("");
        if !["system", "user", "assistant", "tool"].contains(&role) {
            return Err(format!("messages[{i}].role {role:?} is not a role"));
        }
        if !message["content"].is_string() {
            return Err(format!("messages[{i}].content must be a string"));
        }
    }
    if let Some(t) = body.get("temperature")
        && !t.as_f64().is_some_and(|t| (0.0..=2.0).contains(&t))
    {
        return Err("temperature must be a number from 0 to 2".into());
    }
    if body.get("stream").is_some_and(|s| s != &json!(false)) {
        return Err("stream must be false here".into());
    }
    if let Some(format) = body.get("response_format") {
        match format["type"].as_str() {
            Some("json_schema") => {
                let schema = &format["json_schema"];
                if !schema["name"].is_string() || schema["schema"]["type"] != "object" {
                    return Err(
                        "response_format.json_schema needs a name and an object schema".into(),
                    );
                }
            }
            Some("json_object" | "text") => {}
            _ => return Err("response_format.type is not a format".into()),
        }
    }
    if let Some(tools) = body.get("tools") {
        let tools = tools.as_array().ok_or("tools must be an array")?;
        let names: Vec<&str> = tools
            .iter()
            .map(|t| {
                if t["type"] != "function" || !t["function"]["parameters"].is_object() {
                    return Err("every tool must be a function with object parameters".to_owned());
                }
                t["function"]["name"]
                    .as_str()
                    .ok_or_else(|| "every tool needs a name".to_owned())
            })
            .collect::<Result<_, _>>()?;
        if let Some(chosen) = body["tool_choice"]["function"]["name"].as_str()
            && !names.contains(&chosen)
        {
            return Err(format!("tool_choice names {chosen:?}, which is not a tool"));
        }
    }
    Ok(())
}
