//! `/crm/scenario`: Chatvolt's scenarios (pipelines). Updates and deletes take the id in the
//! body, as Chatvolt does.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use stagecoach_domain::error::Errors;
use stagecoach_domain::ids::{AgentId, ScenarioId};
use stagecoach_domain::scenario::Scenario;
use utoipa::{IntoParams, ToSchema};

use super::error::{ErrorBody, Result};
use super::extract::{Body, Caller, Params};
use crate::AppState;
use crate::nullable::{patch, present};

/// A scenario (`CrmScenario`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrmScenario {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub organization_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Scenario> for CrmScenario {
    fn from(s: Scenario) -> Self {
        CrmScenario {
            id: s.id.to_string(),
            name: s.name,
            description: s.description,
            organization_id: s.organization_id.to_string(),
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListScenariosQuery {
    /// Only scenarios with a step handled by this agent.
    pub agent_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateScenarioBody {
    pub name: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateScenarioBody {
    pub id: Option<String>,
    /// The full name, resent on every update.
    pub name: Option<String>,
    /// Absent: kept. `null`: cleared.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DeleteScenarioBody {
    pub id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScenarioUpdated {
    /// `Scenario updated`
    pub message: &'static str,
    pub scenario: CrmScenario,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScenarioDeleted {
    /// `Scenario deleted`
    pub message: &'static str,
    pub scenario: CrmScenario,
    /// The id of the API token that deleted the scenario.
    pub user: String,
}

/// List the organization's scenarios, oldest first.
#[utoipa::path(get, operation_id = "listScenarios", path = "/crm/scenario", tag = "CRM Scenarios", params(ListScenariosQuery),
    responses((status = 200, body = Vec<CrmScenario>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(query): Params<ListScenariosQuery>,
) -> Result<Json<Vec<CrmScenario>>> {
    let scenarios = match query.agent_id.as_deref().map(AgentId::parse) {
        // An agent id that cannot exist matches no scenario.
        Some(None) => Vec::new(),
        Some(agent) => state.core.list_scenarios(&who, agent).await?,
        None => state.core.list_scenarios(&who, None).await?,
    };
    Ok(Json(scenarios.into_iter().map(CrmScenario::from).collect()))
}

/// Create a scenario.
#[utoipa::path(post, operation_id = "createScenario", path = "/crm/scenario", tag = "CRM Scenarios", request_body = CreateScenarioBody,
    responses((status = 201, body = CrmScenario), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(body): Body<CreateScenarioBody>,
) -> Result<(StatusCode, Json<CrmScenario>)> {
    let name = required_name(body.name)?;
    let scenario = state
        .core
        .create_scenario(&who, &name, body.description)
        .await?;
    Ok((StatusCode::CREATED, Json(scenario.into())))
}

/// Update a scenario: `id` and `name` are required.
#[utoipa::path(put, operation_id = "updateScenario", path = "/crm/scenario", tag = "CRM Scenarios", request_body = UpdateScenarioBody,
    responses((status = 200, body = ScenarioUpdated), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(body): Body<UpdateScenarioBody>,
) -> Result<Json<ScenarioUpdated>> {
    let mut errors = Errors::default();
    if body.id.is_none() {
        errors.add("id", "is required");
    }
    if body.name.is_none() {
        errors.add("name", "is required (send the full name on every update)");
    }
    errors.into_result()?;
    let id = body.id.as_deref().and_then(ScenarioId::parse);
    let name = body.name.unwrap_or_default();
    let scenario = state
        .core
        .update_scenario(&who, id, &name, patch(body.description))
        .await?;
    Ok(Json(ScenarioUpdated {
        message: "Scenario updated",
        scenario: scenario.into(),
    }))
}

/// Delete a scenario and its steps.
#[utoipa::path(delete, operation_id = "deleteScenario", path = "/crm/scenario", tag = "CRM Scenarios", request_body = DeleteScenarioBody,
    responses((status = 200, body = ScenarioDeleted), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(body): Body<DeleteScenarioBody>,
) -> Result<Json<ScenarioDeleted>> {
    let id = body.id.ok_or_else(|| required("id"))?;
    let scenario = state
        .core
        .delete_scenario(&who, ScenarioId::parse(&id))
        .await?;
    Ok(Json(ScenarioDeleted {
        message: "Scenario deleted",
        scenario: scenario.into(),
        user: who.actor().id.unwrap_or_default(),
    }))
}

fn required_name(name: Option<String>) -> Result<String> {
    name.ok_or_else(|| required("name"))
}

pub(crate) fn required(field: &'static str) -> super::error::ChatvoltError {
    stagecoach_domain::ValidationError::single(field, "is required").into()
}
