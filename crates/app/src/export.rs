//! Conversations with their messages, read page by page for a streamed export (the whole
//! result is never held) and for the paged history.

use chrono::{DateTime, Utc};
use stagecoach_domain::contact::Contact;
use stagecoach_domain::conversation::{Conversation, Message};
use stagecoach_domain::ids::{ConversationId, MessageId};
use stagecoach_storage::ConversationFilter;

use crate::Stagecoach;
use crate::auth::Principal;
use crate::crm::find_conversation;
use crate::error::AppError;

/// A conversation as an export shows it: with its contact.
#[derive(Debug, Clone)]
pub struct ExportedConversation {
    pub conversation: Conversation,
    pub contact: Option<Contact>,
}

/// A conversation with its latest messages, oldest first.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub conversation: ExportedConversation,
    pub messages: Vec<Message>,
}

impl Stagecoach {
    /// Up to `limit` conversations matching `filter`, newest first, with their contacts;
    /// `filter.before` continues after a previous page.
    pub async fn export_page(
        &self,
        who: &Principal,
        filter: &ConversationFilter,
        limit: i64,
    ) -> Result<Vec<ExportedConversation>, AppError> {
        let org = who.organization_id;
        let mut tx = self.store.begin_read().await?;
        let conversations = tx.list_conversations(org, filter, limit).await?;
        let mut page = Vec::with_capacity(conversations.len());
        for conversation in conversations {
            let contact = tx.get_contact(org, conversation.contact_id).await?;
            page.push(ExportedConversation {
                conversation,
                contact,
            });
        }
        Ok(page)
    }

    /// One conversation with its contact, for a single export.
    pub async fn export_conversation(
        &self,
        who: &Principal,
        id: Option<ConversationId>,
    ) -> Result<ExportedConversation, AppError> {
        let mut tx = self.store.begin_read().await?;
        let conversation = find_conversation(tx.as_mut(), who, id).await?;
        let contact = tx
            .get_contact(who.organization_id, conversation.contact_id)
            .await?;
        Ok(ExportedConversation {
            conversation,
            contact,
        })
    }

    /// Up to `limit` of the conversation's messages after `after` (from the first when
    /// `None`), oldest first.
    pub async fn export_messages(
        &self,
        who: &Principal,
        conversation: ConversationId,
        after: Option<(DateTime<Utc>, MessageId)>,
        limit: i64,
    ) -> Result<Vec<Message>, AppError> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx
            .messages_after_key(who.organization_id, conversation, after, limit)
            .await?)
    }

    /// A page of conversations (newest first) with the last `messages` messages of each.
    pub async fn conversation_history(
        &self,
        who: &Principal,
        filter: &ConversationFilter,
        limit: i64,
        messages: i64,
    ) -> Result<Vec<HistoryEntry>, AppError> {
        let page = self.export_page(who, filter, limit).await?;
        let mut tx = self.store.begin_read().await?;
        let mut history = Vec::with_capacity(page.len());
        for conversation in page {
            let latest = tx
                .last_messages(who.organization_id, conversation.conversation.id, messages)
                .await?;
            history.push(HistoryEntry {
                conversation,
                messages: latest,
            });
        }
        Ok(history)
    }
}
