//! Conversations with their messages: `GET /conversations/history` (a page, as JSON) and
//! `GET /conversations/export`, `GET /conversations/{conversationId}/export` (streamed as
//! JSON or CSV). An export reads 50 conversations and 500 messages at a time and sends
//! each piece as soon as it is read, so neither the server's memory nor the time to the
//! first byte grows with the export's size. Chatvolt's file gives these operations no
//! parameters; the filters are those of `GET /conversation`.

use std::collections::VecDeque;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use stagecoach_app::{ConversationFilter, ExportedConversation, Principal, Stagecoach};
use stagecoach_domain::conversation::Message;
use stagecoach_domain::csv;
use stagecoach_domain::enums::{Channel, ConversationStatus, Priority};
use stagecoach_domain::ids::{ConversationId, MessageId};
use utoipa::{IntoParams, ToSchema};

use super::conversations::{ListQuery, MessageBody};
use super::error::{ErrorBody, Result};
use super::extract::{Caller, Params};
use crate::AppState;

/// Conversations read per page of an export.
const CONVERSATIONS_PER_PAGE: i64 = 50;
/// Messages read per round of an export.
const MESSAGES_PER_ROUND: i64 = 500;

/// What an export is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// `{success, data: {conversations: [{…, messages: […]}]}}`
    #[default]
    Json,
    /// One row per message (a conversation without messages has one row of its own).
    Csv,
}

/// The filters of `GET /conversation`, for the history and the exports.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ExportQuery {
    /// An agent id, or `null` for conversations without an agent.
    pub agent_id: Option<String>,
    pub channel: Option<Channel>,
    /// From this time (inclusive): `YYYY-MM-DD`, `YYYY-MM-DD HH:mm[:ss]` or RFC 3339.
    pub created_at: Option<String>,
    /// Until this time (inclusive), same formats.
    pub end_date: Option<String>,
    pub status: Option<ConversationStatus>,
    pub priority: Option<Priority>,
    pub tag: Option<String>,
    /// Conversations active in this scenario.
    pub crm_scenario_id: Option<String>,
    /// With `crmScenarioId`: active in this step.
    pub crm_step_id: Option<String>,
    /// History only: conversations per page, 1 to 100 (default 25).
    pub limit: Option<i64>,
    /// History only: the `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// History only: the latest messages of each conversation, 1 to 100 (default 20).
    pub message_limit: Option<i64>,
    /// Export only: `json` (default) or `csv`.
    pub format: Option<ExportFormat>,
}

impl ExportQuery {
    fn into_filter(
        self,
    ) -> std::result::Result<(ConversationFilter, i64), stagecoach_domain::ValidationError> {
        ListQuery {
            agent_id: self.agent_id,
            channel: self.channel,
            created_at: self.created_at,
            end_date: self.end_date,
            status: self.status,
            priority: self.priority,
            assignee_id: None,
            unread: None,
            tag: self.tag,
            ai: None,
            crm_scenario_id: self.crm_scenario_id,
            crm_step_id: self.crm_step_id,
            limit: self.limit,
            cursor: self.cursor,
            ad_source_id: None,
            frustration_min: None,
            frustration_max: None,
            nps_step: None,
            nps_rating: None,
            nps_rating_min: None,
            nps_rating_max: None,
            nps_completed: None,
        }
        .into_filter()
    }
}

/// The contact as an export shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportContact {
    pub id: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// A conversation as the history and the exports show it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportedBody {
    pub id: String,
    pub title: Option<String>,
    pub channel: Channel,
    pub status: ConversationStatus,
    pub priority: Priority,
    pub agent_id: Option<String>,
    pub tags: Vec<String>,
    pub contact: Option<ExportContact>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&ExportedConversation> for ExportedBody {
    fn from(e: &ExportedConversation) -> Self {
        let c = &e.conversation;
        ExportedBody {
            id: c.id.to_string(),
            title: c.title.clone(),
            channel: c.channel,
            status: c.status,
            priority: c.priority,
            agent_id: c.agent_id.map(|a| a.to_string()),
            tags: c.tags.clone(),
            contact: e.contact.as_ref().map(|contact| ExportContact {
                id: contact.id.to_string(),
                name: contact.display_name(),
                phone: contact.phone.clone(),
                email: contact.email.clone(),
            }),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryItem {
    #[serde(flatten)]
    pub conversation: ExportedBody,
    /// The latest messages, oldest first.
    pub messages: Vec<MessageBody>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryAnswer {
    /// Always `true`.
    pub success: bool,
    /// Newest conversations first.
    pub data: Vec<HistoryItem>,
    /// The `cursor` of the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A page of conversations, newest first, each with its latest messages.
#[utoipa::path(get, operation_id = "conversationHistory", path = "/conversations/history", tag = "Conversations",
    params(ExportQuery),
    responses((status = 200, body = HistoryAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(query): Params<ExportQuery>,
) -> Result<Json<HistoryAnswer>> {
    let message_limit = query.message_limit.unwrap_or(20);
    let format = query.format;
    let (filter, limit) = query.into_filter()?;
    let mut errors = stagecoach_domain::error::Errors::default();
    if !(1..=100).contains(&message_limit) {
        errors.add("messageLimit", "must be between 1 and 100");
    }
    if format.is_some() {
        errors.add("format", "is for the exports; the history is JSON");
    }
    errors.into_result()?;
    let page = state
        .core
        .conversation_history(&who, &filter, limit, message_limit)
        .await?;
    let next_cursor = (page.len() as i64 == limit)
        .then(|| page.last())
        .flatten()
        .map(|last| {
            json!({"lastCreatedAt": last.conversation.conversation.created_at,
                   "lastId": last.conversation.conversation.id})
            .to_string()
        });
    Ok(Json(HistoryAnswer {
        success: true,
        data: page
            .into_iter()
            .map(|entry| HistoryItem {
                conversation: ExportedBody::from(&entry.conversation),
                messages: entry.messages.into_iter().map(MessageBody::from).collect(),
            })
            .collect(),
        next_cursor,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OneExportQuery {
    /// `json` (default) or `csv`.
    pub format: Option<ExportFormat>,
}

/// Every conversation that matches, with all its messages, streamed.
#[utoipa::path(get, operation_id = "exportConversations", path = "/conversations/export", tag = "Conversations",
    params(ExportQuery),
    responses((status = 200, description = "JSON `{success, data: {conversations}}` or CSV, streamed"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(query): Params<ExportQuery>,
) -> Result<Response> {
    let format = query.format.unwrap_or_default();
    let mut errors = stagecoach_domain::error::Errors::default();
    for (field, given) in [
        ("limit", query.limit.is_some()),
        ("cursor", query.cursor.is_some()),
        ("messageLimit", query.message_limit.is_some()),
    ] {
        if given {
            errors.add(
                field,
                "is for the history; an export holds everything that matches",
            );
        }
    }
    errors.into_result()?;
    let (filter, _) = query.into_filter()?;
    let export = Export::new(state.core.clone(), who, format, Source::Filter(filter));
    Ok(streamed(export, format, "conversations"))
}

/// One conversation with all its messages, streamed.
#[utoipa::path(get, operation_id = "exportConversation", path = "/conversations/{conversationId}/export", tag = "Conversations",
    params(("conversationId" = String, Path), OneExportQuery),
    responses((status = 200, description = "JSON `{success, data: {…, messages}}` or CSV, streamed"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn export_one(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Params(query): Params<OneExportQuery>,
) -> Result<Response> {
    let format = query.format.unwrap_or_default();
    // Read before the stream starts, so an unknown conversation is a 404, not an empty file.
    let conversation = state
        .core
        .export_conversation(&who, ConversationId::parse(&id))
        .await?;
    let name = format!("conversation-{}", conversation.conversation.id);
    let export = Export::new(
        state.core.clone(),
        who,
        format,
        Source::One(Some(Box::new(conversation))),
    );
    Ok(streamed(export, format, &name))
}

fn streamed(export: Export, format: ExportFormat, name: &str) -> Response {
    let (content_type, extension) = match format {
        ExportFormat::Json => ("application/json", "json"),
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
    };
    let stream = futures_util::stream::unfold(export, |mut export| async move {
        let chunk = export.next_chunk().await?;
        Some((Ok::<_, std::io::Error>(Bytes::from(chunk)), export))
    });
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.{extension}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Where an export's conversations come from.
enum Source {
    /// Every conversation that matches, page by page (`before` moves along).
    Filter(ConversationFilter),
    /// One conversation, until it is taken (boxed: it is far larger than a filter).
    One(Option<Box<ExportedConversation>>),
}

/// Where a conversation's messages were read up to: the last one's time and id.
type MessageCursor = (DateTime<Utc>, MessageId);

/// An export in progress: each call to [`Export::next_chunk`] reads a little and answers
/// what it wrote.
struct Export {
    core: Stagecoach,
    who: Principal,
    format: ExportFormat,
    source: Source,
    page: VecDeque<ExportedConversation>,
    /// The conversation being written and its last message written.
    current: Option<(ExportedConversation, Option<MessageCursor>)>,
    started: bool,
    /// No more pages to read.
    exhausted: bool,
    finished: bool,
    conversations_written: usize,
}

const CSV_HEADER: [&str; 12] = [
    "conversationId",
    "conversationCreatedAt",
    "channel",
    "status",
    "contactName",
    "contactPhone",
    "contactEmail",
    "messageId",
    "from",
    "author",
    "text",
    "createdAt",
];

impl Export {
    fn new(core: Stagecoach, who: Principal, format: ExportFormat, source: Source) -> Self {
        Self {
            core,
            who,
            format,
            source,
            page: VecDeque::new(),
            current: None,
            started: false,
            exhausted: false,
            finished: false,
            conversations_written: 0,
        }
    }

    fn single(&self) -> bool {
        matches!(self.source, Source::One(_))
    }

    /// The next piece of the document, or `None` once it is complete. A failure to read
    /// ends the document early (it is logged; the client sees a truncated file).
    async fn next_chunk(&mut self) -> Option<String> {
        loop {
            match self.step().await {
                Ok(Some(chunk)) if chunk.is_empty() => continue,
                Ok(chunk) => return chunk,
                Err(error) => {
                    tracing::error!(%error, "a conversation export stopped early");
                    self.finished = true;
                    return None;
                }
            }
        }
    }

    async fn step(&mut self) -> std::result::Result<Option<String>, stagecoach_app::AppError> {
        if self.finished {
            return Ok(None);
        }
        if !self.started {
            self.started = true;
            return Ok(Some(match (self.format, self.single()) {
                (ExportFormat::Json, false) => {
                    "{\"success\":true,\"data\":{\"conversations\":[".into()
                }
                (ExportFormat::Json, true) => "{\"success\":true,\"data\":".into(),
                (ExportFormat::Csv, _) => csv::line(CSV_HEADER),
            }));
        }
        if let Some((conversation, after)) = self.current.take() {
            let messages = self
                .core
                .export_messages(
                    &self.who,
                    conversation.conversation.id,
                    after,
                    MESSAGES_PER_ROUND,
                )
                .await?;
            let first_round = after.is_none();
            let last = messages.last().map(|m| (m.created_at, m.id));
            let complete = (messages.len() as i64) < MESSAGES_PER_ROUND;
            let mut chunk = self.messages_text(&conversation, &messages, first_round);
            if complete {
                if self.format == ExportFormat::Json {
                    chunk.push_str("]}");
                }
            } else {
                self.current = Some((conversation, last));
            }
            return Ok(Some(chunk));
        }
        if let Some(conversation) = self.page.pop_front() {
            let mut chunk = String::new();
            if self.format == ExportFormat::Json {
                if self.conversations_written > 0 {
                    chunk.push(',');
                }
                let head = serde_json::to_string(&ExportedBody::from(&conversation))
                    .expect("an export's conversation serializes");
                // The object without its closing brace, to append the messages to.
                chunk.push_str(&head[..head.len() - 1]);
                chunk.push_str(",\"messages\":[");
            }
            self.conversations_written += 1;
            self.current = Some((conversation, None));
            return Ok(Some(chunk));
        }
        if !self.exhausted {
            match &mut self.source {
                Source::One(one) => {
                    self.page.extend(one.take().map(|one| *one));
                    self.exhausted = true;
                }
                Source::Filter(filter) => {
                    let page = self
                        .core
                        .export_page(&self.who, filter, CONVERSATIONS_PER_PAGE)
                        .await?;
                    if (page.len() as i64) < CONVERSATIONS_PER_PAGE {
                        self.exhausted = true;
                    }
                    if let Some(last) = page.last() {
                        filter.before = Some((last.conversation.created_at, last.conversation.id));
                    }
                    self.page.extend(page);
                }
            }
            return Ok(Some(String::new()));
        }
        self.finished = true;
        Ok(Some(match (self.format, self.single()) {
            (ExportFormat::Json, false) => "]}}".into(),
            (ExportFormat::Json, true) => "}".into(),
            (ExportFormat::Csv, _) => String::new(),
        }))
    }

    /// Messages as the format writes them; in CSV, a conversation without any gets a row
    /// of its own.
    fn messages_text(
        &self,
        conversation: &ExportedConversation,
        messages: &[Message],
        first_round: bool,
    ) -> String {
        match self.format {
            ExportFormat::Json => {
                let mut text = String::new();
                for (i, message) in messages.iter().enumerate() {
                    if i > 0 || !first_round {
                        text.push(',');
                    }
                    text.push_str(
                        &serde_json::to_string(&MessageBody::from(message.clone()))
                            .expect("a message serializes"),
                    );
                }
                text
            }
            ExportFormat::Csv => {
                let c = &conversation.conversation;
                let contact = conversation.contact.as_ref();
                let fixed = [
                    c.id.to_string(),
                    c.created_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    c.channel.as_str().to_owned(),
                    c.status.as_str().to_owned(),
                    contact.and_then(|c| c.display_name()).unwrap_or_default(),
                    contact.and_then(|c| c.phone.clone()).unwrap_or_default(),
                    contact.and_then(|c| c.email.clone()).unwrap_or_default(),
                ];
                let row = |message: Option<&Message>| {
                    let mut fields: Vec<String> = fixed.to_vec();
                    match message {
                        Some(m) => fields.extend([
                            m.id.to_string(),
                            MessageBody::from(m.clone()).from.to_owned(),
                            m.author.clone().unwrap_or_default(),
                            m.text.clone(),
                            m.created_at
                                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                        ]),
                        None => fields.extend(std::iter::repeat_n(String::new(), 5)),
                    }
                    csv::line(fields.iter().map(String::as_str))
                };
                if messages.is_empty() && first_round {
                    return row(None);
                }
                messages.iter().map(|m| row(Some(m))).collect()
            }
        }
    }
}
