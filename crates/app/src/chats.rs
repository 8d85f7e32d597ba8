//! Conversations as chats (Texter's door): CRM data, properties, assignment, resolution,
//! labels, and the message history with free-text sending.

use serde_json::{Map, Value, json};
use stagecoach_domain::Patch;
use stagecoach_domain::contact::{Contact, normalize_phone};
use stagecoach_domain::conversation::{Conversation, Message};
use stagecoach_domain::crm_data::{self, MergeMode};
use stagecoach_domain::engine::effects::OutboundEffect;
use stagecoach_domain::engine::timeline::{Actor, Event};
use stagecoach_domain::enums::{Channel, ConversationStatus, MessageDirection};
use stagecoach_domain::ids::{ConversationId, MessageId, OutboxId};
use stagecoach_domain::organization::Membership;
use stagecoach_storage::{ChatSearch, Transaction};

use crate::inbox::{AssigneeRef, find_member};
use crate::{AppError, Entity, Principal, Stagecoach};

/// The default bound on a conversation's stored CRM data, serialized.
pub const DEFAULT_CRM_DATA_LIMIT: usize = 64 * 1024;

/// A conversation with what a chat shows beside it.
#[derive(Debug, Clone)]
pub struct ChatView {
    pub conversation: Conversation,
    pub contact: Option<Contact>,
    /// The first assignee.
    pub agent: Option<Membership>,
    pub last_message: Option<Message>,
}

/// How a request names a chat.
#[derive(Debug, Clone)]
pub enum ChatRef {
    Id(Option<ConversationId>),
    /// The contact's phone number (any spelling), optionally on one channel.
    Phone {
        phone: String,
        channel: Option<Channel>,
    },
}

/// A change of a chat's properties; `crm_data` replaces the CRM data wholesale.
#[derive(Debug, Clone, Default)]
pub struct ChatPatch {
    pub display_name: Patch<String>,
    pub external_bot: Option<bool>,
    pub crm_data: Option<Map<String, Value>>,
    pub crm_deep_link: Patch<String>,
}

/// A change of a chat's labels: exactly one of these.
#[derive(Debug, Clone)]
pub enum LabelChange {
    Add(Vec<String>),
    Remove(Vec<String>),
    Set(Vec<String>),
}

impl Stagecoach {
    pub async fn chat(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
    ) -> Result<ChatView, AppError> {
        let mut tx = self.store.begin_read().await?;
        let conversation = find(tx.as_mut(), who, id, false).await?;
        chat_view(tx.as_mut(), conversation).await
    }

    /// A page of chats, newest last message first, and how many match.
    pub async fn search_chats(
        &self,
        who: &Principal,
        search: &ChatSearch,
        skip: i64,
        limit: i64,
    ) -> Result<(Vec<ChatView>, i64), AppError> {
        let mut tx = self.store.begin_read().await?;
        let (conversations, total) = tx
            .search_conversations(who.organization_id, search, skip, limit)
            .await?;
        let mut chats = Vec::with_capacity(conversations.len());
        for conversation in conversations {
            chats.push(chat_view(tx.as_mut(), conversation).await?);
        }
        Ok((chats, total))
    }

    /// Applies `data` to the chat's CRM data in `mode`. The conversation is locked for the
    /// read-modify-write, so concurrent updates never lose each other's keys.
    pub async fn update_crm_data(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
        mode: MergeMode,
        data: Map<String, Value>,
    ) -> Result<ChatView, AppError> {
        let mut tx = self.store.begin_write().await?;
        let mut conversation = find(tx.as_mut(), who, id, true).await?;
        let updated = crm_data::apply(mode, &conversation.crm_data, &data);
        self.check_crm_data_size(&updated)?;
        self.write_crm_data(tx.as_mut(), who, &mut conversation, mode, updated)
            .await?;
        let view = chat_view(tx.as_mut(), conversation).await?;
        tx.commit().await?;
        Ok(view)
    }

    pub async fn patch_chat(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
        patch: ChatPatch,
    ) -> Result<ChatView, AppError> {
        let mut tx = self.store.begin_write().await?;
        let mut conversation = find(tx.as_mut(), who, id, true).await?;
        let now = self.now();
        let actor = who.actor();
        if let Patch::Set(name) = &patch.display_name
            && name.chars().count() > 255
        {
            return Err(AppError::invalid(
                "displayName",
                "must be at most 255 characters",
            ));
        }
        if let Some(data) = &patch.crm_data {
            self.check_crm_data_size(data)?;
        }
        conversation.title = patch.display_name.apply(conversation.title.take());
        conversation.crm_deep_link = patch.crm_deep_link.apply(conversation.crm_deep_link.take());
        if let Some(external) = patch
            .external_bot
            .filter(|e| *e != conversation.external_bot)
        {
            conversation.external_bot = external;
            let event = Event::ConversationUpdated {
                field: "externalBot",
                value: json!(external),
            };
            tx.append_event(who.organization_id, conversation.id, &event, &actor, now)
                .await?;
            self.emit(
                tx.as_mut(),
                &conversation,
                "chat.external_bot.updated",
                &actor,
                json!({"externalBot": external}),
            )
            .await?;
        }
        conversation.updated_at = now;
        match patch.crm_data {
            Some(data) => {
                self.write_crm_data(
                    tx.as_mut(),
                    who,
                    &mut conversation,
                    MergeMode::Replace,
                    data,
                )
                .await?
            }
            None => tx.save_conversation(&conversation, now).await?,
        }
        let view = chat_view(tx.as_mut(), conversation).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Assigns a chat to a member; the chat then waits for that person (HUMAN_REQUESTED,
    /// AI off), which Texter shows as PENDING.
    pub async fn assign_chat(
        &self,
        who: &Principal,
        chat: ChatRef,
        assignee: AssigneeRef,
    ) -> Result<(), AppError> {
        let mut tx = self.store.begin_write().await?;
        let member = find_member(tx.as_mut(), who, &assignee).await?;
        let mut conversation = resolve_chat_ref(tx.as_mut(), who, chat).await?;
        conversation.assignees = vec![member.id];
        conversation.status = ConversationStatus::HumanRequested;
        conversation.ai_enabled = false;
        self.record_change(
            tx.as_mut(),
            who,
            &mut conversation,
            "assignees",
            json!([member.id]),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Resolves a chat and hands it back to the bot: assignees cleared, AI on, so the
    /// contact's next message is answered by the AI agent.
    pub async fn resolve_chat(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
    ) -> Result<(), AppError> {
        let mut tx = self.store.begin_write().await?;
        let mut conversation = find(tx.as_mut(), who, id, true).await?;
        conversation.status = ConversationStatus::Resolved;
        conversation.assignees.clear();
        conversation.ai_enabled = true;
        self.record_change(
            tx.as_mut(),
            who,
            &mut conversation,
            "status",
            json!(ConversationStatus::Resolved),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds, removes or sets the chat's labels (its tags).
    pub async fn change_labels(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
        change: LabelChange,
    ) -> Result<(), AppError> {
        let mut tx = self.store.begin_write().await?;
        let mut conversation = find(tx.as_mut(), who, id, true).await?;
        match change {
            LabelChange::Add(labels) => {
                for label in labels {
                    if !conversation.tags.contains(&label) {
                        conversation.tags.push(label);
                    }
                }
            }
            LabelChange::Remove(labels) => conversation.tags.retain(|t| !labels.contains(t)),
            LabelChange::Set(labels) => {
                conversation.tags.clear();
                for label in labels {
                    if !conversation.tags.contains(&label) {
                        conversation.tags.push(label);
                    }
                }
            }
        }
        let tags = json!(conversation.tags);
        self.record_change(tx.as_mut(), who, &mut conversation, "tags", tags.clone())
            .await?;
        let actor = who.actor();
        self.emit(
            tx.as_mut(),
            &conversation,
            "chat.labels.updated",
            &actor,
            json!({"labels": tags}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` messages at or before a cursor message, oldest first, with the times
    /// of the chat's first and last messages.
    pub async fn chat_messages(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
        before: (chrono::DateTime<chrono::Utc>, Option<MessageId>),
        limit: i64,
    ) -> Result<ChatMessages, AppError> {
        let mut tx = self.store.begin_read().await?;
        let conversation = find(tx.as_mut(), who, id, false).await?;
        let org = who.organization_id;
        let messages = tx
            .messages_before(org, conversation.id, before.0, before.1, limit)
            .await?;
        let (min_time, max_time) = tx.message_time_range(org, conversation.id).await?;
        Ok(ChatMessages {
            conversation,
            messages,
            min_time,
            max_time,
        })
    }

    /// The conversation a message addressed to a contact's phone or e-mail goes to: the
    /// contact's most recent one on `channel`.
    pub async fn conversation_for_contact(
        &self,
        who: &Principal,
        phone: Option<&str>,
        email: Option<&str>,
        channel: Channel,
    ) -> Result<ConversationId, AppError> {
        let org = who.organization_id;
        let mut tx = self.store.begin_read().await?;
        let contact = match (phone, email) {
            (Some(phone), _) => {
                let organization = tx
                    .get_organization(org)
                    .await?
                    .ok_or(AppError::not_found(Entity::Organization, "organization"))?;
                let normalized =
                    normalize_phone(phone, organization.default_calling_code.as_deref())
                        .ok_or_else(|| AppError::invalid("value", "is not a phone number"))?;
                tx.find_contact_by_phone(org, &normalized).await?
            }
            (None, Some(email)) => tx.find_contact_by_email(org, email.trim()).await?,
            (None, None) => None,
        }
        .ok_or(AppError::not_found(Entity::Contact, "value"))?;
        let conversation = tx
            .latest_conversation(org, contact.id, channel)
            .await?
            .ok_or(AppError::not_found(Entity::Conversation, "value"))?;
        Ok(conversation.id)
    }

    /// Queues a free-text message to the contact, refused outside the 24-hour window.
    pub async fn send_text(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
        text: String,
    ) -> Result<Message, AppError> {
        let mut tx = self.store.begin_write().await?;
        let mut conversation = find(tx.as_mut(), who, id, true).await?;
        let now = self.now();
        if !conversation.can_send_free_text(now) {
            return Err(AppError::WindowClosed);
        }
        self.require_sending_channel(tx.as_mut(), &conversation)
            .await?;
        let actor = who.actor();
        let message = outbound_message(&conversation, text, &actor, now);
        // A person writing takes the conversation over from the AI agent.
        self.silence_ai(tx.as_mut(), &mut conversation, &actor)
            .await?;
        self.queue_session_message(tx.as_mut(), &mut conversation, &message, &actor)
            .await?;
        conversation.updated_at = now;
        tx.save_conversation(&conversation, now).await?;
        tx.commit().await?;
        Ok(message)
    }

    /// Stores a message to the contact and queues it for the conversation's channel,
    /// noting it in the timeline. The caller saves the conversation.
    pub(crate) async fn queue_session_message(
        &self,
        tx: &mut dyn Transaction,
        conversation: &mut Conversation,
        message: &Message,
        actor: &Actor,
    ) -> Result<(), AppError> {
        let org = conversation.organization_id;
        let now = message.created_at;
        tx.insert_message(message).await?;
        let outbox_id = OutboxId::new();
        let effect = OutboundEffect::SessionMessage {
            conversation_id: conversation.id,
            message_id: message.id,
            channel: conversation.channel,
            text: message.text.clone(),
        };
        tx.enqueue(org, Some(conversation.id), outbox_id, &effect, now)
            .await?;
        conversation.last_message_at = Some(now);
        let event = Event::MessageQueued {
            message_id: message.id,
            outbox_id,
        };
        tx.append_event(org, conversation.id, &event, actor, now)
            .await?;
        Ok(())
    }

    fn check_crm_data_size(&self, data: &Map<String, Value>) -> Result<(), AppError> {
        let size = serde_json::to_string(data)
            .map(|s| s.len())
            .unwrap_or(usize::MAX);
        if size > self.crm_data_limit {
            return Err(AppError::invalid(
                "data",
                format!(
                    "would make the chat's CRM data {size} bytes, over the limit of {} bytes; nothing was changed",
                    self.crm_data_limit
                ),
            ));
        }
        Ok(())
    }

    async fn write_crm_data(
        &self,
        tx: &mut dyn Transaction,
        who: &Principal,
        conversation: &mut Conversation,
        mode: MergeMode,
        data: Map<String, Value>,
    ) -> Result<(), AppError> {
        let now = self.now();
        let changed = crm_data::changed_keys(&conversation.crm_data, &data);
        conversation.crm_data = data;
        conversation.updated_at = now;
        tx.save_conversation(conversation, now).await?;
        if changed.is_empty() {
            return Ok(());
        }
        let actor = who.actor();
        let event = Event::CrmDataUpdated {
            mode,
            changed_keys: changed.clone(),
        };
        tx.append_event(who.organization_id, conversation.id, &event, &actor, now)
            .await?;
        self.emit(
            tx,
            conversation,
            "chat.crm_data.updated",
            &actor,
            json!({"mode": mode, "changedKeys": changed}),
        )
        .await
    }
}

/// A page of a chat's messages.
#[derive(Debug, Clone)]
pub struct ChatMessages {
    pub conversation: Conversation,
    pub messages: Vec<Message>,
    pub min_time: Option<chrono::DateTime<chrono::Utc>>,
    pub max_time: Option<chrono::DateTime<chrono::Utc>>,
}

async fn find(
    tx: &mut dyn Transaction,
    who: &Principal,
    id: Option<ConversationId>,
    lock: bool,
) -> Result<Conversation, AppError> {
    let org = who.organization_id;
    match (id, lock) {
        (Some(id), true) => tx.lock_conversation(org, id).await?,
        (Some(id), false) => tx.get_conversation(org, id).await?,
        (None, _) => None,
    }
    .ok_or(AppError::not_found(Entity::Conversation, "chatId"))
}

async fn resolve_chat_ref(
    tx: &mut dyn Transaction,
    who: &Principal,
    chat: ChatRef,
) -> Result<Conversation, AppError> {
    let org = who.organization_id;
    match chat {
        ChatRef::Id(id) => find(tx, who, id, true).await,
        ChatRef::Phone { phone, channel } => {
            let code = tx
                .get_organization(org)
                .await?
                .and_then(|o| o.default_calling_code);
            let phone = normalize_phone(&phone, code.as_deref())
                .ok_or_else(|| AppError::invalid("phone", "is not a phone number"))?;
            let contact = tx
                .find_contact_by_phone(org, &phone)
                .await?
                .ok_or(AppError::not_found(Entity::Conversation, "phone"))?;
            let channels: Vec<Channel> = match channel {
                Some(channel) => vec![channel],
                None => Channel::ALL.to_vec(),
            };
            let mut latest: Option<Conversation> = None;
            for channel in channels {
                if let Some(c) = tx.latest_conversation(org, contact.id, channel).await?
                    && latest.as_ref().is_none_or(|l| c.created_at > l.created_at)
                {
                    latest = Some(c);
                }
            }
            let latest = latest.ok_or(AppError::not_found(Entity::Conversation, "phone"))?;
            find(tx, who, Some(latest.id), true).await
        }
    }
}

async fn chat_view(
    tx: &mut dyn Transaction,
    conversation: Conversation,
) -> Result<ChatView, AppError> {
    let org = conversation.organization_id;
    let contact = tx.get_contact(org, conversation.contact_id).await?;
    let agent = match conversation.assignees.first() {
        Some(member) => tx.get_membership(org, *member).await?,
        None => None,
    };
    let last_message = tx.last_messages(org, conversation.id, 1).await?.pop();
    Ok(ChatView {
        conversation,
        contact,
        agent,
        last_message,
    })
}

/// A message to the conversation's contact written by `author`, queued but not stored yet.
pub(crate) fn outbound_message(
    conversation: &Conversation,
    text: String,
    author: &Actor,
    now: chrono::DateTime<chrono::Utc>,
) -> Message {
    Message {
        id: MessageId::new(),
        organization_id: conversation.organization_id,
        conversation_id: conversation.id,
        direction: MessageDirection::Outbound,
        text,
        attachments: Vec::new(),
        external_id: None,
        channel: conversation.channel,
        status: "queued".into(),
        author: Some(author.label()),
        created_at: now,
    }
}
