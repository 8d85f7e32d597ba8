//! Conversation notes, and the claim of due reminders.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use stagecoach_domain::ids::{ConversationId, NoteId, OrganizationId};
use stagecoach_domain::note::Note;
use uuid::Uuid;

use crate::StoreError;
use crate::rows::{opt_time, time};

#[async_trait]
pub trait Notes {
    async fn insert_note(&mut self, note: &Note) -> Result<(), StoreError>;
    /// The conversation's notes, oldest first.
    async fn list_notes(
        &mut self,
        org: OrganizationId,
        conversation: ConversationId,
    ) -> Result<Vec<Note>, StoreError>;
    async fn get_note(
        &mut self,
        org: OrganizationId,
        conversation: ConversationId,
        id: NoteId,
    ) -> Result<Option<Note>, StoreError>;
    /// Writes every field but the ids and the creation time.
    async fn save_note(&mut self, note: &Note) -> Result<(), StoreError>;
    async fn delete_note(
        &mut self,
        org: OrganizationId,
        conversation: ConversationId,
        id: NoteId,
    ) -> Result<bool, StoreError>;
    /// Marks up to `limit` due reminders announced at `now` and answers them (every
    /// organization's: this is the worker's view). Concurrent claimers never get the same
    /// note, and a claim that is rolled back leaves its notes to the next one.
    async fn take_due_reminders(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Note>, StoreError>;
}

crate::sql::row_struct! {
    pub(crate) struct NoteRow {
        id: Uuid,
        organization_id: Uuid,
        conversation_id: Uuid,
        note: String,
        is_private: bool,
        is_justification: bool,
        author: String,
        author_email: String,
        remind_at: Option<i64>,
        reminded_at: Option<i64>,
        created_at: i64,
        updated_at: i64,
    }
}

impl NoteRow {
    pub(crate) fn into_domain(self) -> Result<Note, StoreError> {
        Ok(Note {
            id: NoteId(self.id),
            organization_id: OrganizationId(self.organization_id),
            conversation_id: ConversationId(self.conversation_id),
            text: self.note,
            is_private: self.is_private,
            is_justification: self.is_justification,
            author: self.author,
            author_email: self.author_email,
            remind_at: opt_time(self.remind_at)?,
            reminded_at: opt_time(self.reminded_at)?,
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
        })
    }
}

/// The one statement where the engines differ: PostgreSQL skips notes another worker has
/// locked; SQLite has a single writer.
pub(crate) const TAKE_REMINDERS_SQLITE: &str = "UPDATE conversation_notes SET reminded_at = $1 \
     WHERE id IN (SELECT id FROM conversation_notes \
     WHERE remind_at IS NOT NULL AND reminded_at IS NULL AND remind_at <= $1 \
     ORDER BY remind_at LIMIT $2) RETURNING *";
pub(crate) const TAKE_REMINDERS_POSTGRES: &str = "UPDATE conversation_notes SET reminded_at = $1 \
     WHERE id IN (SELECT id FROM conversation_notes \
     WHERE remind_at IS NOT NULL AND reminded_at IS NULL AND remind_at <= $1 \
     ORDER BY remind_at LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED) RETURNING *";

macro_rules! impl_notes {
    ($tx:ty, take_sql = $take:expr) => {
        #[async_trait::async_trait]
        impl $crate::repos::notes::Notes for $tx {
            async fn insert_note(
                &mut self,
                n: &stagecoach_domain::note::Note,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO conversation_notes (id, organization_id, conversation_id, note, is_private, \
                     is_justification, author, author_email, remind_at, reminded_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(n.id.0)
                .bind(n.organization_id.0)
                .bind(n.conversation_id.0)
                .bind(&n.text)
                .bind(n.is_private)
                .bind(n.is_justification)
                .bind(&n.author)
                .bind(&n.author_email)
                .bind(n.remind_at.map($crate::rows::millis))
                .bind(n.reminded_at.map($crate::rows::millis))
                .bind($crate::rows::millis(n.created_at))
                .bind($crate::rows::millis(n.updated_at))
                .execute(self.conn())
                .await?;
                self.note_change($crate::changes::Change::Conversation(n.organization_id, n.conversation_id));
                Ok(())
            }

            async fn list_notes(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: stagecoach_domain::ids::ConversationId,
            ) -> Result<Vec<stagecoach_domain::note::Note>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::notes::NoteRow>(
                    "SELECT * FROM conversation_notes WHERE organization_id = $1 AND conversation_id = $2 \
                     ORDER BY created_at, id",
                )
                .bind(org.0)
                .bind(conversation.0)
                .fetch_all(self.conn())
                .await?;
                rows.into_iter().map(|r| r.into_domain()).collect()
            }

            async fn get_note(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: stagecoach_domain::ids::ConversationId,
                id: stagecoach_domain::ids::NoteId,
            ) -> Result<Option<stagecoach_domain::note::Note>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::notes::NoteRow>(
                    "SELECT * FROM conversation_notes WHERE organization_id = $1 AND conversation_id = $2 AND id = $3",
                )
                .bind(org.0)
                .bind(conversation.0)
                .bind(id.0)
                .fetch_optional(self.conn())
                .await?
                .map(|r| r.into_domain())
                .transpose()
            }

            async fn save_note(
                &mut self,
                n: &stagecoach_domain::note::Note,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "UPDATE conversation_notes SET note = $3, is_private = $4, is_justification = $5, \
                     remind_at = $6, reminded_at = $7, updated_at = $8 WHERE organization_id = $1 AND id = $2",
                )
                .bind(n.organization_id.0)
                .bind(n.id.0)
                .bind(&n.text)
                .bind(n.is_private)
                .bind(n.is_justification)
                .bind(n.remind_at.map($crate::rows::millis))
                .bind(n.reminded_at.map($crate::rows::millis))
                .bind($crate::rows::millis(n.updated_at))
                .execute(self.conn())
                .await?;
                self.note_change($crate::changes::Change::Conversation(n.organization_id, n.conversation_id));
                Ok(())
            }

            async fn delete_note(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: stagecoach_domain::ids::ConversationId,
                id: stagecoach_domain::ids::NoteId,
            ) -> Result<bool, $crate::StoreError> {
                let done = $crate::sql::query(
                    "DELETE FROM conversation_notes WHERE organization_id = $1 AND conversation_id = $2 AND id = $3",
                )
                .bind(org.0)
                .bind(conversation.0)
                .bind(id.0)
                .execute(self.conn())
                .await?;
                self.note_change($crate::changes::Change::Conversation(org, conversation));
                Ok(done.rows_affected() == 1)
            }

            async fn take_due_reminders(
                &mut self,
                now: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> Result<Vec<stagecoach_domain::note::Note>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::notes::NoteRow>($take)
                    .bind($crate::rows::millis(now))
                    .bind(limit)
                    .fetch_all(self.conn())
                    .await?;
                rows.into_iter().map(|r| r.into_domain()).collect()
            }
        }
    };
}
pub(crate) use impl_notes;
