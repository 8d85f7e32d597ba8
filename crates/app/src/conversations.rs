//! Reading conversations: the detailed view, the timeline, the outbox and the stays.

use stagecoach_domain::agent::Agent;
use stagecoach_domain::contact::Contact;
use stagecoach_domain::conversation::{Conversation, ScenarioLink, Stay};
use stagecoach_domain::ids::{ConversationId, StayId};
use stagecoach_domain::scenario::Scenario;
use stagecoach_domain::step::Step;
use stagecoach_storage::{OutboxEntry, PendingAutoAdvance, StayFilter, TimelineEntry};

use crate::crm::find_conversation;
use crate::{AppError, Entity, Principal, Stagecoach};

/// A conversation with its contact, agent, board links and pending auto-advance.
#[derive(Debug, Clone)]
pub struct ConversationDetail {
    pub conversation: Conversation,
    pub contact: Option<Contact>,
    pub agent: Option<Agent>,
    /// The members the conversation is assigned to.
    pub assignees: Vec<stagecoach_domain::organization::Membership>,
    /// Every scenario the conversation has been in, with where it stands there.
    pub links: Vec<(ScenarioLink, Scenario, Option<Step>)>,
    /// When the conversation next advances by itself, and to which step.
    pub next_auto_advance: Option<PendingAutoAdvance>,
}

impl Stagecoach {
    /// Whether free text can be sent now: always off WhatsApp, within 24 hours of the
    /// contact's last message on it.
    pub fn free_text_allowed(&self, conversation: &Conversation) -> bool {
        conversation.can_send_free_text(self.now())
    }

    pub async fn conversation_detail(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
    ) -> Result<ConversationDetail, AppError> {
        let mut tx = self.store.begin_read().await?;
        let conversation = find_conversation(tx.as_mut(), who, id).await?;
        detail_of(tx.as_mut(), conversation).await
    }

    /// Everything that happened to the conversation, oldest first.
    pub async fn timeline(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
    ) -> Result<Vec<TimelineEntry>, AppError> {
        let mut tx = self.store.begin_read().await?;
        let conversation = find_conversation(tx.as_mut(), who, id).await?;
        Ok(tx.timeline(who.organization_id, conversation.id).await?)
    }

    /// The conversation's outbound effects, oldest first.
    pub async fn outbox(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
    ) -> Result<Vec<OutboxEntry>, AppError> {
        let mut tx = self.store.begin_read().await?;
        let conversation = find_conversation(tx.as_mut(), who, id).await?;
        Ok(tx.outbox(who.organization_id, conversation.id).await?)
    }

    /// A page (1-based) of stays, newest first, and the total.
    pub async fn stays(
        &self,
        who: &Principal,
        filter: &StayFilter,
        page: i64,
        limit: i64,
    ) -> Result<(Vec<StayView>, i64), AppError> {
        let mut tx = self.store.begin_read().await?;
        let (stays, total) = tx
            .list_stays(
                who.organization_id,
                filter,
                crate::error::page_offset(page - 1, limit, "page")?,
                limit,
            )
            .await?;
        let mut views = Vec::with_capacity(stays.len());
        for stay in stays {
            views.push(stay_view(tx.as_mut(), stay).await?);
        }
        Ok((views, total))
    }

    pub async fn stay(&self, who: &Principal, id: Option<StayId>) -> Result<StayView, AppError> {
        let mut tx = self.store.begin_read().await?;
        let stay = match id {
            Some(id) => tx.get_stay(who.organization_id, id).await?,
            None => None,
        }
        .ok_or(AppError::not_found(Entity::Stay, "logId"))?;
        stay_view(tx.as_mut(), stay).await
    }
}

/// Loads what a detailed view shows beside a conversation.
pub(crate) async fn detail_of(
    tx: &mut dyn stagecoach_storage::Transaction,
    conversation: Conversation,
) -> Result<ConversationDetail, AppError> {
    let org = conversation.organization_id;
    let contact = tx.get_contact(org, conversation.contact_id).await?;
    let agent = match conversation.agent_id {
        Some(agent) => tx.get_agent(org, agent).await?,
        None => None,
    };
    let mut assignees = Vec::new();
    for member in &conversation.assignees {
        if let Some(membership) = tx.get_membership(org, *member).await? {
            assignees.push(membership);
        }
    }
    let mut links = Vec::new();
    for scenario in tx.list_scenarios(org, None).await? {
        if let Some(link) = tx.scenario_link(org, conversation.id, scenario.id).await? {
            let step = tx.get_step(org, link.step_id).await?;
            links.push((link, scenario, step));
        }
    }
    let next_auto_advance = tx.auto_advance(org, conversation.id).await?;
    Ok(ConversationDetail {
        conversation,
        contact,
        agent,
        assignees,
        links,
        next_auto_advance,
    })
}

/// A stay with the names a log shows; the scenario or step may have been deleted since.
#[derive(Debug, Clone)]
pub struct StayView {
    pub stay: Stay,
    pub conversation_title: Option<String>,
    pub scenario: Option<Scenario>,
    pub step: Option<Step>,
}

async fn stay_view(
    tx: &mut dyn stagecoach_storage::Transaction,
    stay: Stay,
) -> Result<StayView, AppError> {
    let org = stay.organization_id;
    let conversation_title = tx
        .get_conversation(org, stay.conversation_id)
        .await?
        .and_then(|c| c.title);
    let scenario = tx.get_scenario(org, stay.scenario_id).await?;
    let step = tx.get_step(org, stay.step_id).await?;
    Ok(StayView {
        stay,
        conversation_title,
        scenario,
        step,
    })
}
