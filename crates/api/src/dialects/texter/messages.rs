//! Texter's messages: a chat's history page by page, and free-text sending.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use stagecoach_domain::conversation::{Conversation, Message};
use stagecoach_domain::enums::MessageDirection;
use stagecoach_domain::error::Errors;
use stagecoach_domain::ids::{ConversationId, MessageId};
use utoipa::{IntoParams, ToSchema};

use super::chats::channel_name;
use super::error::{Result, TexterErrorBody};
use super::extract::{Body, Caller, Params};
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatChannelInfo {
    pub name: &'static str,
    pub id: Option<String>,
    pub account_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderInfo {
    /// The provider's message id (e.g. `wamid…`).
    pub id: Option<String>,
}

/// A message.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TexterMessage {
    #[serde(rename = "_id")]
    pub id: String,
    pub chat_channel_info: ChatChannelInfo,
    pub channel_info: ProviderInfo,
    /// `incoming` or `outgoing`.
    pub direction: &'static str,
    #[serde(rename = "parent_chat")]
    pub parent_chat: String,
    /// 0 sent or received, 1 queued, 2 delivered, 3 seen, 4 failed.
    pub status: u8,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
    /// Epoch milliseconds.
    pub timestamp: i64,
    pub updated_at: DateTime<Utc>,
}

/// Texter's message status codes: 0 sent, 1 accepted (queued), 2 delivered, 3 seen,
/// 4 failed.
fn texter_status(status: &str) -> u8 {
    match status {
        "queued" => 1,
        "delivered" => 2,
        "read" => 3,
        "failed" => 4,
        _ => 0,
    }
}

fn message(m: Message, chat: &Conversation, contact_id: Option<String>) -> TexterMessage {
    TexterMessage {
        id: m.id.to_string(),
        chat_channel_info: ChatChannelInfo {
            name: channel_name(chat.channel),
            id: contact_id,
            account_id: None,
        },
        channel_info: ProviderInfo { id: m.external_id },
        direction: match m.direction {
            MessageDirection::Inbound => "incoming",
            MessageDirection::Outbound => "outgoing",
        },
        parent_chat: m.conversation_id.to_string(),
        status: texter_status(&m.status),
        kind: "text",
        text: m.text,
        timestamp: m.created_at.timestamp_millis(),
        updated_at: m.created_at,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct MessagesQuery {
    /// Epoch milliseconds, inclusive; with `beforeId`.
    #[param(required = true, value_type = i64)]
    pub before_time: Option<i64>,
    /// The cursor message (excluded); with `beforeTime`.
    #[param(required = true, value_type = String)]
    pub before_id: Option<String>,
    /// Bot sessions are not supported: page with `beforeTime` and `beforeId`.
    pub bot_session_id: Option<String>,
    /// 1 to 1000 (default 50).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    pub messages: Vec<TexterMessage>,
    /// The chat's first and last message times (epoch milliseconds).
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
}

/// A page of a chat's messages before a cursor, oldest first.
#[utoipa::path(get, operation_id = "texterChatMessages", path = "/server/api/v2/messages/chat/{chatId}", tag = "Texter",
    params(("chatId" = String, Path), MessagesQuery),
    responses((status = 200, body = MessagePage), (status = 400, body = TexterErrorBody), (status = 401, body = TexterErrorBody),
        (status = 403, body = TexterErrorBody), (status = 404, body = TexterErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(chat): Path<String>,
    Params(q): Params<MessagesQuery>,
) -> Result<Json<MessagePage>> {
    let mut errors = Errors::default();
    if q.bot_session_id.is_some() {
        errors.add(
            "botSessionId",
            "bot sessions are not supported; page with beforeTime and beforeId",
        );
    }
    let before_time = match (q.before_time, q.before_id.as_deref()) {
        (Some(ms), Some(_)) => DateTime::from_timestamp_millis(ms),
        _ => None,
    };
    if before_time.is_none() && q.bot_session_id.is_none() {
        errors.add(
            "beforeTime",
            "send beforeTime (epoch milliseconds) together with beforeId",
        );
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        errors.add("limit", "must be between 1 and 1000");
    }
    errors.into_result()?;
    let before = (
        before_time.expect("checked above"),
        q.before_id.as_deref().and_then(MessageId::parse),
    );
    let page = state
        .core
        .chat_messages(&who, ConversationId::parse(&chat), before, limit)
        .await?;
    let contact = page.conversation.contact_id.to_string();
    Ok(Json(MessagePage {
        messages: page
            .messages
            .into_iter()
            .map(|m| message(m, &page.conversation, Some(contact.clone())))
            .collect(),
        min_time: page.min_time.map(|t| t.timestamp_millis()),
        max_time: page.max_time.map(|t| t.timestamp_millis()),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SendMessageBody {
    /// Only `text` is supported.
    #[serde(rename = "type")]
    #[schema(required = true, value_type = String)]
    pub kind: Option<String>,
    /// 1 to 4096 characters.
    #[schema(required = true, value_type = String)]
    pub text: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Sent {
    pub success: bool,
    pub messages: Vec<TexterMessage>,
}

/// Send a text to the chat (queued for delivery); refused outside the 24-hour window.
#[utoipa::path(post, operation_id = "texterSendMessage", path = "/server/api/v2/messages/send/{chatId}", tag = "Texter",
    params(("chatId" = String, Path)), request_body = SendMessageBody,
    responses((status = 200, body = Sent), (status = 400, body = TexterErrorBody), (status = 401, body = TexterErrorBody),
        (status = 403, body = TexterErrorBody), (status = 404, body = TexterErrorBody)))]
pub async fn send(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(chat): Path<String>,
    Body(body): Body<SendMessageBody>,
) -> Result<Json<Sent>> {
    let mut errors = Errors::default();
    match body.kind.as_deref() {
        Some("text") => {}
        Some(_) => errors.add("type", "only text messages are supported"),
        None => errors.add("type", "is required (text)"),
    }
    let text = body.text.unwrap_or_default();
    if text.trim().is_empty() || text.chars().count() > 4096 {
        errors.add("text", "must be 1 to 4096 characters");
    }
    errors.into_result()?;
    let id = ConversationId::parse(&chat);
    let sent = state.core.send_text(&who, id, text).await?;
    let chat = state.core.chat(&who, id).await?.conversation;
    let contact = chat.contact_id.to_string();
    Ok(Json(Sent {
        success: true,
        messages: vec![message(sent, &chat, Some(contact))],
    }))
}
