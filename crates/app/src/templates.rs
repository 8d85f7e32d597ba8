//! Sending a WhatsApp template to a phone number: the way to start (or reopen) a WhatsApp
//! conversation outside the 24-hour window, optionally placing it in a CRM step.

use stagecoach_domain::conversation::{Conversation, Message};
use stagecoach_domain::delivery::targets::ChannelKind;
use stagecoach_domain::engine::effects::OutboundEffect;
use stagecoach_domain::engine::timeline::{EntryCause, Event};
use stagecoach_domain::enums::{Channel, ConversationStatus, MessageDirection};
use stagecoach_domain::ids::{AgentId, MessageId, OutboxId, ScenarioId, StepId};

use crate::Stagecoach;
use crate::auth::Principal;
use crate::crm::{StepRef, resolve_step};
use crate::engine::EntryContext;
use crate::error::{AppError, Entity};
use crate::inbound::InboundMessage;

/// A template to send.
#[derive(Debug, Clone)]
pub struct TemplateSend {
    /// The WhatsApp phone number id of a connected channel.
    pub phone_number_id: String,
    /// The recipient's phone number, with country code.
    pub to: String,
    /// The copy kept in the conversation's history.
    pub text: String,
    pub agent_id: Option<AgentId>,
    pub template_name: String,
    pub language: String,
    /// The template's body parameters, in order.
    pub parameters: Vec<String>,
    /// The contact's name, when the contact is new.
    pub contact_name: Option<String>,
    pub status: Option<ConversationStatus>,
    /// Where to place the conversation: a step, or a scenario's first step.
    pub scenario_id: Option<ScenarioId>,
    pub step_id: Option<StepId>,
}

impl Stagecoach {
    /// Queues the template, records its copy in the conversation (created when the
    /// contact has none on WhatsApp), applies the status and the step, in one
    /// transaction. Returns the conversation and its messages.
    pub async fn send_template(
        &self,
        who: &Principal,
        send: TemplateSend,
    ) -> Result<(Conversation, Vec<Message>), AppError> {
        let org = who.organization_id;
        let actor = who.actor();
        let mut tx = self.store.begin_write().await?;
        let channel = tx
            .list_channels(org)
            .await?
            .into_iter()
            .map(|(channel, _)| channel)
            .find(|c| c.kind == ChannelKind::Whatsapp && c.account_id == send.phone_number_id)
            .ok_or(AppError::not_found(Entity::Channel, "phoneNumberId"))?;
        if let Some(agent) = send.agent_id
            && tx.get_agent(org, agent).await?.is_none()
        {
            return Err(AppError::not_found(Entity::Agent, "agentId"));
        }
        let step = match (send.step_id, send.scenario_id) {
            (None, None) => None,
            (step, scenario) => Some(
                resolve_step(
                    tx.as_mut(),
                    who,
                    match step {
                        Some(step) => StepRef::Id {
                            step: Some(step),
                            scenario,
                        },
                        None => StepRef::Index { scenario, index: 0 },
                    },
                )
                .await?,
            ),
        };
        let now = self.now();
        let organization = tx
            .get_organization(org)
            .await?
            .ok_or(AppError::not_found(Entity::Organization, "organization"))?;
        let recipient = InboundMessage {
            channel: Channel::Whatsapp,
            from: send.to.clone(),
            text: String::new(),
            external_id: None,
            name: send.contact_name.clone(),
            email: None,
            sent_at: None,
        };
        let (contact, _) = self
            .find_or_create_contact(
                tx.as_mut(),
                org,
                &recipient,
                organization.default_calling_code.as_deref(),
                now,
            )
            .await?;
        let mut conversation = match tx
            .latest_conversation(org, contact.id, Channel::Whatsapp)
            .await?
        {
            Some(existing) => tx
                .lock_conversation(org, existing.id)
                .await?
                .unwrap_or(existing),
            None => {
                let mut fresh = Conversation::new(org, contact.id, Channel::Whatsapp, now);
                fresh.agent_id = send.agent_id.or(channel.agent_id);
                tx.insert_conversation(&fresh).await?;
                self.emit(
                    tx.as_mut(),
                    &fresh,
                    "conversation.created",
                    &actor,
                    serde_json::json!({"channel": fresh.channel, "title": fresh.title}),
                )
                .await?;
                fresh
            }
        };

        let message = Message {
            id: MessageId::new(),
            organization_id: org,
            conversation_id: conversation.id,
            direction: MessageDirection::Outbound,
            text: send.text,
            attachments: Vec::new(),
            external_id: None,
            channel: Channel::Whatsapp,
            status: "queued".into(),
            author: Some(actor.label()),
            created_at: now,
        };
        tx.insert_message(&message).await?;
        let outbox_id = OutboxId::new();
        let effect = OutboundEffect::WhatsappTemplate {
            conversation_id: conversation.id,
            contact_id: contact.id,
            agent_id: send.agent_id,
            template_name: send.template_name,
            language_code: Some(send.language),
            text: Some(message.text.clone()),
            parameters: send.parameters,
            channel_id: Some(channel.id),
            message_id: Some(message.id),
        };
        tx.enqueue(org, Some(conversation.id), outbox_id, &effect, now)
            .await?;
        tx.append_event(
            org,
            conversation.id,
            &Event::MessageQueued {
                message_id: message.id,
                outbox_id,
            },
            &actor,
            now,
        )
        .await?;
        conversation.last_message_at = Some(now);
        if let Some(status) = send.status.filter(|s| *s != conversation.status) {
            conversation.status = status;
            self.record_change(
                tx.as_mut(),
                who,
                &mut conversation,
                "status",
                serde_json::json!(status),
            )
            .await?;
        } else {
            conversation.updated_at = now;
            tx.save_conversation(&conversation, now).await?;
        }
        if let Some(step) = step {
            let context = EntryContext {
                cause: EntryCause::Added,
                actor: actor.clone(),
                send_initial_message_on_move: false,
            };
            conversation = self
                .enter(tx.as_mut(), conversation, step, context)
                .await?
                .conversation;
        }
        let messages = tx.last_messages(org, conversation.id, 100).await?;
        tx.commit().await?;
        Ok((conversation, messages))
    }
}
