//! Typed identifiers. Every id is a UUIDv7 (time-ordered, so inserts stay cheap and ids sort by
//! creation), wrapped in a type per entity so a step id can never be passed where an agent id
//! is expected.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses an id as a client sent it. `None` for anything that is not a valid id:
            /// callers treat that exactly like an id that does not exist.
            pub fn parse(text: &str) -> Option<Self> {
                Uuid::from_str(text.trim()).ok().map(Self)
            }

            /// Parses an id used as a filter: text that cannot be an id becomes the nil id,
            /// which matches nothing.
            pub fn parse_filter(text: &str) -> Self {
                Self::parse(text).unwrap_or(Self(Uuid::nil()))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// An organization: the tenant. Every other record belongs to exactly one.
    OrganizationId
);
id_type!(
    /// A person's membership of an organization (who conversations get assigned to).
    MembershipId
);
id_type!(
    /// An API token.
    ApiTokenId
);
id_type!(
    /// An AI agent.
    AgentId
);
id_type!(
    /// A scenario (pipeline).
    ScenarioId
);
id_type!(
    /// A step (stage) of a scenario.
    StepId
);

id_type!(
    /// A contact: a person who writes in (also a lead).
    ContactId
);
id_type!(
    /// A conversation with a contact on one channel.
    ConversationId
);
id_type!(
    /// A message of a conversation.
    MessageId
);
id_type!(
    /// A conversation's link to a scenario: Chatvolt's board card.
    ScenarioLinkId
);
id_type!(
    /// One stay of a conversation in a step, from entry to exit (Chatvolt's CRM
    /// conversation log).
    StayId
);
id_type!(
    /// One entry of a conversation's timeline.
    EventId
);
id_type!(
    /// An outbound effect waiting in the outbox.
    OutboxId
);

id_type!(
    /// An action on a lead's timeline.
    ActionId
);
id_type!(
    /// A webhook endpoint.
    EndpointId
);
id_type!(
    /// A channel: a connected WhatsApp Cloud API number or Z-API instance.
    ChannelId
);
id_type!(
    /// One attempt at a delivery.
    AttemptId
);
id_type!(
    /// One AI turn: the job that answers a contact's message, and its record.
    AiTurnId
);
id_type!(
    /// A note on a conversation.
    NoteId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_and_rejects_garbage() {
        let id = StepId::new();
        assert_eq!(StepId::parse(&id.to_string()), Some(id));
        assert_eq!(StepId::parse("clx0000000000000000000000"), None);
        assert_eq!(StepId::parse(""), None);
    }

    #[test]
    fn new_ids_sort_by_creation() {
        let first = ScenarioId::new();
        let second = ScenarioId::new();
        assert!(first < second);
    }
}
