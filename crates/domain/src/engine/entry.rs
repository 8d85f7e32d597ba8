//! Entering a step: one pure function, called from every way in (add, move, trigger,
//! timer, chained auto-advance). The caller loads what it needs, persists the outcome, and
//! does it all in one transaction.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::assignment::{Assignment, MemberLoad, Pick, assign};
use super::effects::{OutboundEffect, StepEnteredPayload};
use super::timeline::{Actor, EntryCause, Event};
use crate::contact::Contact;
use crate::conversation::{Conversation, ScenarioLink, Stay};
use crate::enums::{AssigneeLogic, StayStatus};
use crate::ids::{OutboxId, ScenarioLinkId, StayId, StepId};
use crate::step::{RequestContact, Step};

/// How many step entries one event may chain (zero-delay auto-advances, triggers) before
/// the chain is stopped, so a cycle of steps cannot spin.
pub const MAX_CHAINED_ENTRIES: usize = 10;

/// Everything the entry needs to know.
pub struct EntryRequest<'a> {
    pub conversation: Conversation,
    pub contact: &'a Contact,
    pub step: &'a Step,
    /// The conversation's current available link, in whatever scenario: its stay ends.
    pub leaving: Option<&'a ScenarioLink>,
    /// Whether the stay being left has a pending auto-advance, which is cancelled.
    pub leaving_has_timer: bool,
    /// The conversation's existing link to the step's scenario (reused as the board card).
    pub link: Option<ScenarioLink>,
    pub cause: EntryCause,
    pub actor: &'a Actor,
    pub now: DateTime<Utc>,
    /// Only consulted for moves: other causes always queue the initial message.
    pub send_initial_message_on_move: bool,
    /// The selected members' loads in the scenario, for fair distribution.
    pub loads: &'a [MemberLoad],
    pub pick: &'a mut dyn Pick,
}

/// When the conversation leaves the step by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoAdvance {
    pub stay_id: StayId,
    pub target_step_id: StepId,
    pub due_at: DateTime<Utc>,
}

impl AutoAdvance {
    /// A zero delay advances at once, as part of the same event.
    pub fn is_immediate(&self, now: DateTime<Utc>) -> bool {
        self.due_at <= now
    }
}

/// What entering the step changed and asks the caller to write.
#[derive(Debug, Clone)]
pub struct EntryOutcome {
    pub conversation: Conversation,
    pub link: ScenarioLink,
    pub stay: Stay,
    /// The stay that ended, now inactive.
    pub ended_stay: Option<StayId>,
    pub events: Vec<Event>,
    pub effects: Vec<(OutboxId, OutboundEffect)>,
    pub auto_advance: Option<AutoAdvance>,
    pub initial_message: Option<String>,
    pub blocked_by_24h_rule: bool,
}

pub fn enter_step(request: EntryRequest<'_>) -> EntryOutcome {
    let EntryRequest {
        mut conversation,
        contact,
        step,
        leaving,
        leaving_has_timer,
        link,
        cause,
        actor,
        now,
        send_initial_message_on_move,
        loads,
        pick,
    } = request;
    let s = &step.settings;
    let mut events = Vec::new();
    let stay_id = StayId::new();

    // 1. The previous stay ends, with its pending auto-advance.
    let ended_stay = leaving.map(|previous| {
        if leaving_has_timer {
            events.push(Event::TimerCancelled {
                stay_id: previous.stay_id,
                reason: format!("left step {} for step {}", previous.step_id, step.id),
            });
        }
        events.push(Event::StepExited {
            scenario_id: previous.scenario_id,
            step_id: previous.step_id,
            stay_id: previous.stay_id,
        });
        previous.stay_id
    });
    let previous_step_id = leaving.map(|l| l.step_id);
    events.push(Event::StepEntered {
        scenario_id: step.scenario_id,
        step_id: step.id,
        stay_id,
        previous_step_id,
        cause,
    });

    // 2. The step's agent takes over; without one the current agent stays.
    if let Some(agent) = s.agent_id {
        conversation.agent_id = Some(agent);
        events.push(applied("agentId", json!(agent)));
    }

    // 3. Status, priority, AI control.
    if let Some(status) = s.default_status {
        conversation.status = status;
        events.push(applied("defaultStatus", json!(status)));
    }
    if let Some(priority) = s.default_priority {
        conversation.priority = priority;
        events.push(applied("defaultPriority", json!(priority)));
    }
    if let Some(ai) = s.default_ai_control {
        conversation.ai_enabled = ai;
        events.push(applied("defaultAiControl", json!(ai)));
    }

    // 4. Tags: add, then remove (a tag in both ends up removed).
    if let Some(tags) = &s.default_tags {
        for tag in tags {
            if !conversation.tags.contains(tag) {
                conversation.tags.push(tag.clone());
            }
        }
        events.push(applied("defaultTags", json!(tags)));
    }
    if let Some(tags) = &s.default_tags_to_remove {
        conversation.tags.retain(|t| !tags.contains(t));
        events.push(applied("defaultTagsToRemove", json!(tags)));
    }

    // 5. Assignment.
    let selected = s.selected_membership_ids.as_deref().unwrap_or_default();
    let decision = assign(s.assignee_logic_type, selected, loads, pick);
    match decision {
        Assignment::Keep => {}
        Assignment::Clear => {
            conversation.assignees.clear();
            events.push(applied("assigneeLogicType", json!({"logic": "clear"})));
        }
        Assignment::Assign(member) => {
            conversation.assignees = vec![member];
            let logic = s.assignee_logic_type.unwrap_or(AssigneeLogic::SingleUser);
            if logic == AssigneeLogic::FairDistributionSelected {
                events.push(Event::AssigneeChosen {
                    logic: logic.to_string(),
                    chosen: Some(member.to_string()),
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
                });
            }
            events.push(applied(
                "assigneeLogicType",
                json!({"logic": logic, "membershipId": member}),
            ));
        }
    }

    // 6. Contact details still to collect.
    if let Some(requested) = s.request_contact {
        conversation.contact_fields_to_collect = RequestContact {
            name: requested.name && contact.first_name.is_none() && contact.last_name.is_none(),
            email: requested.email && contact.email.is_none(),
            phone: requested.phone && contact.phone.is_none(),
        };
        events.push(applied(
            "requestContact",
            json!(conversation.contact_fields_to_collect),
        ));
    }

    // 7. Removal steps take the conversation off the board, after the rest.
    let removed = s.is_conversation_removal_step == Some(true);
    conversation.updated_at = now;

    // 8. Outbound effects, queued.
    let mut effects = Vec::new();
    let mut initial_message = None;
    let mut blocked_by_24h_rule = false;
    if let Some(text) = &s.initial_message {
        let wanted = cause != EntryCause::Moved || send_initial_message_on_move;
        if !wanted {
            events.push(skipped(
                "initialMessage",
                "moved without shouldSendInitialMessage",
            ));
        } else if !conversation.can_send_free_text(now) {
            blocked_by_24h_rule = true;
            events.push(skipped(
                "initialMessage",
                "blocked by the 24-hour rule: the contact has not written in the last 24 hours",
            ));
        } else {
            initial_message = Some(text.clone());
            effects.push(OutboundEffect::InitialMessage {
                conversation_id: conversation.id,
                channel: conversation.channel,
                text: text.clone(),
            });
        }
    }
    match (&s.zapi_phone_number, &s.zapi_message) {
        (Some(phone), Some(message)) => effects.push(OutboundEffect::ZapiNotification {
            conversation_id: conversation.id,
            agent_id: s.zapi_agent_id,
            phone_number: phone.clone(),
            message: message.clone(),
        }),
        (None, None) => {}
        _ => events.push(skipped(
            "zapi",
            "needs both zapiPhoneNumber and zapiMessage",
        )),
    }
    if let Some(name) = &s.whatsapp_template_name {
        effects.push(OutboundEffect::WhatsappTemplate {
            conversation_id: conversation.id,
            contact_id: conversation.contact_id,
            agent_id: s.whatsapp_template_agent_id,
            template_name: name.clone(),
            language_code: s.whatsapp_template_language_code.clone(),
            text: s.whatsapp_template_text.clone(),
            parameters: Vec::new(),
            channel_id: None,
            message_id: None,
        });
    }
    if let Some(url) = &s.webhook_url {
        effects.push(OutboundEffect::StepWebhook {
            url: url.clone(),
            headers: s.webhook_header.clone().unwrap_or_default(),
            event: StepEnteredPayload {
                event_type: "STEP_ENTERED".to_owned(),
                conversation_id: conversation.id,
                contact_id: conversation.contact_id,
                scenario_id: step.scenario_id,
                previous_step_id,
                step_id: step.id,
                status: conversation.status,
                priority: conversation.priority,
                tags: conversation.tags.clone(),
                assignees: conversation.assignees.clone(),
                ai_enabled: conversation.ai_enabled,
                actor: actor.label(),
                occurred_at: now,
            },
        });
    }
    let effects: Vec<(OutboxId, OutboundEffect)> =
        effects.into_iter().map(|e| (OutboxId::new(), e)).collect();
    for (id, effect) in &effects {
        events.push(Event::EffectQueued {
            effect: effect.kind(),
            outbox_id: *id,
        });
    }

    // 9. The auto-advance timer.
    let auto_advance = match (s.auto_next_step_id, s.auto_next_delay()) {
        (Some(target), Some(delay)) if !removed => {
            let plan = AutoAdvance {
                stay_id,
                target_step_id: target,
                due_at: now + delay,
            };
            if !plan.is_immediate(now) {
                events.push(Event::TimerArmed {
                    stay_id,
                    target_step_id: target,
                    due_at: plan.due_at,
                });
            }
            Some(plan)
        }
        (Some(_), Some(_)) => {
            events.push(skipped(
                "autoNextStepId",
                "removal step: the conversation left the scenario",
            ));
            None
        }
        _ => None,
    };

    let link = match link {
        Some(mut existing) => {
            existing.step_id = step.id;
            existing.stay_id = stay_id;
            existing.available = !removed;
            existing.updated_at = now;
            existing
        }
        None => ScenarioLink {
            id: ScenarioLinkId::new(),
            organization_id: conversation.organization_id,
            conversation_id: conversation.id,
            scenario_id: step.scenario_id,
            step_id: step.id,
            stay_id,
            available: !removed,
            created_at: now,
            updated_at: now,
        },
    };
    if removed {
        events.push(Event::RemovedFromScenario {
            scenario_id: step.scenario_id,
            step_id: Some(step.id),
        });
    }
    let stay = Stay {
        id: stay_id,
        organization_id: conversation.organization_id,
        conversation_id: conversation.id,
        scenario_id: step.scenario_id,
        step_id: step.id,
        status: if removed {
            StayStatus::Inactive
        } else {
            StayStatus::Active
        },
        entered_at: now,
        exited_at: removed.then_some(now),
        created_at: now,
        updated_at: now,
    };

    EntryOutcome {
        conversation,
        link,
        stay,
        ended_stay,
        events,
        effects,
        auto_advance,
        initial_message,
        blocked_by_24h_rule,
    }
}

fn applied(effect: &'static str, value: serde_json::Value) -> Event {
    Event::EffectApplied { effect, value }
}

fn skipped(effect: &'static str, reason: &str) -> Event {
    Event::EffectSkipped {
        effect,
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use proptest::prelude::*;

    use super::*;
    use crate::enums::{Channel, ConversationStatus, Priority, TimeUnit};
    use crate::ids::{AgentId, ContactId, MembershipId, OrganizationId, ScenarioId};
    use crate::step::StepSettings;

    struct First;
    impl Pick for First {
        fn index(&mut self, _n: usize) -> usize {
            0
        }
    }

    struct Fixture {
        org: OrganizationId,
        scenario: ScenarioId,
        contact: Contact,
        conversation: Conversation,
        now: DateTime<Utc>,
    }

    fn fixture(channel: Channel) -> Fixture {
        let org = OrganizationId::new();
        let now = Utc::now();
        let contact = Contact {
            id: ContactId::new(),
            organization_id: org,
            first_name: Some("Ana".into()),
            last_name: None,
            phone: Some("5511987654321".into()),
            email: None,
            external_id: None,
            picture: None,
            metadata: Default::default(),
            lead: Default::default(),
            created_at: now,
            updated_at: now,
        };
        let mut conversation = Conversation::new(org, contact.id, channel, now);
        conversation.last_inbound_at = Some(now - Duration::minutes(5));
        Fixture {
            org,
            scenario: ScenarioId::new(),
            contact,
            conversation,
            now,
        }
    }

    fn step(f: &Fixture, settings: StepSettings) -> Step {
        Step {
            id: StepId::new(),
            organization_id: f.org,
            scenario_id: f.scenario,
            index: 0,
            settings: StepSettings {
                name: "s".into(),
                trigger: Some("t".into()),
                ..settings
            },
            created_at: f.now,
            updated_at: f.now,
        }
    }

    fn enter(
        f: &Fixture,
        step: &Step,
        cause: EntryCause,
        leaving: Option<&ScenarioLink>,
    ) -> EntryOutcome {
        enter_step(EntryRequest {
            conversation: f.conversation.clone(),
            contact: &f.contact,
            step,
            leaving,
            leaving_has_timer: leaving.is_some(),
            link: leaving
                .filter(|l| l.scenario_id == step.scenario_id)
                .cloned(),
            cause,
            actor: &Actor::system(),
            now: f.now,
            send_initial_message_on_move: false,
            loads: &[],
            pick: &mut First,
        })
    }

    #[test]
    fn defaults_apply_and_a_tag_in_both_lists_ends_up_removed() {
        let mut f = fixture(Channel::Zapi);
        f.conversation.tags = vec!["cold".into(), "old".into()];
        let agent = AgentId::new();
        let s = step(
            &f,
            StepSettings {
                agent_id: Some(agent),
                default_status: Some(ConversationStatus::HumanRequested),
                default_priority: Some(Priority::High),
                default_ai_control: Some(false),
                default_tags: Some(vec!["lead".into(), "vip".into(), "old".into()]),
                default_tags_to_remove: Some(vec!["cold".into(), "vip".into()]),
                ..StepSettings::default()
            },
        );
        let out = enter(&f, &s, EntryCause::Added, None);
        let c = &out.conversation;
        assert_eq!(c.agent_id, Some(agent));
        assert_eq!(c.status, ConversationStatus::HumanRequested);
        assert_eq!(c.priority, Priority::High);
        assert!(!c.ai_enabled);
        assert_eq!(c.tags, ["old", "lead"]);
        assert!(out.link.available);
        assert_eq!(out.stay.status, StayStatus::Active);
    }

    #[test]
    fn a_step_without_agent_or_defaults_keeps_the_conversation_as_it_is() {
        let mut f = fixture(Channel::Website);
        let agent = AgentId::new();
        f.conversation.agent_id = Some(agent);
        f.conversation.assignees = vec![MembershipId::new()];
        let out = enter(
            &f,
            &step(&f, StepSettings::default()),
            EntryCause::Added,
            None,
        );
        assert_eq!(out.conversation.agent_id, Some(agent));
        assert_eq!(out.conversation.assignees, f.conversation.assignees);
        assert_eq!(out.conversation.status, f.conversation.status);
        assert!(out.effects.is_empty());
    }

    #[test]
    fn leaving_a_stay_cancels_its_timer_and_records_the_exit() {
        let f = fixture(Channel::Website);
        let first = step(&f, StepSettings::default());
        let entered = enter(&f, &first, EntryCause::Added, None);
        let second = step(&f, StepSettings::default());
        let out = enter(&f, &second, EntryCause::Moved, Some(&entered.link));
        assert_eq!(out.ended_stay, Some(entered.stay.id));
        assert_eq!(out.link.id, entered.link.id, "the board card is reused");
        assert_ne!(out.link.stay_id, entered.link.stay_id);
        let kinds: Vec<_> = out.events.iter().map(Event::kind).collect();
        assert_eq!(
            &kinds[..3],
            ["timer_cancelled", "step_exited", "step_entered"]
        );
    }

    #[test]
    fn the_initial_message_follows_the_cause_and_the_24_hour_window() {
        let f = fixture(Channel::Whatsapp);
        let s = step(
            &f,
            StepSettings {
                initial_message: Some("Hi".into()),
                ..StepSettings::default()
            },
        );
        let added = enter(&f, &s, EntryCause::Added, None);
        assert_eq!(added.initial_message.as_deref(), Some("Hi"));
        assert!(matches!(
            added.effects[0].1,
            OutboundEffect::InitialMessage { .. }
        ));

        let moved = enter(&f, &s, EntryCause::Moved, None);
        assert_eq!(moved.initial_message, None, "moves send it only when asked");

        let mut stale = fixture(Channel::Whatsapp);
        stale.conversation.last_inbound_at = Some(stale.now - Duration::hours(25));
        let s = step(
            &stale,
            StepSettings {
                initial_message: Some("Hi".into()),
                ..StepSettings::default()
            },
        );
        let blocked = enter(&stale, &s, EntryCause::Timer, None);
        assert!(blocked.blocked_by_24h_rule);
        assert!(blocked.effects.is_empty());
        assert!(blocked.events.iter().any(|e| matches!(
            e,
            Event::EffectSkipped {
                effect: "initialMessage",
                ..
            }
        )));
    }

    #[test]
    fn outbound_effects_carry_what_sending_needs() {
        let f = fixture(Channel::Zapi);
        let agent = AgentId::new();
        let s = step(
            &f,
            StepSettings {
                zapi_agent_id: Some(agent),
                zapi_phone_number: Some("5511".into()),
                zapi_message: Some("new lead".into()),
                whatsapp_template_agent_id: Some(agent),
                whatsapp_template_name: Some("welcome".into()),
                whatsapp_template_language_code: Some("pt_BR".into()),
                webhook_url: Some("https://example.com/hook".into()),
                webhook_header: Some([("X-Key".to_string(), "k".to_string())].into()),
                ..StepSettings::default()
            },
        );
        let out = enter(&f, &s, EntryCause::Added, None);
        let kinds: Vec<_> = out.effects.iter().map(|(_, e)| e.kind()).collect();
        assert_eq!(
            kinds,
            ["zapi_notification", "whatsapp_template", "step_webhook"]
        );
        let OutboundEffect::StepWebhook { event, headers, .. } = &out.effects[2].1 else {
            unreachable!()
        };
        assert_eq!(event.event_type, "STEP_ENTERED");
        assert_eq!(event.step_id, s.id);
        assert_eq!(headers["X-Key"], "k");
        let queued = out
            .events
            .iter()
            .filter(|e| matches!(e, Event::EffectQueued { .. }))
            .count();
        assert_eq!(queued, 3);
    }

    #[test]
    fn auto_advance_is_armed_in_the_steps_unit() {
        let f = fixture(Channel::Website);
        let target = StepId::new();
        let s = step(
            &f,
            StepSettings {
                auto_next_step_id: Some(target),
                auto_next_time: Some(2),
                auto_next_time_unit: Some(TimeUnit::Hours),
                ..StepSettings::default()
            },
        );
        let out = enter(&f, &s, EntryCause::Added, None);
        let plan = out.auto_advance.unwrap();
        assert_eq!(plan.due_at, f.now + Duration::hours(2));
        assert_eq!(plan.stay_id, out.stay.id);
        assert!(!plan.is_immediate(f.now));
    }

    #[test]
    fn removal_steps_apply_the_rest_then_leave_the_board() {
        let f = fixture(Channel::Website);
        let s = step(
            &f,
            StepSettings {
                is_conversation_removal_step: Some(true),
                default_status: Some(ConversationStatus::Resolved),
                auto_next_step_id: Some(StepId::new()),
                ..StepSettings::default()
            },
        );
        let out = enter(&f, &s, EntryCause::Moved, None);
        assert_eq!(out.conversation.status, ConversationStatus::Resolved);
        assert!(!out.link.available);
        assert_eq!(out.stay.status, StayStatus::Inactive);
        assert_eq!(out.auto_advance, None);
    }

    #[test]
    fn requested_contact_fields_exclude_what_the_contact_has() {
        let f = fixture(Channel::Website);
        let s = step(
            &f,
            StepSettings {
                request_contact: Some(RequestContact {
                    name: true,
                    email: true,
                    phone: true,
                }),
                ..StepSettings::default()
            },
        );
        let out = enter(&f, &s, EntryCause::Added, None);
        assert_eq!(
            out.conversation.contact_fields_to_collect,
            RequestContact {
                name: false,
                email: true,
                phone: false
            }
        );
    }

    proptest! {
        /// Entering any step, from any stay, keeps the invariants: the new stay is the
        /// link's stay, at most one auto-advance belongs to it, tags stay unique, and the
        /// link is available unless the step removes the conversation.
        #[test]
        fn entering_any_step_keeps_the_invariants(
            tags in proptest::collection::vec("[a-c]", 0..4),
            add in proptest::option::of(proptest::collection::vec("[a-c]", 0..4)),
            remove in proptest::option::of(proptest::collection::vec("[a-c]", 0..4)),
            removal in any::<bool>(),
            delay in proptest::option::of(0i64..1000),
            from_same_scenario in any::<bool>(),
        ) {
            let mut f = fixture(Channel::Whatsapp);
            let mut unique = Vec::new();
            for t in tags { if !unique.contains(&t) { unique.push(t); } }
            f.conversation.tags = unique;
            let first = step(&f, StepSettings::default());
            let before = enter(&f, &first, EntryCause::Added, None);
            let mut target = step(&f, StepSettings {
                default_tags: add,
                default_tags_to_remove: remove.clone(),
                is_conversation_removal_step: Some(removal),
                auto_next_step_id: delay.map(|_| first.id),
                auto_next_time: delay.filter(|d| *d > 0),
                ..StepSettings::default()
            });
            if !from_same_scenario { target.scenario_id = ScenarioId::new(); }
            let out = enter(&f, &target, EntryCause::Moved, Some(&before.link));
            prop_assert_eq!(out.link.stay_id, out.stay.id);
            prop_assert_eq!(out.link.available, !removal);
            prop_assert_eq!(out.ended_stay, Some(before.stay.id));
            if let Some(plan) = out.auto_advance { prop_assert_eq!(plan.stay_id, out.stay.id); prop_assert!(!removal); }
            let mut seen = std::collections::HashSet::new();
            prop_assert!(out.conversation.tags.iter().all(|t| seen.insert(t)));
            for t in remove.iter().flatten() { prop_assert!(!out.conversation.tags.contains(t)); }
            let entered = out.events.iter().filter(|e| e.kind() == "step_entered").count();
            prop_assert_eq!(entered, 1);
            // The timeline is contiguous: the old stay's exit comes right before the entry.
            let exit = out.events.iter().position(|e| e.kind() == "step_exited").unwrap();
            prop_assert_eq!(out.events[exit + 1].kind(), "step_entered");
            let Event::StepExited { stay_id, .. } = &out.events[exit] else { unreachable!() };
            prop_assert_eq!(*stay_id, before.stay.id);
            let Event::StepEntered { stay_id, previous_step_id, .. } = &out.events[exit + 1] else { unreachable!() };
            prop_assert_eq!(*stay_id, out.stay.id);
            prop_assert_eq!(*previous_step_id, Some(first.id));
        }
    }
}
