//! What Chatvolt's step API leaves out: putting a scenario's steps in a new order (its
//! `index` is read-only), and previewing what entering a step would do.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use stagecoach_domain::ValidationError;
use stagecoach_domain::engine::assignment::MemberLoad;
use stagecoach_domain::engine::preview::{Change, EntryPreview};
use stagecoach_domain::enums::{AssigneeLogic, ConversationStatus, Priority};
use stagecoach_domain::ids::{ConversationId, ScenarioId, StepId};
use utoipa::ToSchema;

use super::error::{NativeErrorBody, Result};
use super::extract::{Body, Caller};
use crate::AppState;

/// The scenario's steps, every one of them once, in the new order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepOrderBody {
    pub step_ids: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderedStep {
    pub id: String,
    pub name: String,
    pub index: i64,
}

/// Puts the scenario's steps in the order given; answers them in that order.
#[utoipa::path(put, operation_id = "reorderSteps", path = "/v1/scenarios/{id}/step-order", tag = "Stagecoach",
    params(("id" = String, Path)), request_body = StepOrderBody,
    responses((status = 200, body = Vec<OrderedStep>), (status = 400, body = NativeErrorBody),
        (status = 401, body = NativeErrorBody), (status = 403, body = NativeErrorBody), (status = 404, body = NativeErrorBody)))]
pub async fn reorder(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Body(body): Body<StepOrderBody>,
) -> Result<Json<Vec<OrderedStep>>> {
    let mut order = Vec::with_capacity(body.step_ids.len());
    for id in &body.step_ids {
        match StepId::parse(id) {
            Some(step) => order.push(step),
            None => {
                return Err(
                    ValidationError::single("stepIds", format!("{id:?} is not a step id")).into(),
                );
            }
        }
    }
    let steps = state
        .core
        .reorder_steps(&who, ScenarioId::parse(&id), &order)
        .await?;
    Ok(Json(
        steps
            .into_iter()
            .map(|v| OrderedStep {
                id: v.step.id.to_string(),
                name: v.step.settings.name,
                index: v.step.index,
            })
            .collect(),
    ))
}

/// Which step to preview the entry into.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreviewBody {
    pub step_id: String,
    /// For a conversation already on a board (the entry is a move): whether the step's
    /// initial message would be sent, as `shouldSendInitialMessage` on a move.
    #[serde(default)]
    pub send_initial_message: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusChange {
    pub before: ConversationStatus,
    pub after: ConversationStatus,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PriorityChange {
    pub before: Priority,
    pub after: Priority,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlagChange {
    pub before: bool,
    pub after: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdChange {
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CandidateLoad {
    pub membership_id: String,
    /// Open (not RESOLVED) conversations of the scenario assigned to the member now.
    pub open_conversations: i64,
    pub last_assigned_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentPreviewBody {
    /// The step's `assigneeLogicType`; `null` when the step leaves assignees alone.
    pub logic: Option<AssigneeLogic>,
    pub before: Vec<String>,
    /// With `atRandom`, one possible draw: the real entry draws again.
    pub after: Vec<String>,
    pub at_random: bool,
    /// The selected members and their loads (fair distribution takes the least loaded,
    /// then the least recently assigned, then the first listed).
    pub candidates: Vec<CandidateLoad>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagePreviewBody {
    /// `initial_message`, `whatsapp_template` or `zapi_notification`.
    pub kind: String,
    /// The text, placeholders unrendered (a template's name for a template).
    pub text: String,
    /// The phone number a Z-API notification goes to.
    pub to: Option<String>,
    pub sent: bool,
    pub skipped_because: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoAdvancePreviewBody {
    pub target_step_id: String,
    pub due_at: DateTime<Utc>,
}

/// What entering the step would do now. Nothing was written.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntryPreviewBody {
    pub scenario_id: String,
    pub step_id: String,
    pub leaving_step_id: Option<String>,
    pub status: StatusChange,
    pub priority: PriorityChange,
    pub ai_enabled: FlagChange,
    pub agent_id: IdChange,
    pub tags_added: Vec<String>,
    pub tags_removed: Vec<String>,
    pub assignment: AssignmentPreviewBody,
    pub messages: Vec<MessagePreviewBody>,
    /// Called with a `STEP_ENTERED` event (the step's headers are not shown).
    pub webhook_url: Option<String>,
    pub auto_advance: Option<AutoAdvancePreviewBody>,
    /// The conversation would leave the board (a removal step).
    pub leaves_board: bool,
}

fn load_body(load: MemberLoad) -> CandidateLoad {
    CandidateLoad {
        membership_id: load.membership_id.to_string(),
        open_conversations: load.open_conversations,
        last_assigned_at: load.last_assigned_at,
    }
}

fn ids<T: ToString>(list: &[T]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

fn preview_body(p: EntryPreview) -> EntryPreviewBody {
    let Change { before, after } = p.agent_id;
    EntryPreviewBody {
        scenario_id: p.scenario_id.to_string(),
        step_id: p.step_id.to_string(),
        leaving_step_id: p.leaving_step_id.map(|s| s.to_string()),
        status: StatusChange {
            before: p.status.before,
            after: p.status.after,
        },
        priority: PriorityChange {
            before: p.priority.before,
            after: p.priority.after,
        },
        ai_enabled: FlagChange {
            before: p.ai_enabled.before,
            after: p.ai_enabled.after,
        },
        agent_id: IdChange {
            before: before.map(|a| a.to_string()),
            after: after.map(|a| a.to_string()),
        },
        tags_added: p.tags_added,
        tags_removed: p.tags_removed,
        assignment: AssignmentPreviewBody {
            logic: p.assignment.logic,
            before: ids(&p.assignment.before),
            after: ids(&p.assignment.after),
            at_random: p.assignment.at_random,
            candidates: p.assignment.candidates.into_iter().map(load_body).collect(),
        },
        messages: p
            .messages
            .into_iter()
            .map(|m| MessagePreviewBody {
                kind: m.kind.to_owned(),
                text: m.text,
                to: m.to,
                sent: m.sent,
                skipped_because: m.skipped_because,
            })
            .collect(),
        webhook_url: p.webhook_url,
        auto_advance: p.auto_advance.map(|a| AutoAdvancePreviewBody {
            target_step_id: a.target_step_id.to_string(),
            due_at: a.due_at,
        }),
        leaves_board: p.leaves_board,
    }
}

/// What entering a step would do to the conversation now (status, priority, tags, who
/// would be assigned and why, messages sent or blocked, webhook, auto-advance), computed
/// by the engine's own entry rules. Nothing is written.
#[utoipa::path(post, operation_id = "previewEntry", path = "/v1/conversations/{id}/preview-entry", tag = "Stagecoach",
    params(("id" = String, Path)), request_body = PreviewBody,
    responses((status = 200, body = EntryPreviewBody), (status = 400, body = NativeErrorBody),
        (status = 401, body = NativeErrorBody), (status = 403, body = NativeErrorBody), (status = 404, body = NativeErrorBody)))]
pub async fn preview_entry(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Body(body): Body<PreviewBody>,
) -> Result<Json<EntryPreviewBody>> {
    let preview = state
        .core
        .preview_entry(
            &who,
            ConversationId::parse(&id),
            StepId::parse(&body.step_id),
            body.send_initial_message,
        )
        .await?;
    Ok(Json(preview_body(preview)))
}
