//! WhatsApp templates: the way to start (or reopen) a WhatsApp conversation outside the
//! 24-hour window. Sending one to a phone number (optionally placing the conversation in a
//! CRM step) or in a conversation, and listing and creating a business account's
//! templates through the Cloud API.

use chrono::{DateTime, Utc};
use serde_json::Value;
use stagecoach_domain::conversation::{Conversation, Message};
use stagecoach_domain::delivery::targets::{Channel as ChannelRecord, ChannelKind};
use stagecoach_domain::delivery::whatsapp_templates::{self, NewTemplate, WhatsappTemplate};
use stagecoach_domain::engine::effects::OutboundEffect;
use stagecoach_domain::engine::timeline::{Actor, EntryCause, Event};
use stagecoach_domain::enums::{Channel, ConversationStatus, MessageDirection};
use stagecoach_domain::error::Errors;
use stagecoach_domain::ids::{
    AgentId, ChannelId, ConversationId, MessageId, OutboxId, ScenarioId, StepId,
};
use stagecoach_storage::Transaction;

use crate::Stagecoach;
use crate::auth::Principal;
use crate::crm::{StepRef, resolve_step};
use crate::engine::EntryContext;
use crate::error::{AppError, Entity};
use crate::inbound::InboundMessage;
use crate::provider_api::{ProviderCall, ProviderMethod};

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

        let queued = QueuedTemplate {
            channel: channel.id,
            agent_id: send.agent_id,
            template_name: send.template_name,
            language: send.language,
            parameters: send.parameters,
            text: send.text,
        };
        queue_template(tx.as_mut(), &actor, &mut conversation, queued, now).await?;
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

/// A template message to queue in a conversation.
struct QueuedTemplate {
    channel: ChannelId,
    agent_id: Option<AgentId>,
    template_name: String,
    language: String,
    parameters: Vec<String>,
    /// The copy kept in the conversation's history.
    text: String,
}

/// Records the template's copy in the conversation and queues its sending; the caller
/// saves the conversation. Answers the copy.
async fn queue_template(
    tx: &mut dyn Transaction,
    actor: &Actor,
    conversation: &mut Conversation,
    template: QueuedTemplate,
    now: DateTime<Utc>,
) -> Result<Message, AppError> {
    let org = conversation.organization_id;
    let message = Message {
        id: MessageId::new(),
        organization_id: org,
        conversation_id: conversation.id,
        direction: MessageDirection::Outbound,
        text: template.text,
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
        contact_id: conversation.contact_id,
        agent_id: template.agent_id,
        template_name: template.template_name,
        language_code: Some(template.language),
        text: Some(message.text.clone()),
        parameters: template.parameters,
        channel_id: Some(template.channel),
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
        actor,
        now,
    )
    .await?;
    conversation.last_message_at = Some(now);
    Ok(message)
}

/// The most pages of templates read from one business account (100 each).
const MAX_TEMPLATE_PAGES: usize = 20;

/// A business account's templates, and how to reach them.
struct TemplateAccount {
    channel: ChannelRecord,
    business_account_id: String,
    access_token: String,
}

/// Listing and creating a business account's templates, and sending one in a conversation
/// from the web composer.
impl Stagecoach {
    /// The WhatsApp channel that sends for `agent` (its own, else the organization's
    /// first) and the business account behind it. `field` names the input at fault.
    async fn template_account(
        &self,
        who: &Principal,
        agent: Option<AgentId>,
        field: &'static str,
    ) -> Result<TemplateAccount, AppError> {
        let org = who.organization_id;
        let mut tx = self.store.begin_read().await?;
        if let Some(agent) = agent
            && tx.get_agent(org, agent).await?.is_none()
        {
            return Err(AppError::not_found(Entity::Agent, field));
        }
        let (channel, secrets) = self
            .sending_channel(tx.as_mut(), org, ChannelKind::Whatsapp, agent)
            .await?
            .ok_or_else(|| {
                AppError::Undeliverable(
                    "no WhatsApp channel is connected, so there are no templates; \
                     connect one with POST /v1/channels"
                        .into(),
                )
            })?;
        // No transaction stays open while the provider answers.
        drop(tx);
        let business_account_id =
            channel
                .business_account_id
                .clone()
                .ok_or_else(|| AppError::Conflict {
                    field,
                    message: format!(
                        "the WhatsApp channel \"{}\" does not know its business account yet: \
                     connect it with businessAccountId, or let Meta's first webhook tell it",
                        channel.name
                    ),
                })?;
        Ok(TemplateAccount {
            channel,
            business_account_id,
            access_token: secrets.access_token.unwrap_or_default(),
        })
    }

    async fn list_templates(
        &self,
        account: &TemplateAccount,
    ) -> Result<Vec<WhatsappTemplate>, AppError> {
        let mut templates = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_TEMPLATE_PAGES {
            let body = self
                .call_provider(ProviderCall {
                    method: ProviderMethod::Get,
                    url: whatsapp_templates::list_url(
                        &self.delivery.providers.whatsapp,
                        &account.business_account_id,
                        after.as_deref(),
                    ),
                    headers: bearer(&account.access_token),
                    body: None,
                })
                .await?;
            let (page, next) =
                whatsapp_templates::read_page(&body).map_err(|reason| AppError::Provider {
                    status: None,
                    message: format!("unexpected answer to the template listing: {reason}"),
                })?;
            templates.extend(page);
            match next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        Ok(templates)
    }

    /// The message templates of the business account behind the agent's WhatsApp channel,
    /// as Meta lists them (every status).
    pub async fn whatsapp_templates(
        &self,
        who: &Principal,
        agent: Option<AgentId>,
    ) -> Result<Vec<WhatsappTemplate>, AppError> {
        let agent = agent.ok_or(AppError::not_found(Entity::Agent, "agentId"))?;
        let account = self.template_account(who, Some(agent), "agentId").await?;
        self.list_templates(&account).await
    }

    /// Submits a new template to the business account behind the agent's WhatsApp
    /// channel. Answers Meta's answer (`id`, `status`, `category`).
    pub async fn create_whatsapp_template(
        &self,
        who: &Principal,
        agent: Option<AgentId>,
        template: NewTemplate,
    ) -> Result<Value, AppError> {
        whatsapp_templates::check_new_template(&template)?;
        let agent = agent.ok_or(AppError::not_found(Entity::Agent, "agentId"))?;
        let account = self.template_account(who, Some(agent), "agentId").await?;
        let request = whatsapp_templates::create_request(
            &self.delivery.providers.whatsapp,
            &account.business_account_id,
            &account.access_token,
            &template,
        );
        let body = self
            .call_provider(ProviderCall {
                method: ProviderMethod::Post,
                url: request.url,
                headers: request.headers,
                body: Some(request.body.to_string().into_bytes()),
            })
            .await?;
        Ok(serde_json::from_str(&body).unwrap_or_else(|_| serde_json::json!({})))
    }

    /// The templates a conversation's composer can offer: those of the business account
    /// behind the channel that sends for the conversation. None off WhatsApp.
    pub async fn conversation_templates(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
    ) -> Result<Vec<WhatsappTemplate>, AppError> {
        let conversation = self.template_conversation(who, id).await?;
        if conversation.channel != Channel::Whatsapp {
            return Ok(Vec::new());
        }
        let account = self
            .template_account(who, conversation.agent_id, "conversation")
            .await?;
        self.list_templates(&account).await
    }

    async fn template_conversation(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
    ) -> Result<Conversation, AppError> {
        let id = id.ok_or(AppError::not_found(Entity::Conversation, "conversation"))?;
        let mut tx = self.store.begin_read().await?;
        tx.get_conversation(who.organization_id, id)
            .await?
            .ok_or(AppError::not_found(Entity::Conversation, "conversation"))
    }

    /// Sends an approved template in a WhatsApp conversation (the way to write to a
    /// contact outside the 24-hour window). The template is looked up in the business
    /// account, so its parameters are counted and its copy is the body as sent.
    pub async fn send_conversation_template(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
        name: &str,
        language: &str,
        parameters: Vec<String>,
    ) -> Result<Message, AppError> {
        let conversation = self.template_conversation(who, id).await?;
        if conversation.channel != Channel::Whatsapp {
            return Err(AppError::invalid(
                "template",
                "templates are sent on WhatsApp conversations only",
            ));
        }
        let account = self
            .template_account(who, conversation.agent_id, "conversation")
            .await?;
        let template = self
            .list_templates(&account)
            .await?
            .into_iter()
            .find(|t| t.name == name && t.language == language)
            .ok_or_else(|| {
                AppError::invalid(
                    "template",
                    format!("the business account has no template {name} in {language}"),
                )
            })?;
        if let Some(reason) = template.unsendable_reason() {
            return Err(AppError::invalid(
                "template",
                format!("{name} cannot be sent: {reason}"),
            ));
        }
        let mut parameters: Vec<String> = parameters
            .into_iter()
            .map(|p| p.trim().to_owned())
            .collect();
        let needed = template.parameter_count();
        parameters.truncate(needed);
        let mut errors = Errors::default();
        for i in 0..needed {
            if parameters.get(i).is_none_or(String::is_empty) {
                errors.add(
                    format!("parameters[{i}]"),
                    format!("{{{{{}}}}} needs a value", i + 1),
                );
            }
        }
        errors.into_result()?;

        let actor = who.actor();
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let mut conversation = tx
            .lock_conversation(who.organization_id, conversation.id)
            .await?
            .ok_or(AppError::not_found(Entity::Conversation, "conversation"))?;
        let queued = QueuedTemplate {
            channel: account.channel.id,
            agent_id: conversation.agent_id,
            template_name: template.name.clone(),
            language: template.language.clone(),
            text: template.filled_body(&parameters),
            parameters,
        };
        let message = queue_template(tx.as_mut(), &actor, &mut conversation, queued, now).await?;
        conversation.updated_at = now;
        tx.save_conversation(&conversation, now).await?;
        tx.commit().await?;
        Ok(message)
    }
}

fn bearer(token: &str) -> Vec<(String, String)> {
    vec![("authorization".into(), format!("Bearer {token}"))]
}
