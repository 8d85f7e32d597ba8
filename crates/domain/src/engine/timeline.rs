//! The timeline: every step entry and exit, every effect applied or skipped and why, every
//! timer armed, cancelled or fired, each with the actor that caused it. It answers "why did
//! (or didn't) my rule fire?".

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::assignment::MemberLoad;
use crate::enums::ActorKind;
use crate::ids::{
    AgentId, AiTurnId, ApiTokenId, MessageId, NoteId, OutboxId, ScenarioId, StayId, StepId,
};

/// Who or what caused a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Option<String>,
}

impl Actor {
    pub fn api_token(id: ApiTokenId) -> Actor {
        Actor {
            kind: ActorKind::ApiToken,
            id: Some(id.to_string()),
        }
    }
    /// A member, signed in to the web UI from a sign-in link.
    pub fn member(id: crate::ids::MembershipId) -> Actor {
        Actor {
            kind: ActorKind::Member,
            id: Some(id.to_string()),
        }
    }
    pub fn step(id: StepId) -> Actor {
        Actor {
            kind: ActorKind::Step,
            id: Some(id.to_string()),
        }
    }
    pub fn trigger() -> Actor {
        Actor {
            kind: ActorKind::Trigger,
            id: None,
        }
    }
    pub fn timer() -> Actor {
        Actor {
            kind: ActorKind::Timer,
            id: None,
        }
    }
    /// A provider's webhook on a connected channel.
    pub fn channel(id: crate::ids::ChannelId) -> Actor {
        Actor {
            kind: ActorKind::Channel,
            id: Some(id.to_string()),
        }
    }

    /// An AI agent acting in a turn.
    pub fn ai(id: crate::ids::AgentId) -> Actor {
        Actor {
            kind: ActorKind::Ai,
            id: Some(id.to_string()),
        }
    }

    pub fn system() -> Actor {
        Actor {
            kind: ActorKind::System,
            id: None,
        }
    }

    /// `api_token:<id>`, `step:<id>`, `trigger`, `timer` or `system`.
    pub fn label(&self) -> String {
        match &self.id {
            Some(id) => format!("{}:{id}", self.kind),
            None => self.kind.to_string(),
        }
    }

    pub fn parse(label: &str) -> Option<Actor> {
        let (kind, id) = match label.split_once(':') {
            Some((kind, id)) => (kind, Some(id.to_owned())),
            None => (label, None),
        };
        Some(Actor {
            kind: ActorKind::parse(kind)?,
            id,
        })
    }
}

/// Why a conversation entered a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryCause {
    /// Added to a scenario (`POST /crm/step/conversation`).
    Added,
    /// Moved by a client (`POST /crm/step/move`).
    Moved,
    /// An inbound message matched the step's trigger.
    Trigger,
    /// The previous step's auto-advance timer fired.
    Timer,
    /// The previous step auto-advances without delay.
    Chained,
    /// The AI agent judged that the contact's messages meet the step's condition.
    Ai,
}

/// One timeline entry's content.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    #[serde(rename_all = "camelCase")]
    StepEntered {
        scenario_id: ScenarioId,
        step_id: StepId,
        stay_id: StayId,
        previous_step_id: Option<StepId>,
        cause: EntryCause,
    },
    #[serde(rename_all = "camelCase")]
    StepExited {
        scenario_id: ScenarioId,
        step_id: StepId,
        stay_id: StayId,
    },
    /// A rule of the step changed the conversation.
    #[serde(rename_all = "camelCase")]
    EffectApplied { effect: &'static str, value: Value },
    /// A rule of the step did not apply, and why.
    #[serde(rename_all = "camelCase")]
    EffectSkipped {
        effect: &'static str,
        reason: String,
    },
    /// Fair distribution's decision, with every candidate's load.
    #[serde(rename_all = "camelCase")]
    AssigneeChosen {
        logic: String,
        chosen: Option<String>,
        candidates: Vec<MemberLoad>,
    },
    /// An outbound effect was written to the outbox.
    #[serde(rename_all = "camelCase")]
    EffectQueued {
        effect: &'static str,
        outbox_id: OutboxId,
    },
    #[serde(rename_all = "camelCase")]
    TimerArmed {
        stay_id: StayId,
        target_step_id: StepId,
        due_at: DateTime<Utc>,
    },
    #[serde(rename_all = "camelCase")]
    TimerCancelled { stay_id: StayId, reason: String },
    #[serde(rename_all = "camelCase")]
    TimerFired {
        stay_id: StayId,
        target_step_id: StepId,
    },
    /// A timer fired for a stay that had already ended; nothing changed.
    #[serde(rename_all = "camelCase")]
    TimerStale { stay_id: StayId, reason: String },
    #[serde(rename_all = "camelCase")]
    RemovedFromScenario {
        scenario_id: ScenarioId,
        step_id: Option<StepId>,
    },
    /// A chain of step entries hit the limit and stopped.
    #[serde(rename_all = "camelCase")]
    LoopGuardStopped { limit: usize, step_id: StepId },
    #[serde(rename_all = "camelCase")]
    MessageReceived { message_id: MessageId },
    /// A client changed the conversation directly (status, priority, AI, assignees).
    #[serde(rename_all = "camelCase")]
    ConversationUpdated { field: &'static str, value: Value },
    /// The conversation's CRM data changed; `changedKeys` are its top-level keys that did.
    #[serde(rename_all = "camelCase")]
    CrmDataUpdated {
        mode: crate::crm_data::MergeMode,
        changed_keys: Vec<String>,
    },
    /// A message was queued for sending.
    #[serde(rename_all = "camelCase")]
    MessageQueued {
        message_id: MessageId,
        outbox_id: OutboxId,
    },
    /// An AI turn finished: what the model decided and what came of it.
    #[serde(rename_all = "camelCase")]
    AiTurn {
        turn_id: AiTurnId,
        agent_id: AgentId,
        outcome: crate::ai::TurnOutcome,
        action: String,
        step_id: Option<StepId>,
        reason: String,
    },
    /// The conversation was handed to a person (status HUMAN_REQUESTED, AI off), and why.
    #[serde(rename_all = "camelCase")]
    HandedToHuman { reason: String },
    /// A text sent by a delivery named placeholders that had no value; they rendered empty.
    #[serde(rename_all = "camelCase")]
    PlaceholdersUnknown {
        outbox_id: OutboxId,
        placeholders: Vec<String>,
    },
    /// A note was written. A private note's text stays out of the timeline, which every
    /// reader of the conversation sees.
    #[serde(rename_all = "camelCase")]
    NoteAdded {
        note_id: NoteId,
        private: bool,
        text: Option<String>,
        remind_at: Option<DateTime<Utc>>,
    },
    #[serde(rename_all = "camelCase")]
    NoteUpdated {
        note_id: NoteId,
        private: bool,
        text: Option<String>,
        remind_at: Option<DateTime<Utc>>,
    },
    #[serde(rename_all = "camelCase")]
    NoteDeleted { note_id: NoteId },
    /// A note's reminder fell due (announced once, as `conversation.note_reminder_due`).
    #[serde(rename_all = "camelCase")]
    NoteReminderDue {
        note_id: NoteId,
        private: bool,
        text: Option<String>,
    },
}

impl Event {
    /// The entry's type, as stored and filtered on.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::StepEntered { .. } => "step_entered",
            Event::StepExited { .. } => "step_exited",
            Event::EffectApplied { .. } => "effect_applied",
            Event::EffectSkipped { .. } => "effect_skipped",
            Event::AssigneeChosen { .. } => "assignee_chosen",
            Event::EffectQueued { .. } => "effect_queued",
            Event::TimerArmed { .. } => "timer_armed",
            Event::TimerCancelled { .. } => "timer_cancelled",
            Event::TimerFired { .. } => "timer_fired",
            Event::TimerStale { .. } => "timer_stale",
            Event::RemovedFromScenario { .. } => "removed_from_scenario",
            Event::LoopGuardStopped { .. } => "loop_guard_stopped",
            Event::MessageReceived { .. } => "message_received",
            Event::ConversationUpdated { .. } => "conversation_updated",
            Event::CrmDataUpdated { .. } => "crm_data_updated",
            Event::MessageQueued { .. } => "message_queued",
            Event::PlaceholdersUnknown { .. } => "placeholders_unknown",
            Event::AiTurn { .. } => "ai_turn",
            Event::HandedToHuman { .. } => "handed_to_human",
            Event::NoteAdded { .. } => "note_added",
            Event::NoteUpdated { .. } => "note_updated",
            Event::NoteDeleted { .. } => "note_deleted",
            Event::NoteReminderDue { .. } => "note_reminder_due",
        }
    }

    pub fn data(&self) -> Value {
        serde_json::to_value(self).expect("events always serialize")
    }

    /// [`Self::data`] as JSON text, written straight from the event (no `Value` between).
    pub fn data_text(&self) -> String {
        serde_json::to_string(self).expect("events always serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_have_stable_labels() {
        let id = ApiTokenId::new();
        let actor = Actor::api_token(id);
        assert_eq!(actor.label(), format!("api_token:{id}"));
        assert_eq!(Actor::parse(&actor.label()), Some(actor));
        assert_eq!(Actor::timer().label(), "timer");
        assert_eq!(Actor::parse("nobody"), None);
    }

    #[test]
    fn events_serialize_with_their_type() {
        let event = Event::EffectSkipped {
            effect: "initialMessage",
            reason: "24h".into(),
        };
        assert_eq!(event.kind(), "effect_skipped");
        assert_eq!(event.data()["type"], "effect_skipped");
        assert_eq!(event.data()["reason"], "24h");
        let text: Value = serde_json::from_str(&event.data_text()).unwrap();
        assert_eq!(text, event.data());
    }
}
