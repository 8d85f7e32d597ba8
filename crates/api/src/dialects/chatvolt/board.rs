//! Conversations on scenario boards: `POST /crm/step/conversation`, `POST /crm/step/move`,
//! `GET` and `DELETE /crm/scenario/{scenarioId}/conversation`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;
use stagecoach_app::{BoardCard, EntryReport, StepRef};
use stagecoach_domain::ids::{ConversationId, ScenarioId, StepId};
use utoipa::{IntoParams, ToSchema};

use super::error::{ErrorBody, Result};
use super::extract::{Body, Caller, Params};
use super::scenarios::required;
use super::steps::CrmStep;
use crate::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddToStepBody {
    pub conversation_id: Option<String>,
    /// Needed when `stepId` is absent: with `stepIndex`, or alone for the first step.
    pub scenario_id: Option<String>,
    /// When given, the step; `scenarioId`, if also given, must be its scenario.
    pub step_id: Option<String>,
    pub step_index: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MoveBody {
    pub conversation_id: Option<String>,
    pub scenario_id: Option<String>,
    pub dest_step_id: Option<String>,
    pub dest_step_index: Option<i64>,
    /// Queue the destination step's initial message (default false).
    #[serde(default)]
    pub should_send_initial_message: bool,
}

/// Chatvolt's `AlterStepResult`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlterStepResult {
    pub success: bool,
    pub message: Option<String>,
    /// Where the conversation is now (after any zero-delay auto-advance).
    pub new_step_id: Option<String>,
    /// Whether the step's initial message was queued for sending.
    pub message_sent: Option<bool>,
    pub send_message_error: Option<String>,
    /// Always null: messages are sent by the delivery worker after the answer.
    pub sent_message_id: Option<String>,
    pub initial_message: Option<String>,
    pub step_agent_id: Option<String>,
    pub blocked_by_24h_rule: Option<bool>,
    pub zapi_agent_id: Option<String>,
    pub zapi_phone_number: Option<String>,
    pub zapi_message: Option<String>,
}

/// The answer of `POST /crm/step/move`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MoveResult {
    pub success: bool,
    pub message: String,
    pub new_step_id: String,
    pub message_sent: Option<bool>,
    pub message_error: Option<String>,
    pub sent_message_id: Option<String>,
    pub blocked_by_24h_rule: Option<bool>,
}

/// Why the initial message was not or cannot be sent, if it was not or cannot.
fn message_error(report: &EntryReport) -> Option<String> {
    if report.blocked_by_24h_rule {
        return Some(
            "the initial message was not sent: the contact has not written in the last 24 hours"
                .to_owned(),
        );
    }
    report
        .undeliverable
        .as_ref()
        .map(|why| format!("the initial message cannot be sent: {why}"))
}

/// Whether the step's initial message is on its way (`None`: the step has none).
fn message_outcome(report: &EntryReport) -> Option<bool> {
    report
        .entered_step
        .settings
        .initial_message
        .as_ref()
        .map(|_| report.initial_message.is_some() && report.undeliverable.is_none())
}

/// Put a conversation in a step of a scenario it is not in (409 when it is).
#[utoipa::path(post, operation_id = "addConversationToStep", path = "/crm/step/conversation",
    tag = "CRM Steps", request_body = AddToStepBody,
    responses((status = 200, body = AlterStepResult), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(body): Body<AddToStepBody>,
) -> Result<Json<AlterStepResult>> {
    let conversation = body
        .conversation_id
        .ok_or_else(|| required("conversationId"))?;
    let scenario = body.scenario_id.as_deref().map(ScenarioId::parse);
    let step = match (body.step_id.as_deref(), scenario) {
        (Some(step), _) => StepRef::Id {
            step: StepId::parse(step),
            scenario: scenario.flatten(),
        },
        (None, Some(scenario)) => StepRef::Index {
            scenario,
            index: body.step_index.unwrap_or(0),
        },
        (None, None) => return Err(required("scenarioId")),
    };
    let report = state
        .core
        .add_to_step(&who, ConversationId::parse(&conversation), step)
        .await?;
    let s = &report.entered_step.settings;
    Ok(Json(AlterStepResult {
        success: true,
        message: Some(format!(
            "Conversation added to step {}",
            report.entered_step.settings.name
        )),
        new_step_id: Some(report.current_step_id.to_string()),
        message_sent: message_outcome(&report),
        send_message_error: message_error(&report),
        sent_message_id: None,
        initial_message: report.initial_message.clone(),
        step_agent_id: s.agent_id.map(|a| a.to_string()),
        blocked_by_24h_rule: Some(report.blocked_by_24h_rule),
        zapi_agent_id: s.zapi_agent_id.map(|a| a.to_string()),
        zapi_phone_number: s.zapi_phone_number.clone(),
        zapi_message: s.zapi_message.clone(),
    }))
}

/// Move a conversation to a step, by id or by scenario and index.
#[utoipa::path(post, operation_id = "moveConversation", path = "/crm/step/move", tag = "CRM Steps",
    request_body = MoveBody,
    responses((status = 200, body = MoveResult), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn move_conversation(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(body): Body<MoveBody>,
) -> Result<Json<MoveResult>> {
    let conversation = body
        .conversation_id
        .ok_or_else(|| required("conversationId"))?;
    let scenario = body.scenario_id.as_deref().map(ScenarioId::parse);
    let step = match (body.dest_step_id.as_deref(), scenario, body.dest_step_index) {
        (Some(step), _, _) => StepRef::Id {
            step: StepId::parse(step),
            scenario: scenario.flatten(),
        },
        (None, Some(scenario), Some(index)) => StepRef::Index { scenario, index },
        (None, Some(_), None) => return Err(required("destStepIndex")),
        (None, None, _) => return Err(required("destStepId")),
    };
    let report = state
        .core
        .move_to_step(
            &who,
            ConversationId::parse(&conversation),
            step,
            body.should_send_initial_message,
        )
        .await?;
    let sent = report.initial_message.is_some() && report.undeliverable.is_none();
    Ok(Json(MoveResult {
        success: true,
        message: format!(
            "Conversation moved to step {}{}",
            report.entered_step.settings.name,
            if sent {
                " and initial message queued."
            } else {
                "."
            }
        ),
        new_step_id: report.current_step_id.to_string(),
        message_sent: message_outcome(&report).map(|_| sent),
        message_error: message_error(&report),
        sent_message_id: None,
        blocked_by_24h_rule: Some(report.blocked_by_24h_rule),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct BoardQuery {
    /// Only the cards of this step.
    pub step_id: Option<String>,
    /// 0-based page (default 0).
    pub page: Option<i64>,
    /// Cards per page, 1 to 100 (default 50).
    pub limit: Option<i64>,
    /// Count instead of listing: `{count}` with `stepId`, else step id → count.
    pub is_count: Option<bool>,
    /// Include cards whose conversation has left the scenario.
    pub show_inactive_conversations: Option<bool>,
}

/// A board card (`CrmScenarioConversation`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrmScenarioConversation {
    pub id: String,
    pub scenario_id: String,
    pub conversation_id: String,
    pub step_id: String,
    pub organization_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub available: bool,
    pub conversation: CardConversation,
    #[schema(value_type = CrmStep)]
    pub step: RenderedStep,
}

/// A step's JSON, rendered once per board page and embedded as is in each of its cards:
/// a page of 50 cards in one step would otherwise serialize the same step 50 times.
#[derive(Debug, Clone)]
pub struct RenderedStep(Arc<RawValue>);

impl RenderedStep {
    fn render(view: &stagecoach_app::StepView) -> Self {
        let step = CrmStep::from(view.clone());
        Self(Arc::from(
            serde_json::value::to_raw_value(&step).expect("a step serializes"),
        ))
    }
}

impl Serialize for RenderedStep {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CardConversation {
    pub id: String,
    pub channel: String,
    pub status: String,
    pub priority: String,
    pub agent: Option<CardAgent>,
    #[schema(value_type = Vec<Object>)]
    pub conversation_contexts: Vec<serde_json::Value>,
    #[schema(value_type = Vec<Object>)]
    pub participants_visitors: Vec<serde_json::Value>,
    pub participants_contacts: Vec<CardContact>,
    pub visitor_id_field: Option<String>,
    pub ai_user_identifier: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CardAgent {
    pub name: Option<String>,
    pub icon_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CardContact {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// E.164 digits with a leading `+`.
    pub phone_number: Option<String>,
}

impl CrmScenarioConversation {
    /// `steps` holds the steps rendered so far for this page, by step id.
    fn new(card: BoardCard, steps: &mut HashMap<StepId, RenderedStep>) -> Self {
        let BoardCard {
            link,
            conversation,
            contact,
            agent,
            step,
        } = card;
        let step = steps
            .entry(step.step.id)
            .or_insert_with(|| RenderedStep::render(&step))
            .clone();
        CrmScenarioConversation {
            id: link.id.to_string(),
            scenario_id: link.scenario_id.to_string(),
            conversation_id: link.conversation_id.to_string(),
            step_id: link.step_id.to_string(),
            organization_id: link.organization_id.to_string(),
            created_at: link.created_at,
            updated_at: link.updated_at,
            available: link.available,
            conversation: CardConversation {
                id: conversation.id.to_string(),
                channel: conversation.channel.to_string(),
                status: conversation.status.to_string(),
                priority: conversation.priority.to_string(),
                agent: agent.map(|a| CardAgent {
                    name: Some(a.settings.name),
                    icon_url: a.settings.icon_url,
                }),
                conversation_contexts: Vec::new(),
                participants_visitors: Vec::new(),
                participants_contacts: contact.map(card_contact).into_iter().collect(),
                visitor_id_field: None,
                ai_user_identifier: None,
            },
            step,
        }
    }
}

pub(crate) fn card_contact(c: stagecoach_domain::contact::Contact) -> CardContact {
    CardContact {
        id: c.id.to_string(),
        first_name: c.first_name,
        last_name: c.last_name,
        email: c.email,
        phone_number: c.phone.map(|p| format!("+{p}")),
    }
}

/// What the board answers: a page of cards, or with `isCount` the count of `stepId`
/// (`{count}`) or of every step (step id → count). `anyOf`, not `oneOf`: an object of
/// counts fits both object shapes.
pub struct BoardAnswer;

impl utoipa::PartialSchema for BoardAnswer {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            AdditionalProperties, AnyOfBuilder, ArrayBuilder, ObjectBuilder, Type,
        };
        let integer = || ObjectBuilder::new().schema_type(Type::Integer).build();
        AnyOfBuilder::new()
            .item(
                ArrayBuilder::new().items(utoipa::openapi::Ref::from_schema_name(
                    "CrmScenarioConversation",
                )),
            )
            .item(
                ObjectBuilder::new()
                    .property("count", integer())
                    .required("count"),
            )
            .item(
                ObjectBuilder::new().additional_properties(Some(AdditionalProperties::RefOr(
                    utoipa::openapi::RefOr::T(integer().into()),
                ))),
            )
            .into()
    }
}

impl utoipa::ToSchema for BoardAnswer {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((
            "CrmScenarioConversation".into(),
            <CrmScenarioConversation as utoipa::PartialSchema>::schema(),
        ));
        <CrmScenarioConversation as utoipa::ToSchema>::schemas(schemas);
    }
}

/// The board: a page of cards, or counts.
#[utoipa::path(get, operation_id = "listScenarioConversations", path = "/crm/scenario/{scenarioId}/conversation",
    tag = "CRM Scenarios", params(("scenarioId" = String, Path), BoardQuery),
    responses((status = 200, body = BoardAnswer), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(scenario): Path<String>,
    Params(query): Params<BoardQuery>,
) -> Result<Response> {
    let scenario = ScenarioId::parse(&scenario);
    let inactive = query.show_inactive_conversations.unwrap_or(false);
    let step = match query.step_id.as_deref() {
        Some(text) => match StepId::parse(text) {
            Some(id) => Some(id),
            None => return Err(not_a_step()),
        },
        None => None,
    };
    if query.is_count.unwrap_or(false) {
        let counts = state.core.board_counts(&who, scenario, inactive).await?;
        return Ok(match step {
            Some(step) => {
                let count = counts
                    .iter()
                    .find(|(id, _)| *id == step)
                    .map_or(0, |(_, n)| *n);
                Json(json!({ "count": count })).into_response()
            }
            None => {
                let map: BTreeMap<String, i64> = counts
                    .into_iter()
                    .map(|(id, n)| (id.to_string(), n))
                    .collect();
                Json(map).into_response()
            }
        });
    }
    let limit = query.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(stagecoach_domain::ValidationError::single(
            "limit",
            "must be between 1 and 100",
        )
        .into());
    }
    let page = query.page.unwrap_or(0);
    if page < 0 {
        return Err(stagecoach_domain::ValidationError::single("page", "must be 0 or more").into());
    }
    let cards = state
        .core
        .board(&who, scenario, step, inactive, page, limit)
        .await?;
    let mut steps = HashMap::new();
    let cards: Vec<CrmScenarioConversation> = cards
        .into_iter()
        .map(|card| CrmScenarioConversation::new(card, &mut steps))
        .collect();
    Ok(Json(cards).into_response())
}

fn not_a_step() -> super::error::ChatvoltError {
    stagecoach_app::AppError::NotFound {
        entity: stagecoach_app::Entity::Step,
        field: "stepId",
    }
    .into()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct RemoveQuery {
    #[param(required = true, value_type = String)]
    pub conversation_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Removed {
    /// `Conversation successfully removed from scenario`
    pub message: &'static str,
}

/// Take a conversation off a scenario's board (the conversation itself stays).
#[utoipa::path(delete, operation_id = "removeScenarioConversation", path = "/crm/scenario/{scenarioId}/conversation",
    tag = "CRM Scenarios", params(("scenarioId" = String, Path), RemoveQuery),
    responses((status = 200, body = Removed), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(scenario): Path<String>,
    Params(query): Params<RemoveQuery>,
) -> Result<Json<Removed>> {
    let conversation = query
        .conversation_id
        .ok_or_else(|| required("conversationId"))?;
    state
        .core
        .remove_from_scenario(
            &who,
            ScenarioId::parse(&scenario),
            ConversationId::parse(&conversation),
        )
        .await?;
    Ok(Json(Removed {
        message: "Conversation successfully removed from scenario",
    }))
}
