//! Asking an agent directly (Chatvolt's `POST /agents/{id}/query`): the question is stored
//! as the contact's message in a conversation, created or continued, and one AI turn
//! answers it at once, with the same prompt, checks and record as a turn on a channel.

use std::time::Duration;

use stagecoach_domain::conversation::Conversation;
use stagecoach_domain::enums::Channel;
use stagecoach_domain::ids::{ContactId, ConversationId, MessageId};

use crate::agents::AgentRef;
use crate::ai_turn::{TurnOverrides, TurnResult};
use crate::inbound::InboundMessage;
use crate::{AppError, Entity, Principal, Stagecoach};

/// How many model calls a query makes at most before a person takes over.
const QUERY_CALLS: u32 = 3;
/// The longest `Retry-After` a query waits for; a longer one fails it over.
const QUERY_LONGEST_WAIT: Duration = Duration::from_secs(10);

/// Who asks, when no conversation is named: an existing contact, or details to find or
/// create one by.
#[derive(Debug, Clone, Default)]
pub struct QueryContact {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    /// The contact's id in the caller's system.
    pub user_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AgentQuery {
    pub query: String,
    /// A conversation to continue; one that does not exist starts a new one.
    pub conversation_id: Option<ConversationId>,
    pub contact_id: Option<ContactId>,
    pub contact: Option<QueryContact>,
    pub visitor_id: Option<String>,
    pub overrides: TurnOverrides,
}

/// The agent's answer to a query.
#[derive(Debug, Clone)]
pub struct AgentAnswer {
    pub answer: String,
    pub conversation_id: ConversationId,
    pub visitor_id: String,
    pub message_id: Option<MessageId>,
    pub turn: TurnResult,
}

impl Stagecoach {
    pub async fn query_agent(
        &self,
        who: &Principal,
        agent: &AgentRef,
        query: AgentQuery,
    ) -> Result<AgentAnswer, AppError> {
        let mut errors = stagecoach_domain::error::Errors::default();
        if query.query.trim().is_empty() {
            errors.add("query", "is required: the question for the agent");
        }
        if query
            .overrides
            .temperature
            .is_some_and(|t| !(0.0..=1.0).contains(&t) || t.is_nan())
        {
            errors.add("temperature", "must be between 0.0 and 1.0");
        }
        errors.into_result()?;
        let org = who.organization_id;
        let actor = who.actor();
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let agent = match agent {
            AgentRef::Id(id) => tx.get_agent(org, *id).await?,
            AgentRef::Handle(handle) => tx.get_agent_by_handle(org, handle).await?,
            AgentRef::Unknown => None,
        }
        .ok_or(AppError::not_found(Entity::Agent, "id"))?;

        let existing = match query.conversation_id {
            Some(id) => tx.lock_conversation(org, id).await?,
            None => None,
        };
        let mut visitor_id = query.visitor_id.clone().filter(|v| !v.trim().is_empty());
        let (conversation, created) = match existing {
            Some(conversation) => (conversation, false),
            None => {
                let contact = match query.contact_id {
                    Some(id) => tx
                        .get_contact(org, id)
                        .await?
                        .ok_or(AppError::not_found(Entity::Contact, "contactId"))?,
                    None => {
                        let details = query.contact.clone().unwrap_or_default();
                        let by_email = match details.email.as_deref() {
                            Some(email) => {
                                let email =
                                    stagecoach_domain::organization::normalize_email(email)?;
                                tx.find_contact_by_email(org, &email).await?
                            }
                            None => None,
                        };
                        match by_email {
                            Some(contact) => contact,
                            None => {
                                let visitor = visitor_id
                                    .get_or_insert_with(|| {
                                        ConversationId::new().0.simple().to_string()
                                    })
                                    .clone();
                                let name = [details.first_name, details.last_name]
                                    .into_iter()
                                    .flatten()
                                    .collect::<Vec<_>>()
                                    .join(" ");
                                let calling_code = tx
                                    .get_organization(org)
                                    .await?
                                    .and_then(|o| o.default_calling_code);
                                let asker = InboundMessage {
                                    channel: Channel::Website,
                                    from: details
                                        .phone_number
                                        .or(details.user_id)
                                        .unwrap_or(visitor),
                                    text: String::new(),
                                    external_id: None,
                                    name: (!name.is_empty()).then_some(name),
                                    email: details.email,
                                    sent_at: None,
                                };
                                self.find_or_create_contact(
                                    tx.as_mut(),
                                    org,
                                    &asker,
                                    calling_code.as_deref(),
                                    now,
                                )
                                .await?
                                .0
                            }
                        }
                    }
                };
                match tx
                    .lock_latest_conversation(org, contact.id, Channel::Website)
                    .await?
                {
                    Some(conversation) => (conversation, false),
                    None => {
                        let mut fresh = Conversation::new(org, contact.id, Channel::Website, now);
                        fresh.agent_id = Some(agent.id);
                        tx.insert_conversation(&fresh).await?;
                        (fresh, true)
                    }
                }
            }
        };
        let visitor_id = match visitor_id {
            Some(visitor) => visitor,
            None => tx
                .get_contact(org, conversation.contact_id)
                .await?
                .and_then(|c| c.external_id.or(c.phone).or(c.email))
                .unwrap_or_else(|| conversation.contact_id.to_string()),
        };
        let question = InboundMessage {
            channel: conversation.channel,
            from: visitor_id.clone(),
            text: query.query.trim().to_owned(),
            external_id: None,
            name: None,
            email: None,
            sent_at: None,
        };
        let taken = self
            .take_in(tx.as_mut(), &actor, conversation, created, &question, now)
            .await?
            .ok_or(AppError::Store(
                stagecoach_storage::StoreError::UniqueViolation,
            ))?;
        tx.commit().await?;

        let mut overrides = query.overrides;
        overrides.agent = Some(agent.id);
        let turn = self
            .run_turn_now(
                org,
                taken.conversation.id,
                taken.message.id,
                taken.entered.is_some(),
                &overrides,
                QUERY_CALLS,
                QUERY_LONGEST_WAIT,
            )
            .await?;
        Ok(AgentAnswer {
            answer: turn.reply.clone().unwrap_or_default(),
            conversation_id: taken.conversation.id,
            visitor_id,
            message_id: turn.reply_message_id,
            turn,
        })
    }
}
