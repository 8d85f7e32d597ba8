//! `POST /whatsapp/{phoneNumberId}/template-message`: send a pre-approved template,
//! optionally placing the conversation in a CRM step.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use stagecoach_app::TemplateSend;
use stagecoach_domain::delivery::providers::phone_digits;
use stagecoach_domain::enums::ConversationStatus;
use stagecoach_domain::error::Errors;
use stagecoach_domain::ids::{AgentId, ScenarioId, StepId};
use utoipa::ToSchema;

use super::conversations::MessageBody;
use super::error::{ErrorBody, Result};
use super::extract::{Body, Caller};
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
