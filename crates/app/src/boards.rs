//! A scenario's board as a person sees it: every step's column with its figures over the
//! whole step (and the current filter), and the first cards of each.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use stagecoach_domain::contact::Contact;
use stagecoach_domain::conversation::{Conversation, Message, ScenarioLink};
use stagecoach_domain::ids::{ConversationId, MembershipId, ScenarioId, StepId};
use stagecoach_domain::scenario::Scenario;
use stagecoach_domain::scope::{Area, Requirement, Scope};
use stagecoach_domain::step::Step;
use stagecoach_storage::ChatSearch;

use crate::{AppError, Entity, Principal, Stagecoach};

/// What part of a board to read.
#[derive(Debug, Clone)]
pub struct BoardRequest {
    /// Only the conversations this matches, in the columns and in their figures.
    pub filter: ChatSearch,
    /// How many cards each column shows, unless `longer` names it.
    pub cards_per_column: i64,
    /// One column that shows more cards: its step and how many.
    pub longer: Option<(StepId, i64)>,
}

/// A card: the conversation with what its card shows.
#[derive(Debug, Clone)]
pub struct BoardViewCard {
    pub link: ScenarioLink,
    pub conversation: Conversation,
    pub contact: Option<Contact>,
    pub last_message: Option<Message>,
    /// When the step's auto-advance will move the conversation on, if one is pending.
    pub auto_advance_due: Option<DateTime<Utc>>,
}

/// A step's column.
#[derive(Debug, Clone)]
pub struct BoardColumn {
    pub step: Step,
    /// Conversations active in the step that the filter matches, all of them.
    pub count: i64,
    /// Open (pending or processing) payments of those conversations' contacts: currency
    /// and sum in hundredths, by currency code. `None` when the token may not read leads.
    pub open_payments: Option<Vec<(String, i64)>>,
    pub cards: Vec<BoardViewCard>,
}

#[derive(Debug, Clone)]
pub struct BoardView {
    pub scenario: Scenario,
    /// In step order.
    pub columns: Vec<BoardColumn>,
    /// The names of the organization's members, for assignees.
    pub member_names: HashMap<MembershipId, String>,
}

impl Stagecoach {
    /// A scenario's board, read in one transaction so that counts and cards agree.
    pub async fn board_view(
        &self,
        who: &Principal,
        scenario: ScenarioId,
        request: &BoardRequest,
    ) -> Result<BoardView, AppError> {
        let org = who.organization_id;
        let may_read_leads = who
            .require(Requirement::new(Scope::read(Area::Leads)))
            .is_ok();
        let mut tx = self.store.begin_read().await?;
        let scenario = tx
            .get_scenario(org, scenario)
            .await?
            .ok_or(AppError::not_found(Entity::Scenario, "scenarioId"))?;
        let steps = tx.list_steps(org, scenario.id, None).await?;
        let counts: HashMap<StepId, i64> = tx
            .board_counts(org, scenario.id, false, &request.filter)
            .await?
            .into_iter()
            .collect();
        let mut payments: Option<HashMap<StepId, Vec<(String, i64)>>> = None;
        if may_read_leads {
            let mut by_step: HashMap<StepId, Vec<(String, i64)>> = HashMap::new();
            for (step, currency, hundredths) in tx
                .board_open_payments(org, scenario.id, &request.filter)
                .await?
            {
                by_step
                    .entry(step)
                    .or_default()
                    .push((currency, hundredths));
            }
            for sums in by_step.values_mut() {
                sums.sort();
            }
            payments = Some(by_step);
        }
        let mut links_by_step = Vec::with_capacity(steps.len());
        for step in &steps {
            let limit = match request.longer {
                Some((longer, cards)) if longer == step.id => cards,
                _ => request.cards_per_column,
            };
            let links = if counts.get(&step.id).copied().unwrap_or(0) == 0 {
                Vec::new()
            } else {
                tx.board(
                    org,
                    scenario.id,
                    Some(step.id),
                    false,
                    &request.filter,
                    0,
                    limit,
                )
                .await?
            };
            links_by_step.push(links);
        }
        // One query per kind for every card of the board.
        let ids: Vec<ConversationId> = links_by_step
            .iter()
            .flatten()
            .map(|l| l.conversation_id)
            .collect();
        let mut conversations: HashMap<_, _> = tx
            .get_conversations(org, &ids)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let contact_ids: Vec<_> = conversations.values().map(|c| c.contact_id).collect();
        let contacts: HashMap<_, _> = tx
            .get_contacts(org, &contact_ids)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let mut last_messages: HashMap<_, _> = tx
            .latest_message_of_each(org, &ids)
            .await?
            .into_iter()
            .map(|m| (m.conversation_id, m))
            .collect();
        let due: HashMap<_, _> = tx
            .pending_auto_advances(org, &ids)
            .await?
            .into_iter()
            .map(|a| ((a.conversation_id, a.stay_id), a.due_at))
            .collect();
        let member_names = crate::admin::all_memberships(tx.as_mut(), org)
            .await?
            .into_iter()
            .map(|m| (m.id, m.name))
            .collect();
        let mut columns = Vec::with_capacity(steps.len());
        for (step, links) in steps.into_iter().zip(links_by_step) {
            let mut cards = Vec::with_capacity(links.len());
            for link in links {
                let Some(conversation) = conversations.remove(&link.conversation_id) else {
                    continue;
                };
                cards.push(BoardViewCard {
                    contact: contacts.get(&conversation.contact_id).cloned(),
                    last_message: last_messages.remove(&conversation.id),
                    auto_advance_due: due.get(&(conversation.id, link.stay_id)).copied(),
                    link,
                    conversation,
                });
            }
            columns.push(BoardColumn {
                count: counts.get(&step.id).copied().unwrap_or(0),
                open_payments: payments
                    .as_mut()
                    .map(|p| p.remove(&step.id).unwrap_or_default()),
                step,
                cards,
            });
        }
        Ok(BoardView {
            scenario,
            columns,
            member_names,
        })
    }
}
