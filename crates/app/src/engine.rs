//! Moving conversations through steps: the one place that loads what the pure step-entry
//! function needs, calls it, and writes its outcome. Every way in (add, move, trigger,
//! timer) goes through [`Stagecoach::enter`].

use stagecoach_domain::conversation::{Conversation, ScenarioLink};
use stagecoach_domain::engine::assignment::{MemberLoad, Pick};
use stagecoach_domain::engine::effects::OutboundEffect;
use stagecoach_domain::engine::entry::{EntryRequest, MAX_CHAINED_ENTRIES, enter_step};
use stagecoach_domain::engine::timeline::{Actor, EntryCause, Event};
use stagecoach_domain::enums::AssigneeLogic;
use stagecoach_domain::ids::{OutboxId, StepId};
use stagecoach_domain::step::Step;
use stagecoach_storage::{LinkWrite, PendingAutoAdvance, Transaction};

use crate::events::{conversation_event, entry_change_events};
use crate::{AppError, Entity, Stagecoach};

/// A uniform random choice from the thread's generator.
#[derive(Debug, Default)]
pub struct ThreadRandom;

impl Pick for ThreadRandom {
    fn index(&mut self, n: usize) -> usize {
        use rand::RngExt;
        rand::rng().random_range(0..n)
    }
}

/// How an entry was asked for.
#[derive(Debug, Clone)]
pub(crate) struct EntryContext {
    pub cause: EntryCause,
    pub actor: Actor,
    pub send_initial_message_on_move: bool,
}

/// What the caller already knows of the step being left, inside the same transaction, so
/// the entry does not read it again.
#[derive(Debug, Clone)]
pub(crate) struct KnownLeaving {
    /// The conversation's available link.
    pub link: Option<ScenarioLink>,
    /// Whether that stay still had a pending auto-advance when the caller removed it
    /// (the entry records it as cancelled).
    pub cancelled_timer: bool,
}

/// What an entry (and the zero-delay auto-advances it chained) did.
#[derive(Debug, Clone)]
pub struct EntryReport {
    /// The step the conversation was asked into.
    pub entered_step: Step,
    /// Where it is now: the requested step, or the last step a zero-delay chain reached.
    pub current_step_id: StepId,
    /// The initial message queued for sending, if any.
    pub initial_message: Option<String>,
    /// Why nothing can deliver the queued initial message (no connected channel of the
    /// conversation's kind), if so: its delivery will fail.
    pub undeliverable: Option<String>,
    pub blocked_by_24h_rule: bool,
    /// Whether the conversation left the board (a removal step).
    pub removed: bool,
    /// The conversation as it is after the entry.
    pub conversation: Conversation,
}

impl Stagecoach {
    /// Notes on an entry's report when its initial message cannot be delivered.
    pub(crate) async fn note_undeliverable(
        &self,
        tx: &mut dyn Transaction,
        report: &mut EntryReport,
    ) -> Result<(), AppError> {
        if report.initial_message.is_some() {
            match self.require_sending_channel(tx, &report.conversation).await {
                Ok(()) => {}
                Err(AppError::Undeliverable(why)) => report.undeliverable = Some(why),
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }

    /// Enters `step` and follows zero-delay auto-advances, at most
    /// [`MAX_CHAINED_ENTRIES`] entries in all, inside the caller's transaction.
    /// `conversation` must be as the transaction last read or wrote it (callers save
    /// their own changes first): the entry writes only what differs from it.
    pub(crate) async fn enter(
        &self,
        tx: &mut dyn Transaction,
        conversation: Conversation,
        step: Step,
        context: EntryContext,
    ) -> Result<EntryReport, AppError> {
        self.enter_from(tx, conversation, step, context, None).await
    }

    /// [`Self::enter`], when the caller has read the step being left already.
    pub(crate) async fn enter_from(
        &self,
        tx: &mut dyn Transaction,
        mut conversation: Conversation,
        mut step: Step,
        mut context: EntryContext,
        mut known_leaving: Option<KnownLeaving>,
    ) -> Result<EntryReport, AppError> {
        let org = conversation.organization_id;
        let now = self.now();
        let contact = tx
            .get_contact(org, conversation.contact_id)
            .await?
            .ok_or(AppError::not_found(Entity::Contact, "conversationId"))?;
        let mut report: Option<EntryReport> = None;
        for entries in 1.. {
            let (leaving, leaving_has_timer) = match known_leaving.take() {
                Some(known) => (known.link, known.cancelled_timer),
                None => (
                    tx.active_link(org, conversation.id).await?,
                    // Entering a step always ends the pending auto-advance: remove it
                    // now, and the removal says whether there was one.
                    tx.cancel_auto_advance(org, conversation.id).await?,
                ),
            };
            // A move within the scenario re-enters the link being left (one per
            // conversation and scenario): no need to read it again.
            let link = match &leaving {
                Some(leaving) if leaving.scenario_id == step.scenario_id => Some(leaving.clone()),
                _ => {
                    tx.scenario_link(org, conversation.id, step.scenario_id)
                        .await?
                }
            };
            let link_was_available = link.as_ref().map(|l| l.available);
            let loads = self.member_loads(tx, &step).await?;
            let before = conversation.clone();
            let outcome = {
                let mut pick = self.pick.lock().expect("random source lock");
                enter_step(EntryRequest {
                    conversation,
                    contact: &contact,
                    step: &step,
                    leaving: leaving.as_ref(),
                    leaving_has_timer,
                    link,
                    cause: context.cause,
                    actor: &context.actor,
                    now,
                    send_initial_message_on_move: context.send_initial_message_on_move,
                    loads: &loads,
                    pick: pick.as_mut(),
                })
            };

            let mut left_scenario = None;
            if let Some(previous) = &leaving {
                tx.close_stay(org, previous.stay_id, now).await?;
                if previous.scenario_id != step.scenario_id {
                    // One active scenario per conversation.
                    let mut old = previous.clone();
                    old.available = false;
                    old.updated_at = now;
                    left_scenario = Some(old);
                }
            }
            let left = left_scenario.as_ref().map(|link| LinkWrite {
                link,
                was_available: Some(true),
            });
            let entered = LinkWrite {
                link: &outcome.link,
                was_available: link_was_available,
            };
            let links: Vec<LinkWrite> = left.into_iter().chain([entered]).collect();
            tx.save_conversation_and_links(&before, &outcome.conversation, &links, now)
                .await?;
            tx.insert_stay(&outcome.stay).await?;
            // Everything the entry queues and notes goes out in one statement each.
            let mut effects = outcome.effects.clone();
            effects.push((
                OutboxId::new(),
                step_entered_event(
                    &outcome.conversation,
                    &step,
                    leaving.as_ref(),
                    &context.actor,
                ),
            ));
            effects.extend(
                entry_change_events(&before, &outcome.conversation, &context.actor)
                    .into_iter()
                    .map(|effect| (OutboxId::new(), effect)),
            );
            if outcome.blocked_by_24h_rule {
                let data = serde_json::json!({"stepId": step.id, "reason": "24h_window_closed"});
                effects.push((
                    OutboxId::new(),
                    conversation_event(
                        &outcome.conversation,
                        "message.blocked",
                        &context.actor,
                        data,
                    ),
                ));
            }
            tx.enqueue_all(org, Some(outcome.conversation.id), &effects, now)
                .await?;
            tx.append_events(
                org,
                outcome.conversation.id,
                &outcome.events,
                &context.actor,
                now,
            )
            .await?;

            let report = report.get_or_insert_with(|| EntryReport {
                entered_step: step.clone(),
                current_step_id: step.id,
                initial_message: outcome.initial_message.clone(),
                undeliverable: None,
                blocked_by_24h_rule: outcome.blocked_by_24h_rule,
                removed: false,
                conversation: outcome.conversation.clone(),
            });
            report.current_step_id = step.id;
            report.removed = !outcome.link.available;
            report.conversation = outcome.conversation.clone();
            conversation = outcome.conversation;

            let Some(plan) = outcome.auto_advance else {
                break;
            };
            if !plan.is_immediate(now) {
                tx.set_auto_advance(
                    &PendingAutoAdvance {
                        conversation_id: conversation.id,
                        organization_id: org,
                        link_id: outcome.link.id,
                        stay_id: plan.stay_id,
                        step_id: step.id,
                        target_step_id: plan.target_step_id,
                        due_at: plan.due_at,
                    },
                    now,
                )
                .await?;
                break;
            }
            if entries >= MAX_CHAINED_ENTRIES {
                let stopped = Event::LoopGuardStopped {
                    limit: MAX_CHAINED_ENTRIES,
                    step_id: step.id,
                };
                tx.append_event(org, conversation.id, &stopped, &context.actor, now)
                    .await?;
                break;
            }
            let Some(next) = tx.get_step(org, plan.target_step_id).await? else {
                break;
            };
            context = EntryContext {
                cause: EntryCause::Chained,
                actor: Actor::step(step.id),
                send_initial_message_on_move: false,
            };
            step = next;
        }
        Ok(report.expect("the loop enters at least once"))
    }

    /// The selected members' loads in the step's scenario, for fair distribution only.
    pub(crate) async fn member_loads(
        &self,
        tx: &mut dyn Transaction,
        step: &Step,
    ) -> Result<Vec<MemberLoad>, AppError> {
        if step.settings.assignee_logic_type != Some(AssigneeLogic::FairDistributionSelected) {
            return Ok(Vec::new());
        }
        let members = step
            .settings
            .selected_membership_ids
            .as_deref()
            .unwrap_or_default();
        Ok(tx
            .member_loads(step.organization_id, step.scenario_id, members)
            .await?)
    }
}

/// The `conversation.step_entered` event subscriptions hear about.
fn step_entered_event(
    conversation: &Conversation,
    step: &Step,
    leaving: Option<&ScenarioLink>,
    actor: &Actor,
) -> OutboundEffect {
    OutboundEffect::Event {
        event_type: "conversation.step_entered".to_owned(),
        conversation_id: Some(conversation.id),
        contact_id: Some(conversation.contact_id),
        actor: actor.label(),
        data: serde_json::json!({
            "scenarioId": step.scenario_id,
            "previousStepId": leaving.map(|link| link.step_id),
            "stepId": step.id,
            "stepName": step.settings.name,
            "status": conversation.status,
            "priority": conversation.priority,
            "tags": conversation.tags,
            "assignees": conversation.assignees,
            "aiEnabled": conversation.ai_enabled,
        }),
    }
}
