//! The step editor: a scenario's steps in order (reordered with buttons), a form with every
//! field of a step, and a preview of what entering a step would do to a conversation.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::Form;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use stagecoach_app::{AppError, Principal, Stagecoach, StepView};
use stagecoach_domain::ValidationError;
use stagecoach_domain::engine::preview::EntryPreview;
use stagecoach_domain::enums::{AssigneeLogic, ConversationStatus, Priority, TimeUnit};
use stagecoach_domain::error::Errors;
use stagecoach_domain::ids::{AgentId, ConversationId, MembershipId, ScenarioId, StepId};
use stagecoach_domain::scope::{Area, Scope};
use stagecoach_domain::step::{RequestContact, StepPatch, StepSettings};

use super::{contact_label, failure, page, refusal, when, write_refusal};
use crate::session::SignedIn;

struct Choice {
    value: String,
    label: String,
}

fn choices<T: Copy>(all: &[T], text: impl Fn(T) -> &'static str) -> Vec<Choice> {
    all.iter()
        .map(|v| Choice {
            value: text(*v).to_owned(),
            label: text(*v).to_owned(),
        })
        .collect()
}

struct StepRow {
    id: String,
    name: String,
    /// What the step reacts to and does, briefly.
    summary: String,
    /// The order with this step one place earlier or later, for the buttons.
    up: Option<String>,
    down: Option<String>,
}

#[derive(Template)]
#[template(path = "ui/steps.html")]
struct StepsPage {
    scenario_id: String,
    name: String,
    problem: Option<String>,
    steps: Vec<StepRow>,
}

fn step_summary(step: &StepSettings) -> String {
    let mut parts = Vec::new();
    if let Some(trigger) = &step.trigger {
        parts.push(format!("trigger: {trigger}"));
    }
    if step.prompt.is_some() {
        parts.push("AI prompt".to_owned());
    }
    if step.initial_message.is_some() {
        parts.push("initial message".to_owned());
    }
    if step.auto_next_step_id.is_some() {
        parts.push("auto-advance".to_owned());
    }
    if step.is_conversation_removal_step == Some(true) {
        parts.push("removes from the board".to_owned());
    }
    parts.join(" · ")
}

/// The step order with the step at `from` swapped with its neighbour at `to`.
fn swapped(ids: &[String], from: usize, to: usize) -> String {
    let mut order = ids.to_vec();
    order.swap(from, to);
    order.join(",")
}

async fn render_steps(
    core: &Stagecoach,
    who: &Principal,
    scenario: Option<ScenarioId>,
    problem: Option<String>,
    status: StatusCode,
) -> Response {
    let steps = match core.list_steps(who, scenario, None).await {
        Ok(steps) => steps,
        Err(error) => return failure(&error),
    };
    let scenario_name = match scenario_name(core, who, scenario, &steps).await {
        Ok(name) => name,
        Err(refused) => return refused,
    };
    let ids: Vec<String> = steps.iter().map(|v| v.step.id.to_string()).collect();
    let rows = steps
        .iter()
        .enumerate()
        .map(|(i, v)| StepRow {
            id: ids[i].clone(),
            name: v.step.settings.name.clone(),
            summary: step_summary(&v.step.settings),
            up: (i > 0).then(|| swapped(&ids, i, i - 1)),
            down: (i + 1 < ids.len()).then(|| swapped(&ids, i, i + 1)),
        })
        .collect();
    page(
        &StepsPage {
            scenario_id: scenario.map(|s| s.to_string()).unwrap_or_default(),
            name: scenario_name,
            problem,
            steps: rows,
        },
        status,
    )
}

pub(crate) async fn steps(
    State(core): State<Stagecoach>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = refusal(who, Scope::read(Area::Scenarios)) {
        return refused;
    }
    render_steps(&core, who, ScenarioId::parse(&id), None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub(crate) struct OrderForm {
    /// Step ids, separated by commas, in the new order.
    order: String,
}

pub(crate) async fn reorder(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<OrderForm>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = write_refusal(&headers, who, Scope::write(Area::Scenarios)) {
        return refused;
    }
    let scenario = ScenarioId::parse(&id);
    let order: Option<Vec<StepId>> = form
        .order
        .split(',')
        .filter(|s| !s.is_empty())
        .map(StepId::parse)
        .collect();
    let reordered = match order {
        Some(order) => core.reorder_steps(who, scenario, &order).await,
        None => Err(AppError::Invalid(ValidationError::single(
            "stepIds",
            "the form names a step that is not a step id",
        ))),
    };
    match reordered {
        Ok(_) => Redirect::to(&format!("/ui/scenarios/{id}/steps")).into_response(),
        Err(AppError::Invalid(errors)) => {
            render_steps(
                &core,
                who,
                scenario,
                Some(errors.to_string()),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(error) => failure(&error),
    }
}

/// The scenario's name: from its steps when it has some.
async fn scenario_name(
    core: &Stagecoach,
    who: &Principal,
    scenario: Option<ScenarioId>,
    steps: &[StepView],
) -> Result<String, Response> {
    match steps.first() {
        Some(first) => Ok(first.scenario.name.clone()),
        None => core
            .get_scenario(who, scenario)
            .await
            .map(|s| s.name)
            .map_err(|error| failure(&error)),
    }
}

/// A step form as the browser sends it and shows it: every field as text, named as in
/// Chatvolt's step API, so that the API's messages land beside the fields they name.
#[derive(Debug, Default, Clone)]
struct StepForm {
    name: String,
    agent_id: String,
    trigger: String,
    prompt: String,
    initial_message: String,
    auto_next_step_id: String,
    auto_next_time: String,
    auto_next_time_unit: String,
    default_status: String,
    default_priority: String,
    /// `""` (leave as is), `on` or `off`.
    default_ai_control: String,
    assignee_logic_type: String,
    members: Vec<String>,
    is_required: bool,
    is_conversation_removal_step: bool,
    default_tags: String,
    default_tags_to_remove: String,
    request_name: bool,
    request_email: bool,
    request_phone: bool,
    zapi_agent_id: String,
    zapi_phone_number: String,
    zapi_message: String,
    whatsapp_template_agent_id: String,
    whatsapp_template_name: String,
    whatsapp_template_language_code: String,
    whatsapp_template_text: String,
    webhook_url: String,
    /// One `Name: value` per line.
    webhook_header: String,
}

fn text_of(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

fn id_of<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

impl StepForm {
    fn of(s: &StepSettings) -> StepForm {
        let asks = s.request_contact.unwrap_or_default();
        StepForm {
            name: s.name.clone(),
            agent_id: id_of(s.agent_id),
            trigger: text_of(&s.trigger),
            prompt: text_of(&s.prompt),
            initial_message: text_of(&s.initial_message),
            auto_next_step_id: id_of(s.auto_next_step_id),
            auto_next_time: id_of(s.auto_next_time),
            auto_next_time_unit: id_of(s.auto_next_time_unit.map(TimeUnit::as_str)),
            default_status: id_of(s.default_status.map(ConversationStatus::as_str)),
            default_priority: id_of(s.default_priority.map(Priority::as_str)),
            default_ai_control: match s.default_ai_control {
                None => String::new(),
                Some(true) => "on".into(),
                Some(false) => "off".into(),
            },
            assignee_logic_type: id_of(s.assignee_logic_type.map(AssigneeLogic::as_str)),
            members: s
                .selected_membership_ids
                .iter()
                .flatten()
                .map(ToString::to_string)
                .collect(),
            is_required: s.is_required == Some(true),
            is_conversation_removal_step: s.is_conversation_removal_step == Some(true),
            default_tags: s.default_tags.as_deref().unwrap_or_default().join(", "),
            default_tags_to_remove: s
                .default_tags_to_remove
                .as_deref()
                .unwrap_or_default()
                .join(", "),
            request_name: asks.name,
            request_email: asks.email,
            request_phone: asks.phone,
            zapi_agent_id: id_of(s.zapi_agent_id),
            zapi_phone_number: text_of(&s.zapi_phone_number),
            zapi_message: text_of(&s.zapi_message),
            whatsapp_template_agent_id: id_of(s.whatsapp_template_agent_id),
            whatsapp_template_name: text_of(&s.whatsapp_template_name),
            whatsapp_template_language_code: text_of(&s.whatsapp_template_language_code),
            whatsapp_template_text: text_of(&s.whatsapp_template_text),
            webhook_url: text_of(&s.webhook_url),
            webhook_header: s
                .webhook_header
                .iter()
                .flatten()
                .map(|(name, value)| format!("{name}: {value}"))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// Reads an `application/x-www-form-urlencoded` body (members repeat their field).
    fn parse(body: &[u8]) -> StepForm {
        let mut form = StepForm::default();
        for (name, value) in url::form_urlencoded::parse(body) {
            let value = value.into_owned();
            match name.as_ref() {
                "name" => form.name = value,
                "agentId" => form.agent_id = value,
                "trigger" => form.trigger = value,
                "prompt" => form.prompt = value,
                "initialMessage" => form.initial_message = value,
                "autoNextStepId" => form.auto_next_step_id = value,
                "autoNextTime" => form.auto_next_time = value,
                "autoNextTimeUnit" => form.auto_next_time_unit = value,
                "defaultStatus" => form.default_status = value,
                "defaultPriority" => form.default_priority = value,
                "defaultAiControl" => form.default_ai_control = value,
                "assigneeLogicType" => form.assignee_logic_type = value,
                "selectedMembershipIdsForAssignee" => form.members.push(value),
                "isRequired" => form.is_required = true,
                "isConversationRemovalStep" => form.is_conversation_removal_step = true,
                "defaultTags" => form.default_tags = value,
                "defaultTagsToRemove" => form.default_tags_to_remove = value,
                "requestContact.name" => form.request_name = true,
                "requestContact.email" => form.request_email = true,
                "requestContact.phone" => form.request_phone = true,
                "zapiAgentId" => form.zapi_agent_id = value,
                "zapiPhoneNumber" => form.zapi_phone_number = value,
                "zapiMessage" => form.zapi_message = value,
                "whatsappTemplateAgentId" => form.whatsapp_template_agent_id = value,
                "whatsappTemplateName" => form.whatsapp_template_name = value,
                "whatsappTemplateLanguageCode" => form.whatsapp_template_language_code = value,
                "whatsappTemplateText" => form.whatsapp_template_text = value,
                "webhookUrl" => form.webhook_url = value,
                "webhookHeader" => form.webhook_header = value,
                _ => {}
            }
        }
        form
    }

    /// The settings the form asks for, or which fields cannot be read. Whether they make
    /// sense is the use case's to say.
    fn settings(&self) -> Result<StepSettings, ValidationError> {
        let mut errors = Errors::default();
        let text = |value: &str| {
            let value = value.trim();
            (!value.is_empty()).then(|| value.to_owned())
        };
        let mut chosen = |field: &'static str, value: &str, parse: &dyn Fn(&str) -> bool| {
            if !value.is_empty() && !parse(value) {
                errors.add(field, "is not one of the choices offered");
            }
        };
        chosen("agentId", &self.agent_id, &|v| AgentId::parse(v).is_some());
        chosen("zapiAgentId", &self.zapi_agent_id, &|v| {
            AgentId::parse(v).is_some()
        });
        chosen(
            "whatsappTemplateAgentId",
            &self.whatsapp_template_agent_id,
            &|v| AgentId::parse(v).is_some(),
        );
        chosen("autoNextStepId", &self.auto_next_step_id, &|v| {
            StepId::parse(v).is_some()
        });
        chosen("autoNextTimeUnit", &self.auto_next_time_unit, &|v| {
            TimeUnit::parse(v).is_some()
        });
        chosen("defaultStatus", &self.default_status, &|v| {
            ConversationStatus::parse(v).is_some()
        });
        chosen("defaultPriority", &self.default_priority, &|v| {
            Priority::parse(v).is_some()
        });
        chosen("defaultAiControl", &self.default_ai_control, &|v| {
            matches!(v, "on" | "off")
        });
        chosen("assigneeLogicType", &self.assignee_logic_type, &|v| {
            AssigneeLogic::parse(v).is_some()
        });
        let members: Vec<MembershipId> = self
            .members
            .iter()
            .filter_map(|m| MembershipId::parse(m))
            .collect();
        if members.len() != self.members.len() {
            errors.add(
                "selectedMembershipIdsForAssignee",
                "is not one of the choices offered",
            );
        }
        let auto_next_time = match self.auto_next_time.trim() {
            "" => None,
            number => match number.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.add("autoNextTime", "must be a whole number");
                    None
                }
            },
        };
        let mut headers = BTreeMap::new();
        for line in self.webhook_header.lines().filter(|l| !l.trim().is_empty()) {
            match line.split_once(':') {
                Some((name, value)) => {
                    headers.insert(name.trim().to_owned(), value.trim().to_owned());
                }
                None => errors.add(
                    "webhookHeader",
                    format!("{:?} is not written `Name: value`", line.trim()),
                ),
            }
        }
        let tags = |list: &str| {
            let tags: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect();
            (!tags.is_empty()).then_some(tags)
        };
        let asks = RequestContact {
            name: self.request_name,
            email: self.request_email,
            phone: self.request_phone,
        };
        let settings = StepSettings {
            name: self.name.clone(),
            agent_id: AgentId::parse(&self.agent_id),
            trigger: text(&self.trigger),
            prompt: text(&self.prompt),
            initial_message: text(&self.initial_message),
            auto_next_step_id: StepId::parse(&self.auto_next_step_id),
            auto_next_time,
            auto_next_time_unit: TimeUnit::parse(&self.auto_next_time_unit),
            default_status: ConversationStatus::parse(&self.default_status),
            default_priority: Priority::parse(&self.default_priority),
            default_ai_control: match self.default_ai_control.as_str() {
                "on" => Some(true),
                "off" => Some(false),
                _ => None,
            },
            assignee_logic_type: AssigneeLogic::parse(&self.assignee_logic_type),
            selected_membership_ids: (!members.is_empty()).then_some(members),
            is_required: self.is_required.then_some(true),
            is_conversation_removal_step: self.is_conversation_removal_step.then_some(true),
            default_tags: tags(&self.default_tags),
            default_tags_to_remove: tags(&self.default_tags_to_remove),
            request_contact: (asks != RequestContact::default()).then_some(asks),
            zapi_agent_id: AgentId::parse(&self.zapi_agent_id),
            zapi_phone_number: text(&self.zapi_phone_number),
            zapi_message: text(&self.zapi_message),
            whatsapp_template_agent_id: AgentId::parse(&self.whatsapp_template_agent_id),
            whatsapp_template_name: text(&self.whatsapp_template_name),
            whatsapp_template_language_code: text(&self.whatsapp_template_language_code),
            whatsapp_template_text: text(&self.whatsapp_template_text),
            webhook_url: text(&self.webhook_url),
            webhook_header: (!headers.is_empty()).then_some(headers),
        };
        errors.into_result().map(|()| settings)
    }
}

#[derive(Template)]
#[template(path = "ui/step_form.html")]
struct StepFormPage {
    scenario_id: String,
    scenario_name: String,
    /// `None` for a new step.
    step_id: Option<String>,
    form: StepForm,
    /// Messages by the field they name; those naming no field of the form are `problems`.
    errors: HashMap<String, String>,
    problems: Vec<String>,
    agents: Vec<Choice>,
    members: Vec<Choice>,
    /// Steps this one can advance to.
    targets: Vec<Choice>,
    statuses: Vec<Choice>,
    priorities: Vec<Choice>,
    logics: Vec<Choice>,
    units: Vec<Choice>,
    /// Conversations on the scenario's board, to preview an entry with.
    conversations: Vec<Choice>,
}

/// Every field name the form has (what an error may name).
const FORM_FIELDS: &[&str] = &[
    "name",
    "agentId",
    "trigger",
    "prompt",
    "initialMessage",
    "autoNextStepId",
    "autoNextTime",
    "autoNextTimeUnit",
    "defaultStatus",
    "defaultPriority",
    "defaultAiControl",
    "assigneeLogicType",
    "selectedMembershipIdsForAssignee",
    "isRequired",
    "isConversationRemovalStep",
    "defaultTags",
    "defaultTagsToRemove",
    "requestContact",
    "zapiAgentId",
    "zapiPhoneNumber",
    "zapiMessage",
    "whatsappTemplateAgentId",
    "whatsappTemplateName",
    "whatsappTemplateLanguageCode",
    "whatsappTemplateText",
    "webhookUrl",
    "webhookHeader",
];

impl StepFormPage {
    fn error(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }

    fn picked(&self, member: &str) -> bool {
        self.form.members.iter().any(|m| m == member)
    }
}

async fn render_step_form(
    core: &Stagecoach,
    who: &Principal,
    scenario: ScenarioId,
    step_id: Option<StepId>,
    form: StepForm,
    failed: Option<&ValidationError>,
    status: StatusCode,
) -> Response {
    let steps = match core.list_steps(who, Some(scenario), None).await {
        Ok(steps) => steps,
        Err(error) => return failure(&error),
    };
    let scenario_name = match scenario_name(core, who, Some(scenario), &steps).await {
        Ok(name) => name,
        Err(refused) => return refused,
    };
    let agents = match core.list_agents(who).await {
        Ok(agents) => agents,
        Err(error) => return failure(&error),
    };
    let members = match core.list_members(who.organization_id).await {
        Ok(members) => members,
        Err(error) => return failure(&error),
    };
    // The first cards of the board, when the token may read conversations.
    let conversations = match (
        step_id,
        refusal(who, Scope::read(Area::Conversations)).is_none(),
    ) {
        (Some(_), true) => core
            .board(who, Some(scenario), None, false, 0, 50)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|card| Choice {
                value: card.conversation.id.to_string(),
                label: format!(
                    "{} ({})",
                    contact_label(card.contact.as_ref()),
                    card.step.step.settings.name
                ),
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut errors = HashMap::new();
    let mut problems = Vec::new();
    for error in failed.map(|e| e.0.as_slice()).unwrap_or_default() {
        let field = error.field.as_ref();
        // `requestContact.name`, `webhookHeader.X`: the form's field is the first part.
        let base = field.split(['.', '[']).next().unwrap_or(field);
        if FORM_FIELDS.contains(&base) {
            errors
                .entry(base.to_owned())
                .and_modify(|m: &mut String| {
                    m.push_str("; ");
                    m.push_str(&error.message)
                })
                .or_insert_with(|| error.message.clone());
        } else {
            problems.push(format!("{field}: {}", error.message));
        }
    }
    page(
        &StepFormPage {
            scenario_id: scenario.to_string(),
            scenario_name,
            step_id: step_id.map(|s| s.to_string()),
            form,
            errors,
            problems,
            agents: agents
                .into_iter()
                .map(|a| Choice {
                    value: a.id.to_string(),
                    label: a.settings.name,
                })
                .collect(),
            members: members
                .into_iter()
                .map(|m| Choice {
                    value: m.id.to_string(),
                    label: m.name,
                })
                .collect(),
            targets: steps
                .iter()
                .filter(|v| Some(v.step.id) != step_id)
                .map(|v| Choice {
                    value: v.step.id.to_string(),
                    label: v.step.settings.name.clone(),
                })
                .collect(),
            statuses: choices(ConversationStatus::ALL, ConversationStatus::as_str),
            priorities: choices(Priority::ALL, Priority::as_str),
            logics: choices(AssigneeLogic::ALL, AssigneeLogic::as_str),
            units: choices(TimeUnit::ALL, TimeUnit::as_str),
            conversations,
        },
        status,
    )
}

pub(crate) async fn new_step(
    State(core): State<Stagecoach>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = refusal(who, Scope::write(Area::Scenarios)) {
        return refused;
    }
    let scenario = match core.get_scenario(who, ScenarioId::parse(&id)).await {
        Ok(scenario) => scenario.id,
        Err(error) => return failure(&error),
    };
    render_step_form(
        &core,
        who,
        scenario,
        None,
        StepForm::default(),
        None,
        StatusCode::OK,
    )
    .await
}

/// What saving a step form came to: the steps list, or the form again with the reasons.
async fn after_save(
    core: &Stagecoach,
    who: &Principal,
    scenario: ScenarioId,
    step_id: Option<StepId>,
    form: StepForm,
    saved: Result<StepView, AppError>,
) -> Response {
    match saved {
        Ok(view) => {
            Redirect::to(&format!("/ui/scenarios/{}/steps", view.step.scenario_id)).into_response()
        }
        Err(AppError::Invalid(errors)) => {
            render_step_form(
                core,
                who,
                scenario,
                step_id,
                form,
                Some(&errors),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(error) => failure(&error),
    }
}

pub(crate) async fn create_step(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = write_refusal(&headers, who, Scope::write(Area::Scenarios)) {
        return refused;
    }
    let scenario = match core.get_scenario(who, ScenarioId::parse(&id)).await {
        Ok(scenario) => scenario.id,
        Err(error) => return failure(&error),
    };
    let form = StepForm::parse(&body);
    let saved = match form.settings() {
        Ok(settings) => core.create_step(who, Some(scenario), settings).await,
        Err(errors) => Err(AppError::Invalid(errors)),
    };
    after_save(&core, who, scenario, None, form, saved).await
}

async fn step_of(core: &Stagecoach, who: &Principal, id: &str) -> Result<StepView, Response> {
    core.get_step(who, StepId::parse(id))
        .await
        .map_err(|error| failure(&error))
}

pub(crate) async fn edit_step(
    State(core): State<Stagecoach>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = refusal(who, Scope::read(Area::Scenarios)) {
        return refused;
    }
    let view = match step_of(&core, who, &id).await {
        Ok(view) => view,
        Err(refused) => return refused,
    };
    render_step_form(
        &core,
        who,
        view.step.scenario_id,
        Some(view.step.id),
        StepForm::of(&view.step.settings),
        None,
        StatusCode::OK,
    )
    .await
}

pub(crate) async fn save_step(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = write_refusal(&headers, who, Scope::write(Area::Scenarios)) {
        return refused;
    }
    let view = match step_of(&core, who, &id).await {
        Ok(view) => view,
        Err(refused) => return refused,
    };
    let form = StepForm::parse(&body);
    let saved = match form.settings() {
        Ok(settings) => {
            core.update_step(who, Some(view.step.id), StepPatch::replacing(settings))
                .await
        }
        Err(errors) => Err(AppError::Invalid(errors)),
    };
    after_save(
        &core,
        who,
        view.step.scenario_id,
        Some(view.step.id),
        form,
        saved,
    )
    .await
}

pub(crate) async fn delete_step(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = write_refusal(&headers, who, Scope::write(Area::Scenarios)) {
        return refused;
    }
    let view = match step_of(&core, who, &id).await {
        Ok(view) => view,
        Err(refused) => return refused,
    };
    let scenario = view.step.scenario_id;
    match core.delete_step(who, Some(view.step.id)).await {
        Ok(_) => Redirect::to(&format!("/ui/scenarios/{scenario}/steps")).into_response(),
        Err(AppError::Conflict { message, .. }) => {
            render_steps(
                &core,
                who,
                Some(scenario),
                Some(message),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(error) => failure(&error),
    }
}

#[derive(Deserialize)]
pub(crate) struct PreviewQuery {
    #[serde(default)]
    conversation: String,
    /// Set when the initial message is to be sent on a move.
    initial: Option<String>,
}

struct Line {
    text: String,
    /// Whether the line says something would not happen.
    negative: bool,
}

#[derive(Template)]
#[template(path = "ui/preview.html")]
struct PreviewPage {
    step_id: String,
    step_name: String,
    scenario_id: String,
    conversation_id: String,
    who: String,
    lines: Vec<Line>,
}

/// The preview in plain sentences, with members, agents and steps by name.
fn preview_lines(
    preview: &EntryPreview,
    names: &HashMap<String, String>,
    step_name: &str,
) -> Vec<Line> {
    let name = |id: &dyn ToString| {
        let id = id.to_string();
        names.get(&id).cloned().unwrap_or(id)
    };
    let mut lines = Vec::new();
    let mut say = |text: String, negative: bool| lines.push(Line { text, negative });
    match preview.leaving_step_id {
        Some(from) => say(
            format!("Leaves {} and enters {step_name}.", name(&from)),
            false,
        ),
        None => say(format!("Enters {step_name}."), false),
    }
    for (what, before, after) in [
        (
            "Status",
            preview.status.before.as_str(),
            preview.status.after.as_str(),
        ),
        (
            "Priority",
            preview.priority.before.as_str(),
            preview.priority.after.as_str(),
        ),
    ] {
        if before == after {
            say(format!("{what} stays {after}."), false);
        } else {
            say(format!("{what} changes from {before} to {after}."), false);
        }
    }
    let ai = |on: bool| if on { "on" } else { "off" };
    if preview.ai_enabled.changes() {
        say(
            format!(
                "AI turns {} (it was {}).",
                ai(preview.ai_enabled.after),
                ai(preview.ai_enabled.before)
            ),
            false,
        );
    } else {
        say(format!("AI stays {}.", ai(preview.ai_enabled.after)), false);
    }
    if preview.agent_id.changes()
        && let Some(agent) = preview.agent_id.after
    {
        say(format!("The agent {} takes over.", name(&agent)), false);
    }
    if !preview.tags_added.is_empty() {
        say(
            format!("Tags added: {}.", preview.tags_added.join(", ")),
            false,
        );
    }
    if !preview.tags_removed.is_empty() {
        say(
            format!("Tags removed: {}.", preview.tags_removed.join(", ")),
            false,
        );
    }
    let a = &preview.assignment;
    let people =
        |ids: &[MembershipId]| ids.iter().map(|id| name(id)).collect::<Vec<_>>().join(", ");
    match a.logic {
        None | Some(AssigneeLogic::None) => say("Assignees stay as they are.".into(), false),
        Some(AssigneeLogic::Clear) => say("Every assignee is removed.".into(), false),
        Some(_) if a.candidates.is_empty() => say(
            "No member is selected, so assignees stay as they are.".into(),
            true,
        ),
        Some(AssigneeLogic::SingleUser) => say(format!("Assigned to {}.", people(&a.after)), false),
        Some(AssigneeLogic::RandomSelected) if a.at_random => say(
            format!(
                "Assigned to one of {}, drawn at random.",
                a.candidates
                    .iter()
                    .map(|c| name(&c.membership_id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            false,
        ),
        Some(AssigneeLogic::RandomSelected) => {
            say(format!("Assigned to {}.", people(&a.after)), false)
        }
        Some(AssigneeLogic::FairDistributionSelected) => {
            let chosen = a.after.first().copied();
            let load = |id: MembershipId| {
                a.candidates
                    .iter()
                    .find(|c| c.membership_id == id)
                    .map_or(0, |c| c.open_conversations)
            };
            let others: Vec<String> = a
                .candidates
                .iter()
                .filter(|c| Some(c.membership_id) != chosen)
                .map(|c| format!("{} ({})", name(&c.membership_id), c.open_conversations))
                .collect();
            let mut text = match chosen {
                Some(member) => format!(
                    "Assigned to {}, who has {} open conversations in this scenario",
                    name(&member),
                    load(member)
                ),
                None => "Nobody is assigned".into(),
            };
            if !others.is_empty() {
                text.push_str(&format!(", against {}", others.join(", ")));
            }
            text.push('.');
            say(text, false);
        }
    }
    for message in &preview.messages {
        let what = match message.kind {
            "initial_message" => format!("The initial message “{}”", message.text),
            "whatsapp_template" => format!("The WhatsApp template {}", message.text),
            _ => format!(
                "The Z-API notification “{}” to {}",
                message.text,
                message.to.as_deref().unwrap_or("?")
            ),
        };
        match &message.skipped_because {
            None if message.sent => say(format!("{what} is sent."), false),
            reason => say(
                format!(
                    "{what} is not sent: {}.",
                    reason.as_deref().unwrap_or("it is not asked for")
                ),
                true,
            ),
        }
    }
    if let Some(url) = &preview.webhook_url {
        say(format!("The step webhook is called: {url}."), false);
    }
    if let Some(plan) = &preview.auto_advance {
        say(
            format!(
                "Moves on to {} at {}.",
                name(&plan.target_step_id),
                when(plan.due_at)
            ),
            false,
        );
    }
    if preview.leaves_board {
        say("It leaves the board: this is a removal step.".into(), false);
    }
    lines
}

pub(crate) async fn preview(
    State(core): State<Stagecoach>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<PreviewQuery>,
) -> Response {
    let who = &signed_in.principal;
    for scope in [
        Scope::read(Area::Scenarios),
        Scope::read(Area::Conversations),
    ] {
        if let Some(refused) = refusal(who, scope) {
            return refused;
        }
    }
    let view = match step_of(&core, who, &id).await {
        Ok(view) => view,
        Err(refused) => return refused,
    };
    let conversation = ConversationId::parse(query.conversation.trim());
    let preview = match core
        .preview_entry(
            who,
            conversation,
            Some(view.step.id),
            query.initial.is_some(),
        )
        .await
    {
        Ok(preview) => preview,
        Err(error) => return failure(&error),
    };
    let detail = match core.conversation_detail(who, conversation).await {
        Ok(detail) => detail,
        Err(error) => return failure(&error),
    };
    let mut names: HashMap<String, String> = HashMap::new();
    if let Ok(steps) = core
        .list_steps(who, Some(view.step.scenario_id), None)
        .await
    {
        names.extend(
            steps
                .into_iter()
                .map(|v| (v.step.id.to_string(), v.step.settings.name)),
        );
    }
    if let Some(leaving) = preview.leaving_step_id
        && !names.contains_key(&leaving.to_string())
        && let Ok(step) = core.get_step(who, Some(leaving)).await
    {
        names.insert(leaving.to_string(), step.step.settings.name);
    }
    if let Ok(members) = core.list_members(who.organization_id).await {
        names.extend(members.into_iter().map(|m| (m.id.to_string(), m.name)));
    }
    if let Ok(agents) = core.list_agents(who).await {
        names.extend(
            agents
                .into_iter()
                .map(|a| (a.id.to_string(), a.settings.name)),
        );
    }
    page(
        &PreviewPage {
            lines: preview_lines(&preview, &names, &view.step.settings.name),
            step_id: view.step.id.to_string(),
            step_name: view.step.settings.name.clone(),
            scenario_id: view.step.scenario_id.to_string(),
            conversation_id: detail.conversation.id.to_string(),
            who: contact_label(detail.contact.as_ref()),
        },
        StatusCode::OK,
    )
}
