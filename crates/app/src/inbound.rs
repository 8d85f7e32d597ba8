//! Inbound messages: the path every channel feeds. It finds or creates the contact and the
//! conversation, stores the message exactly once, and lets triggers move the conversation.

use chrono::{DateTime, Utc};
use serde_json::json;
use stagecoach_domain::contact::{Contact, normalize_phone, split_name};
use stagecoach_domain::conversation::{Conversation, Message};
use stagecoach_domain::engine::timeline::{Actor, EntryCause, Event};
use stagecoach_domain::engine::triggers::first_matching_step;
use stagecoach_domain::enums::{Channel, ConversationStatus, MessageDirection};
use stagecoach_domain::error::Errors;
use stagecoach_domain::identifier;
use stagecoach_domain::ids::{
    ContactId, ConversationId, MessageId, OrganizationId, ScenarioId, StepId,
};
use stagecoach_domain::organization::normalize_email;
use stagecoach_storage::{StoreError, Transaction};

use crate::engine::{EntryContext, EntryReport};
use crate::{AppError, Entity, Principal, Stagecoach};

/// A message a contact sent on a channel.
#[derive(Debug, Clone)]
pub struct InboundMessage {
    pub channel: Channel,
    /// The sender's phone number, or their id on the channel when it has no phone.
    pub from: String,
    pub text: String,
    /// The provider's message id; a second message with the same one is a redelivery.
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// A message taken into its conversation.
pub(crate) struct TakenIn {
    /// The conversation as it is after the message (and any step it entered).
    pub conversation: Conversation,
    pub message: Message,
    pub entered: Option<(ScenarioId, EntryReport)>,
}

/// What receiving a message did.
#[derive(Debug, Clone)]
pub struct InboundReceipt {
    pub conversation_id: ConversationId,
    pub contact_id: ContactId,
    pub message_id: MessageId,
    /// The message had been received before; nothing changed.
    pub duplicate: bool,
    pub contact_created: bool,
    pub conversation_created: bool,
    /// The step a trigger moved the conversation to, and where it ended up.
    pub entered: Option<(ScenarioId, EntryReport)>,
}

impl Stagecoach {
    pub async fn receive_message(
        &self,
        who: &Principal,
        inbound: InboundMessage,
    ) -> Result<InboundReceipt, AppError> {
        self.receive_message_as(who.organization_id, who.actor(), inbound)
            .await
    }

    /// Receives a message for an organization on behalf of `actor` (a token, a channel).
    pub(crate) async fn receive_message_as(
        &self,
        org: OrganizationId,
        actor: Actor,
        inbound: InboundMessage,
    ) -> Result<InboundReceipt, AppError> {
        if inbound.from.trim().is_empty() {
            return Err(AppError::invalid(
                "from",
                "is required: the sender's phone number or channel id",
            ));
        }
        let mut errors = Errors::default();
        identifier::check_length(&mut errors, "from", inbound.from.trim());
        if let Some(external_id) = &inbound.external_id {
            identifier::check_length(&mut errors, "externalId", external_id);
        }
        if let Some(email) = &inbound.email {
            identifier::check_length(&mut errors, "email", email.trim());
        }
        errors.into_result()?;
        let mut tx = self.store.begin_write().await?;
        if let Some(receipt) = duplicate_of(tx.as_mut(), org, &inbound).await? {
            return Ok(receipt);
        }
        let now = self.now();
        let organization = tx
            .get_organization(org)
            .await?
            .ok_or(AppError::not_found(Entity::Organization, "organization"))?;
        let (contact, contact_created) = self
            .find_or_create_contact(
                tx.as_mut(),
                org,
                &inbound,
                organization.default_calling_code.as_deref(),
                now,
            )
            .await?;
        let (conversation, conversation_created) = match tx
            .lock_latest_conversation(org, contact.id, inbound.channel)
            .await?
        {
            Some(existing) => (existing, false),
            None => {
                let fresh = Conversation::new(org, contact.id, inbound.channel, now);
                tx.insert_conversation(&fresh).await?;
                (fresh, true)
            }
        };
        let Some(taken) = self
            .take_in(
                tx.as_mut(),
                &actor,
                conversation,
                conversation_created,
                &inbound,
                now,
            )
            .await?
        else {
            // A concurrent delivery of the same message won; answer with what it stored.
            drop(tx);
            let mut tx = self.store.begin_read().await?;
            return duplicate_of(tx.as_mut(), org, &inbound)
                .await?
                .ok_or(AppError::Store(StoreError::UniqueViolation));
        };
        // The agent answers once the burst ends; a keyword already routed the message.
        self.queue_ai_turn(
            tx.as_mut(),
            &taken.conversation,
            &taken.message,
            taken.entered.is_some(),
        )
        .await?;
        tx.commit().await?;
        let (conversation, message, entered) = (taken.conversation, taken.message, taken.entered);
        Ok(InboundReceipt {
            conversation_id: conversation.id,
            contact_id: contact.id,
            message_id: message.id,
            duplicate: false,
            contact_created,
            conversation_created,
            entered,
        })
    }

    /// Stores a contact's message in its conversation (found or just created), notes it in
    /// the timeline and the events, and lets triggers route it. `None` when the channel's
    /// message id is stored already (a concurrent delivery of the same message).
    pub(crate) async fn take_in(
        &self,
        tx: &mut dyn Transaction,
        actor: &Actor,
        mut conversation: Conversation,
        conversation_created: bool,
        inbound: &InboundMessage,
        now: DateTime<Utc>,
    ) -> Result<Option<TakenIn>, AppError> {
        let org = conversation.organization_id;
        let sent_at = inbound.sent_at.unwrap_or(now);
        let message = Message {
            id: MessageId::new(),
            organization_id: org,
            conversation_id: conversation.id,
            direction: MessageDirection::Inbound,
            text: inbound.text.clone(),
            attachments: Vec::new(),
            external_id: inbound.external_id.clone(),
            channel: inbound.channel,
            status: "received".into(),
            author: None,
            created_at: sent_at,
        };
        match tx.insert_message(&message).await {
            Err(StoreError::UniqueViolation) => return Ok(None),
            other => other?,
        }
        conversation.last_inbound_at = Some(
            conversation
                .last_inbound_at
                .map_or(sent_at, |at| at.max(sent_at)),
        );
        conversation.unread_count += 1;
        conversation.last_message_at = Some(
            conversation
                .last_message_at
                .map_or(sent_at, |at| at.max(sent_at)),
        );
        if conversation.status == ConversationStatus::Resolved {
            // A customer writing again reopens the conversation.
            conversation.status = ConversationStatus::Unresolved;
        }
        conversation.updated_at = now;
        tx.save_conversation(&conversation, now).await?;
        tx.append_event(
            org,
            conversation.id,
            &Event::MessageReceived {
                message_id: message.id,
            },
            actor,
            now,
        )
        .await?;
        if conversation_created {
            let data = json!({"channel": conversation.channel, "title": conversation.title});
            self.emit(tx, &conversation, "conversation.created", actor, data)
                .await?;
        }
        let data = json!({"messageId": message.id, "channel": message.channel,
                          "from": inbound.from, "text": message.text, "sentAt": sent_at});
        self.emit(tx, &conversation, "message.received", actor, data)
            .await?;
        let entered = self
            .apply_triggers(tx, conversation.clone(), &inbound.text)
            .await?;
        if let Some((_, report)) = &entered {
            conversation = report.conversation.clone();
        }
        Ok(Some(TakenIn {
            conversation,
            message,
            entered,
        }))
    }

    /// Moves the conversation to the first step whose trigger the text matches: in its
    /// active scenario if it has one, otherwise in any scenario (oldest scenario first).
    async fn apply_triggers(
        &self,
        tx: &mut dyn Transaction,
        conversation: Conversation,
        text: &str,
    ) -> Result<Option<(ScenarioId, EntryReport)>, AppError> {
        let org = conversation.organization_id;
        let active = tx.active_link(org, conversation.id).await?;
        let scenarios: Vec<ScenarioId> = match &active {
            Some(link) => vec![link.scenario_id],
            None => tx
                .list_scenarios(org, None)
                .await?
                .into_iter()
                .map(|s| s.id)
                .collect(),
        };
        let current: Option<StepId> = active.as_ref().map(|l| l.step_id);
        for scenario in scenarios {
            let steps = tx.list_steps(org, scenario, None).await?;
            if let Some(step) = first_matching_step(&steps, current, text, self.condition.as_ref())
            {
                let context = EntryContext {
                    cause: EntryCause::Trigger,
                    actor: Actor::trigger(),
                    send_initial_message_on_move: false,
                };
                let report = self.enter(tx, conversation, step.clone(), context).await?;
                return Ok(Some((scenario, report)));
            }
        }
        Ok(None)
    }

    pub(crate) async fn find_or_create_contact(
        &self,
        tx: &mut dyn Transaction,
        org: OrganizationId,
        inbound: &InboundMessage,
        calling_code: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(Contact, bool), AppError> {
        let phone = normalize_phone(&inbound.from, calling_code);
        let existing = match &phone {
            Some(phone) => tx.find_contact_by_phone(org, phone).await?,
            None => {
                tx.find_contact_by_external_id(org, inbound.from.trim())
                    .await?
            }
        };
        if let Some(contact) = existing {
            return Ok((contact, false));
        }
        let email = match inbound.email.as_deref().map(normalize_email).transpose()? {
            // An e-mail that already belongs to another contact stays with that contact.
            Some(email) if tx.find_contact_by_email(org, &email).await?.is_none() => Some(email),
            _ => None,
        };
        let (first_name, last_name) = inbound.name.as_deref().map(split_name).unwrap_or_default();
        let contact = Contact {
            id: ContactId::new(),
            organization_id: org,
            first_name,
            last_name,
            external_id: phone.is_none().then(|| inbound.from.trim().to_owned()),
            phone,
            email,
            picture: None,
            metadata: Default::default(),
            lead: Default::default(),
            created_at: now,
            updated_at: now,
        };
        tx.insert_contact(&contact).await?;
        Ok((contact, true))
    }
}

/// The receipt of a message already stored under the same external id.
async fn duplicate_of(
    tx: &mut dyn Transaction,
    org: OrganizationId,
    inbound: &InboundMessage,
) -> Result<Option<InboundReceipt>, AppError> {
    let Some(external_id) = &inbound.external_id else {
        return Ok(None);
    };
    let Some(message) = tx
        .find_message_by_external_id(org, inbound.channel, external_id)
        .await?
    else {
        return Ok(None);
    };
    let conversation = tx
        .get_conversation(org, message.conversation_id)
        .await?
        .ok_or(AppError::not_found(Entity::Conversation, "externalId"))?;
    Ok(Some(InboundReceipt {
        conversation_id: conversation.id,
        contact_id: conversation.contact_id,
        message_id: message.id,
        duplicate: true,
        contact_created: false,
        conversation_created: false,
        entered: None,
    }))
}
