//! `/crm/step`: Chatvolt's steps (stages), with every field of seeds 000 and 001.
//!
//! Z-API and WhatsApp-template settings are accepted both flat (`zapiAgentId`, as the seeds
//! write them) and nested (`zapi: {agentId}`, as Chatvolt's OpenAPI file does), and answered
//! in both forms, so clients written against either work.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use stagecoach_app::{Entity, StepView, missing_reference_message};
use stagecoach_domain::Patch;
use stagecoach_domain::enums::{AssigneeLogic, ConversationStatus, Priority, TimeUnit};
use stagecoach_domain::error::Errors;
use stagecoach_domain::ids::{AgentId, MembershipId, ScenarioId, StepId};
use stagecoach_domain::step::{RequestContact, StepPatch, StepSettings};
use utoipa::{IntoParams, ToSchema};

use super::error::{ErrorBody, Result};
use super::extract::{Body, Caller, Params};
use super::scenarios::{CrmScenario, required};
use crate::AppState;
use crate::nullable::{patch, present};

/// A step (`CrmStep`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrmStep {
    pub id: String,
    pub name: String,
    /// 0-based position in the scenario.
    pub index: i64,
    pub prompt: Option<String>,
    pub trigger: Option<String>,
    pub initial_message: Option<String>,
    pub auto_next_step_id: Option<String>,
    /// In `autoNextTimeUnit` units; in seconds when there is no unit.
    pub auto_next_time: Option<i64>,
    pub auto_next_time_unit: Option<TimeUnit>,
    pub default_status: Option<ConversationStatus>,
    pub default_priority: Option<Priority>,
    pub default_ai_control: Option<bool>,
    pub assignee_logic_type: Option<AssigneeLogic>,
    pub selected_membership_ids_for_assignee: Option<Vec<String>>,
    pub is_required: Option<bool>,
    pub is_conversation_removal_step: Option<bool>,
    pub default_tags: Option<Vec<String>>,
    pub default_tags_to_remove: Option<Vec<String>>,
    pub request_contact: Option<RequestContactBody>,
    pub organization_id: String,
    pub agent_id: Option<String>,
    pub scenario_id: String,
    pub zapi_agent_id: Option<String>,
    pub zapi_phone_number: Option<String>,
    pub zapi_message: Option<String>,
    pub whatsapp_template_agent_id: Option<String>,
    pub whatsapp_template_name: Option<String>,
    pub whatsapp_template_language_code: Option<String>,
    pub whatsapp_template_text: Option<String>,
    /// The Z-API settings again, nested as in Chatvolt's OpenAPI file (`null` when unset).
    pub zapi: Option<ZapiSettings>,
    /// The WhatsApp-template settings again, nested (`null` when unset).
    pub whatsapp: Option<WhatsappSettings>,
    pub webhook_url: Option<String>,
    pub webhook_header: Option<BTreeMap<String, String>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub agent: Option<StepAgent>,
    pub scenario: CrmScenario,
}

/// Which contact details to collect.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub struct RequestContactBody {
    #[serde(default)]
    pub name: bool,
    #[serde(default)]
    pub email: bool,
    #[serde(default)]
    pub phone: bool,
}

/// The step's agent, as shown beside it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepAgent {
    pub id: String,
    pub name: String,
    pub icon_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZapiSettings {
    pub agent_id: Option<String>,
    pub phone_number: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WhatsappSettings {
    pub template_agent_id: Option<String>,
    pub template_name: Option<String>,
    pub template_language_code: Option<String>,
    pub template_text: Option<String>,
}

impl From<StepView> for CrmStep {
    fn from(view: StepView) -> Self {
        let StepView {
            step,
            scenario,
            agent,
        } = view;
        let s = step.settings;
        let id = |x: Option<AgentId>| x.map(|a| a.to_string());
        let zapi = (s.zapi_agent_id.is_some()
            || s.zapi_phone_number.is_some()
            || s.zapi_message.is_some())
        .then(|| ZapiSettings {
            agent_id: id(s.zapi_agent_id),
            phone_number: s.zapi_phone_number.clone(),
            message: s.zapi_message.clone(),
        });
        let whatsapp = (s.whatsapp_template_agent_id.is_some()
            || s.whatsapp_template_name.is_some()
            || s.whatsapp_template_language_code.is_some()
            || s.whatsapp_template_text.is_some())
        .then(|| WhatsappSettings {
            template_agent_id: id(s.whatsapp_template_agent_id),
            template_name: s.whatsapp_template_name.clone(),
            template_language_code: s.whatsapp_template_language_code.clone(),
            template_text: s.whatsapp_template_text.clone(),
        });
        CrmStep {
            id: step.id.to_string(),
            name: s.name,
            index: step.index,
            prompt: s.prompt,
            trigger: s.trigger,
            initial_message: s.initial_message,
            auto_next_step_id: s.auto_next_step_id.map(|x| x.to_string()),
            auto_next_time: s.auto_next_time,
            auto_next_time_unit: s.auto_next_time_unit,
            default_status: s.default_status,
            default_priority: s.default_priority,
            default_ai_control: s.default_ai_control,
            assignee_logic_type: s.assignee_logic_type,
            selected_membership_ids_for_assignee: s
                .selected_membership_ids
                .map(|ids| ids.iter().map(ToString::to_string).collect()),
            is_required: s.is_required,
            is_conversation_removal_step: s.is_conversation_removal_step,
            default_tags: s.default_tags,
            default_tags_to_remove: s.default_tags_to_remove,
            request_contact: s.request_contact.map(|r| RequestContactBody {
                name: r.name,
                email: r.email,
                phone: r.phone,
            }),
            organization_id: step.organization_id.to_string(),
            agent_id: id(s.agent_id),
            scenario_id: step.scenario_id.to_string(),
            zapi_agent_id: id(s.zapi_agent_id),
            zapi_phone_number: s.zapi_phone_number,
            zapi_message: s.zapi_message,
            whatsapp_template_agent_id: id(s.whatsapp_template_agent_id),
            whatsapp_template_name: s.whatsapp_template_name,
            whatsapp_template_language_code: s.whatsapp_template_language_code,
            whatsapp_template_text: s.whatsapp_template_text,
            zapi,
            whatsapp,
            webhook_url: s.webhook_url,
            webhook_header: s.webhook_header,
            created_at: step.created_at,
            updated_at: step.updated_at,
            agent: agent.map(|a| StepAgent {
                id: a.id.to_string(),
                name: a.settings.name,
                icon_url: a.settings.icon_url,
            }),
            scenario: scenario.into(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListStepsQuery {
    /// The scenario whose steps to list.
    #[param(required = true, value_type = String)]
    pub scenario_id: Option<String>,
    /// Only the steps this agent handles.
    pub agent_id: Option<String>,
}

/// The body of `POST`, `PUT` and `DELETE /crm/step`. On create, `null` and absent mean the
/// same; on update, absent keeps a field and `null` clears it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepBody {
    /// The step to update or delete.
    pub id: Option<String>,
    /// The scenario to create the step in. Steps never move between scenarios.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub scenario_id: Option<Option<String>>,
    /// Read-only; accepted on update only when unchanged.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub index: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub agent_id: Option<Option<String>>,
    /// Either this or `prompt` is required.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub trigger: Option<Option<String>>,
    /// Either this or `trigger` is required.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub prompt: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub initial_message: Option<Option<String>>,
    /// Another step of the same scenario.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub auto_next_step_id: Option<Option<String>>,
    /// A positive integer, in `autoNextTimeUnit` units (seconds without a unit).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub auto_next_time: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<TimeUnit>)]
    pub auto_next_time_unit: Option<Option<TimeUnit>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<ConversationStatus>)]
    pub default_status: Option<Option<ConversationStatus>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Priority>)]
    pub default_priority: Option<Option<Priority>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<bool>)]
    pub default_ai_control: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<AssigneeLogic>)]
    pub assignee_logic_type: Option<Option<AssigneeLogic>>,
    /// Required (non-empty) for `single_user` (exactly one), `random_selected` and
    /// `fair_distribution_selected`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    pub selected_membership_ids_for_assignee: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<bool>)]
    pub is_required: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<bool>)]
    pub is_conversation_removal_step: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    pub default_tags: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    pub default_tags_to_remove: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RequestContactBody>)]
    pub request_contact: Option<Option<RequestContactBody>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub zapi_agent_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub zapi_phone_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub zapi_message: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub whatsapp_template_agent_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub whatsapp_template_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub whatsapp_template_language_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub whatsapp_template_text: Option<Option<String>>,
    /// The Z-API settings nested; `null` clears all three.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<ZapiBody>)]
    pub zapi: Option<Option<ZapiBody>>,
    /// The WhatsApp-template settings nested; `null` clears all four.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<WhatsappBody>)]
    pub whatsapp: Option<Option<WhatsappBody>>,
    /// An absolute http(s) URL.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub webhook_url: Option<Option<String>>,
    /// Header names to string values, added to the webhook request.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub webhook_header: Option<Option<BTreeMap<String, String>>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZapiBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub agent_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub phone_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub message: Option<Option<String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WhatsappBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub template_agent_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub template_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub template_language_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub template_text: Option<Option<String>>,
}

/// A field given flat and nested must agree; either alone is fine. A nested object sent as
/// `null` stands for `null` in each of its fields.
fn flat_or_nested<T: PartialEq>(
    errors: &mut Errors,
    flat_name: &'static str,
    flat: Option<Option<T>>,
    nested: Option<Option<T>>,
) -> Option<Option<T>> {
    match (flat, nested) {
        (Some(a), Some(b)) if a != b => {
            errors.add(
                flat_name,
                "disagrees with the same setting in the nested object; send one or the other",
            );
            None
        }
        (flat, nested) => flat.or(nested),
    }
}

/// Parses an id that refers to another record: one that cannot be an id cannot exist, so
/// it gets the same message as an id that does not.
fn reference<T>(
    errors: &mut Errors,
    field: &'static str,
    message: &str,
    value: Option<Option<String>>,
    parse: fn(&str) -> Option<T>,
) -> Patch<T> {
    match patch(value) {
        Patch::Set(text) => match parse(&text) {
            Some(id) => Patch::Set(id),
            None => {
                errors.add(field, message);
                Patch::Absent
            }
        },
        Patch::Null => Patch::Null,
        Patch::Absent => Patch::Absent,
    }
}

impl StepBody {
    /// The settings this body changes, or every input error at once.
    fn into_patch(self, errors: &mut Errors) -> StepPatch {
        let (zapi, zapi_null) = split_nested(self.zapi);
        let (whatsapp, whatsapp_null) = split_nested(self.whatsapp);
        let nested =
            |null: bool, field: Option<Option<String>>| if null { Some(None) } else { field };

        let zapi_agent_id = flat_or_nested(
            errors,
            "zapiAgentId",
            self.zapi_agent_id,
            nested(zapi_null, zapi.agent_id),
        );
        let zapi_phone_number = flat_or_nested(
            errors,
            "zapiPhoneNumber",
            self.zapi_phone_number,
            nested(zapi_null, zapi.phone_number),
        );
        let zapi_message = flat_or_nested(
            errors,
            "zapiMessage",
            self.zapi_message,
            nested(zapi_null, zapi.message),
        );
        let template_agent_id = flat_or_nested(
            errors,
            "whatsappTemplateAgentId",
            self.whatsapp_template_agent_id,
            nested(whatsapp_null, whatsapp.template_agent_id),
        );
        let template_name = flat_or_nested(
            errors,
            "whatsappTemplateName",
            self.whatsapp_template_name,
            nested(whatsapp_null, whatsapp.template_name),
        );
        let template_language = flat_or_nested(
            errors,
            "whatsappTemplateLanguageCode",
            self.whatsapp_template_language_code,
            nested(whatsapp_null, whatsapp.template_language_code),
        );
        let template_text = flat_or_nested(
            errors,
            "whatsappTemplateText",
            self.whatsapp_template_text,
            nested(whatsapp_null, whatsapp.template_text),
        );

        let selected = match patch(self.selected_membership_ids_for_assignee) {
            Patch::Set(ids) => {
                let mut parsed = Vec::with_capacity(ids.len());
                for text in ids {
                    match MembershipId::parse(&text) {
                        Some(id) => parsed.push(id),
                        None => errors.add(
                            "selectedMembershipIdsForAssignee",
                            format!("{text}: {}", missing_reference_message(Entity::Membership)),
                        ),
                    }
                }
                Patch::Set(parsed)
            }
            Patch::Null => Patch::Null,
            Patch::Absent => Patch::Absent,
        };

        let agent_missing = missing_reference_message(Entity::Agent);
        StepPatch {
            name: patch(self.name),
            agent_id: reference(
                errors,
                "agentId",
                &agent_missing,
                self.agent_id,
                AgentId::parse,
            ),
            trigger: patch(self.trigger),
            prompt: patch(self.prompt),
            initial_message: patch(self.initial_message),
            auto_next_step_id: reference(
                errors,
                "autoNextStepId",
                "must be the id of another step of the same scenario",
                self.auto_next_step_id,
                StepId::parse,
            ),
            auto_next_time: patch(self.auto_next_time),
            auto_next_time_unit: patch(self.auto_next_time_unit),
            default_status: patch(self.default_status),
            default_priority: patch(self.default_priority),
            default_ai_control: patch(self.default_ai_control),
            assignee_logic_type: patch(self.assignee_logic_type),
            selected_membership_ids: selected,
            is_required: patch(self.is_required),
            is_conversation_removal_step: patch(self.is_conversation_removal_step),
            default_tags: patch(self.default_tags),
            default_tags_to_remove: patch(self.default_tags_to_remove),
            request_contact: patch(self.request_contact).map(|r| RequestContact {
                name: r.name,
                email: r.email,
                phone: r.phone,
            }),
            zapi_agent_id: reference(
                errors,
                "zapiAgentId",
                &agent_missing,
                zapi_agent_id,
                AgentId::parse,
            ),
            zapi_phone_number: patch(zapi_phone_number),
            zapi_message: patch(zapi_message),
            whatsapp_template_agent_id: reference(
                errors,
                "whatsappTemplateAgentId",
                &agent_missing,
                template_agent_id,
                AgentId::parse,
            ),
            whatsapp_template_name: patch(template_name),
            whatsapp_template_language_code: patch(template_language),
            whatsapp_template_text: patch(template_text),
            webhook_url: patch(self.webhook_url),
            webhook_header: patch(self.webhook_header),
        }
    }
}

/// A nested settings object: its fields, and whether the object itself was sent as `null`.
fn split_nested<T: Default>(object: Option<Option<T>>) -> (T, bool) {
    match object {
        None => (T::default(), false),
        Some(None) => (T::default(), true),
        Some(Some(fields)) => (fields, false),
    }
}

/// List a scenario's steps, in index order.
#[utoipa::path(get, operation_id = "listSteps", path = "/crm/step", tag = "CRM Steps", params(ListStepsQuery),
    responses((status = 200, body = Vec<CrmStep>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(query): Params<ListStepsQuery>,
) -> Result<Json<Vec<CrmStep>>> {
    let scenario = query.scenario_id.ok_or_else(|| required("scenarioId"))?;
    let steps = match query.agent_id.as_deref().map(AgentId::parse) {
        Some(None) => Vec::new(),
        agent => {
            state
                .core
                .list_steps(&who, ScenarioId::parse(&scenario), agent.flatten())
                .await?
        }
    };
    Ok(Json(steps.into_iter().map(CrmStep::from).collect()))
}

/// Create a step at the end of a scenario.
#[utoipa::path(post, operation_id = "createStep", path = "/crm/step", tag = "CRM Steps", request_body = StepBody,
    responses((status = 201, body = CrmStep), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(mut body): Body<StepBody>,
) -> Result<(StatusCode, Json<CrmStep>)> {
    let mut errors = Errors::default();
    if !matches!(body.name, Some(Some(_))) {
        errors.add("name", "is required");
    }
    let scenario = body.scenario_id.take().flatten();
    if scenario.is_none() {
        errors.add("scenarioId", "is required");
    }
    let step_patch = body.into_patch(&mut errors);
    errors.into_result()?;
    let settings = StepSettings::default().patched(step_patch);
    let view = state
        .core
        .create_step(
            &who,
            scenario.as_deref().and_then(ScenarioId::parse),
            settings,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// Update a step: `id` plus at least one other field. Absent fields stay; `null` clears.
#[utoipa::path(put, operation_id = "updateStep", path = "/crm/step", tag = "CRM Steps", request_body = StepBody,
    responses((status = 200, body = CrmStep), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(mut body): Body<StepBody>,
) -> Result<Json<CrmStep>> {
    let id = body.id.take().ok_or_else(|| required("id"))?;
    let id = StepId::parse(&id);
    let (scenario, index) = (body.scenario_id.take(), body.index.take());
    let mut errors = Errors::default();
    let step_patch = body.into_patch(&mut errors);
    errors.into_result()?;
    if scenario.is_some() || index.is_some() {
        // Read-only fields are tolerated when unchanged, so a client can send back what it read.
        let current = state.core.get_step(&who, id).await?.step;
        let mut errors = Errors::default();
        if scenario.is_some_and(|s| s.as_deref() != Some(current.scenario_id.to_string().as_str()))
        {
            errors.add(
                "scenarioId",
                "is read-only: steps cannot move between scenarios",
            );
        }
        if index.is_some_and(|i| i != Some(current.index)) {
            errors.add(
                "index",
                "is read-only: new steps are appended, and deleting a step closes the gap",
            );
        }
        errors.into_result()?;
    }
    let view = state.core.update_step(&who, id, step_patch).await?;
    Ok(Json(view.into()))
}

/// Delete a step; the steps after it move up one index.
#[utoipa::path(delete, operation_id = "deleteStep", path = "/crm/step", tag = "CRM Steps", request_body = StepBody,
    responses((status = 200, body = CrmStep), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(body): Body<StepBody>,
) -> Result<Json<CrmStep>> {
    let id = body.id.ok_or_else(|| required("id"))?;
    let view = state.core.delete_step(&who, StepId::parse(&id)).await?;
    Ok(Json(view.into()))
}
