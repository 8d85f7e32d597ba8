//! Working a conversation directly: status, priority, AI, assignees, messages logged from
//! elsewhere, listing and deleting. Every change is recorded in the timeline with its actor.

use serde_json::json;
use stagecoach_domain::conversation::{Conversation, Message};

use stagecoach_domain::enums::{ConversationStatus, MessageDirection, Priority};
use stagecoach_domain::ids::{ConversationId, MembershipId, MessageId};
use stagecoach_domain::organization::Membership;
use stagecoach_storage::{ConversationFilter, Transaction};

use crate::conversations::detail_of;
use crate::crm::{find_conversation, lock_conversation};
use crate::{AppError, ConversationDetail, Entity, Principal, Stagecoach};

/// Who a conversation is assigned to, as a request names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeRef {
    Email(String),
    Membership(Option<MembershipId>),
}

/// The largest page of conversations.
pub const MAX_CONVERSATION_PAGE: i64 = 100;

impl Stagecoach {
    /// Conversations matching a filter, newest first, with their details.
    pub async fn list_conversations(
        &self,
        who: &Principal,
        filter: &ConversationFilter,
        limit: i64,
    ) -> Result<Vec<ConversationDetail>, AppError> {
        let mut tx = self.store.begin_read().await?;
        let conversations = tx
            .list_conversations(
                who.organization_id,
                filter,
                limit.clamp(1, MAX_CONVERSATION_PAGE),
            )
            .await?;
        let mut details = Vec::with_capacity(conversations.len());
        for conversation in conversations {
            details.push(detail_of(tx.as_mut(), conversation).await?);
        }
        Ok(details)
    }

    /// Deletes a conversation with its messages, board links, stays and timeline.
    pub async fn delete_conversation(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
    ) -> Result<(), AppError> {
        let mut tx = self.store.begin_write().await?;
        let conversation = find_conversation(tx.as_mut(), who, id).await?;
        tx.delete_conversation(who.organization_id, conversation.id)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_status(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
        status: ConversationStatus,
    ) -> Result<Conversation, AppError> {
        self.change(who, id, "status", json!(status), |c| c.status = status)
            .await
    }

    pub async fn set_priority(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
        priority: Priority,
    ) -> Result<Conversation, AppError> {
        self.change(who, id, "priority", json!(priority), |c| {
            c.priority = priority
        })
        .await
    }

    pub async fn set_ai_enabled(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
        enabled: bool,
    ) -> Result<Conversation, AppError> {
        self.change(who, id, "aiEnabled", json!(enabled), |c| {
            c.ai_enabled = enabled
        })
        .await
    }

    /// Assigns a member. A conversation assigned to someone else is refused (409) unless
    /// `force`, which replaces the assignee.
    pub async fn assign(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
        assignee: AssigneeRef,
        force: bool,
    ) -> Result<Membership, AppError> {
        let mut tx = self.store.begin_write().await?;
        let member = find_member(tx.as_mut(), who, &assignee).await?;
        let mut conversation = lock_conversation(tx.as_mut(), who, id).await?;
        if !force && conversation.assignees.iter().any(|a| *a != member.id) {
            return Err(AppError::Conflict {
                field: "force",
                message:
                    "the conversation is assigned to someone else; send force: true to reassign it"
                        .into(),
            });
        }
        conversation.assignees = vec![member.id];
        self.record_change(
            tx.as_mut(),
            who,
            &mut conversation,
            "assignees",
            json!([member.id]),
        )
        .await?;
        tx.commit().await?;
        Ok(member)
    }

    pub async fn unassign(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
    ) -> Result<Conversation, AppError> {
        self.change(who, id, "assignees", json!([]), |c| c.assignees.clear())
            .await
    }

    /// Stores a message in the conversation's history without sending it anywhere (for
    /// events from other systems). It does not touch the 24-hour window nor run triggers.
    pub async fn register_message(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
        text: String,
        direction: MessageDirection,
    ) -> Result<Message, AppError> {
        let mut tx = self.store.begin_write().await?;
        let mut conversation = lock_conversation(tx.as_mut(), who, id).await?;
        let now = self.now();
        let message = Message {
            id: MessageId::new(),
            organization_id: who.organization_id,
            conversation_id: conversation.id,
            direction,
            text,
            attachments: Vec::new(),
            external_id: None,
            channel: conversation.channel,
            status: "registered".into(),
            author: Some(who.actor().label()),
            created_at: now,
        };
        tx.insert_message(&message).await?;
        conversation.last_message_at = Some(now);
        if direction == MessageDirection::Outbound {
            // Someone wrote to the contact elsewhere: the AI agent stops answering.
            self.silence_ai(tx.as_mut(), &mut conversation, &who.actor())
                .await?;
        }
        tx.save_conversation(&conversation, now).await?;
        tx.commit().await?;
        Ok(message)
    }

    /// The conversation's last `count` messages, oldest first.
    pub async fn last_messages(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
        count: i64,
    ) -> Result<(Conversation, Vec<Message>), AppError> {
        let mut tx = self.store.begin_read().await?;
        let conversation = find_conversation(tx.as_mut(), who, id).await?;
        let messages = tx
            .last_messages(who.organization_id, conversation.id, count)
            .await?;
        Ok((conversation, messages))
    }

    /// A page of the conversation's messages, oldest first: the last `count`, or the
    /// `count` before `before` (a message's time and id); and whether older ones exist.
    pub async fn message_page(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
        before: Option<(
            chrono::DateTime<chrono::Utc>,
            stagecoach_domain::ids::MessageId,
        )>,
        count: i64,
    ) -> Result<(Vec<stagecoach_domain::conversation::Message>, bool), AppError> {
        let mut tx = self.store.begin_read().await?;
        let conversation = find_conversation(tx.as_mut(), who, id).await?;
        let org = who.organization_id;
        // One more than asked: whether there is an older page.
        let mut messages = match before {
            Some(before) => {
                tx.messages_before_key(org, conversation.id, before, count + 1)
                    .await?
            }
            None => tx.last_messages(org, conversation.id, count + 1).await?,
        };
        let older = messages.len() as i64 > count;
        if older {
            messages.remove(0);
        }
        Ok((messages, older))
    }

    async fn change(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
        field: &'static str,
        value: serde_json::Value,
        apply: impl FnOnce(&mut Conversation),
    ) -> Result<Conversation, AppError> {
        let mut tx = self.store.begin_write().await?;
        let mut conversation = lock_conversation(tx.as_mut(), who, id).await?;
        apply(&mut conversation);
        self.record_change(tx.as_mut(), who, &mut conversation, field, value)
            .await?;
        tx.commit().await?;
        Ok(conversation)
    }
}

pub(crate) async fn find_member(
    tx: &mut dyn Transaction,
    who: &Principal,
    assignee: &AssigneeRef,
) -> Result<Membership, AppError> {
    let org = who.organization_id;
    match assignee {
        AssigneeRef::Email(email) => {
            let email = stagecoach_domain::organization::normalize_email(email)?;
            tx.find_membership_by_email(org, &email)
                .await?
                .ok_or(AppError::not_found(Entity::Membership, "email"))
        }
        AssigneeRef::Membership(id) => match id {
            Some(id) => tx.get_membership(org, *id).await?,
            None => None,
        }
        .ok_or(AppError::not_found(Entity::Membership, "membershipId")),
    }
}
