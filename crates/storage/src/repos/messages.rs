use async_trait::async_trait;
use serde_json::Value;
use stagecoach_domain::conversation::Message;
use stagecoach_domain::enums::{Channel, MessageDirection};
use stagecoach_domain::ids::{ConversationId, MessageId, OrganizationId};
use uuid::Uuid;

use crate::StoreError;
use crate::rows::{from_json, parse_enum, time};

#[async_trait]
pub trait Messages {
    /// Fails with [`StoreError::UniqueViolation`] when the channel already has a message
    /// with the same external id.
    async fn insert_message(&mut self, message: &Message) -> Result<(), StoreError>;
    async fn find_message_by_external_id(
        &mut self,
        org: OrganizationId,
        channel: Channel,
        external_id: &str,
    ) -> Result<Option<Message>, StoreError>;
    /// Records how sending a message went: its status and, once the provider named it,
    /// the provider's id. Returns whether the message exists.
    async fn set_message_status(
        &mut self,
        org: OrganizationId,
        id: MessageId,
        status: &str,
        external_id: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// Up to `limit` messages sent at or before `before_time`, other than `before_id`,
    /// oldest first (the page before a cursor message).
    async fn messages_before(
        &mut self,
        org: OrganizationId,
        conversation: ConversationId,
        before_time: chrono::DateTime<chrono::Utc>,
        before_id: Option<MessageId>,
        limit: i64,
    ) -> Result<Vec<Message>, StoreError>;
    /// The times of the conversation's first and last messages.
    async fn message_time_range(
        &mut self,
        org: OrganizationId,
        conversation: ConversationId,
    ) -> Result<
        (
            Option<chrono::DateTime<chrono::Utc>>,
            Option<chrono::DateTime<chrono::Utc>>,
        ),
        StoreError,
    >;
    /// The conversation's last `count` messages, oldest first.
    async fn last_messages(
        &mut self,
        org: OrganizationId,
        conversation: ConversationId,
        count: i64,
    ) -> Result<Vec<Message>, StoreError>;
    /// Up to `count` messages strictly before `before` (time, then id), newest of them
    /// last: a page of a conversation's history.
    async fn messages_before_key(
        &mut self,
        org: OrganizationId,
        conversation: ConversationId,
        before: (
            chrono::DateTime<chrono::Utc>,
            stagecoach_domain::ids::MessageId,
        ),
        count: i64,
    ) -> Result<Vec<Message>, StoreError>;
    /// Up to `count` messages strictly after `after` (time, then id; from the first when
    /// `None`), oldest first: a page of an export.
    async fn messages_after_key(
        &mut self,
        org: OrganizationId,
        conversation: ConversationId,
        after: Option<(
            chrono::DateTime<chrono::Utc>,
            stagecoach_domain::ids::MessageId,
        )>,
        count: i64,
    ) -> Result<Vec<Message>, StoreError>;
    /// The last message of each of these conversations that has one.
    async fn latest_message_of_each(
        &mut self,
        org: OrganizationId,
        conversations: &[ConversationId],
    ) -> Result<Vec<Message>, StoreError>;
}

crate::sql::row_struct! {
    pub(crate) struct MessageRow {
        id: Uuid,
        organization_id: Uuid,
        conversation_id: Uuid,
        direction: String,
        text: String,
        attachments: String,
        external_id: Option<String>,
        channel: String,
        status: String,
        created_at: i64,
        author: Option<String>,
    }
}

impl MessageRow {
    pub(crate) fn into_domain(self) -> Result<Message, StoreError> {
        let attachments: Option<Vec<Value>> = from_json("attachments", Some(self.attachments))?;
        Ok(Message {
            id: MessageId(self.id),
            organization_id: OrganizationId(self.organization_id),
            conversation_id: ConversationId(self.conversation_id),
            direction: parse_enum("direction", &self.direction, MessageDirection::parse)?,
            text: self.text,
            attachments: attachments.unwrap_or_default(),
            external_id: self.external_id,
            channel: parse_enum("channel", &self.channel, Channel::parse)?,
            status: self.status,
            author: self.author,
            created_at: time(self.created_at)?,
        })
    }
}

macro_rules! impl_messages {
    ($tx:ty) => {
        #[async_trait::async_trait]
        impl $crate::repos::messages::Messages for $tx {
            async fn insert_message(
                &mut self,
                m: &stagecoach_domain::conversation::Message,
            ) -> Result<(), $crate::StoreError> {
                self.note_change($crate::changes::Change::Conversation(m.organization_id, m.conversation_id));
                $crate::sql::query(
                    "INSERT INTO messages (id, organization_id, conversation_id, direction, text, \
                     attachments, external_id, channel, status, created_at, author) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(m.id.0)
                .bind(m.organization_id.0)
                .bind(m.conversation_id.0)
                .bind(m.direction.as_str())
                .bind(&m.text)
                .bind(serde_json::to_string(&m.attachments).expect("JSON values serialize"))
                .bind(&m.external_id)
                .bind(m.channel.as_str())
                .bind(&m.status)
                .bind($crate::rows::millis(m.created_at))
                .bind(&m.author)
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn set_message_status(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::MessageId,
                status: &str,
                external_id: Option<&str>,
            ) -> Result<bool, $crate::StoreError> {
                let conversation: Option<uuid::Uuid> = $crate::sql::query_scalar(
                    "UPDATE messages SET status = $3, external_id = COALESCE($4, external_id) \
                     WHERE organization_id = $1 AND id = $2 RETURNING conversation_id",
                )
                .bind(org.0)
                .bind(id.0)
                .bind(status)
                .bind(external_id)
                .fetch_optional(self.conn())
                .await?;
                if let Some(conversation) = conversation {
                    self.note_change($crate::changes::Change::Conversation(org, stagecoach_domain::ids::ConversationId(conversation)));
                }
                Ok(conversation.is_some())
            }

            async fn find_message_by_external_id(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                channel: stagecoach_domain::enums::Channel,
                external_id: &str,
            ) -> Result<Option<stagecoach_domain::conversation::Message>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::messages::MessageRow>(
                    "SELECT * FROM messages WHERE organization_id = $1 AND channel = $2 AND external_id = $3",
                )
                .bind(org.0)
                .bind(channel.as_str())
                .bind(external_id)
                .fetch_optional(self.conn())
                .await?
                .map(|row| row.into_domain())
                .transpose()
            }

            async fn messages_before(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: stagecoach_domain::ids::ConversationId,
                before_time: chrono::DateTime<chrono::Utc>,
                before_id: Option<stagecoach_domain::ids::MessageId>,
                limit: i64,
            ) -> Result<Vec<stagecoach_domain::conversation::Message>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::messages::MessageRow>(
                    "SELECT * FROM messages WHERE organization_id = $1 AND conversation_id = $2 \
                     AND created_at <= $3 AND ($4 IS NULL OR id <> $4) \
                     ORDER BY created_at DESC, id DESC LIMIT $5",
                )
                .bind(org.0)
                .bind(conversation.0)
                .bind($crate::rows::millis(before_time))
                .bind(before_id.map(|m| m.0))
                .bind(limit)
                .fetch_all(self.conn())
                .await?;
                let mut messages = rows.into_iter().map(|r| r.into_domain()).collect::<Result<Vec<_>, _>>()?;
                messages.reverse();
                Ok(messages)
            }

            async fn message_time_range(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: stagecoach_domain::ids::ConversationId,
            ) -> Result<(Option<chrono::DateTime<chrono::Utc>>, Option<chrono::DateTime<chrono::Utc>>), $crate::StoreError> {
                let (min, max): (Option<i64>, Option<i64>) = $crate::sql::query_as(
                    "SELECT MIN(created_at), MAX(created_at) FROM messages WHERE organization_id = $1 AND conversation_id = $2",
                )
                .bind(org.0)
                .bind(conversation.0)
                .fetch_one(self.conn())
                .await?;
                Ok(($crate::rows::opt_time(min)?, $crate::rows::opt_time(max)?))
            }

            async fn last_messages(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: stagecoach_domain::ids::ConversationId,
                count: i64,
            ) -> Result<Vec<stagecoach_domain::conversation::Message>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::messages::MessageRow>(
                    "SELECT * FROM messages WHERE organization_id = $1 AND conversation_id = $2 \
                     ORDER BY created_at DESC, id DESC LIMIT $3",
                )
                .bind(org.0)
                .bind(conversation.0)
                .bind(count)
                .fetch_all(self.conn())
                .await?;
                let mut messages = rows.into_iter().map(|r| r.into_domain()).collect::<Result<Vec<_>, _>>()?;
                messages.reverse();
                Ok(messages)
            }

            async fn messages_before_key(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: stagecoach_domain::ids::ConversationId,
                before: (chrono::DateTime<chrono::Utc>, stagecoach_domain::ids::MessageId),
                count: i64,
            ) -> Result<Vec<stagecoach_domain::conversation::Message>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::messages::MessageRow>(
                    "SELECT * FROM messages WHERE organization_id = $1 AND conversation_id = $2 \
                     AND (created_at < $3 OR (created_at = $3 AND id < $4)) \
                     ORDER BY created_at DESC, id DESC LIMIT $5",
                )
                .bind(org.0)
                .bind(conversation.0)
                .bind($crate::rows::millis(before.0))
                .bind(before.1.0)
                .bind(count)
                .fetch_all(self.conn())
                .await?;
                let mut messages = rows.into_iter().map(|r| r.into_domain()).collect::<Result<Vec<_>, _>>()?;
                messages.reverse();
                Ok(messages)
            }

            async fn messages_after_key(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: stagecoach_domain::ids::ConversationId,
                after: Option<(chrono::DateTime<chrono::Utc>, stagecoach_domain::ids::MessageId)>,
                count: i64,
            ) -> Result<Vec<stagecoach_domain::conversation::Message>, $crate::StoreError> {
                let mut qb = $crate::sql::QueryBuilder::new("SELECT * FROM messages WHERE organization_id = ");
                qb.push_bind(org.0).push(" AND conversation_id = ").push_bind(conversation.0);
                if let Some((at, id)) = after {
                    let at = $crate::rows::millis(at);
                    qb.push(" AND (created_at > ").push_bind(at)
                        .push(" OR (created_at = ").push_bind(at)
                        .push(" AND id > ").push_bind(id.0).push("))");
                }
                qb.push(" ORDER BY created_at, id LIMIT ").push_bind(count);
                let rows: Vec<$crate::repos::messages::MessageRow> = qb.build_query_as().fetch_all(self.conn()).await?;
                rows.into_iter().map(|r| r.into_domain()).collect()
            }

            async fn latest_message_of_each(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversations: &[stagecoach_domain::ids::ConversationId],
            ) -> Result<Vec<stagecoach_domain::conversation::Message>, $crate::StoreError> {
                if conversations.is_empty() {
                    return Ok(Vec::new());
                }
                // One index probe per conversation (messages_conversation), not a scan of
                // their whole histories.
                let mut qb = $crate::sql::QueryBuilder::new(
                    "SELECT * FROM messages WHERE id IN (SELECT (SELECT m.id FROM messages m \
                     WHERE m.conversation_id = v.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1) \
                     FROM conversations v WHERE v.organization_id = ",
                );
                qb.push_bind(org.0).push(" AND v.id IN ");
                $crate::repos::push_list!(qb, conversations.iter().map(|c| c.0));
                qb.push(")");
                let rows: Vec<$crate::repos::messages::MessageRow> = qb.build_query_as().fetch_all(self.conn()).await?;
                rows.into_iter().map(|r| r.into_domain()).collect()
            }
        }
    };
}
pub(crate) use impl_messages;
