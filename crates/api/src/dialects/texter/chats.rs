//! Texter's chats: a Stagecoach conversation seen through Texter's door.
//!
//! The chat `status` is derived from the conversation (see `Handling`):
//! 0 BOT (open, unassigned, AI answering), 1 PENDING (a human was requested, or AI off and
//! nobody assigned), 2 ASSIGNED (open and assigned), 3 RESOLVED. 4 BULK is never derived:
//! Stagecoach has no bulk sends.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use stagecoach_app::{AssigneeRef, ChatPatch, ChatRef, ChatSearch, ChatView, LabelChange};
use stagecoach_domain::conversation::Handling;
use stagecoach_domain::crm_data::MergeMode;
use stagecoach_domain::enums::Channel;
use stagecoach_domain::error::Errors;
use stagecoach_domain::ids::{ConversationId, MembershipId};
use utoipa::{IntoParams, ToSchema};

use super::error::{Result, TexterErrorBody};
use super::extract::{Body, Caller};
use crate::AppState;
use crate::nullable::{patch, present};

/// Texter's name for a channel.
pub(crate) fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Whatsapp | Channel::Zapi => "whatsapp",
        Channel::InstagramDm => "instagram",
        Channel::Website | Channel::Dashboard => "website_chat",
        Channel::Telegram => "telegram",
    }
}

fn channels_named(name: &str) -> Option<Vec<Channel>> {
    Some(match name {
        "whatsapp" => vec![Channel::Whatsapp, Channel::Zapi],
        "instagram" => vec![Channel::InstagramDm],
        "website_chat" => vec![Channel::Website, Channel::Dashboard],
        "telegram" => vec![Channel::Telegram],
        "messenger" | "email" => vec![],
        _ => return None,
    })
}

pub(crate) fn status_number(handling: Handling) -> u8 {
    match handling {
        Handling::Bot => 0,
        Handling::Pending => 1,
        Handling::Assigned => 2,
        Handling::Resolved => 3,
    }
}

fn handling_named(name: &str) -> Option<Option<Handling>> {
    Some(match name {
        "BOT" => Some(Handling::Bot),
        "PENDING" => Some(Handling::Pending),
        "ASSIGNED" => Some(Handling::Assigned),
        "RESOLVED" => Some(Handling::Resolved),
        "BULK" => None,
        _ => return None,
    })
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelInfo {
    pub name: &'static str,
    /// The contact's id on the channel (their phone number, digits only, on WhatsApp).
    pub id: Option<String>,
    /// The business's account on the channel; null until channels are configured.
    pub account_id: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatAgent {
    /// The member's membership id.
    pub uid: String,
    pub display_name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LastMessage {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
}

/// The Chat object.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Chat {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    #[serde(rename = "_id")]
    pub id: String,
    /// The contact's name, or their phone number (or channel id) when it is unknown.
    pub title: Option<String>,
    /// The name given in Stagecoach; absent until set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The contact: the same person across channels.
    pub person_id: String,
    pub channel_info: ChannelInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<ChatAgent>,
    pub department_id: Option<String>,
    /// 0 BOT, 1 PENDING, 2 ASSIGNED, 3 RESOLVED.
    pub status: u8,
    pub unread_count: i64,
    /// Label ids (the conversation's tags).
    pub labels: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_message: Option<LastMessage>,
    /// Epoch milliseconds.
    #[serde(rename = "last_message_timestamp")]
    pub last_message_timestamp: Option<i64>,
    /// Epoch milliseconds.
    pub last_incoming_message_timestamp: Option<i64>,
    pub created: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub crm_data: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crm_deep_link: Option<String>,
    pub external_bot: bool,
    /// Deprecated in Texter: `channelInfo.name`.
    pub channel: &'static str,
    /// Deprecated in Texter: `channelInfo.id`.
    pub client_phone: Option<String>,
    pub client_phone_e164: Option<String>,
    /// Deprecated in Texter: `lastMessage.text`.
    pub last_text: Option<String>,
}

impl Chat {
    pub(crate) fn from_view(view: ChatView, success: bool, with_last_message: bool) -> Chat {
        let ChatView {
            conversation: c,
            contact,
            agent,
            last_message,
        } = view;
        let phone = contact.as_ref().and_then(|x| x.phone.clone());
        let channel_id = phone
            .clone()
            .or_else(|| contact.as_ref().and_then(|x| x.external_id.clone()));
        Chat {
            success: success.then_some(true),
            id: c.id.to_string(),
            // The contact's name; without one, how the channel knows them.
            title: contact
                .as_ref()
                .and_then(|x| x.display_name())
                .or_else(|| phone.as_ref().map(|p| format!("+{p}")))
                .or_else(|| channel_id.clone()),
            display_name: c.title.clone(),
            person_id: c.contact_id.to_string(),
            channel_info: ChannelInfo {
                name: channel_name(c.channel),
                id: channel_id,
                account_id: None,
                metadata: Map::new(),
            },
            agent: agent.map(|m| ChatAgent {
                uid: m.id.to_string(),
                display_name: m.name,
            }),
            department_id: None,
            status: status_number(c.handling()),
            unread_count: c.unread_count,
            labels: c.tags.clone(),
            last_message: last_message
                .as_ref()
                .filter(|_| with_last_message)
                .map(|m| LastMessage {
                    kind: "text",
                    text: m.text.clone(),
                }),
            last_message_timestamp: c.last_message_at.map(|t| t.timestamp_millis()),
            last_incoming_message_timestamp: c.last_inbound_at.map(|t| t.timestamp_millis()),
            created: c.created_at,
            updated_at: c.updated_at,
            crm_data: c.crm_data,
            crm_deep_link: c.crm_deep_link,
            external_bot: c.external_bot,
            channel: channel_name(c.channel),
            client_phone: phone.clone(),
            client_phone_e164: phone.map(|p| format!("+{p}")),
            last_text: last_message.map(|m| m.text),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrmDataBody {
    /// The CRM data to write: a JSON object.
    #[schema(required = true, value_type = Object)]
    pub data: Option<Value>,
    /// `replace`, `assign`, `merge` (default), `defaults` or `defaultsDeep`.
    pub merging_mode: Option<String>,
}

/// Update the chat's CRM data with one of lodash's merge modes.
#[utoipa::path(post, operation_id = "texterUpdateCrmData", path = "/server/api/v2/chats/{chatId}/crm-data", tag = "Texter",
    params(("chatId" = String, Path)), request_body = CrmDataBody,
    responses((status = 200, body = Chat), (status = 400, body = TexterErrorBody), (status = 401, body = TexterErrorBody),
        (status = 403, body = TexterErrorBody), (status = 404, body = TexterErrorBody)))]
pub async fn update_crm_data(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(chat): Path<String>,
    Body(body): Body<CrmDataBody>,
) -> Result<Json<Chat>> {
    let mut errors = Errors::default();
    let data = match body.data {
        Some(Value::Object(map)) => Some(map),
        Some(_) => {
            errors.add("data", "must be a JSON object");
            None
        }
        None => {
            errors.add("data", "is required: the CRM data to write, a JSON object");
            None
        }
    };
    let mode = match body.merging_mode.as_deref() {
        None => Some(MergeMode::Merge),
        Some(name) => match serde_json::from_value::<MergeMode>(Value::from(name)) {
            Ok(mode) => Some(mode),
            Err(_) => {
                errors.add(
                    "mergingMode",
                    format!("must be one of {}", MergeMode::NAMES.join(", ")),
                );
                None
            }
        },
    };
    errors.into_result()?;
    let (Some(data), Some(mode)) = (data, mode) else {
        unreachable!("checked above")
    };
    let view = state
        .core
        .update_crm_data(&who, ConversationId::parse(&chat), mode, data)
        .await?;
    Ok(Json(Chat::from_view(view, true, true)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Phone number or name, at least 2 characters.
    pub search: Option<String>,
    #[serde(rename = "channel[name]")]
    pub channel_name: Option<String>,
    /// With `channel[name]`. Accepted; Stagecoach has one account per channel for now.
    #[serde(rename = "channel[accountId]")]
    pub channel_account_id: Option<String>,
    /// 1 to 10000 (default 30).
    pub limit: Option<i64>,
    pub skip: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResult {
    pub data: Vec<Chat>,
    pub total: i64,
}

/// Search chats, newest last message first. `labels[]` and `statuses[]` repeat.
#[utoipa::path(get, operation_id = "texterSearchChats", path = "/server/api/v2/chats/search", tag = "Texter",
    params(SearchQuery,
        ("labels[]" = Option<Vec<String>>, Query, description = "Label ids (any of them)"),
        ("statuses[]" = Option<Vec<String>>, Query, description = "BOT, PENDING, ASSIGNED, RESOLVED or BULK")),
    responses((status = 200, body = SearchResult), (status = 400, body = TexterErrorBody), (status = 401, body = TexterErrorBody),
        (status = 403, body = TexterErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    Caller(who): Caller,
    super::extract::Params(query): super::extract::Params<SearchQuery>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Result<Json<SearchResult>> {
    let mut errors = Errors::default();
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let repeated = |name: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let mut search = ChatSearch {
        tags: repeated("labels[]"),
        ..ChatSearch::default()
    };
    if search.tags.len() > 100 {
        errors.add("labels", "at most 100 labels");
    }
    let statuses = repeated("statuses[]");
    let mut bulk_only = !statuses.is_empty();
    for name in &statuses {
        match handling_named(name) {
            Some(Some(h)) => {
                search.handlings.push(h);
                bulk_only = false;
            }
            Some(None) => {}
            None => errors.add(
                "statuses",
                format!("{name:?} is not one of BOT, PENDING, ASSIGNED, RESOLVED, BULK"),
            ),
        }
    }
    if let Some(text) = query.search.as_deref() {
        if text.trim().chars().count() < 2 {
            errors.add("search", "must be at least 2 characters");
        }
        search.text = Some(text.trim().to_owned());
    }
    match (
        query.channel_name.as_deref(),
        query.channel_account_id.as_deref(),
    ) {
        (Some(name), Some(_)) => match channels_named(name) {
            Some(channels) if channels.is_empty() => bulk_only = true,
            Some(channels) => search.channels = channels,
            None => errors.add(
                "channel[name]",
                "must be whatsapp, messenger, instagram, website_chat or email",
            ),
        },
        (None, None) => {}
        _ => errors.add(
            "channel",
            "channel[name] and channel[accountId] go together",
        ),
    }
    let limit = query.limit.unwrap_or(30);
    if !(1..=10_000).contains(&limit) {
        errors.add("limit", "must be between 1 and 10000");
    }
    let skip = query.skip.unwrap_or(0);
    if skip < 0 {
        errors.add("skip", "must be 0 or more");
    }
    errors.into_result()?;
    if bulk_only {
        // Only BULK chats, or a channel Stagecoach does not have: nothing matches.
        return Ok(Json(SearchResult {
            data: vec![],
            total: 0,
        }));
    }
    let (chats, total) = state.core.search_chats(&who, &search, skip, limit).await?;
    Ok(Json(SearchResult {
        data: chats
            .into_iter()
            .map(|c| Chat::from_view(c, false, false))
            .collect(),
        total,
    }))
}

/// The trimmed public view of a chat that `GET /chats/{chatId}` answers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicChat {
    pub success: bool,
    pub title: Option<String>,
    pub person_id: String,
    pub channel_info: ChannelInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<ChatAgent>,
    pub status: u8,
    pub unread_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_message: Option<LastMessage>,
    pub last_message_timestamp: Option<i64>,
    pub last_incoming_message_timestamp: Option<i64>,
    pub created: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub external_bot: bool,
}

/// One chat, trimmed (no id, labels or CRM data: search for those).
#[utoipa::path(get, operation_id = "texterGetChat", path = "/server/api/v2/chats/{chatId}", tag = "Texter",
    params(("chatId" = String, Path)),
    responses((status = 200, body = PublicChat), (status = 401, body = TexterErrorBody), (status = 403, body = TexterErrorBody),
        (status = 404, body = TexterErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(chat): Path<String>,
) -> Result<Json<PublicChat>> {
    let full = Chat::from_view(
        state.core.chat(&who, ConversationId::parse(&chat)).await?,
        true,
        true,
    );
    Ok(Json(PublicChat {
        success: true,
        title: full.title,
        person_id: full.person_id,
        channel_info: full.channel_info,
        agent: full.agent,
        status: full.status,
        unread_count: full.unread_count,
        last_message: full.last_message,
        last_message_timestamp: full.last_message_timestamp,
        last_incoming_message_timestamp: full.last_incoming_message_timestamp,
        created: full.created,
        updated_at: full.updated_at,
        external_bot: full.external_bot,
    }))
}

/// Name the chat by exactly one of `phone` and `chatId`, and the agent by exactly one of
/// `agentUid` and `agentEmail`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssignChatBody {
    /// The contact's phone number (or `chatId`).
    pub phone: Option<String>,
    /// The chat (or `phone`).
    pub chat_id: Option<String>,
    /// The member's membership id (or `agentEmail`).
    pub agent_uid: Option<String>,
    /// The member's e-mail (or `agentUid`).
    pub agent_email: Option<String>,
    /// Not supported: a request with it is refused.
    pub agent_crm_id: Option<String>,
    /// Not supported (Stagecoach has no departments): a request with it is refused.
    pub department_id: Option<String>,
    /// With `phone`, when the contact has chats on several channels: `{name}`.
    #[schema(value_type = Option<Object>)]
    pub channel: Option<Value>,
}

/// Assign a chat to an agent (a member): it then waits for them (PENDING).
#[utoipa::path(post, operation_id = "texterAssignChat", path = "/server/api/v2/chats/assign", tag = "Texter",
    request_body = AssignChatBody,
    responses((status = 200, body = String, description = "`OK`"), (status = 400, body = TexterErrorBody),
        (status = 401, body = TexterErrorBody), (status = 403, body = TexterErrorBody), (status = 404, body = TexterErrorBody)))]
pub async fn assign(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(body): Body<AssignChatBody>,
) -> Result<&'static str> {
    let mut errors = Errors::default();
    let chat = match (body.phone, body.chat_id) {
        (Some(phone), None) => {
            let channel = body
                .channel
                .as_ref()
                .and_then(|c| c.get("name"))
                .and_then(Value::as_str)
                .and_then(channels_named)
                .and_then(|c| c.first().copied());
            Some(ChatRef::Phone { phone, channel })
        }
        (None, Some(id)) => Some(ChatRef::Id(ConversationId::parse(&id))),
        _ => {
            errors.add("chatId", "send exactly one of phone and chatId");
            None
        }
    };
    if body.department_id.is_some() {
        errors.add(
            "departmentId",
            "departments are not supported; assign an agent",
        );
    }
    if body.agent_crm_id.is_some() {
        errors.add(
            "agentCrmId",
            "CRM agent ids are not supported; use agentUid or agentEmail",
        );
    }
    let assignee = match (body.agent_uid, body.agent_email) {
        (Some(uid), None) => Some(AssigneeRef::Membership(MembershipId::parse(&uid))),
        (None, Some(email)) => Some(AssigneeRef::Email(email)),
        _ => {
            errors.add("agentUid", "send exactly one of agentUid and agentEmail");
            None
        }
    };
    errors.into_result()?;
    let (Some(chat), Some(assignee)) = (chat, assignee) else {
        unreachable!("checked above")
    };
    state.core.assign_chat(&who, chat, assignee).await?;
    Ok("OK")
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolveBody {
    /// Send the default resolution message first (not supported: must be false).
    #[serde(default)]
    pub notify_client: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Success {
    pub success: bool,
}

/// Resolve a chat; the contact's next message goes back to the bot.
#[utoipa::path(post, operation_id = "texterResolveChat", path = "/server/api/v2/chats/{chatId}/resolve", tag = "Texter",
    params(("chatId" = String, Path)), request_body = Option<ResolveBody>,
    responses((status = 200, body = Success), (status = 400, body = TexterErrorBody), (status = 401, body = TexterErrorBody),
        (status = 403, body = TexterErrorBody), (status = 404, body = TexterErrorBody)))]
pub async fn resolve(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(chat): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Success>> {
    let body: ResolveBody = if body.iter().all(u8::is_ascii_whitespace) {
        ResolveBody::default()
    } else {
        crate::extract::parse_json(&body)?
    };
    if body.notify_client {
        return Err(stagecoach_domain::ValidationError::single(
            "notifyClient",
            "resolution messages are not supported yet; send false",
        )
        .into());
    }
    state
        .core
        .resolve_chat(&who, ConversationId::parse(&chat))
        .await?;
    Ok(Json(Success { success: true }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatchBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Option<String>>,
    /// Deprecated: `displayName`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub title: Option<Option<String>>,
    pub external_bot: Option<bool>,
    /// Replaces the CRM data wholesale.
    #[schema(value_type = Option<Object>)]
    pub crm_data: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub crm_deep_link: Option<Option<String>>,
}

/// Update chat properties: display name, external bot, CRM data (replaced), deep link.
#[utoipa::path(patch, operation_id = "texterUpdateChat", path = "/server/api/v2/chats/{chatId}", tag = "Texter",
    params(("chatId" = String, Path)), request_body = PatchBody,
    responses((status = 200, body = Chat), (status = 400, body = TexterErrorBody), (status = 401, body = TexterErrorBody),
        (status = 403, body = TexterErrorBody), (status = 404, body = TexterErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(chat): Path<String>,
    Body(body): Body<PatchBody>,
) -> Result<Json<Chat>> {
    let crm_data = match body.crm_data {
        None => None,
        Some(Value::Object(map)) => Some(map),
        Some(_) => {
            return Err(stagecoach_domain::ValidationError::single(
                "crmData",
                "must be a JSON object",
            )
            .into());
        }
    };
    let patch = ChatPatch {
        display_name: patch(body.display_name.or(body.title)),
        external_bot: body.external_bot,
        crm_data,
        crm_deep_link: patch(body.crm_deep_link),
    };
    let view = state
        .core
        .patch_chat(&who, ConversationId::parse(&chat), patch)
        .await?;
    Ok(Json(Chat::from_view(view, true, true)))
}

/// Exactly one of `add`, `remove` and `set`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChatLabelsBody {
    pub add: Option<Vec<String>>,
    pub remove: Option<Vec<String>>,
    /// Replaces every label; `[]` clears them.
    pub set: Option<Vec<String>>,
}

/// Add, remove or set a chat's labels: exactly one of `add`, `remove`, `set`.
#[utoipa::path(post, operation_id = "texterChatLabels", path = "/server/api/v2/chats/{chatId}/labels", tag = "Texter",
    params(("chatId" = String, Path)), request_body = ChatLabelsBody,
    responses((status = 200, body = String, description = "`OK`"), (status = 400, body = TexterErrorBody),
        (status = 401, body = TexterErrorBody), (status = 403, body = TexterErrorBody), (status = 404, body = TexterErrorBody)))]
pub async fn labels(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(chat): Path<String>,
    Body(body): Body<ChatLabelsBody>,
) -> Result<&'static str> {
    let change = match (body.add, body.remove, body.set) {
        (Some(add), None, None) if !add.is_empty() => LabelChange::Add(add),
        (None, Some(remove), None) if !remove.is_empty() => LabelChange::Remove(remove),
        (None, None, Some(set)) => LabelChange::Set(set),
        (Some(_), None, None) => {
            return Err(stagecoach_domain::ValidationError::single(
                "add",
                "needs at least one label",
            )
            .into());
        }
        (None, Some(_), None) => {
            return Err(stagecoach_domain::ValidationError::single(
                "remove",
                "needs at least one label",
            )
            .into());
        }
        _ => {
            return Err(stagecoach_domain::ValidationError::single(
                "add",
                "send exactly one of add, remove and set",
            )
            .into());
        }
    };
    let ids = match &change {
        LabelChange::Add(v) | LabelChange::Remove(v) | LabelChange::Set(v) => v,
    };
    for id in ids {
        stagecoach_domain::label::check(Some(id), None, None)?;
    }
    state
        .core
        .change_labels(&who, ConversationId::parse(&chat), change)
        .await?;
    Ok("OK")
}
