//! A scenario's board as a person sees it: every step's column with its figures over the
//! whole step (and the current filter), and the first cards of each.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chrono::{DateTime, Utc};
use stagecoach_domain::contact::Contact;
use stagecoach_domain::conversation::{Conversation, Message, ScenarioLink};
use stagecoach_domain::ids::{ConversationId, MembershipId, ScenarioId, StepId};
use stagecoach_domain::scenario::Scenario;
use stagecoach_domain::scope::{Area, Requirement, Scope};
use stagecoach_domain::step::Step;
use stagecoach_storage::ChatSearch;

use stagecoach_domain::ids::{ContactId, OrganizationId};
use stagecoach_storage::{Change, Transaction};

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
    /// What committed writes change from now on, on this server and every other server
    /// of the database, for live views.
    pub fn changes(&self) -> stagecoach_storage::ChangeSubscription {
        self.store.changes()
    }

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
        let (counts, mut payments) = column_figures(
            tx.as_mut(),
            org,
            scenario.id,
            &request.filter,
            may_read_leads,
        )
        .await?;
        let mut links = Vec::new();
        for step in &steps {
            let limit = match request.longer {
                Some((longer, cards)) if longer == step.id => cards,
                _ => request.cards_per_column,
            };
            if counts.get(&step.id).copied().unwrap_or(0) > 0 {
                links.extend(
                    tx.board(
                        org,
                        scenario.id,
                        Some(step.id),
                        false,
                        &request.filter,
                        0,
                        limit,
                    )
                    .await?,
                );
            }
        }
        let mut cards_by_step: HashMap<StepId, Vec<BoardViewCard>> = HashMap::new();
        for card in assemble_cards(tx.as_mut(), org, links).await? {
            cards_by_step
                .entry(card.link.step_id)
                .or_default()
                .push(card);
        }
        let member_names = crate::admin::all_memberships(tx.as_mut(), org)
            .await?
            .into_iter()
            .map(|m| (m.id, m.name))
            .collect();
        let mut columns = Vec::with_capacity(steps.len());
        for step in steps {
            columns.push(BoardColumn {
                count: counts.get(&step.id).copied().unwrap_or(0),
                open_payments: payments
                    .as_mut()
                    .map(|p| p.remove(&step.id).unwrap_or_default()),
                cards: cards_by_step.remove(&step.id).unwrap_or_default(),
                step,
            });
        }
        Ok(BoardView {
            scenario,
            columns,
            member_names,
        })
    }
}

/// What changed on a board: every column's figures, the changed cards as they are now,
/// and the changed conversations whose cards are no longer shown: gone from the board or
/// the filter, or now past the first cards of their column, which is all a board shows
/// before "Show more".
#[derive(Debug, Clone)]
pub struct BoardUpdate {
    /// Every column, in step order, with its figures and no cards.
    pub columns: Vec<BoardColumn>,
    pub cards: Vec<BoardViewCard>,
    pub gone: Vec<ConversationId>,
    pub member_names: HashMap<MembershipId, String>,
}

impl Stagecoach {
    /// The part of a board that `changes` touched, for a view that shows it already with
    /// `cards_per_column` cards in each column.
    pub async fn board_update(
        &self,
        who: &Principal,
        scenario: ScenarioId,
        filter: &ChatSearch,
        cards_per_column: i64,
        changes: &[Change],
    ) -> Result<BoardUpdate, AppError> {
        let org = who.organization_id;
        let may_read_leads = who
            .require(Requirement::new(Scope::read(Area::Leads)))
            .is_ok();
        let mut conversations: Vec<ConversationId> = Vec::new();
        let mut contacts: Vec<ContactId> = Vec::new();
        for change in changes {
            match *change {
                Change::Conversation(o, id) if o == org => conversations.push(id),
                Change::Contact(o, id) if o == org => contacts.push(id),
                _ => {}
            }
        }
        let mut tx = self.store.begin_read().await?;
        let steps = tx.list_steps(org, scenario, None).await?;
        let (counts, mut payments) =
            column_figures(tx.as_mut(), org, scenario, filter, may_read_leads).await?;
        let mut links = tx
            .board_links_of(org, scenario, filter, &conversations, &contacts)
            .await?;
        // A card sorts after the column's last shown card: not on the page.
        let mut last_shown: HashMap<StepId, Option<(chrono::DateTime<chrono::Utc>, uuid::Uuid)>> =
            HashMap::new();
        for link in &links {
            if let Entry::Vacant(column) = last_shown.entry(link.step_id) {
                let last = tx
                    .board(
                        org,
                        scenario,
                        Some(link.step_id),
                        false,
                        filter,
                        cards_per_column - 1,
                        1,
                    )
                    .await?
                    .into_iter()
                    .next()
                    .map(|l| (l.created_at, l.id.0));
                column.insert(last);
            }
        }
        links.retain(|l| match last_shown.get(&l.step_id) {
            Some(Some(last)) => (l.created_at, l.id.0) <= *last,
            _ => true,
        });
        let shown: Vec<ConversationId> = links.iter().map(|l| l.conversation_id).collect();
        let mut gone: Vec<ConversationId> = conversations
            .iter()
            .copied()
            .filter(|id| !shown.contains(id))
            .collect();
        if !filter.is_empty() && !contacts.is_empty() {
            // A contact's change (a new name) can take its cards out of a filter.
            for link in tx
                .board_links_of(org, scenario, &ChatSearch::default(), &[], &contacts)
                .await?
            {
                if !shown.contains(&link.conversation_id) && !gone.contains(&link.conversation_id) {
                    gone.push(link.conversation_id);
                }
            }
        }
        let cards = assemble_cards(tx.as_mut(), org, links).await?;
        let member_names = crate::admin::all_memberships(tx.as_mut(), org)
            .await?
            .into_iter()
            .map(|m| (m.id, m.name))
            .collect();
        let columns = steps
            .into_iter()
            .map(|step| BoardColumn {
                count: counts.get(&step.id).copied().unwrap_or(0),
                open_payments: payments
                    .as_mut()
                    .map(|p| p.remove(&step.id).unwrap_or_default()),
                step,
                cards: Vec::new(),
            })
            .collect();
        Ok(BoardUpdate {
            columns,
            cards,
            gone,
            member_names,
        })
    }
}

/// A column's figures over the whole step: conversations that match the filter, and the
/// open payments of their contacts (when the caller may read leads).
type Figures = (
    HashMap<StepId, i64>,
    Option<HashMap<StepId, Vec<(String, i64)>>>,
);

async fn column_figures(
    tx: &mut dyn Transaction,
    org: OrganizationId,
    scenario: ScenarioId,
    filter: &ChatSearch,
    may_read_leads: bool,
) -> Result<Figures, AppError> {
    let counts = tx
        .board_counts(org, scenario, false, filter)
        .await?
        .into_iter()
        .collect();
    if !may_read_leads {
        return Ok((counts, None));
    }
    let mut by_step: HashMap<StepId, Vec<(String, i64)>> = HashMap::new();
    for (step, currency, hundredths) in tx.board_open_payments(org, scenario, filter).await? {
        by_step
            .entry(step)
            .or_default()
            .push((currency, hundredths));
    }
    for sums in by_step.values_mut() {
        sums.sort();
    }
    Ok((counts, Some(by_step)))
}

/// These conversations by id, and their contacts by id: one query each.
pub(crate) async fn conversations_with_contacts(
    tx: &mut dyn Transaction,
    org: OrganizationId,
    ids: &[ConversationId],
) -> Result<
    (
        HashMap<ConversationId, Conversation>,
        HashMap<ContactId, Contact>,
    ),
    AppError,
> {
    let conversations: HashMap<_, _> = tx
        .get_conversations(org, ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let contact_ids: Vec<_> = conversations.values().map(|c| c.contact_id).collect();
    let contacts = tx
        .get_contacts(org, &contact_ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    Ok((conversations, contacts))
}

/// The cards of these links, in their order, with one query per kind for all of them.
/// A link whose conversation is gone is left out.
async fn assemble_cards(
    tx: &mut dyn Transaction,
    org: OrganizationId,
    links: Vec<ScenarioLink>,
) -> Result<Vec<BoardViewCard>, AppError> {
    let ids: Vec<ConversationId> = links.iter().map(|l| l.conversation_id).collect();
    let (mut conversations, contacts) = conversations_with_contacts(tx, org, &ids).await?;
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
    Ok(cards)
}
