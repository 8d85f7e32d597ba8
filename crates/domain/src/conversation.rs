//! Conversations, their messages, and their place on scenario boards.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use crate::enums::{Channel, ConversationStatus, MessageDirection, Priority, StayStatus};
use crate::ids::{
    AgentId, ContactId, ConversationId, MembershipId, MessageId, OrganizationId, ScenarioId,
    ScenarioLinkId, StayId, StepId,
};
use crate::step::RequestContact;

/// How long after the contact's last message free text may still be sent on channels
/// with a 24-hour window.
pub const SESSION_WINDOW: Duration = Duration::hours(24);

#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub id: ConversationId,
    pub organization_id: OrganizationId,
    pub contact_id: ContactId,
    pub channel: Channel,
    pub title: Option<String>,
    pub status: ConversationStatus,
    pub priority: Priority,
    pub ai_enabled: bool,
    /// The AI agent responsible for the conversation.
    pub agent_id: Option<AgentId>,
    /// Members the conversation is assigned to, in assignment order.
    pub assignees: Vec<MembershipId>,
    /// Tags in the order they were added; never duplicated.
    pub tags: Vec<String>,
    /// Free-form CRM data (a JSON object).
    pub crm_data: Map<String, Value>,
    /// Contact details a step asked to collect that the contact does not have yet.
    pub contact_fields_to_collect: RequestContact,
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// When the last message, in either direction, was stored.
    pub last_message_at: Option<DateTime<Utc>>,
    pub unread_count: i64,
    /// A link to the contact's record in the business's own CRM, shown to agents.
    pub crm_deep_link: Option<String>,
    /// Whether a bot outside Stagecoach is handling the conversation.
    pub external_bot: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Who is handling a conversation now, derived from its status, assignees and AI flag.
/// Texter shows it as the chat status (0 BOT, 1 PENDING, 2 ASSIGNED, 3 RESOLVED).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Handling {
    /// Open, unassigned, with the AI agent answering.
    Bot,
    /// Waiting for a person: a human was requested, or the AI is off and nobody is assigned.
    Pending,
    /// Open and assigned to a member (and no human was requested).
    Assigned,
    Resolved,
}

impl Conversation {
    pub fn handling(&self) -> Handling {
        match self.status {
            ConversationStatus::Resolved => Handling::Resolved,
            ConversationStatus::HumanRequested => Handling::Pending,
            ConversationStatus::Unresolved if !self.assignees.is_empty() => Handling::Assigned,
            ConversationStatus::Unresolved if self.ai_enabled => Handling::Bot,
            ConversationStatus::Unresolved => Handling::Pending,
        }
    }

    /// A new conversation with a contact: unresolved, medium priority, AI on.
    pub fn new(
        organization_id: OrganizationId,
        contact_id: ContactId,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> Conversation {
        Conversation {
            id: ConversationId::new(),
            organization_id,
            contact_id,
            channel,
            title: None,
            status: ConversationStatus::Unresolved,
            priority: Priority::Medium,
            ai_enabled: true,
            agent_id: None,
            assignees: Vec::new(),
            tags: Vec::new(),
            crm_data: Map::new(),
            contact_fields_to_collect: RequestContact::default(),
            last_inbound_at: None,
            last_message_at: None,
            unread_count: 0,
            crm_deep_link: None,
            external_bot: false,
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether free text may be sent now. Channels without a 24-hour window always allow it;
    /// on WhatsApp a conversation whose contact never wrote is outside the window.
    pub fn can_send_free_text(&self, now: DateTime<Utc>) -> bool {
        if !self.channel.has_24h_window() {
            return true;
        }
        self.last_inbound_at
            .is_some_and(|last| now - last <= SESSION_WINDOW)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: MessageId,
    pub organization_id: OrganizationId,
    pub conversation_id: ConversationId,
    pub direction: MessageDirection,
    pub text: String,
    pub attachments: Vec<Value>,
    /// The provider's id, unique per channel, so a redelivered message is stored once.
    pub external_id: Option<String>,
    pub channel: Channel,
    pub status: String,
    /// Who wrote an outbound message (`ai:<agent id>`, `api_token:<id>`), when known.
    pub author: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A conversation's place in a scenario: Chatvolt's board card. A conversation has at most
/// one available link at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioLink {
    pub id: ScenarioLinkId,
    pub organization_id: OrganizationId,
    pub conversation_id: ConversationId,
    pub scenario_id: ScenarioId,
    pub step_id: StepId,
    /// The current stay in `step_id`.
    pub stay_id: StayId,
    pub available: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One stay of a conversation in a step (Chatvolt's CRM conversation log).
#[derive(Debug, Clone, PartialEq)]
pub struct Stay {
    pub id: StayId,
    pub organization_id: OrganizationId,
    pub conversation_id: ConversationId,
    pub scenario_id: ScenarioId,
    pub step_id: StepId,
    pub status: StayStatus,
    pub entered_at: DateTime<Utc>,
    pub exited_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whatsapp_window_is_24_hours_from_the_last_inbound_message() {
        let now = Utc::now();
        let mut c = Conversation::new(
            OrganizationId::new(),
            ContactId::new(),
            Channel::Whatsapp,
            now,
        );
        assert!(
            !c.can_send_free_text(now),
            "never wrote: outside the window"
        );
        c.last_inbound_at = Some(now - Duration::hours(23));
        assert!(c.can_send_free_text(now));
        c.last_inbound_at = Some(now - Duration::hours(25));
        assert!(!c.can_send_free_text(now));
        c.channel = Channel::Zapi;
        assert!(c.can_send_free_text(now), "Z-API has no window");
    }

    #[test]
    fn handling_follows_status_assignees_and_ai() {
        let now = Utc::now();
        let mut c = Conversation::new(
            OrganizationId::new(),
            ContactId::new(),
            Channel::Whatsapp,
            now,
        );
        assert_eq!(c.handling(), Handling::Bot);
        c.ai_enabled = false;
        assert_eq!(c.handling(), Handling::Pending);
        c.assignees = vec![MembershipId::new()];
        assert_eq!(c.handling(), Handling::Assigned);
        c.status = ConversationStatus::HumanRequested;
        assert_eq!(c.handling(), Handling::Pending);
        c.status = ConversationStatus::Resolved;
        assert_eq!(c.handling(), Handling::Resolved);
    }
}
