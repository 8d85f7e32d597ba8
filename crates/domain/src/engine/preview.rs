//! What entering a step would do to a conversation now, read off the outcome of the same
//! pure entry function the engine runs, so a preview cannot disagree with the real entry.

use chrono::{DateTime, Utc};

use super::assignment::MemberLoad;
use super::effects::OutboundEffect;
use super::entry::EntryOutcome;
use super::timeline::Event;
use crate::conversation::Conversation;
use crate::enums::{AssigneeLogic, ConversationStatus, Priority};
use crate::ids::{AgentId, MembershipId, ScenarioId, StepId};
use crate::step::Step;

/// A value before and after the entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Change<T> {
    pub before: T,
    pub after: T,
}

impl<T: PartialEq> Change<T> {
    pub fn changes(&self) -> bool {
        self.before != self.after
    }
}

/// Who the conversation would be assigned to, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignmentPreview {
    /// The step's logic (`null`: the step does not touch assignees).
    pub logic: Option<AssigneeLogic>,
    pub before: Vec<MembershipId>,
    /// The assignees after the entry. For `random_selected` this is one possible draw:
    /// the real entry picks again.
    pub after: Vec<MembershipId>,
    /// Whether the member is drawn at random among `candidates`.
    pub at_random: bool,
    /// The selected members, with their open conversations in the scenario (fair
    /// distribution picks the least loaded, then the least recently assigned).
    pub candidates: Vec<MemberLoad>,
}

/// A message the entry would send, or would not and why.
#[derive(Debug, Clone, PartialEq)]
pub struct MessagePreview {
    /// `initial_message`, `whatsapp_template` or `zapi_notification`.
    pub kind: &'static str,
    /// The text (the template's name for a template), placeholders unrendered.
    pub text: String,
    /// Sent to this phone number instead of the contact (Z-API notifications).
    pub to: Option<String>,
    pub sent: bool,
    /// Why it would not be sent.
    pub skipped_because: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AutoAdvancePreview {
    pub target_step_id: StepId,
    pub due_at: DateTime<Utc>,
}

/// What entering a step would do now. Nothing of it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryPreview {
    pub scenario_id: ScenarioId,
    pub step_id: StepId,
    /// The step the conversation would leave, if it is on a board.
    pub leaving_step_id: Option<StepId>,
    pub status: Change<ConversationStatus>,
    pub priority: Change<Priority>,
    pub ai_enabled: Change<bool>,
    pub agent_id: Change<Option<AgentId>>,
    pub tags_added: Vec<String>,
    pub tags_removed: Vec<String>,
    pub assignment: AssignmentPreview,
    pub messages: Vec<MessagePreview>,
    /// The step's webhook URL, called with a `STEP_ENTERED` event (its headers are not
    /// shown).
    pub webhook_url: Option<String>,
    /// When the conversation would move on by itself, and where to.
    pub auto_advance: Option<AutoAdvancePreview>,
    /// Whether the conversation would leave the board (a removal step).
    pub leaves_board: bool,
}

/// Reads the preview off an entry's outcome. `before` is the conversation as it is,
/// `leaving` the step it is in, `loads` the selected members' loads the entry used.
pub fn preview(
    before: &Conversation,
    leaving: Option<StepId>,
    step: &Step,
    outcome: &EntryOutcome,
    loads: &[MemberLoad],
) -> EntryPreview {
    let after = &outcome.conversation;
    let s = &step.settings;
    let skipped = |effect: &str| {
        outcome.events.iter().find_map(|event| match event {
            Event::EffectSkipped {
                effect: name,
                reason,
            } if *name == effect => Some(reason.clone()),
            _ => None,
        })
    };
    let mut messages = Vec::new();
    if let Some(text) = &s.initial_message {
        let sent = outcome.initial_message.is_some();
        messages.push(MessagePreview {
            kind: "initial_message",
            text: text.clone(),
            to: None,
            sent,
            skipped_because: if sent {
                None
            } else {
                skipped("initialMessage")
            },
        });
    }
    for (_, effect) in &outcome.effects {
        match effect {
            OutboundEffect::WhatsappTemplate { template_name, .. } => {
                messages.push(MessagePreview {
                    kind: "whatsapp_template",
                    text: template_name.clone(),
                    to: None,
                    sent: true,
                    skipped_because: None,
                })
            }
            OutboundEffect::ZapiNotification {
                phone_number,
                message,
                ..
            } => messages.push(MessagePreview {
                kind: "zapi_notification",
                text: message.clone(),
                to: Some(phone_number.clone()),
                sent: true,
                skipped_because: None,
            }),
            _ => {}
        }
    }
    if let Some(reason) = skipped("zapi") {
        messages.push(MessagePreview {
            kind: "zapi_notification",
            text: s.zapi_message.clone().unwrap_or_default(),
            to: s.zapi_phone_number.clone(),
            sent: false,
            skipped_because: Some(reason),
        });
    }
    let selected = s.selected_membership_ids.as_deref().unwrap_or_default();
    EntryPreview {
        scenario_id: step.scenario_id,
        step_id: step.id,
        leaving_step_id: leaving,
        status: Change {
            before: before.status,
            after: after.status,
        },
        priority: Change {
            before: before.priority,
            after: after.priority,
        },
        ai_enabled: Change {
            before: before.ai_enabled,
            after: after.ai_enabled,
        },
        agent_id: Change {
            before: before.agent_id,
            after: after.agent_id,
        },
        tags_added: after
            .tags
            .iter()
            .filter(|t| !before.tags.contains(t))
            .cloned()
            .collect(),
        tags_removed: before
            .tags
            .iter()
            .filter(|t| !after.tags.contains(t))
            .cloned()
            .collect(),
        assignment: AssignmentPreview {
            logic: s.assignee_logic_type,
            before: before.assignees.clone(),
            after: after.assignees.clone(),
            at_random: s.assignee_logic_type == Some(AssigneeLogic::RandomSelected)
                && selected.len() > 1,
            candidates: selected
                .iter()
                .map(|id| {
                    loads
                        .iter()
                        .find(|l| l.membership_id == *id)
                        .cloned()
                        .unwrap_or(MemberLoad {
                            membership_id: *id,
                            open_conversations: 0,
                            last_assigned_at: None,
                        })
                })
                .collect(),
        },
        messages,
        webhook_url: s.webhook_url.clone(),
        auto_advance: outcome.auto_advance.map(|plan| AutoAdvancePreview {
            target_step_id: plan.target_step_id,
            due_at: plan.due_at,
        }),
        leaves_board: !outcome.link.available,
    }
}
