//! Texter's labels: names and colours for the tags on conversations.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use stagecoach_domain::label::Label;
use utoipa::{IntoParams, ToSchema};

use super::error::{Result, TexterErrorBody};
use super::extract::{Body, Caller, Params};
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct LabelBody {
    pub id: String,
    pub name: String,
    /// `#RRGGBB`.
    pub color: String,
    /// System labels can be renamed and recoloured, not deleted.
    pub system: bool,
}

impl From<Label> for LabelBody {
    fn from(l: Label) -> Self {
        LabelBody {
            id: l.id,
            name: l.name,
            color: l.color,
            system: l.system,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1 to 10000 (default 100).
    pub limit: Option<i64>,
    /// 0 to 100000.
    pub skip: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LabelList {
    pub total: i64,
    pub labels: Vec<LabelBody>,
}

/// All labels, by id. Tags in use without a label of their own are listed too.
#[utoipa::path(get, operation_id = "texterListLabels", path = "/server/api/v2/labels", tag = "Texter", params(ListQuery),
    responses((status = 200, body = LabelList), (status = 400, body = TexterErrorBody), (status = 401, body = TexterErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(q): Params<ListQuery>,
) -> Result<Json<LabelList>> {
    let limit = q.limit.unwrap_or(100);
    let skip = q.skip.unwrap_or(0);
    let mut errors = stagecoach_domain::error::Errors::default();
    if !(1..=10_000).contains(&limit) {
        errors.add("limit", "must be between 1 and 10000");
    }
    if !(0..=100_000).contains(&skip) {
        errors.add("skip", "must be between 0 and 100000");
    }
    errors.into_result()?;
    let (labels, total) = state.core.list_labels(&who, skip, limit).await?;
    Ok(Json(LabelList {
        total,
        labels: labels.into_iter().map(Into::into).collect(),
    }))
}

/// One label.
#[utoipa::path(get, operation_id = "texterGetLabel", path = "/server/api/v2/labels/{labelId}", tag = "Texter",
    params(("labelId" = String, Path)),
    responses((status = 200, body = LabelBody), (status = 401, body = TexterErrorBody), (status = 404, body = TexterErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<LabelBody>> {
    Ok(Json(state.core.get_label(&who, &id).await?.into()))
}

// The required fields are `Option`s so that a missing one is answered "is required" by
// name, with every other problem, rather than with serde's first complaint.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateLabelBody {
    /// Chosen by the client, 1 to 100 characters: what chats carry in `labels`.
    #[schema(required = true, value_type = String)]
    pub id: Option<String>,
    /// 1 to 100 characters.
    #[schema(required = true, value_type = String)]
    pub name: Option<String>,
    /// `#RRGGBB`, default `#555555`.
    pub color: Option<String>,
}

/// Create a label.
#[utoipa::path(post, operation_id = "texterCreateLabel", path = "/server/api/v2/labels", tag = "Texter", request_body = CreateLabelBody,
    responses((status = 200, body = LabelBody), (status = 400, body = TexterErrorBody), (status = 401, body = TexterErrorBody),
        (status = 403, body = TexterErrorBody), (status = 409, body = TexterErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(body): Body<CreateLabelBody>,
) -> Result<Json<LabelBody>> {
    let mut errors = stagecoach_domain::error::Errors::default();
    if body.id.is_none() {
        errors.add("id", "is required");
    }
    if body.name.is_none() {
        errors.add("name", "is required");
    }
    errors.into_result()?;
    let label = state
        .core
        .create_label(
            &who,
            body.id.as_deref().unwrap_or_default(),
            body.name.as_deref().unwrap_or_default(),
            body.color.as_deref(),
        )
        .await?;
    Ok(Json(label.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateLabelBody {
    /// 1 to 100 characters.
    pub name: Option<String>,
    /// `#RRGGBB`.
    pub color: Option<String>,
}

/// Rename or recolour a label.
#[utoipa::path(patch, operation_id = "texterUpdateLabel", path = "/server/api/v2/labels/{labelId}", tag = "Texter",
    params(("labelId" = String, Path)), request_body = UpdateLabelBody,
    responses((status = 200, body = String, description = "`OK`"), (status = 400, body = TexterErrorBody),
        (status = 401, body = TexterErrorBody), (status = 403, body = TexterErrorBody), (status = 404, body = TexterErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Body(body): Body<UpdateLabelBody>,
) -> Result<&'static str> {
    state
        .core
        .update_label(&who, &id, body.name.as_deref(), body.color.as_deref())
        .await?;
    Ok("OK")
}

/// Delete a label, taking it off every chat. System labels cannot be deleted (409).
#[utoipa::path(delete, operation_id = "texterDeleteLabel", path = "/server/api/v2/labels/{labelId}", tag = "Texter",
    params(("labelId" = String, Path)),
    responses((status = 200, body = String, description = "`OK`"), (status = 401, body = TexterErrorBody),
        (status = 403, body = TexterErrorBody), (status = 404, body = TexterErrorBody), (status = 409, body = TexterErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<&'static str> {
    state.core.delete_label(&who, &id).await?;
    Ok("OK")
}
