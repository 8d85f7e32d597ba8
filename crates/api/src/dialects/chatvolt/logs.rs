//! `/crm/conversationLog`: Chatvolt's CRM conversation logs, which are the stays of
//! conversations in steps. The engine writes them; this dialect reads them.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use stagecoach_app::{StayFilter, StayView};
use stagecoach_domain::enums::StayStatus;
use stagecoach_domain::ids::{ConversationId, ScenarioId, StayId, StepId};
use utoipa::{IntoParams, ToSchema};

use super::error::{ErrorBody, Result};
use super::extract::{Caller, Params};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct LogQuery {
    pub conversation_id: Option<String>,
    pub scenario_id: Option<String>,
    pub step_id: Option<String>,
    pub status: Option<StayStatus>,
    /// 1-based page (default 1).
    pub page: Option<i64>,
    /// Logs per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
}

/// A stay of a conversation in a step (`CrmConversationLog`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrmConversationLog {
    pub id: String,
    pub conversation_id: String,
    pub scenario_id: String,
    pub step_id: String,
    /// `active` while the conversation is in the step, `inactive` once it left.
    pub status: StayStatus,
    pub organization_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the conversation left the step.
    pub exited_at: Option<DateTime<Utc>>,
    pub conversation: LogConversation,
    pub scenario: LogScenario,
    pub step: LogStep,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogConversation {
    pub id: String,
    pub title: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogScenario {
    pub id: String,
    /// Null when the scenario was deleted since.
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogStep {
    pub id: String,
    /// Null when the step was deleted since.
    pub index: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Pagination {
    pub page: i64,
    pub limit: i64,
    pub total: i64,
    #[serde(rename = "totalPages")]
    pub total_pages: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaginatedLogs {
    pub data: Vec<CrmConversationLog>,
    pub pagination: Pagination,
}

impl From<StayView> for CrmConversationLog {
    fn from(view: StayView) -> Self {
        let s = view.stay;
        CrmConversationLog {
            id: s.id.to_string(),
            conversation_id: s.conversation_id.to_string(),
            scenario_id: s.scenario_id.to_string(),
            step_id: s.step_id.to_string(),
            status: s.status,
            organization_id: s.organization_id.to_string(),
            created_at: s.created_at,
            updated_at: s.updated_at,
            exited_at: s.exited_at,
            conversation: LogConversation {
                id: s.conversation_id.to_string(),
                title: view.conversation_title,
            },
            scenario: LogScenario {
                id: s.scenario_id.to_string(),
                name: view.scenario.map(|x| x.name),
            },
            step: LogStep {
                id: s.step_id.to_string(),
                index: view.step.map(|x| x.index),
            },
        }
    }
}

/// List conversation logs, newest first.
#[utoipa::path(get, operation_id = "listConversationLogs", path = "/crm/conversationLog", tag = "CRM Conversation Logs",
    params(LogQuery),
    responses((status = 200, body = PaginatedLogs), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(query): Params<LogQuery>,
) -> Result<Json<PaginatedLogs>> {
    let page = query.page.unwrap_or(1);
    let limit = query.limit.unwrap_or(20);
    let mut errors = stagecoach_domain::error::Errors::default();
    if page < 1 {
        errors.add("page", "must be 1 or more");
    }
    if !(1..=100).contains(&limit) {
        errors.add("limit", "must be between 1 and 100");
    }
    errors.into_result()?;
    let filter = StayFilter {
        conversation: query
            .conversation_id
            .as_deref()
            .map(ConversationId::parse_filter),
        scenario: query.scenario_id.as_deref().map(ScenarioId::parse_filter),
        step: query.step_id.as_deref().map(StepId::parse_filter),
        status: query.status,
    };
    let (stays, total) = state.core.stays(&who, &filter, page, limit).await?;
    Ok(Json(PaginatedLogs {
        data: stays.into_iter().map(Into::into).collect(),
        pagination: Pagination {
            page,
            limit,
            total,
            total_pages: (total + limit - 1) / limit,
        },
    }))
}

/// One conversation log.
#[utoipa::path(get, operation_id = "getConversationLog", path = "/crm/conversationLog/{logId}", tag = "CRM Conversation Logs",
    params(("logId" = String, Path)),
    responses((status = 200, body = CrmConversationLog), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<CrmConversationLog>> {
    Ok(Json(
        state.core.stay(&who, StayId::parse(&id)).await?.into(),
    ))
}

/// Logs are the engine's record of where conversations have been, so clients cannot write
/// them: entering, moving and removing conversations writes them.
fn read_only() -> super::error::ChatvoltError {
    super::error::ChatvoltError::ReadOnly {
        message: "conversation logs are written by Stagecoach as conversations enter and leave \
                  steps; use /crm/step/conversation, /crm/step/move or \
                  DELETE /crm/scenario/{scenarioId}/conversation instead",
    }
}

/// Refused: logs are written by the engine (405).
#[utoipa::path(post, operation_id = "createConversationLog", path = "/crm/conversationLog", tag = "CRM Conversation Logs",
    responses((status = 405, body = ErrorBody)))]
pub async fn create(Caller(_who): Caller) -> Result<Json<()>> {
    Err(read_only())
}

/// Refused: logs are written by the engine (405).
#[utoipa::path(put, operation_id = "replaceConversationLog", path = "/crm/conversationLog/{logId}",
    tag = "CRM Conversation Logs", params(("logId" = String, Path)), responses((status = 405, body = ErrorBody)))]
pub async fn replace(Caller(_who): Caller) -> Result<Json<()>> {
    Err(read_only())
}

/// Refused: logs are written by the engine (405).
#[utoipa::path(patch, operation_id = "updateConversationLog", path = "/crm/conversationLog/{logId}",
    tag = "CRM Conversation Logs", params(("logId" = String, Path)), responses((status = 405, body = ErrorBody)))]
pub async fn update(Caller(_who): Caller) -> Result<Json<()>> {
    Err(read_only())
}

/// Refused: logs are history (405).
#[utoipa::path(delete, operation_id = "deleteConversationLog", path = "/crm/conversationLog/{logId}",
    tag = "CRM Conversation Logs", params(("logId" = String, Path)), responses((status = 405, body = ErrorBody)))]
pub async fn delete(Caller(_who): Caller) -> Result<Json<()>> {
    Err(read_only())
}
