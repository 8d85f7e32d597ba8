//! Chatvolt's conversation endpoints: listing with filters and a cursor, reading,
//! deleting, status / priority / AI / assignment, and the message history.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use stagecoach_app::{AssigneeRef, ConversationDetail, ConversationFilter, MAX_CONVERSATION_PAGE};
use stagecoach_domain::conversation::Message;
use stagecoach_domain::enums::{Channel, ConversationStatus, MessageDirection, Priority};
use stagecoach_domain::error::Errors;
use stagecoach_domain::ids::{AgentId, ConversationId, MembershipId, ScenarioId, StepId};
use utoipa::{IntoParams, ToSchema};

use super::contacts::ContactBody;
use super::error::{ErrorBody, Result};
use super::extract::{Body, Caller, Params};
use super::scenarios::required;
use crate::AppState;

/// A conversation with what Chatvolt shows beside it (`ConversationDetailed`). Fields
/// Stagecoach has no use for (NPS, forms, mail inboxes) are answered empty.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationDetailed {
    pub id: String,
    pub title: Option<String>,
    pub unread_messages_count: i64,
    pub is_ai_enabled: bool,
    pub channel: Channel,
    pub status: ConversationStatus,
    pub blocked: bool,
    /// The conversation's CRM data.
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    pub organization_id: String,
    pub priority: Priority,
    pub agent_id: Option<String>,
    pub is_group: bool,
    pub nps_step: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the contact last wrote (opens the 24-hour window on WhatsApp).
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub participants_contacts: Vec<ContactBody>,
    #[schema(value_type = Vec<Object>)]
    pub ctwa_attributions: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub conversation_variables: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub conversation_contexts: Vec<Value>,
    pub assignees: Vec<AssigneeBody>,
    pub tags: Vec<TagBody>,
    pub crm_scenario_conversations: Vec<ScenarioLinkBody>,
    /// Contact details a step asked to collect that the contact does not have yet.
    #[schema(value_type = Object)]
    pub contact_fields_to_collect: Value,
    /// When the conversation next advances by itself, if it will.
    pub next_auto_advance_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssigneeBody {
    pub user: AssigneeUser,
}

/// A member: `id` is the membership id.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssigneeUser {
    pub id: String,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TagBody {
    pub tag: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioLinkBody {
    pub id: String,
    pub scenario_id: String,
    pub step_id: String,
    pub conversation_id: String,
    pub organization_id: String,
    pub available: bool,
    /// True while an auto-advance is pending for this stay.
    pub processing_job: bool,
    /// When that auto-advance is due.
    pub processing_job_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub scenario: LinkScenario,
    pub step: Option<LinkStep>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkScenario {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub organization_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkStep {
    pub id: String,
    pub index: i64,
    pub name: String,
    pub scenario_id: String,
    pub agent_id: Option<String>,
}

impl From<ConversationDetail> for ConversationDetailed {
    fn from(d: ConversationDetail) -> Self {
        let c = d.conversation;
        let pending = d.next_auto_advance;
        ConversationDetailed {
            id: c.id.to_string(),
            title: c.title,
            unread_messages_count: c.unread_count,
            is_ai_enabled: c.ai_enabled,
            channel: c.channel,
            status: c.status,
            blocked: false,
            metadata: c.crm_data,
            organization_id: c.organization_id.to_string(),
            priority: c.priority,
            agent_id: c.agent_id.map(|a| a.to_string()),
            is_group: false,
            nps_step: 0,
            created_at: c.created_at,
            updated_at: c.updated_at,
            last_inbound_at: c.last_inbound_at,
            participants_contacts: d.contact.into_iter().map(ContactBody::from).collect(),
            ctwa_attributions: Vec::new(),
            conversation_variables: Vec::new(),
            conversation_contexts: Vec::new(),
            assignees: d
                .assignees
                .into_iter()
                .map(|m| AssigneeBody {
                    user: AssigneeUser {
                        id: m.id.to_string(),
                        name: m.name,
                        email: m.email,
                    },
                })
                .collect(),
            tags: c.tags.into_iter().map(|tag| TagBody { tag }).collect(),
            crm_scenario_conversations: d
                .links
                .into_iter()
                .map(|(link, scenario, step)| {
                    let due = pending
                        .as_ref()
                        .filter(|p| p.stay_id == link.stay_id)
                        .map(|p| p.due_at);
                    ScenarioLinkBody {
                        id: link.id.to_string(),
                        scenario_id: link.scenario_id.to_string(),
                        step_id: link.step_id.to_string(),
                        conversation_id: link.conversation_id.to_string(),
                        organization_id: link.organization_id.to_string(),
                        available: link.available,
                        processing_job: due.is_some(),
                        processing_job_expires_at: due,
                        created_at: link.created_at,
                        updated_at: link.updated_at,
                        scenario: LinkScenario {
                            id: scenario.id.to_string(),
                            name: scenario.name,
                            description: scenario.description,
                            organization_id: scenario.organization_id.to_string(),
                        },
                        step: step.map(|s| LinkStep {
                            id: s.id.to_string(),
                            index: s.index,
                            name: s.settings.name,
                            scenario_id: s.scenario_id.to_string(),
                            agent_id: s.settings.agent_id.map(|a| a.to_string()),
                        }),
                    }
                })
                .collect(),
            contact_fields_to_collect: serde_json::to_value(c.contact_fields_to_collect)
                .unwrap_or_default(),
            next_auto_advance_at: pending.map(|p| p.due_at),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    /// An agent id, or `null` for conversations without an agent.
    pub agent_id: Option<String>,
    pub channel: Option<Channel>,
    /// From this time (inclusive): `YYYY-MM-DD`, `YYYY-MM-DD HH:mm[:ss]` or RFC 3339.
    pub created_at: Option<String>,
    /// Until this time (inclusive), same formats.
    pub end_date: Option<String>,
    pub status: Option<ConversationStatus>,
    pub priority: Option<Priority>,
    /// A membership id, or `unassigned`.
    pub assignee_id: Option<String>,
    pub unread: Option<bool>,
    pub tag: Option<String>,
    /// `enabled` or `disabled`.
    pub ai: Option<String>,
    /// Conversations active in this scenario.
    pub crm_scenario_id: Option<String>,
    /// With `crmScenarioId`: active in this step.
    pub crm_step_id: Option<String>,
    /// 1 to 100 (default 25).
    pub limit: Option<i64>,
    /// `{"lastCreatedAt": "...", "lastId": "..."}` from the last conversation of the previous page.
    pub cursor: Option<String>,
    /// Stagecoach keeps no click-to-WhatsApp ad data: any value matches nothing.
    pub ad_source_id: Option<String>,
    /// Stagecoach measures no frustration: a bound matches nothing.
    pub frustration_min: Option<f64>,
    pub frustration_max: Option<f64>,
    /// Stagecoach runs no NPS survey: every conversation is at step 0, unrated and not
    /// completed, and these filters match accordingly.
    pub nps_step: Option<i64>,
    pub nps_rating: Option<i64>,
    pub nps_rating_min: Option<i64>,
    pub nps_rating_max: Option<i64>,
    pub nps_completed: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cursor {
    last_created_at: DateTime<Utc>,
    last_id: String,
}

/// Dates as Chatvolt accepts them; a bare date is its midnight (or, as an end, its last
/// millisecond).
fn parse_time(text: &str, end_of_day: bool) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, format) {
            return Some(at.and_utc());
        }
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let at = if end_of_day {
        day.and_hms_milli_opt(23, 59, 59, 999)?
    } else {
        day.and_hms_opt(0, 0, 0)?
    };
    Some(at.and_utc())
}

impl ListQuery {
    /// Whether a filter on data Stagecoach does not keep (ads, frustration, NPS) rules
    /// out every conversation. The filters are still typed: a wrong type is a 400.
    fn matches_nothing(&self) -> bool {
        self.ad_source_id.is_some()
            || self.frustration_min.is_some()
            || self.frustration_max.is_some()
            || self.nps_step.is_some_and(|step| step != 0)
            || self.nps_rating.is_some()
            || self.nps_rating_min.is_some()
            || self.nps_rating_max.is_some()
            || self.nps_completed == Some(true)
    }

    pub(super) fn into_filter(
        self,
    ) -> std::result::Result<(ConversationFilter, i64), stagecoach_domain::ValidationError> {
        let mut errors = Errors::default();
        let mut filter = ConversationFilter {
            channel: self.channel,
            status: self.status,
            priority: self.priority,
            unread: self.unread,
            tag: self.tag,
            ..ConversationFilter::default()
        };
        filter.agent = self.agent_id.map(|a| match a.as_str() {
            "null" => None,
            text => Some(AgentId::parse_filter(text)),
        });
        filter.assignee = self.assignee_id.map(|a| match a.as_str() {
            "unassigned" => None,
            text => Some(MembershipId::parse_filter(text)),
        });
        for (field, text, end, slot) in [
            (
                "createdAt",
                self.created_at,
                false,
                &mut filter.created_from,
            ),
            ("endDate", self.end_date, true, &mut filter.created_to),
        ] {
            if let Some(text) = text {
                match parse_time(&text, end) {
                    Some(at) => *slot = Some(at),
                    None => errors.add(
                        field,
                        "must be YYYY-MM-DD, YYYY-MM-DD HH:mm[:ss] or an RFC 3339 time",
                    ),
                }
            }
        }
        filter.ai_enabled = match self.ai.as_deref() {
            None => None,
            Some("enabled") => Some(true),
            Some("disabled") => Some(false),
            Some(_) => {
                errors.add("ai", "must be enabled or disabled");
                None
            }
        };
        filter.scenario = self.crm_scenario_id.map(|s| ScenarioId::parse_filter(&s));
        if let Some(step) = self.crm_step_id {
            if filter.scenario.is_none() {
                errors.add("crmStepId", "needs crmScenarioId");
            }
            filter.step = Some(StepId::parse_filter(&step));
        }
        if let Some(cursor) = self.cursor {
            match serde_json::from_str::<Cursor>(&cursor) {
                Ok(c) => {
                    filter.before =
                        Some((c.last_created_at, ConversationId::parse_filter(&c.last_id)))
                }
                Err(_) => errors.add(
                    "cursor",
                    "must be {\"lastCreatedAt\": \"<RFC 3339>\", \"lastId\": \"<id>\"}",
                ),
            }
        }
        let limit = self.limit.unwrap_or(25);
        if !(1..=MAX_CONVERSATION_PAGE).contains(&limit) {
            errors.add("limit", "must be between 1 and 100");
        }
        errors.into_result().map(|()| (filter, limit))
    }
}

/// List conversations, newest first.
#[utoipa::path(get, operation_id = "listConversations", path = "/conversation", tag = "Conversations",
    params(ListQuery),
    responses((status = 200, body = Vec<ConversationDetailed>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(query): Params<ListQuery>,
) -> Result<Json<Vec<ConversationDetailed>>> {
    let nothing = query.matches_nothing();
    let (filter, limit) = query.into_filter()?;
    if nothing {
        return Ok(Json(Vec::new()));
    }
    let found = state.core.list_conversations(&who, &filter, limit).await?;
    Ok(Json(found.into_iter().map(Into::into).collect()))
}

/// One conversation.
#[utoipa::path(get, operation_id = "getConversation", path = "/conversation/{conversationId}", tag = "Conversations",
    params(("conversationId" = String, Path)),
    responses((status = 200, body = ConversationDetailed), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<ConversationDetailed>> {
    Ok(Json(
        state
            .core
            .conversation_detail(&who, ConversationId::parse(&id))
            .await?
            .into(),
    ))
}

/// `{success: true, message}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Done {
    pub success: bool,
    pub message: &'static str,
}

fn done(message: &'static str) -> Json<Done> {
    Json(Done {
        success: true,
        message,
    })
}

/// Delete a conversation with its messages, board links and history.
#[utoipa::path(delete, operation_id = "deleteConversation", path = "/conversation/{conversationId}", tag = "Conversations",
    params(("conversationId" = String, Path)),
    responses((status = 200, body = Done), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<Done>> {
    state
        .core
        .delete_conversation(&who, ConversationId::parse(&id))
        .await?;
    Ok(done("Conversation deleted."))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StatusBody {
    pub status: Option<ConversationStatus>,
}

/// Set the status.
#[utoipa::path(post, operation_id = "setConversationStatus", path = "/conversations/{conversationId}/set-status",
    tag = "Conversations", params(("conversationId" = String, Path)), request_body = StatusBody,
    responses((status = 200, body = Done), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_status(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Body(body): Body<StatusBody>,
) -> Result<Json<Done>> {
    let status = body.status.ok_or_else(|| required("status"))?;
    state
        .core
        .set_status(&who, ConversationId::parse(&id), status)
        .await?;
    Ok(done("Conversation Status changed."))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PriorityBody {
    pub priority: Option<Priority>,
}

/// Set the priority.
#[utoipa::path(post, operation_id = "setConversationPriority", path = "/conversations/{conversationId}/set-priority",
    tag = "Conversations", params(("conversationId" = String, Path)), request_body = PriorityBody,
    responses((status = 200, body = Done), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_priority(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Body(body): Body<PriorityBody>,
) -> Result<Json<Done>> {
    let priority = body.priority.ok_or_else(|| required("priority"))?;
    state
        .core
        .set_priority(&who, ConversationId::parse(&id), priority)
        .await?;
    Ok(done("Conversation Priority changed."))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AiBody {
    pub enabled: Option<bool>,
}

/// Turn the AI agent on or off for the conversation.
#[utoipa::path(post, operation_id = "setConversationAi", path = "/conversations/{conversationId}/set-ai-enabled",
    tag = "Conversations", params(("conversationId" = String, Path)), request_body = AiBody,
    responses((status = 200, body = Done), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_ai_enabled(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Body(body): Body<AiBody>,
) -> Result<Json<Done>> {
    let enabled = body.enabled.ok_or_else(|| required("enabled"))?;
    state
        .core
        .set_ai_enabled(&who, ConversationId::parse(&id), enabled)
        .await?;
    Ok(done(if enabled { "AI is On." } else { "AI is Off." }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssignBody {
    pub email: Option<String>,
    /// The member's id (Stagecoach has no user ids apart from memberships).
    pub id: Option<String>,
    pub membership_id: Option<String>,
    /// Reassign a conversation already assigned to someone else.
    #[serde(default)]
    pub force: bool,
}

/// Assign the conversation to a member: exactly one of `email`, `id`, `membershipId`.
#[utoipa::path(post, operation_id = "assignConversation", path = "/conversations/{conversationId}/assign",
    tag = "Conversations", params(("conversationId" = String, Path)), request_body = AssignBody,
    responses((status = 200, body = Done), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn assign(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Body(body): Body<AssignBody>,
) -> Result<Json<Done>> {
    let assignee = match (body.email, body.id, body.membership_id) {
        (Some(email), None, None) => AssigneeRef::Email(email),
        (None, Some(id), None) | (None, None, Some(id)) => {
            AssigneeRef::Membership(MembershipId::parse(&id))
        }
        _ => {
            return Err(stagecoach_domain::ValidationError::single(
                "email",
                "send exactly one of email, id and membershipId",
            )
            .into());
        }
    };
    state
        .core
        .assign(&who, ConversationId::parse(&id), assignee, body.force)
        .await?;
    Ok(done("Conversation Assigned."))
}

/// Remove the conversation's assignees.
#[utoipa::path(post, operation_id = "unassignConversation", path = "/conversations/{conversationId}/unassign",
    tag = "Conversations", params(("conversationId" = String, Path)),
    responses((status = 200, body = Done), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unassign(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<Done>> {
    state
        .core
        .unassign(&who, ConversationId::parse(&id))
        .await?;
    Ok(done("Conversation unassigned."))
}

/// A message (`Message`): `from` is `human` for the contact, `agent` for the business.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageBody {
    pub id: String,
    pub text: String,
    pub from: &'static str,
    pub conversation_id: String,
    pub external_id: Option<String>,
    pub read: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Message> for MessageBody {
    fn from(m: Message) -> Self {
        MessageBody {
            id: m.id.to_string(),
            text: m.text,
            from: match m.direction {
                MessageDirection::Inbound => "human",
                MessageDirection::Outbound => "agent",
            },
            conversation_id: m.conversation_id.to_string(),
            external_id: m.external_id,
            read: false,
            created_at: m.created_at,
            updated_at: m.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterBody {
    pub message: Option<String>,
    /// `human` (default) or `agent`.
    pub from: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    pub success: bool,
    pub message: MessageBody,
}

/// Record a message in the history without sending it.
#[utoipa::path(post, operation_id = "registerMessage", path = "/conversations/{conversationId}/message-register",
    tag = "Conversations", params(("conversationId" = String, Path)), request_body = RegisterBody,
    responses((status = 200, body = Registered), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn register_message(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Body(body): Body<RegisterBody>,
) -> Result<Json<Registered>> {
    let text = body
        .message
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| required("message"))?;
    let direction = match body.from.as_deref() {
        None | Some("human") => MessageDirection::Inbound,
        Some("agent") => MessageDirection::Outbound,
        Some(_) => {
            return Err(stagecoach_domain::ValidationError::single(
                "from",
                "must be human or agent",
            )
            .into());
        }
    };
    let message = state
        .core
        .register_message(&who, ConversationId::parse(&id), text, direction)
        .await?;
    Ok(Json(Registered {
        success: true,
        message: message.into(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendBody {
    pub message: Option<String>,
    /// Required unless addressing by `conversationId`.
    pub agent_id: Option<String>,
    /// Required unless addressing by `conversationId`.
    pub channel: Option<Channel>,
    /// Not sent yet: a request with attachments is refused rather than sent without them.
    #[schema(value_type = Option<Vec<Object>>)]
    pub attachments: Option<Vec<Value>>,
}

/// Send a message now, to a conversation or to a contact's latest conversation on a
/// channel. 406 `ERR_META_SESSION_EXPIRED_24H` outside WhatsApp's 24-hour window.
#[utoipa::path(post, operation_id = "sendMessage", path = "/conversation/message/{type}/{value}",
    tag = "Conversations", params(("type" = String, Path, description = "conversationId, phone or email"), ("value" = String, Path)),
    request_body = SendBody,
    responses((status = 200, body = Registered), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 406, body = ErrorBody)))]
pub async fn send_message(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((kind, value)): Path<(String, String)>,
    Body(body): Body<SendBody>,
) -> Result<Json<Registered>> {
    let mut errors = Errors::default();
    let text = body.message.filter(|m| !m.trim().is_empty());
    if text.is_none() {
        errors.add("message", "is required");
    }
    if body.attachments.as_ref().is_some_and(|a| !a.is_empty()) {
        errors.add("attachments", "sending attachments is not supported yet");
    }
    if !matches!(kind.as_str(), "conversationId" | "phone" | "email") {
        errors.add("type", "must be conversationId, phone or email");
    } else if kind != "conversationId" {
        if body.agent_id.as_deref().and_then(AgentId::parse).is_none() {
            errors.add(
                "agentId",
                "is required when not addressing by conversationId",
            );
        }
        if body.channel.is_none() {
            errors.add(
                "channel",
                "is required when not addressing by conversationId",
            );
        }
    }
    errors.into_result()?;
    let conversation = match (kind.as_str(), body.channel) {
        ("conversationId", _) => ConversationId::parse(&value),
        ("phone", Some(channel)) => Some(
            state
                .core
                .conversation_for_contact(&who, Some(&value), None, channel)
                .await?,
        ),
        (_, Some(channel)) => Some(
            state
                .core
                .conversation_for_contact(&who, None, Some(&value), channel)
                .await?,
        ),
        (_, None) => unreachable!("validated above"),
    };
    let message = state
        .core
        .send_text(&who, conversation, text.expect("validated above"))
        .await?;
    Ok(Json(Registered {
        success: true,
        message: message.into(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastMessages {
    pub status: ConversationStatus,
    pub is_ai_enabled: bool,
    pub organization_id: String,
    pub messages: Vec<MessageBody>,
}

/// The conversation's last `count` messages (1 to 100), oldest first.
#[utoipa::path(get, operation_id = "getConversationMessages", path = "/conversation/{conversationId}/messages/{count}",
    tag = "Conversations", params(("conversationId" = String, Path), ("count" = i64, Path)),
    responses((status = 200, body = LastMessages), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn messages(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((id, count)): Path<(String, String)>,
) -> Result<Json<LastMessages>> {
    let count = count
        .parse::<i64>()
        .ok()
        .filter(|c| (1..=100).contains(c))
        .ok_or_else(|| {
            stagecoach_domain::ValidationError::single(
                "count",
                "must be a whole number from 1 to 100",
            )
        })?;
    let (conversation, messages) = state
        .core
        .last_messages(&who, ConversationId::parse(&id), count)
        .await?;
    Ok(Json(LastMessages {
        status: conversation.status,
        is_ai_enabled: conversation.ai_enabled,
        organization_id: conversation.organization_id.to_string(),
        messages: messages.into_iter().map(Into::into).collect(),
    }))
}
