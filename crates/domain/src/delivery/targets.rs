//! Where deliveries go: webhook endpoints subscribed to events, and channels (connected
//! numbers) that messages are sent through.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ids::{AgentId, ChannelId, EndpointId, OrganizationId};

/// How an endpoint wants its events shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PayloadStyle {
    /// `{id, type, timestamp, actor, data}`.
    Stagecoach,
    /// Chatvolt's `{eventType, …}` (`STEP_ENTERED`, `USER_MESSAGE_RECEIVED`, …).
    Chatvolt,
    /// Texter's `{eventName, eventData}` (`newIncomingMessage`, `chatResolved`, …).
    Texter,
}

impl PayloadStyle {
    pub const ALL: [PayloadStyle; 3] = [
        PayloadStyle::Stagecoach,
        PayloadStyle::Chatvolt,
        PayloadStyle::Texter,
    ];

    /// As serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadStyle::Stagecoach => "stagecoach",
            PayloadStyle::Chatvolt => "chatvolt",
            PayloadStyle::Texter => "texter",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEndpoint {
    pub id: EndpointId,
    pub organization_id: OrganizationId,
    pub url: String,
    pub description: Option<String>,
    /// The event types it receives; empty: all.
    pub event_types: Vec<String>,
    pub style: PayloadStyle,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WebhookEndpoint {
    pub fn wants(&self, event_type: &str) -> bool {
        !self.disabled
            && (self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type))
    }
}

/// The event types Stagecoach emits.
pub const EVENT_TYPES: &[&str] = &[
    "conversation.created",
    "conversation.step_entered",
    "conversation.status_changed",
    "conversation.priority_changed",
    "conversation.assignee_changed",
    "conversation.human_requested",
    "conversation.note_reminder_due",
    "message.received",
    "message.sent",
    "message.blocked",
    "chat.crm_data.updated",
    "chat.labels.updated",
    "chat.external_bot.updated",
    "lead.action.created",
    "lead.action.updated",
    "lead.payment.status_changed",
];

/// The event a direct change of a conversation field is announced as, if any.
pub fn change_event_type(field: &str) -> Option<&'static str> {
    match field {
        "status" => Some("conversation.status_changed"),
        "priority" => Some("conversation.priority_changed"),
        "assignees" => Some("conversation.assignee_changed"),
        _ => None,
    }
}

/// An event as delivered: what happened, to what, caused by whom.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveredEvent<'a> {
    pub id: &'a str,
    pub event_type: &'a str,
    pub actor: &'a str,
    pub occurred_at: DateTime<Utc>,
    pub conversation_id: Option<String>,
    pub contact_id: Option<String>,
    pub data: &'a Value,
}

/// The body an endpoint of a style receives for an event.
pub fn render_event(style: PayloadStyle, event: &DeliveredEvent<'_>) -> Value {
    let mut data = event.data.clone();
    if let Value::Object(map) = &mut data {
        if let Some(id) = &event.conversation_id {
            map.entry("conversationId").or_insert_with(|| json!(id));
        }
        if let Some(id) = &event.contact_id {
            map.entry("contactId").or_insert_with(|| json!(id));
        }
    }
    match style {
        PayloadStyle::Stagecoach => json!({
            "id": event.id,
            "type": event.event_type,
            "timestamp": event.occurred_at,
            "actor": event.actor,
            "data": data,
        }),
        PayloadStyle::Chatvolt => {
            let event_type = match event.event_type {
                "message.received" => "USER_MESSAGE_RECEIVED".to_owned(),
                "message.sent" => "AGENT_MESSAGE_SENDED".to_owned(),
                "message.blocked" => "AGENT_MESSAGE_BLOCKED".to_owned(),
                "conversation.step_entered" => "STEP_ENTERED".to_owned(),
                other => other.replace('.', "_").to_uppercase(),
            };
            json!({"eventType": event_type, "eventId": event.id, "actor": event.actor,
                   "timestamp": event.occurred_at, "data": data})
        }
        PayloadStyle::Texter => {
            let name = match event.event_type {
                "message.received" => "newIncomingMessage",
                "message.sent" => "newOutgoingMessage",
                "conversation.assignee_changed" => "chatAssigned",
                "conversation.status_changed"
                    if event.data.get("status") == Some(&json!("RESOLVED")) =>
                {
                    "chatResolved"
                }
                "conversation.status_changed" => "chatStatusChanged",
                "chat.labels.updated" => "chatLabelsUpdated",
                "chat.crm_data.updated" => "crmDataUpdated",
                "chat.external_bot.updated" => "externalBotChanged",
                other => other,
            };
            json!({"eventName": name, "eventId": event.id, "actor": event.actor,
                   "timestamp": event.occurred_at.timestamp_millis(), "eventData": data})
        }
    }
}

/// The kinds of channel messages go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// Meta's WhatsApp Cloud API.
    Whatsapp,
    /// Z-API (WhatsApp Web).
    Zapi,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Whatsapp => "whatsapp",
            ChannelKind::Zapi => "zapi",
        }
    }

    pub fn parse(text: &str) -> Option<ChannelKind> {
        match text {
            "whatsapp" => Some(ChannelKind::Whatsapp),
            "zapi" => Some(ChannelKind::Zapi),
            _ => None,
        }
    }
}

/// A channel's secrets, kept encrypted at rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ChannelSecrets {
    /// WhatsApp: the access token sends are authorized with.
    #[serde(default)]
    pub access_token: Option<String>,
    /// WhatsApp: the app secret Meta signs webhooks with.
    #[serde(default)]
    pub app_secret: Option<String>,
    /// WhatsApp: the token Meta echoes when verifying the webhook.
    #[serde(default)]
    pub verify_token: Option<String>,
    /// Z-API: the instance token in send URLs.
    #[serde(default)]
    pub instance_token: Option<String>,
    /// Z-API: the account's Client-Token header.
    #[serde(default)]
    pub client_token: Option<String>,
    /// Z-API: the token Stagecoach expects on inbound webhooks (`?token=`).
    #[serde(default)]
    pub webhook_token: Option<String>,
}

impl ChannelSecrets {
    /// The token a channel's provider presents on its webhooks: WhatsApp's verify token,
    /// Z-API's webhook token.
    pub fn inbound_token(&self, kind: ChannelKind) -> Option<&str> {
        match kind {
            ChannelKind::Whatsapp => self.verify_token.as_deref(),
            ChannelKind::Zapi => self.webhook_token.as_deref(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub id: ChannelId,
    pub organization_id: OrganizationId,
    pub kind: ChannelKind,
    pub name: String,
    /// The agent that sends through it (steps name agents for Z-API and templates).
    pub agent_id: Option<AgentId>,
    /// The WhatsApp phone number id, or the Z-API instance id.
    pub account_id: String,
    /// WhatsApp: the business account (WABA) the number belongs to, which owns the
    /// message templates. Given at connection, or learned from Meta's first webhook.
    pub business_account_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_shaped_per_style() {
        let data = json!({"messageId": "m1"});
        let event = DeliveredEvent {
            id: "evt_1",
            event_type: "message.received",
            actor: "system",
            occurred_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            conversation_id: Some("c1".into()),
            contact_id: None,
            data: &data,
        };
        let stagecoach = render_event(PayloadStyle::Stagecoach, &event);
        assert_eq!(stagecoach["type"], "message.received");
        assert_eq!(stagecoach["data"]["conversationId"], "c1");
        assert_eq!(
            render_event(PayloadStyle::Chatvolt, &event)["eventType"],
            "USER_MESSAGE_RECEIVED"
        );
        let texter = render_event(PayloadStyle::Texter, &event);
        assert_eq!(texter["eventName"], "newIncomingMessage");
        assert_eq!(texter["eventData"]["messageId"], "m1");
    }

    #[test]
    fn field_changes_name_their_events() {
        assert_eq!(
            change_event_type("status"),
            Some("conversation.status_changed")
        );
        assert_eq!(
            change_event_type("assignees"),
            Some("conversation.assignee_changed")
        );
        assert_eq!(change_event_type("tags"), None);
        for field in ["status", "priority", "assignees"] {
            assert!(EVENT_TYPES.contains(&change_event_type(field).unwrap()));
        }
    }

    #[test]
    fn endpoints_filter_event_types() {
        let mut endpoint = WebhookEndpoint {
            id: EndpointId::new(),
            organization_id: OrganizationId::new(),
            url: "https://x".into(),
            description: None,
            event_types: vec![],
            style: PayloadStyle::Stagecoach,
            disabled: false,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        assert!(endpoint.wants("message.sent"));
        endpoint.event_types = vec!["message.received".into()];
        assert!(!endpoint.wants("message.sent"));
        endpoint.disabled = true;
        assert!(!endpoint.wants("message.received"));
    }
}
