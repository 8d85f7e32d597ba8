//! WhatsApp templates: `POST /whatsapp/{phoneNumberId}/template-message` sends a
//! pre-approved template, optionally placing the conversation in a CRM step;
//! `GET`/`POST /whatsapp/templates` list and create the templates of the business account
//! behind an agent's WhatsApp channel, through Meta's Cloud API.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use stagecoach_app::TemplateSend;
use stagecoach_domain::delivery::providers::phone_digits;
use stagecoach_domain::delivery::whatsapp_templates::{NewTemplate, WhatsappTemplate};
use stagecoach_domain::enums::ConversationStatus;
use stagecoach_domain::error::{Errors, ValidationError};
use stagecoach_domain::ids::{AgentId, ScenarioId, StepId};
use utoipa::{IntoParams, ToSchema};

use super::conversations::MessageBody;
use super::error::{ErrorBody, Result};
use super::extract::{Body, Caller, Params};
use crate::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateBody {
    /// The recipient, with country code.
    pub to: Option<String>,
    /// The copy stored in the conversation's history.
    pub text: Option<String>,
    pub agent_id: Option<String>,
    pub template_name: Option<String>,
    pub template_lang_code: Option<String>,
    pub default_status: Option<ConversationStatus>,
    pub conversation_status: Option<ConversationStatus>,
    /// The contact's name when the contact is new (default `wao-<phone>`).
    pub contact_name: Option<String>,
    pub crm_scenario_id: Option<String>,
    pub crm_step_id: Option<String>,
    /// `var_<name>` keys are the template's body parameters, in order of name (numeric
    /// names numerically: `var_2` before `var_10`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateConversation {
    pub id: String,
    pub channel_external_id: String,
    pub channel: &'static str,
    pub messages: Vec<MessageBody>,
}

/// Keys the Chatvolt API accepts that Stagecoach cannot honour yet; refused rather than
/// silently dropped.
const UNSUPPORTED: [&str; 8] = [
    "buttons",
    "header_type",
    "header_text",
    "header_link",
    "header_id",
    "header_filename",
    "hasButtonVariables",
    "defaultAssigneeId",
];

/// Send a WhatsApp template (the 24-hour rule does not apply to templates).
#[utoipa::path(post, operation_id = "sendWhatsappTemplate", path = "/whatsapp/{phoneNumberId}/template-message",
    tag = "WhatsApp", params(("phoneNumberId" = String, Path)), request_body = TemplateBody,
    responses((status = 200, body = TemplateConversation), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn template_message(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(phone_number_id): Path<String>,
    Body(body): Body<TemplateBody>,
) -> Result<Json<TemplateConversation>> {
    let mut errors = Errors::default();
    let mut required = |field: &'static str, value: Option<String>| {
        let value = value.filter(|v| !v.trim().is_empty());
        if value.is_none() {
            errors.add(field, "is required");
        }
        value.unwrap_or_default()
    };
    let to = required("to", body.to);
    let text = required("text", body.text);
    let agent = required("agentId", body.agent_id);
    let template_name = required("templateName", body.template_name);
    let language = required("templateLangCode", body.template_lang_code);
    let agent_id = AgentId::parse(&agent);
    if !agent.is_empty() && agent_id.is_none() {
        errors.add("agentId", "is not an id");
    }
    let scenario_id = body.crm_scenario_id.map(|raw| ScenarioId::parse(&raw));
    if scenario_id == Some(None) {
        errors.add("crmScenarioId", "is not an id");
    }
    let step_id = body.crm_step_id.map(|raw| StepId::parse(&raw));
    if step_id == Some(None) {
        errors.add("crmStepId", "is not an id");
    }
    for key in UNSUPPORTED {
        if body.extra.contains_key(key) {
            errors.add(key, "is not supported yet");
        }
    }
    let mut variables: Vec<(&str, String)> = Vec::new();
    for (key, value) in &body.extra {
        let Some(name) = key.strip_prefix("var_") else {
            continue;
        };
        match value {
            Value::String(s) => variables.push((name, s.clone())),
            Value::Number(n) => variables.push((name, n.to_string())),
            _ => errors.add("var_*", format!("{key} must be a string or a number")),
        }
    }
    errors.into_result()?;
    variables.sort_by_key(|(name, _)| (name.parse::<u64>().unwrap_or(u64::MAX), name.to_string()));

    let contact_name = body
        .contact_name
        .unwrap_or_else(|| format!("wao-{}", phone_digits(&to)));
    let (conversation, messages) = state
        .core
        .send_template(
            &who,
            TemplateSend {
                phone_number_id,
                to: to.clone(),
                text,
                agent_id,
                template_name,
                language,
                parameters: variables.into_iter().map(|(_, v)| v).collect(),
                contact_name: Some(contact_name),
                status: body.conversation_status.or(body.default_status),
                scenario_id: scenario_id.flatten(),
                step_id: step_id.flatten(),
            },
        )
        .await?;
    Ok(Json(TemplateConversation {
        id: conversation.id.to_string(),
        channel_external_id: phone_digits(&to),
        channel: "whatsapp",
        messages: messages.into_iter().map(MessageBody::from).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct TemplatesQuery {
    /// The agent whose WhatsApp channel's business account is listed (required).
    pub agent_id: Option<String>,
}

/// One template, as Meta describes it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateBodyOut {
    pub id: String,
    pub name: String,
    pub language: String,
    /// `APPROVED`, `PENDING`, `REJECTED`, …
    pub status: String,
    pub category: String,
    /// Header, body, footer and buttons, as Meta gives them.
    #[schema(value_type = Vec<Object>)]
    pub components: Vec<Value>,
}

impl From<WhatsappTemplate> for TemplateBodyOut {
    fn from(t: WhatsappTemplate) -> Self {
        Self {
            id: t.id,
            name: t.name,
            language: t.language,
            status: t.status,
            category: t.category,
            components: t.components,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateList {
    pub data: Vec<TemplateBodyOut>,
}

/// The agent named by a required `agentId`.
fn required_agent(raw: Option<&str>) -> std::result::Result<AgentId, ValidationError> {
    match raw.map(str::trim) {
        None | Some("") => Err(ValidationError::single("agentId", "is required")),
        Some(raw) => {
            AgentId::parse(raw).ok_or_else(|| ValidationError::single("agentId", "is not an id"))
        }
    }
}

/// List the message templates of the WhatsApp Business Account behind the agent's
/// WhatsApp channel (every status, as Meta lists them).
#[utoipa::path(get, operation_id = "listWhatsappTemplates", path = "/whatsapp/templates", tag = "WhatsApp",
    params(TemplatesQuery),
    responses((status = 200, body = TemplateList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn list_templates(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(query): Params<TemplatesQuery>,
) -> Result<Json<TemplateList>> {
    let agent = required_agent(query.agent_id.as_deref())?;
    let templates = state.core.whatsapp_templates(&who, Some(agent)).await?;
    Ok(Json(TemplateList {
        data: templates.into_iter().map(TemplateBodyOut::from).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewTemplateBody {
    pub agent_id: Option<String>,
    /// Lowercase letters, digits and underscores, as Meta requires.
    pub name: Option<String>,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    pub category: Option<String>,
    /// A language code, e.g. `en_US`.
    pub language: Option<String>,
    /// Header, body, footer and buttons, in Meta's format.
    #[schema(value_type = Option<Vec<Object>>)]
    pub components: Option<Vec<Value>>,
}

/// Meta's answer to a new template.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTemplate {
    pub id: Option<String>,
    /// `PENDING` until Meta reviews it (or `APPROVED`, `REJECTED`).
    pub status: Option<String>,
    pub category: Option<String>,
}

/// Submit a new message template to the business account behind the agent's WhatsApp
/// channel. Meta reviews it; its refusals are passed on.
#[utoipa::path(post, operation_id = "createWhatsappTemplate", path = "/whatsapp/templates", tag = "WhatsApp",
    request_body = NewTemplateBody,
    responses((status = 200, body = CreatedTemplate), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn create_template(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(body): Body<NewTemplateBody>,
) -> Result<Json<CreatedTemplate>> {
    let mut errors = Errors::default();
    let agent = match required_agent(body.agent_id.as_deref()) {
        Ok(agent) => Some(agent),
        Err(error) => {
            errors.extend(error);
            None
        }
    };
    let mut required = |field: &'static str, value: Option<String>| {
        if value.is_none() {
            errors.add(field, "is required");
        }
        value.unwrap_or_default()
    };
    let name = required("name", body.name);
    let category = required("category", body.category);
    let language = required("language", body.language);
    if body.components.is_none() {
        errors.add("components", "is required");
    }
    errors.into_result()?;
    let template = NewTemplate {
        name,
        category,
        language,
        components: body.components.unwrap_or_default(),
    };
    let answer = state
        .core
        .create_whatsapp_template(&who, agent, template)
        .await?;
    let text = |key: &str| answer[key].as_str().map(str::to_owned);
    Ok(Json(CreatedTemplate {
        id: text("id"),
        status: text("status"),
        category: text("category"),
    }))
}
