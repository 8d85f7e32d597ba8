//! Outbound effects of entering a step. They are written to the outbox in the same
//! transaction as the entry, carrying everything needed to send them; the delivery worker
//! sends them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::enums::{Channel, ConversationStatus, Priority};
use crate::ids::{
    AgentId, ChannelId, ContactId, ConversationId, MembershipId, MessageId, ScenarioId, StepId,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboundEffect {
    /// The step's initial message, sent through the conversation's channel. Placeholders
    /// (`{{contact.name}}`, …) are rendered at send time.
    #[serde(rename_all = "camelCase")]
    InitialMessage {
        conversation_id: ConversationId,
        channel: Channel,
        text: String,
    },
    /// A WhatsApp message to a fixed number through a Z-API channel.
    #[serde(rename_all = "camelCase")]
    ZapiNotification {
        conversation_id: ConversationId,
        agent_id: Option<AgentId>,
        phone_number: String,
        message: String,
    },
    /// A WhatsApp template to the conversation's contact.
    #[serde(rename_all = "camelCase")]
    WhatsappTemplate {
        conversation_id: ConversationId,
        contact_id: ContactId,
        agent_id: Option<AgentId>,
        template_name: String,
        language_code: Option<String>,
        text: Option<String>,
        /// The template's body parameters, in order.
        #[serde(default)]
        parameters: Vec<String>,
        /// The channel to send through, when the sender chose one (else the agent's).
        #[serde(default)]
        channel_id: Option<ChannelId>,
        /// The copy kept in the conversation, when the API sent it (it follows the send's
        /// status).
        #[serde(default)]
        message_id: Option<MessageId>,
    },
    /// The step's webhook: a `STEP_ENTERED` event.
    #[serde(rename_all = "camelCase")]
    StepWebhook {
        url: String,
        headers: BTreeMap<String, String>,
        event: StepEnteredPayload,
    },
    /// A message an agent or integration wrote, sent through the conversation's channel.
    #[serde(rename_all = "camelCase")]
    SessionMessage {
        conversation_id: ConversationId,
        message_id: MessageId,
        channel: Channel,
        text: String,
    },
    /// Something happened that event subscriptions may want to hear about.
    #[serde(rename_all = "camelCase")]
    Event {
        event_type: String,
        conversation_id: Option<ConversationId>,
        /// The lead (contact) the event is about, for lead events.
        contact_id: Option<ContactId>,
        actor: String,
        data: serde_json::Value,
    },
}

impl OutboundEffect {
    pub fn kind(&self) -> &'static str {
        match self {
            OutboundEffect::InitialMessage { .. } => "initial_message",
            OutboundEffect::ZapiNotification { .. } => "zapi_notification",
            OutboundEffect::WhatsappTemplate { .. } => "whatsapp_template",
            OutboundEffect::StepWebhook { .. } => "step_webhook",
            OutboundEffect::SessionMessage { .. } => "session_message",
            OutboundEffect::Event { .. } => "event",
        }
    }
}

/// What a step webhook reports: the conversation as it is right after entering the step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepEnteredPayload {
    pub event_type: String,
    pub conversation_id: ConversationId,
    pub contact_id: ContactId,
    pub scenario_id: ScenarioId,
    pub previous_step_id: Option<StepId>,
    pub step_id: StepId,
    pub status: ConversationStatus,
    pub priority: Priority,
    pub tags: Vec<String>,
    pub assignees: Vec<MembershipId>,
    pub ai_enabled: bool,
    pub actor: String,
    pub occurred_at: DateTime<Utc>,
}
