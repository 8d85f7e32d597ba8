//! `/agents`: the AI agents that steps and channels hand conversations to; their model,
//! temperature and system prompt shape every AI turn (see `query.rs` for asking one).

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use stagecoach_app::AgentRef;
use stagecoach_domain::agent::{
    Agent, AgentPatch, AgentSettings, DEFAULT_MODEL_NAME, DEFAULT_TEMPERATURE,
};
use stagecoach_domain::enums::AgentVisibility;
use utoipa::ToSchema;

use super::error::{ErrorBody, Result};
use super::extract::{Body, Caller};
use super::scenarios::required;
use crate::AppState;
use crate::nullable::{patch, present};

/// An agent (`Agent`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Agent)]
#[serde(rename_all = "camelCase")]
pub struct AgentBody {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub handle: Option<String>,
    pub model_name: String,
    pub temperature: f64,
    pub visibility: AgentVisibility,
    pub system_prompt: Option<String>,
    pub icon_url: Option<String>,
    /// Not supported yet: always `null`.
    #[schema(value_type = Option<bool>)]
    pub enable_inactive_hours: Option<bool>,
    /// Not supported yet: always `null`.
    #[schema(value_type = Option<Object>)]
    pub inactive_hours: Option<Value>,
    /// Not supported yet: always `{}`.
    #[schema(value_type = Object)]
    pub interface_config: Map<String, Value>,
    /// Not supported yet: always empty.
    #[schema(value_type = Vec<Object>)]
    pub tools: Vec<Value>,
    pub organization_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Agent> for AgentBody {
    fn from(a: Agent) -> Self {
        let s = a.settings;
        AgentBody {
            id: a.id.to_string(),
            name: s.name,
            description: s.description,
            handle: s.handle,
            model_name: s.model_name,
            temperature: s.temperature,
            visibility: s.visibility,
            system_prompt: s.system_prompt,
            icon_url: s.icon_url,
            enable_inactive_hours: None,
            inactive_hours: None,
            interface_config: Map::new(),
            tools: Vec::new(),
            organization_id: a.organization_id.to_string(),
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// The body of `POST /agents` (`name` required) and `PATCH /agents/{id}` (absent fields
/// stay; `null` clears, or restores the default of a field that cannot be empty).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentInput {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// Unique in the organization; `GET /agents/@handle` finds the agent by it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub handle: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub model_name: Option<Option<String>>,
    /// 0.0 to 1.0.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub temperature: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub system_prompt: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<AgentVisibility>)]
    pub visibility: Option<Option<AgentVisibility>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub icon_url: Option<Option<String>>,
    /// Chatvolt's chat-widget settings. Accepted, so Chatvolt clients need no change, and
    /// not kept: Stagecoach has no chat widget.
    #[schema(value_type = Option<Object>)]
    #[allow(dead_code, reason = "read only to check its type: not kept")]
    pub interface_config: Option<Map<String, Value>>,
    /// Chatvolt's inactive hours. Accepted and not kept: Stagecoach's agents answer at
    /// any hour while a conversation's AI is on.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<bool>)]
    #[allow(dead_code, reason = "read only to check its type: not kept")]
    pub enable_inactive_hours: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    #[allow(dead_code, reason = "read only to check its type: not kept")]
    pub inactive_hours: Option<Option<Map<String, Value>>>,
    /// Chatvolt's external configuration URLs. Accepted and not kept.
    #[allow(dead_code, reason = "read only to check its type: not kept")]
    pub config_url_external: Option<ExternalUrl>,
    #[allow(dead_code, reason = "read only to check its type: not kept")]
    pub config_url_infos_system_external: Option<ExternalSystemUrl>,
    /// Chatvolt's agent tools: refused, since Stagecoach's agents call no tools and a
    /// list of them dropped without a word would change what the agent does.
    #[schema(value_type = Option<Vec<Object>>)]
    pub tools: Option<Value>,
}

/// `configUrlExternal`, typed as Chatvolt documents it (accepted, not kept).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[allow(dead_code, reason = "read only to check its types: not kept")]
pub struct ExternalUrl {
    pub url: Option<String>,
    pub header: Option<String>,
}

/// `configUrlInfosSystemExternal`, typed as Chatvolt documents it (accepted, not kept).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "read only to check its types: not kept")]
pub struct ExternalSystemUrl {
    #[serde(rename = "url_webhook_external")]
    pub url_webhook_external: Option<String>,
    pub header_key: Option<String>,
}

impl AgentInput {
    fn into_patch(self) -> std::result::Result<AgentPatch, stagecoach_domain::ValidationError> {
        if self.tools.is_some() {
            return Err(stagecoach_domain::ValidationError::single(
                "tools",
                "is not supported: Stagecoach's agents call no tools",
            ));
        }
        Ok(AgentPatch {
            name: patch(self.name),
            description: patch(self.description),
            handle: patch(self.handle),
            model_name: patch(self.model_name),
            temperature: patch(self.temperature),
            system_prompt: patch(self.system_prompt),
            visibility: patch(self.visibility),
            icon_url: patch(self.icon_url),
        })
    }
}

/// Create an agent.
#[utoipa::path(post, operation_id = "createAgent", path = "/agents", tag = "agents", request_body = AgentInput,
    responses((status = 200, body = AgentBody), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(body): Body<AgentInput>,
) -> Result<Json<AgentBody>> {
    if !matches!(body.name, Some(Some(_))) {
        return Err(required("name"));
    }
    let defaults = AgentSettings {
        name: String::new(),
        description: None,
        handle: None,
        model_name: DEFAULT_MODEL_NAME.to_owned(),
        temperature: DEFAULT_TEMPERATURE,
        system_prompt: None,
        visibility: AgentVisibility::Private,
        icon_url: None,
    };
    let agent = state
        .core
        .create_agent(&who, defaults.patched(body.into_patch()?))
        .await?;
    Ok(Json(agent.into()))
}

/// Read an agent by id, or by handle written `@handle`.
#[utoipa::path(get, operation_id = "getAgent", path = "/agents/{id}", tag = "agents",
    params(("id" = String, Path, description = "The agent's id, or `@handle`")),
    responses((status = 200, body = AgentBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<AgentBody>> {
    Ok(Json(
        state
            .core
            .get_agent(&who, &AgentRef::parse(&id))
            .await?
            .into(),
    ))
}

/// Change some of an agent's settings.
#[utoipa::path(patch, operation_id = "updateAgent", path = "/agents/{id}", tag = "agents", request_body = AgentInput,
    params(("id" = String, Path, description = "The agent's id, or `@handle`")),
    responses((status = 200, body = AgentBody), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Body(body): Body<AgentInput>,
) -> Result<Json<AgentBody>> {
    let agent = state
        .core
        .update_agent(&who, &AgentRef::parse(&id), body.into_patch()?)
        .await?;
    Ok(Json(agent.into()))
}

/// Delete an agent. Steps that named it keep working without an agent.
#[utoipa::path(delete, operation_id = "deleteAgent", path = "/agents/{id}", tag = "agents",
    params(("id" = String, Path, description = "The agent's id, or `@handle`")),
    responses((status = 200, body = AgentBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<AgentBody>> {
    Ok(Json(
        state
            .core
            .delete_agent(&who, &AgentRef::parse(&id))
            .await?
            .into(),
    ))
}
