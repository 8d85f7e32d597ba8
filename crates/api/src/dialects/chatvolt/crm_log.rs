//! `GET /crm/conversation/count` (conversations per scenario and step) and
//! `GET /crm/events` (the log of step entries, exits and removals). Chatvolt's file names
//! both without parameters or shapes beyond `{success, data}`; these are Stagecoach's.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use stagecoach_app::CrmEventFilter;
use stagecoach_domain::error::Errors;
use stagecoach_domain::ids::{ConversationId, ScenarioId, StepId};
use utoipa::{IntoParams, ToSchema};

use super::error::{ErrorBody, Result};
use super::extract::{Caller, Params};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct CountQuery {
    /// Only this scenario.
    pub scenario_id: Option<String>,
    /// Count the conversations removed from the board too (default false).
    pub show_inactive_conversations: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StepCount {
    pub id: String,
    pub name: String,
    pub index: i64,
    pub total: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScenarioCountBody {
    pub id: String,
    pub name: String,
    pub total: i64,
    pub steps: Vec<StepCount>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Counts {
    /// Every scenario's conversations together.
    pub total: i64,
    pub scenarios: Vec<ScenarioCountBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CountAnswer {
    /// Always `true`.
    pub success: bool,
    pub data: Counts,
}

/// How many conversations are in each step of each scenario.
#[utoipa::path(get, operation_id = "countCrmConversations", path = "/crm/conversation/count", tag = "CRM Board",
    params(CountQuery),
    responses((status = 200, body = CountAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn count(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(query): Params<CountQuery>,
) -> Result<Json<CountAnswer>> {
    let scenario = query.scenario_id.as_deref().map(ScenarioId::parse);
    let counted = state
        .core
        .conversation_counts(
            &who,
            scenario,
            query.show_inactive_conversations.unwrap_or(false),
        )
        .await?;
    let scenarios: Vec<ScenarioCountBody> = counted
        .into_iter()
        .map(|c| ScenarioCountBody {
            id: c.scenario.id.to_string(),
            total: c.steps.iter().map(|(_, n)| n).sum(),
            name: c.scenario.name,
            steps: c
                .steps
                .into_iter()
                .map(|(step, total)| StepCount {
                    id: step.id.to_string(),
                    index: step.index,
                    name: step.settings.name,
                    total,
                })
                .collect(),
        })
        .collect();
    Ok(Json(CountAnswer {
        success: true,
        data: Counts {
            total: scenarios.iter().map(|s| s.total).sum(),
            scenarios,
        },
    }))
}

/// The kinds of CRM event.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CrmEventType {
    /// Entered a step: added to the scenario, moved, by a trigger, a timer or the AI.
    StepEntered,
    /// Left a step.
    StepExited,
    /// Taken off the scenario's board.
    RemovedFromScenario,
}

impl CrmEventType {
    fn kind(self) -> &'static str {
        match self {
            CrmEventType::StepEntered => "step_entered",
            CrmEventType::StepExited => "step_exited",
            CrmEventType::RemovedFromScenario => "removed_from_scenario",
        }
    }

    fn of_kind(kind: &str) -> Option<CrmEventType> {
        match kind {
            "step_entered" => Some(CrmEventType::StepEntered),
            "step_exited" => Some(CrmEventType::StepExited),
            "removed_from_scenario" => Some(CrmEventType::RemovedFromScenario),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct EventsQuery {
    pub conversation_id: Option<String>,
    pub scenario_id: Option<String>,
    pub step_id: Option<String>,
    pub r#type: Option<CrmEventType>,
    /// From this time on (RFC 3339).
    pub start_date: Option<DateTime<Utc>>,
    /// Before this time (RFC 3339).
    pub end_date: Option<DateTime<Utc>>,
    /// 1-based page (default 1).
    pub page: Option<i64>,
    /// Events per page, 1 to 1000 (default 100).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrmEventBody {
    pub id: String,
    pub r#type: CrmEventType,
    pub conversation_id: String,
    pub scenario_id: Option<String>,
    pub step_id: Option<String>,
    /// For an entry: the step the conversation came from, if any.
    pub previous_step_id: Option<String>,
    /// For an entry: `added`, `moved`, `trigger`, `timer`, `chained` or `ai`.
    pub cause: Option<String>,
    /// Who did it: `api_token:<id>`, `member:<id>`, `timer`, `trigger`, `ai:<id>`, …
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPagination {
    pub page: i64,
    pub limit: i64,
    pub total: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventsAnswer {
    /// Always `true`.
    pub success: bool,
    /// Newest first.
    pub data: Vec<CrmEventBody>,
    pub pagination: EventPagination,
}

/// The CRM event log: step entries, exits and removals, newest first.
#[utoipa::path(get, operation_id = "listCrmEvents", path = "/crm/events", tag = "CRM Board",
    params(EventsQuery),
    responses((status = 200, body = EventsAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(query): Params<EventsQuery>,
) -> Result<Json<EventsAnswer>> {
    let page = query.page.unwrap_or(1);
    let limit = query.limit.unwrap_or(100);
    let mut errors = Errors::default();
    if page < 1 {
        errors.add("page", "must be 1 or more");
    }
    if !(1..=1000).contains(&limit) {
        errors.add("limit", "must be between 1 and 1000");
    }
    if let (Some(from), Some(to)) = (query.start_date, query.end_date)
        && from > to
    {
        errors.add("endDate", "must not be before startDate");
    }
    errors.into_result()?;
    let filter = CrmEventFilter {
        conversation: query
            .conversation_id
            .as_deref()
            .map(ConversationId::parse_filter),
        scenario: query.scenario_id.as_deref().map(ScenarioId::parse_filter),
        step: query.step_id.as_deref().map(StepId::parse_filter),
        kind: query.r#type.map(CrmEventType::kind),
        from: query.start_date,
        to: query.end_date,
    };
    let (entries, total) = state.core.crm_events(&who, &filter, page, limit).await?;
    let text = |data: &Value, key: &str| data[key].as_str().map(str::to_owned);
    Ok(Json(EventsAnswer {
        success: true,
        data: entries
            .into_iter()
            .filter_map(|e| {
                Some(CrmEventBody {
                    r#type: CrmEventType::of_kind(&e.kind)?,
                    id: e.id.to_string(),
                    conversation_id: e.conversation_id.to_string(),
                    scenario_id: text(&e.data, "scenarioId"),
                    step_id: text(&e.data, "stepId"),
                    previous_step_id: text(&e.data, "previousStepId"),
                    cause: text(&e.data, "cause"),
                    actor: e.actor,
                    created_at: e.created_at,
                })
            })
            .collect(),
        pagination: EventPagination { page, limit, total },
    }))
}
