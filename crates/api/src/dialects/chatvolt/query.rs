//! `POST /agents/{id}/query`: ask an agent. The question becomes the contact's message in
//! a conversation (created or continued) and one AI turn answers it, with the same prompt,
//! checks and record as a turn on a channel. With `streaming: true` the answer comes as
//! Server-Sent Events: `answer` chunks, the final `endpoint_response`, then `[DONE]`.
//! The model's decision is validated before any of it is shown, so the chunks follow the
//! complete, accepted answer rather than the model's raw tokens.

use std::convert::Infallible;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use stagecoach_app::{AgentAnswer, AgentQuery, AgentRef, QueryContact, TurnOverrides};
use stagecoach_domain::ids::{ContactId, ConversationId};
use utoipa::ToSchema;

use super::error::{ErrorBody, Result};
use super::extract::{Body, Caller};
use crate::AppState;

/// The contact who asks, found by e-mail, phone number or `userId`, else created.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryContactBody {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    /// The contact's id in the caller's system.
    pub user_id: Option<String>,
}

/// A question for the agent. `presencePenalty`, `frequencyPenalty`, `topP`, `filters`
/// and `context` are accepted and not used.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryBody {
    pub query: Option<String>,
    #[serde(default)]
    pub streaming: bool,
    /// A conversation to continue; an unknown one starts a new conversation.
    pub conversation_id: Option<String>,
    pub contact_id: Option<String>,
    pub contact: Option<QueryContactBody>,
    pub visitor_id: Option<String>,
    /// 0.0 to 1.0, for this query only.
    pub temperature: Option<f64>,
    /// The model for this query only.
    pub model_name: Option<String>,
    /// The agent's system prompt for this query only.
    pub system_prompt: Option<String>,
    // Read so that Chatvolt clients' bodies parse (and documented), not used.
    #[allow(dead_code)]
    pub presence_penalty: Option<f64>,
    #[allow(dead_code)]
    pub frequency_penalty: Option<f64>,
    #[serde(rename = "topP")]
    #[allow(dead_code)]
    pub top_p: Option<f64>,
    #[schema(value_type = Option<Object>)]
    #[allow(dead_code)]
    pub filters: Option<serde_json::Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    #[allow(dead_code)]
    pub context: Option<serde_json::Map<String, Value>>,
    /// Not supported: answers are given in the response.
    #[serde(rename = "callbackURL")]
    pub callback_url: Option<String>,
}

/// The agent's answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryAnswer {
    /// The reply, empty when the agent sent none.
    pub answer: String,
    pub conversation_id: String,
    pub visitor_id: String,
    /// The reply's message id (absent without a reply).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Always empty: agents have no datastores.
    #[schema(value_type = Vec<Object>)]
    pub sources: Vec<Value>,
    /// The turn: `turnId`, `outcome`, `action`, `stepId`, `reason`, `usage`.
    #[schema(value_type = Object)]
    pub metadata: Value,
}

fn answer_body(answer: AgentAnswer) -> QueryAnswer {
    let turn = &answer.turn;
    QueryAnswer {
        answer: answer.answer.clone(),
        conversation_id: answer.conversation_id.to_string(),
        visitor_id: answer.visitor_id.clone(),
        message_id: answer.message_id.map(|m| m.to_string()),
        sources: Vec::new(),
        metadata: json!({
            "turnId": turn.turn_id,
            "outcome": turn.outcome,
            "action": turn.action,
            "stepId": turn.step_id,
            "reason": turn.reason,
            "usage": {"promptTokens": turn.tokens_in, "completionTokens": turn.tokens_out},
        }),
    }
}

/// Ask an agent a question.
#[utoipa::path(post, operation_id = "queryAgent", path = "/agents/{id}/query", tag = "agents",
    params(("id" = String, Path, description = "The agent's id, or `@handle`.")),
    request_body = QueryBody,
    responses((status = 200, body = QueryAnswer, description = "JSON, or with `streaming: true` an SSE stream (`text/event-stream`)"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn query(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Body(body): Body<QueryBody>,
) -> Result<Response> {
    if body.callback_url.is_some() {
        return Err(stagecoach_domain::ValidationError::single(
            "callbackURL",
            "is not supported: the answer comes in the response (use streaming for it in parts)",
        )
        .into());
    }
    let contact_id = match body.contact_id.as_deref() {
        None => None,
        Some(raw) => Some(ContactId::parse(raw).ok_or_else(|| {
            stagecoach_domain::ValidationError::single("contactId", "is not an id")
        })?),
    };
    let contact = body.contact.map(|c| QueryContact {
        first_name: c.first_name,
        last_name: c.last_name,
        email: c.email,
        phone_number: c.phone_number,
        user_id: c.user_id,
    });
    let question = AgentQuery {
        query: body.query.unwrap_or_default(),
        conversation_id: body
            .conversation_id
            .as_deref()
            .and_then(ConversationId::parse),
        contact_id,
        contact,
        visitor_id: body.visitor_id,
        overrides: TurnOverrides {
            agent: None,
            system_prompt: body.system_prompt,
            model: body.model_name.filter(|m| !m.trim().is_empty()),
            temperature: body.temperature,
        },
    };
    let answer = answer_body(
        state
            .core
            .query_agent(&who, &AgentRef::parse(&id), question)
            .await?,
    );
    if !body.streaming {
        return Ok(Json(answer).into_response());
    }
    let mut events: Vec<std::result::Result<Event, Infallible>> = chunks(&answer.answer)
        .into_iter()
        .map(|chunk| Ok(Event::default().event("answer").data(chunk)))
        .collect();
    let last = serde_json::to_string(&answer).expect("answers serialize");
    events.push(Ok(Event::default().event("endpoint_response").data(last)));
    events.push(Ok(Event::default().data("[DONE]")));
    Ok(Sse::new(futures_util::stream::iter(events)).into_response())
}

/// The answer in word-sized pieces, each with the spacing that follows it, so that the
/// pieces joined are the answer.
fn chunks(answer: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for c in answer.chars() {
        if c.is_whitespace()
            && !current.trim().is_empty()
            && !current.ends_with(char::is_whitespace)
        {
            current.push(c);
            pieces.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_join_back_into_the_answer() {
        let answer = "Olá! Temos pão  de fermentação\nnatural.";
        let pieces = chunks(answer);
        assert!(pieces.len() > 3);
        assert_eq!(pieces.concat(), answer);
        assert!(chunks("").is_empty());
    }
}
