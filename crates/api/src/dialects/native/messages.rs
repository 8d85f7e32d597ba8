//! Inbound messages, and a conversation as Stagecoach sees it: its state, where it stands
//! in scenarios, its timeline and its outbox.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use stagecoach_app::{ConversationDetail, InboundMessage};
use stagecoach_domain::enums::{Channel, ConversationStatus, Priority};
use stagecoach_domain::error::Errors;
use stagecoach_domain::ids::ConversationId;
use utoipa::ToSchema;

use super::error::{NativeErrorBody, Result};
use super::extract::{Body, Caller};
use crate::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboundBody {
    pub channel: Option<Channel>,
    /// The sender's phone number (any common spelling) or their id on the channel.
    pub from: Option<String>,
    pub text: Option<String>,
    /// The provider's message id: a message redelivered with the same one is stored once.
    pub external_id: Option<String>,
    /// The sender's name, kept when the contact is created.
    pub name: Option<String>,
    pub email: Option<String>,
    /// When the contact sent it (RFC 3339); default: now.
    pub timestamp: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboundAnswer {
    pub conversation_id: String,
    pub contact_id: String,
    pub message_id: String,
    /// The message was already received: nothing changed.
    pub duplicate: bool,
    pub contact_created: bool,
    pub conversation_created: bool,
    /// The step a trigger moved the conversation to, if any.
    pub entered: Option<EnteredStep>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnteredStep {
    pub scenario_id: String,
    pub step_id: String,
    /// Where the conversation is now (after any zero-delay auto-advance).
    pub current_step_id: String,
    pub initial_message_queued: bool,
    pub blocked_by_24h_rule: bool,
}

/// Ingest a message a contact sent on a channel.
#[utoipa::path(post, operation_id = "receiveMessage", path = "/v1/messages/inbound", tag = "Stagecoach",
    request_body = InboundBody,
    responses((status = 200, body = InboundAnswer), (status = 400, body = NativeErrorBody),
        (status = 401, body = NativeErrorBody)))]
pub async fn inbound(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(body): Body<InboundBody>,
) -> Result<Json<InboundAnswer>> {
    let mut errors = Errors::default();
    if body.channel.is_none() {
        errors.add("channel", "is required");
    }
    if body.from.is_none() {
        errors.add("from", "is required");
    }
    if body.text.is_none() {
        errors.add("text", "is required");
    }
    errors.into_result()?;
    let (Some(channel), Some(from), Some(text)) = (body.channel, body.from, body.text) else {
        unreachable!("checked above");
    };
    let receipt = state
        .core
        .receive_message(
            &who,
            InboundMessage {
                channel,
                from,
                text,
                external_id: body.external_id,
                name: body.name,
                email: body.email,
                sent_at: body.timestamp,
            },
        )
        .await?;
    Ok(Json(InboundAnswer {
        conversation_id: receipt.conversation_id.to_string(),
        contact_id: receipt.contact_id.to_string(),
        message_id: receipt.message_id.to_string(),
        duplicate: receipt.duplicate,
        contact_created: receipt.contact_created,
        conversation_created: receipt.conversation_created,
        entered: receipt.entered.map(|(scenario, report)| EnteredStep {
            scenario_id: scenario.to_string(),
            step_id: report.entered_step.id.to_string(),
            current_step_id: report.current_step_id.to_string(),
            initial_message_queued: report.initial_message.is_some(),
            blocked_by_24h_rule: report.blocked_by_24h_rule,
        }),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationBody {
    pub id: String,
    pub contact_id: String,
    pub channel: Channel,
    pub status: ConversationStatus,
    pub priority: Priority,
    pub ai_enabled: bool,
    pub agent_id: Option<String>,
    pub assignees: Vec<String>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub crm_data: Map<String, Value>,
    /// Contact details a step asked to collect that the contact does not have yet.
    #[schema(value_type = Object)]
    pub contact_fields_to_collect: Value,
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub unread_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Every scenario the conversation has been in; at most one is `available`.
    pub scenarios: Vec<ScenarioPlace>,
    /// When the conversation advances by itself next, if it will.
    pub next_auto_advance: Option<NextAutoAdvance>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioPlace {
    pub scenario_id: String,
    pub scenario_name: String,
    pub step_id: String,
    pub step_name: Option<String>,
    pub step_index: Option<i64>,
    pub stay_id: String,
    pub available: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NextAutoAdvance {
    pub due_at: DateTime<Utc>,
    pub from_step_id: String,
    pub target_step_id: String,
    pub stay_id: String,
}

impl From<ConversationDetail> for ConversationBody {
    fn from(d: ConversationDetail) -> Self {
        let c = d.conversation;
        ConversationBody {
            id: c.id.to_string(),
            contact_id: c.contact_id.to_string(),
            channel: c.channel,
            status: c.status,
            priority: c.priority,
            ai_enabled: c.ai_enabled,
            agent_id: c.agent_id.map(|a| a.to_string()),
            assignees: c.assignees.iter().map(ToString::to_string).collect(),
            tags: c.tags,
            crm_data: c.crm_data,
            contact_fields_to_collect: serde_json::to_value(c.contact_fields_to_collect)
                .unwrap_or_default(),
            last_inbound_at: c.last_inbound_at,
            unread_count: c.unread_count,
            created_at: c.created_at,
            updated_at: c.updated_at,
            scenarios: d
                .links
                .into_iter()
                .map(|(link, scenario, step)| ScenarioPlace {
                    scenario_id: scenario.id.to_string(),
                    scenario_name: scenario.name,
                    step_id: link.step_id.to_string(),
                    step_name: step.as_ref().map(|s| s.settings.name.clone()),
                    step_index: step.map(|s| s.index),
                    stay_id: link.stay_id.to_string(),
                    available: link.available,
                })
                .collect(),
            next_auto_advance: d.next_auto_advance.map(|p| NextAutoAdvance {
                due_at: p.due_at,
                from_step_id: p.step_id.to_string(),
                target_step_id: p.target_step_id.to_string(),
                stay_id: p.stay_id.to_string(),
            }),
        }
    }
}

/// A conversation: its state, its place in scenarios, its next auto-advance.
#[utoipa::path(get, operation_id = "getConversationState", path = "/v1/conversations/{id}", tag = "Stagecoach",
    params(("id" = String, Path)),
    responses((status = 200, body = ConversationBody), (status = 401, body = NativeErrorBody),
        (status = 404, body = NativeErrorBody)))]
pub async fn conversation(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<ConversationBody>> {
    Ok(Json(
        state
            .core
            .conversation_detail(&who, ConversationId::parse(&id))
            .await?
            .into(),
    ))
}

/// One timeline entry.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimelineItem {
    pub id: String,
    /// `step_entered`, `step_exited`, `effect_applied`, `effect_skipped`, `assignee_chosen`,
    /// `effect_queued`, `timer_armed`, `timer_cancelled`, `timer_fired`, `timer_stale`,
    /// `removed_from_scenario`, `loop_guard_stopped`, `message_received`,
    /// `conversation_updated`, `crm_data_updated`, `message_queued`,
    /// `placeholders_unknown`, `ai_turn` or `handed_to_human`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `api_token:<id>`, `step:<id>`, `ai:<agent id>`, `channel:<id>`, `trigger`, `timer`
    /// or `system`.
    pub actor: String,
    /// The entry in plain words.
    pub summary: String,
    pub at: DateTime<Utc>,
    /// The entry's details (its fields depend on its type).
    #[schema(value_type = Object)]
    pub data: Value,
}

/// Everything that happened to a conversation, oldest first: why each rule fired or not.
#[utoipa::path(get, operation_id = "getConversationTimeline", path = "/v1/conversations/{id}/timeline", tag = "Stagecoach",
    params(("id" = String, Path)),
    responses((status = 200, body = Vec<TimelineItem>), (status = 401, body = NativeErrorBody),
        (status = 404, body = NativeErrorBody)))]
pub async fn timeline(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<TimelineItem>>> {
    let entries = state
        .core
        .timeline(&who, ConversationId::parse(&id))
        .await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|e| TimelineItem {
                id: e.id.to_string(),
                summary: stagecoach_domain::engine::summary::summarize(&e.kind, &e.actor, &e.data),
                kind: e.kind,
                actor: e.actor,
                at: e.created_at,
                data: e.data,
            })
            .collect(),
    ))
}

/// One outbound effect waiting to be (or already) sent.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutboxItem {
    pub id: String,
    /// `initial_message`, `zapi_notification`, `whatsapp_template` or `step_webhook`.
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    /// Everything needed to send it.
    #[schema(value_type = Object)]
    pub payload: Value,
    pub created_at: DateTime<Utc>,
}

/// The conversation's outbound effects, oldest first.
#[utoipa::path(get, operation_id = "getConversationOutbox", path = "/v1/conversations/{id}/outbox", tag = "Stagecoach",
    params(("id" = String, Path)),
    responses((status = 200, body = Vec<OutboxItem>), (status = 401, body = NativeErrorBody),
        (status = 404, body = NativeErrorBody)))]
pub async fn outbox(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<OutboxItem>>> {
    let entries = state.core.outbox(&who, ConversationId::parse(&id)).await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|e| OutboxItem {
                id: e.id.to_string(),
                kind: e.kind,
                status: e.status,
                attempts: e.attempts,
                payload: e.payload,
                created_at: e.created_at,
            })
            .collect(),
    ))
}
