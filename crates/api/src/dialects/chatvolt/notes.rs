//! Conversation notes: `GET`/`POST /conversations/{conversationId}/notes` and
//! `PUT`/`DELETE /conversations/{conversationId}/notes/{noteId}`. A note with a
//! `notificationDateTime` is a reminder, announced once as
//! `conversation.note_reminder_due` when it falls due.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use stagecoach_app::NewNote;
use stagecoach_domain::ValidationError;
use stagecoach_domain::ids::{ConversationId, NoteId};
use stagecoach_domain::note::{Note, NotePatch};
use utoipa::ToSchema;

use super::error::{ErrorBody, Result};
use super::extract::{Body, Caller};
use crate::AppState;
use crate::nullable::{patch, present};

/// A note, in Chatvolt's `ConversationNote` shape.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NoteBody {
    pub id: String,
    pub note: String,
    /// Shown to its author only.
    pub is_private: bool,
    pub is_justification: bool,
    pub conversation_id: String,
    pub organization_id: String,
    /// The author: a member's or an API token's id.
    pub user_id: String,
    /// The author's e-mail when the author is a member, else empty.
    pub user_email: String,
    /// When the reminder falls due, if the note is one.
    pub notification_date_time: Option<DateTime<Utc>>,
    /// Always `false`: reminders are announced to webhooks, not to desktops.
    pub send_desktop_notification: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Note> for NoteBody {
    fn from(n: Note) -> Self {
        let user_id = n
            .author
            .split_once(':')
            .map_or(n.author.as_str(), |(_, id)| id)
            .to_owned();
        Self {
            id: n.id.to_string(),
            note: n.text,
            is_private: n.is_private,
            is_justification: n.is_justification,
            conversation_id: n.conversation_id.to_string(),
            organization_id: n.organization_id.to_string(),
            user_id,
            user_email: n.author_email,
            notification_date_time: n.remind_at,
            send_desktop_notification: false,
            created_at: n.created_at,
            updated_at: n.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewNoteBody {
    /// 1 to 500 characters.
    pub note: Option<String>,
    pub is_private: Option<bool>,
    /// A justification: administrators only.
    pub is_justify: Option<bool>,
    /// When to remind (at most 366 days ahead; a past time falls due at once).
    pub notification_date_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NoteChangeBody {
    pub note: Option<String>,
    pub is_private: Option<bool>,
    /// A new reminder time (arms the reminder again), or `null` to remove it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub notification_date_time: Option<Option<DateTime<Utc>>>,
}

/// The conversation's notes, oldest first: every public note and the caller's private ones.
#[utoipa::path(get, operation_id = "listConversationNotes", path = "/conversations/{conversationId}/notes",
    tag = "Conversations", params(("conversationId" = String, Path)),
    responses((status = 200, body = Vec<NoteBody>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(conversation): Path<String>,
) -> Result<Json<Vec<NoteBody>>> {
    let notes = state
        .core
        .list_notes(&who, ConversationId::parse(&conversation))
        .await?;
    Ok(Json(notes.into_iter().map(NoteBody::from).collect()))
}

/// Write a note.
#[utoipa::path(post, operation_id = "createConversationNote", path = "/conversations/{conversationId}/notes",
    tag = "Conversations", params(("conversationId" = String, Path)), request_body = NewNoteBody,
    responses((status = 201, body = NoteBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(conversation): Path<String>,
    Body(body): Body<NewNoteBody>,
) -> Result<(StatusCode, Json<NoteBody>)> {
    let text = body
        .note
        .ok_or_else(|| ValidationError::single("note", "is required"))?;
    let note = state
        .core
        .create_note(
            &who,
            ConversationId::parse(&conversation),
            NewNote {
                text,
                is_private: body.is_private.unwrap_or(false),
                is_justification: body.is_justify.unwrap_or(false),
                remind_at: body.notification_date_time,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(note.into())))
}

/// Change a note (its author only).
#[utoipa::path(put, operation_id = "updateConversationNote", path = "/conversations/{conversationId}/notes/{noteId}",
    tag = "Conversations", params(("conversationId" = String, Path), ("noteId" = String, Path)), request_body = NoteChangeBody,
    responses((status = 200, body = NoteBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((conversation, note)): Path<(String, String)>,
    Body(body): Body<NoteChangeBody>,
) -> Result<Json<NoteBody>> {
    let note = state
        .core
        .update_note(
            &who,
            ConversationId::parse(&conversation),
            NoteId::parse(&note),
            NotePatch {
                text: body.note,
                is_private: body.is_private,
                remind_at: patch(body.notification_date_time),
            },
        )
        .await?;
    Ok(Json(note.into()))
}

/// Delete a note (its author only).
#[utoipa::path(delete, operation_id = "deleteConversationNote", path = "/conversations/{conversationId}/notes/{noteId}",
    tag = "Conversations", params(("conversationId" = String, Path), ("noteId" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((conversation, note)): Path<(String, String)>,
) -> Result<StatusCode> {
    state
        .core
        .delete_note(
            &who,
            ConversationId::parse(&conversation),
            NoteId::parse(&note),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
