//! `GET`/`POST /conversations/{conversationId}/tags`: a conversation's tags, the same ones
//! steps add and remove and Texter calls labels.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use stagecoach_app::{AppError, LabelChange};
use stagecoach_domain::ValidationError;
use stagecoach_domain::ids::ConversationId;
use stagecoach_domain::step::MAX_TAG_LEN;
use utoipa::ToSchema;

use super::conversations::TagBody;
use super::error::{ErrorBody, Result};
use super::extract::{Body, Caller};
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct TagList {
    /// Always `true`.
    pub success: bool,
    pub data: Vec<TagBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewTagBody {
    pub tag_name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AddedTag {
    /// Always `true`.
    pub success: bool,
    pub data: AddedTagData,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AddedTagData {
    /// The tag added (trimmed).
    pub tag: String,
    /// Every tag the conversation now carries.
    pub tags: Vec<TagBody>,
}

fn tag_bodies(tags: Vec<String>) -> Vec<TagBody> {
    tags.into_iter().map(|tag| TagBody { tag }).collect()
}

/// The conversation's tags, in the order they were added.
#[utoipa::path(get, operation_id = "listConversationTags", path = "/conversations/{conversationId}/tags",
    tag = "Conversations", params(("conversationId" = String, Path)),
    responses((status = 200, body = TagList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<TagList>> {
    let detail = state
        .core
        .conversation_detail(&who, ConversationId::parse(&id))
        .await?;
    Ok(Json(TagList {
        success: true,
        data: tag_bodies(detail.conversation.tags),
    }))
}

/// Add a tag (a tag the conversation carries already is kept once).
#[utoipa::path(post, operation_id = "addConversationTag", path = "/conversations/{conversationId}/tags",
    tag = "Conversations", params(("conversationId" = String, Path)), request_body = NewTagBody,
    responses((status = 200, body = AddedTag), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn add(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Body(body): Body<NewTagBody>,
) -> Result<Json<AddedTag>> {
    let tag = body.tag_name.as_deref().map(str::trim).unwrap_or_default();
    if tag.is_empty() {
        return Err(ValidationError::single("tagName", "is required").into());
    }
    if tag.chars().count() > MAX_TAG_LEN {
        return Err(ValidationError::single(
            "tagName",
            format!("must be at most {MAX_TAG_LEN} characters"),
        )
        .into());
    }
    let id = ConversationId::parse(&id);
    state
        .core
        .change_labels(&who, id, LabelChange::Add(vec![tag.to_owned()]))
        .await
        // The use case is shared with Texter, which names the conversation `chatId`.
        .map_err(|error| match error {
            AppError::NotFound { entity, .. } => AppError::NotFound {
                entity,
                field: "conversationId",
            },
            other => other,
        })?;
    let detail = state.core.conversation_detail(&who, id).await?;
    Ok(Json(AddedTag {
        success: true,
        data: AddedTagData {
            tag: tag.to_owned(),
            tags: tag_bodies(detail.conversation.tags),
        },
    }))
}
