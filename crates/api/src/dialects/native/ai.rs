//! The AI agent: an organization's model endpoint and limits, and the record of a
//! conversation's AI turns.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use stagecoach_app::{AiSettingsInput, AiSettingsView};
use stagecoach_domain::ai::{AiLimits, ModelCapabilities, TurnOutcome, TurnRecord};
use stagecoach_domain::ids::ConversationId;
use utoipa::{IntoParams, ToSchema};

use super::error::{NativeErrorBody, Result};
use super::extract::{Body, Caller, Params};
use crate::AppState;

/// The organization's AI settings. Every field is replaced, except the API key, which is
/// kept unless `apiKey` is given (`null` removes it).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiSettingsBody {
    /// An OpenAI-compatible Chat Completions base URL, ending where `/chat/completions`
    /// follows (`https://api.openai.com/v1`, `http://127.0.0.1:11434/v1` for Ollama).
    /// Without one, the server's default endpoint serves the organization.
    pub base_url: Option<String>,
    /// Sent as `Authorization: Bearer`; stored encrypted and never shown again.
    #[serde(default, deserialize_with = "crate::nullable::present")]
    #[schema(value_type = Option<String>)]
    pub api_key: Option<Option<String>>,
    /// The model agents use unless they name their own.
    pub model: Option<String>,
    /// The endpoint takes `tools` with a named `tool_choice`.
    #[serde(default)]
    pub supports_tools: bool,
    /// The endpoint takes `response_format: {type: "json_schema"}`.
    #[serde(default)]
    pub supports_json_schema: bool,
    /// AI replies one conversation may get per hour (default 30); past it, a person takes over.
    pub max_replies_per_conversation_per_hour: Option<i64>,
    /// Prompt and completion tokens per calendar month (UTC); past it, a person takes over.
    /// Absent or null: no limit.
    pub max_tokens_per_month: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AiSettingsAnswer {
    /// Where turns go: `organization` (its own endpoint), `server` (the server's default)
    /// or `none` (agents do not answer).
    pub source: &'static str,
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub supports_tools: bool,
    pub supports_json_schema: bool,
    /// Whether the organization stored an API key (it is never shown).
    pub has_api_key: bool,
    pub max_replies_per_conversation_per_hour: i64,
    pub max_tokens_per_month: Option<i64>,
    /// Tokens the organization's turns used this calendar month.
    pub tokens_used_this_month: i64,
    pub updated_at: Option<DateTime<Utc>>,
}

fn answer(view: AiSettingsView) -> AiSettingsAnswer {
    AiSettingsAnswer {
        source: view.source.as_str(),
        base_url: view.base_url,
        model: view.model,
        supports_tools: view.capabilities.tools,
        supports_json_schema: view.capabilities.json_schema,
        has_api_key: view.stored.as_ref().is_some_and(|s| s.has_api_key),
        max_replies_per_conversation_per_hour: view.limits.replies_per_conversation_per_hour,
        max_tokens_per_month: view.limits.tokens_per_month,
        tokens_used_this_month: view.tokens_this_month,
        updated_at: view.stored.map(|s| s.updated_at),
    }
}

/// The organization's AI settings, and the endpoint its turns use.
#[utoipa::path(get, operation_id = "getAiSettings", path = "/v1/ai/settings", tag = "Stagecoach",
    responses((status = 200, body = AiSettingsAnswer), (status = 401, body = NativeErrorBody)))]
pub async fn get_settings(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<AiSettingsAnswer>> {
    Ok(Json(answer(state.core.ai_settings(&who).await?)))
}

/// Sets the organization's model endpoint and limits.
#[utoipa::path(put, operation_id = "putAiSettings", path = "/v1/ai/settings", tag = "Stagecoach", request_body = AiSettingsBody,
    responses((status = 200, body = AiSettingsAnswer), (status = 400, body = NativeErrorBody), (status = 401, body = NativeErrorBody)))]
pub async fn put_settings(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(body): Body<AiSettingsBody>,
) -> Result<Json<AiSettingsAnswer>> {
    let input = AiSettingsInput {
        base_url: body.base_url,
        api_key: body.api_key,
        model: body.model,
        capabilities: ModelCapabilities {
            tools: body.supports_tools,
            json_schema: body.supports_json_schema,
        },
        limits: AiLimits {
            replies_per_conversation_per_hour: body
                .max_replies_per_conversation_per_hour
                .unwrap_or(AiLimits::default().replies_per_conversation_per_hour),
            tokens_per_month: body.max_tokens_per_month,
        },
    };
    Ok(Json(answer(state.core.put_ai_settings(&who, input).await?)))
}

/// Removes the organization's own settings: the server's default endpoint serves it.
#[utoipa::path(delete, operation_id = "deleteAiSettings", path = "/v1/ai/settings", tag = "Stagecoach",
    responses((status = 204), (status = 401, body = NativeErrorBody)))]
pub async fn delete_settings(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> Result<StatusCode> {
    state.core.delete_ai_settings(&who).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct TurnsQuery {
    /// At most this many (default 50, at most 500).
    pub limit: Option<i64>,
}

/// One AI turn: what the model decided, what came of it, and what it cost.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AiTurnBody {
    pub id: String,
    /// The contact's message the turn answered.
    pub message_id: String,
    pub agent_id: Option<String>,
    pub model: Option<String>,
    pub step_before: Option<String>,
    pub step_after: Option<String>,
    /// `none`, `move`, `handoff` or `resolve`, when the model decided.
    pub action: Option<String>,
    /// The model's reason, or why the turn ended without applying it.
    pub reason: Option<String>,
    /// The decision as the model wrote it.
    #[schema(value_type = Option<Object>)]
    pub decision: Option<Value>,
    pub reply: Option<String>,
    pub reply_message_id: Option<String>,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub latency_ms: i64,
    /// Model calls made, retries and the repair attempt included.
    pub attempts: i64,
    #[schema(value_type = String)]
    pub outcome: TurnOutcome,
    pub error: Option<String>,
    /// When the contact's message came in.
    pub created_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

fn turn_body(t: TurnRecord) -> AiTurnBody {
    AiTurnBody {
        id: t.id.to_string(),
        message_id: t.message_id.to_string(),
        agent_id: t.agent_id.map(|a| a.to_string()),
        model: t.model,
        step_before: t.step_before.map(|s| s.to_string()),
        step_after: t.step_after.map(|s| s.to_string()),
        action: t.action,
        reason: t.reason,
        decision: t.decision,
        reply: t.reply,
        reply_message_id: t.reply_message_id.map(|m| m.to_string()),
        tokens_in: t.tokens_in,
        tokens_out: t.tokens_out,
        latency_ms: t.latency_ms,
        attempts: t.attempts,
        outcome: t.outcome,
        error: t.error,
        created_at: t.created_at,
        finished_at: t.finished_at,
    }
}

/// The conversation's AI turns, newest first.
#[utoipa::path(get, operation_id = "listAiTurns", path = "/v1/conversations/{id}/ai-turns", tag = "Stagecoach",
    params(("id" = String, Path), TurnsQuery),
    responses((status = 200, body = Vec<AiTurnBody>), (status = 400, body = NativeErrorBody), (status = 401, body = NativeErrorBody),
        (status = 404, body = NativeErrorBody)))]
pub async fn list_turns(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Params(q): Params<TurnsQuery>,
) -> Result<Json<Vec<AiTurnBody>>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(stagecoach_domain::ValidationError::single(
            "limit",
            "must be between 1 and 500",
        )
        .into());
    }
    let turns = state
        .core
        .ai_turns(&who, ConversationId::parse(&id), limit)
        .await?;
    Ok(Json(turns.into_iter().map(turn_body).collect()))
}
