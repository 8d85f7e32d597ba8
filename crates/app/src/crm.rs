//! Conversations on scenario boards: adding, moving, removing and listing them.

use std::collections::HashMap;
use std::sync::Arc;

use stagecoach_domain::agent::Agent;
use stagecoach_domain::conversation::{Conversation, ScenarioLink};
use stagecoach_domain::engine::timeline::{EntryCause, Event};
use stagecoach_domain::ids::{AgentId, ConversationId, OrganizationId, ScenarioId, StepId};
use stagecoach_domain::step::Step;
use stagecoach_storage::Transaction;

use crate::engine::{EntryContext, EntryReport};
use crate::{AppError, Entity, Principal, Stagecoach};

/// How a request names a step: by id, or by scenario and index (index 0 when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepRef {
    Id {
        step: Option<StepId>,
        scenario: Option<ScenarioId>,
    },
    Index {
        scenario: Option<ScenarioId>,
        index: i64,
    },
}

/// A board card with what a board shows: the conversation and the step.
#[derive(Debug, Clone)]
pub struct BoardCard {
    pub link: ScenarioLink,
    pub conversation: Conversation,
    pub contact: Option<stagecoach_domain::contact::Contact>,
    pub agent: Option<stagecoach_domain::agent::Agent>,
    /// Shared by every card of the page in the same step, so that a dialect can render
    /// it once per step rather than once per card.
    pub step: Arc<crate::StepView>,
}

impl Stagecoach {
    /// Puts a conversation in a step of a scenario it is not active in.
    pub async fn add_to_step(
        &self,
        who: &Principal,
        conversation: Option<ConversationId>,
        step: StepRef,
    ) -> Result<EntryReport, AppError> {
        let mut tx = self.store.begin_write().await?;
        let conversation = lock_conversation(tx.as_mut(), who, conversation).await?;
        let step = resolve_step(tx.as_mut(), who, step).await?;
        if let Some(link) = tx
            .scenario_link(who.organization_id, conversation.id, step.scenario_id)
            .await?
            && link.available
        {
            return Err(AppError::Conflict {
                field: "conversationId",
                message: "the conversation is already in this scenario; use /crm/step/move".into(),
            });
        }
        let context = EntryContext {
            cause: EntryCause::Added,
            actor: who.actor(),
            send_initial_message_on_move: false,
        };
        let mut report = self.enter(tx.as_mut(), conversation, step, context).await?;
        self.note_undeliverable(tx.as_mut(), &mut report).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// Moves a conversation to a step (entering its scenario if it is elsewhere).
    pub async fn move_to_step(
        &self,
        who: &Principal,
        conversation: Option<ConversationId>,
        step: StepRef,
        send_initial_message: bool,
    ) -> Result<EntryReport, AppError> {
        self.move_checked(who, conversation, None, step, send_initial_message)
            .await
    }

    /// Moves a board card: [`Self::move_to_step`], refused (409, nothing changed) when
    /// the conversation is no longer in `from`, the step the card was dragged from.
    pub async fn move_card(
        &self,
        who: &Principal,
        conversation: Option<ConversationId>,
        from: StepId,
        to: StepRef,
    ) -> Result<EntryReport, AppError> {
        self.move_checked(who, conversation, Some(from), to, false)
            .await
    }

    async fn move_checked(
        &self,
        who: &Principal,
        conversation: Option<ConversationId>,
        from: Option<StepId>,
        step: StepRef,
        send_initial_message: bool,
    ) -> Result<EntryReport, AppError> {
        let mut tx = self.store.begin_write().await?;
        let conversation = lock_conversation(tx.as_mut(), who, conversation).await?;
        let step = resolve_step(tx.as_mut(), who, step).await?;
        if let Some(from) = from {
            let here = tx
                .active_link(who.organization_id, conversation.id)
                .await?
                .map(|link| link.step_id);
            if here != Some(from) {
                return Err(AppError::Conflict {
                    field: "fromStepId",
                    message: "the conversation is no longer in the step it was moved from; \
                              someone moved it meanwhile"
                        .into(),
                });
            }
        }
        let context = EntryContext {
            cause: EntryCause::Moved,
            actor: who.actor(),
            send_initial_message_on_move: send_initial_message,
        };
        let mut report = self.enter(tx.as_mut(), conversation, step, context).await?;
        self.note_undeliverable(tx.as_mut(), &mut report).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// Takes a conversation off a scenario's board: its stay ends and its auto-advance is
    /// cancelled. The conversation itself is untouched.
    pub async fn remove_from_scenario(
        &self,
        who: &Principal,
        scenario: Option<ScenarioId>,
        conversation: Option<ConversationId>,
    ) -> Result<(), AppError> {
        let org = who.organization_id;
        let mut tx = self.store.begin_write().await?;
        let scenario = match scenario {
            Some(id) => tx.get_scenario(org, id).await?,
            None => None,
        }
        .ok_or(AppError::not_found(Entity::Scenario, "scenarioId"))?;
        let conversation = lock_conversation(tx.as_mut(), who, conversation).await?;
        let mut link = tx
            .scenario_link(org, conversation.id, scenario.id)
            .await?
            .filter(|l| l.available)
            .ok_or(AppError::not_found(Entity::Conversation, "conversationId"))?;
        let now = self.now();
        let actor = who.actor();
        if tx.cancel_auto_advance(org, conversation.id).await? {
            let event = Event::TimerCancelled {
                stay_id: link.stay_id,
                reason: "removed from the scenario".into(),
            };
            tx.append_event(org, conversation.id, &event, &actor, now)
                .await?;
        }
        tx.close_stay(org, link.stay_id, now).await?;
        let exited = Event::StepExited {
            scenario_id: scenario.id,
            step_id: link.step_id,
            stay_id: link.stay_id,
        };
        tx.append_event(org, conversation.id, &exited, &actor, now)
            .await?;
        let removed = Event::RemovedFromScenario {
            scenario_id: scenario.id,
            step_id: None,
        };
        tx.append_event(org, conversation.id, &removed, &actor, now)
            .await?;
        link.available = false;
        link.updated_at = now;
        tx.save_link(&link).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A page of a scenario's board (0-based pages), oldest card first.
    pub async fn board(
        &self,
        who: &Principal,
        scenario: Option<ScenarioId>,
        step: Option<StepId>,
        include_inactive: bool,
        page: i64,
        limit: i64,
    ) -> Result<Vec<BoardCard>, AppError> {
        let org = who.organization_id;
        let mut tx = self.store.begin_read().await?;
        let scenario = find_scenario_of(tx.as_mut(), who, scenario).await?;
        let links = tx
            .board(
                org,
                scenario.id,
                step,
                include_inactive,
                &stagecoach_storage::ChatSearch::default(),
                crate::error::page_offset(page, limit, "page")?,
                limit,
            )
            .await?;
        let steps = tx.list_steps(org, scenario.id, None).await?;
        // One query per kind for the whole page, not per card.
        let conversation_ids: Vec<_> = links.iter().map(|l| l.conversation_id).collect();
        let (mut conversations, contacts) =
            crate::boards::conversations_with_contacts(tx.as_mut(), org, &conversation_ids).await?;
        let mut agents: HashMap<AgentId, Option<Agent>> = HashMap::new();
        let mut views: HashMap<StepId, Arc<crate::StepView>> = HashMap::new();
        let mut cards = Vec::with_capacity(links.len());
        for link in links {
            let Some(conversation) = conversations.remove(&link.conversation_id) else {
                continue;
            };
            let step = match views.get(&link.step_id) {
                Some(view) => Arc::clone(view),
                None => {
                    let Some(step) = steps.iter().find(|s| s.id == link.step_id).cloned() else {
                        continue;
                    };
                    let agent =
                        cached_agent(tx.as_mut(), &mut agents, org, step.settings.agent_id).await?;
                    let view = Arc::new(crate::StepView {
                        step: crate::steps::shown_to(who, step),
                        scenario: scenario.clone(),
                        agent,
                    });
                    views.insert(link.step_id, Arc::clone(&view));
                    view
                }
            };
            let contact = contacts.get(&conversation.contact_id).cloned();
            let agent = cached_agent(tx.as_mut(), &mut agents, org, conversation.agent_id).await?;
            cards.push(BoardCard {
                link,
                conversation,
                contact,
                agent,
                step,
            });
        }
        Ok(cards)
    }

    /// How many cards each step of a scenario holds (every step listed, zeros included).
    pub async fn board_counts(
        &self,
        who: &Principal,
        scenario: Option<ScenarioId>,
        include_inactive: bool,
    ) -> Result<Vec<(StepId, i64)>, AppError> {
        let org = who.organization_id;
        let mut tx = self.store.begin_read().await?;
        let scenario = find_scenario_of(tx.as_mut(), who, scenario).await?;
        let counts = tx
            .board_counts(
                org,
                scenario.id,
                include_inactive,
                &stagecoach_storage::ChatSearch::default(),
            )
            .await?;
        let steps = tx.list_steps(org, scenario.id, None).await?;
        Ok(steps
            .iter()
            .map(|s| {
                (
                    s.id,
                    counts
                        .iter()
                        .find(|(id, _)| *id == s.id)
                        .map_or(0, |(_, n)| *n),
                )
            })
            .collect())
    }
}

/// Like [`find_conversation`], holding the conversation until the transaction ends (for
/// read-modify-write updates on PostgreSQL; SQLite's writer is exclusive anyway).
pub(crate) async fn lock_conversation(
    tx: &mut dyn Transaction,
    who: &Principal,
    id: Option<ConversationId>,
) -> Result<Conversation, AppError> {
    match id {
        Some(id) => tx.lock_conversation(who.organization_id, id).await?,
        None => None,
    }
    .ok_or(AppError::not_found(Entity::Conversation, "conversationId"))
}

pub(crate) async fn find_conversation(
    tx: &mut dyn Transaction,
    who: &Principal,
    id: Option<ConversationId>,
) -> Result<Conversation, AppError> {
    match id {
        Some(id) => tx.get_conversation(who.organization_id, id).await?,
        None => None,
    }
    .ok_or(AppError::not_found(Entity::Conversation, "conversationId"))
}

async fn find_scenario_of(
    tx: &mut dyn Transaction,
    who: &Principal,
    id: Option<ScenarioId>,
) -> Result<stagecoach_domain::scenario::Scenario, AppError> {
    match id {
        Some(id) => tx.get_scenario(who.organization_id, id).await?,
        None => None,
    }
    .ok_or(AppError::not_found(Entity::Scenario, "scenarioId"))
}

/// Finds the step a request names. With both a step id and a scenario, they must agree.
pub(crate) async fn resolve_step(
    tx: &mut dyn Transaction,
    who: &Principal,
    step: StepRef,
) -> Result<Step, AppError> {
    let org = who.organization_id;
    match step {
        StepRef::Id { step, scenario } => {
            let found = match step {
                Some(id) => tx.get_step(org, id).await?,
                None => None,
            }
            .ok_or(AppError::not_found(Entity::Step, "stepId"))?;
            if scenario.is_some_and(|s| s != found.scenario_id) {
                return Err(AppError::invalid(
                    "scenarioId",
                    "does not match the step's scenario",
                ));
            }
            Ok(found)
        }
        StepRef::Index { scenario, index } => {
            let scenario = find_scenario_of(tx, who, scenario).await?;
            tx.list_steps(org, scenario.id, None)
                .await?
                .into_iter()
                .find(|s| s.index == index)
                .ok_or(AppError::not_found(Entity::Step, "stepIndex"))
        }
    }
}

/// An agent read once per request, however many cards name it.
async fn cached_agent(
    tx: &mut dyn Transaction,
    cache: &mut HashMap<AgentId, Option<Agent>>,
    org: OrganizationId,
    id: Option<AgentId>,
) -> Result<Option<Agent>, AppError> {
    let Some(id) = id else { return Ok(None) };
    if let Some(agent) = cache.get(&id) {
        return Ok(agent.clone());
    }
    let agent = tx.get_agent(org, id).await?;
    cache.insert(id, agent.clone());
    Ok(agent)
}
