//! Conversation notes: written, changed and deleted by their author, shown to everyone
//! unless private, and, with a reminder time, announced once when it falls due
//! (`conversation.note_reminder_due`), whichever node's worker gets there first.

use chrono::{DateTime, Utc};
use serde_json::json;
use stagecoach_domain::engine::timeline::{Actor, Event};
use stagecoach_domain::error::Errors;
use stagecoach_domain::ids::{ConversationId, NoteId};
use stagecoach_domain::note::{self, Note, NotePatch};
use stagecoach_domain::scope::{Area, Requirement, Scope};
use stagecoach_storage::Transaction;

use crate::Stagecoach;
use crate::auth::Principal;
use crate::crm::{find_conversation, lock_conversation};
use crate::error::{AppError, Entity};

/// A note to write.
#[derive(Debug, Clone)]
pub struct NewNote {
    pub text: String,
    pub is_private: bool,
    pub is_justification: bool,
    pub remind_at: Option<DateTime<Utc>>,
}

/// What the timeline shows of a note: its text unless it is private.
fn shown_text(note: &Note) -> Option<String> {
    (!note.is_private).then(|| note.text.clone())
}

impl Stagecoach {
    /// The conversation's notes the caller may see (every public note, and its own
    /// private ones), oldest first.
    pub async fn list_notes(
        &self,
        who: &Principal,
        conversation: Option<ConversationId>,
    ) -> Result<Vec<Note>, AppError> {
        let mut tx = self.store.begin_read().await?;
        let conversation = find_conversation(tx.as_mut(), who, conversation).await?;
        let reader = who.actor().label();
        let notes = tx.list_notes(who.organization_id, conversation.id).await?;
        Ok(notes
            .into_iter()
            .filter(|n| n.visible_to(&reader))
            .collect())
    }

    pub async fn create_note(
        &self,
        who: &Principal,
        conversation: Option<ConversationId>,
        new: NewNote,
    ) -> Result<Note, AppError> {
        let now = self.now();
        let mut errors = Errors::default();
        let text = note::clean_text(&new.text).unwrap_or_else(|message| {
            errors.add("note", message);
            String::new()
        });
        if let Some(at) = new.remind_at
            && let Err(message) = note::check_reminder(at, now)
        {
            errors.add("notificationDateTime", message);
        }
        errors.into_result()?;
        if new.is_justification {
            // Chatvolt keeps justifications to administrators.
            who.require(Requirement::new(Scope::write(Area::Admin)))?;
        }
        let actor = who.actor();
        let mut tx = self.store.begin_write().await?;
        let conversation = lock_conversation(tx.as_mut(), who, conversation).await?;
        let author_email = match who.member {
            Some(member) => tx
                .get_membership(who.organization_id, member)
                .await?
                .map(|m| m.email)
                .unwrap_or_default(),
            None => String::new(),
        };
        let note = Note {
            id: NoteId::new(),
            organization_id: who.organization_id,
            conversation_id: conversation.id,
            text,
            is_private: new.is_private,
            is_justification: new.is_justification,
            author: actor.label(),
            author_email,
            remind_at: new.remind_at,
            reminded_at: None,
            created_at: now,
            updated_at: now,
        };
        tx.insert_note(&note).await?;
        let event = Event::NoteAdded {
            note_id: note.id,
            private: note.is_private,
            text: shown_text(&note),
            remind_at: note.remind_at,
        };
        tx.append_event(who.organization_id, conversation.id, &event, &actor, now)
            .await?;
        tx.commit().await?;
        Ok(note)
    }

    /// A note the caller wrote, locked with its conversation for a change. Another's
    /// note is refused (403) once it is known to exist and be visible; a private note of
    /// someone else's is not found.
    async fn own_note(
        &self,
        tx: &mut dyn Transaction,
        who: &Principal,
        conversation: Option<ConversationId>,
        id: Option<NoteId>,
    ) -> Result<Note, AppError> {
        let conversation = lock_conversation(tx, who, conversation).await?;
        let author = who.actor().label();
        let note = match id {
            Some(id) => {
                tx.get_note(who.organization_id, conversation.id, id)
                    .await?
            }
            None => None,
        }
        .filter(|n| n.visible_to(&author))
        .ok_or(AppError::not_found(Entity::Note, "noteId"))?;
        if note.author != author {
            return Err(AppError::Forbidden(
                "only the note's author may change or delete it".into(),
            ));
        }
        Ok(note)
    }

    pub async fn update_note(
        &self,
        who: &Principal,
        conversation: Option<ConversationId>,
        id: Option<NoteId>,
        patch: NotePatch,
    ) -> Result<Note, AppError> {
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let note = self.own_note(tx.as_mut(), who, conversation, id).await?;
        let note = note.patched(patch, now).map_err(AppError::Invalid)?;
        tx.save_note(&note).await?;
        let event = Event::NoteUpdated {
            note_id: note.id,
            private: note.is_private,
            text: shown_text(&note),
            remind_at: note.remind_at,
        };
        tx.append_event(
            who.organization_id,
            note.conversation_id,
            &event,
            &who.actor(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(note)
    }

    pub async fn delete_note(
        &self,
        who: &Principal,
        conversation: Option<ConversationId>,
        id: Option<NoteId>,
    ) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let note = self.own_note(tx.as_mut(), who, conversation, id).await?;
        tx.delete_note(who.organization_id, note.conversation_id, note.id)
            .await?;
        let event = Event::NoteDeleted { note_id: note.id };
        tx.append_event(
            who.organization_id,
            note.conversation_id,
            &event,
            &who.actor(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Announces the reminders that are due (at most `limit`): each note is marked and
    /// its event queued in one transaction, so a reminder is announced exactly once,
    /// across restarts and concurrent workers. Returns how many were announced.
    pub async fn run_due_note_reminders(&self, limit: i64) -> Result<usize, AppError> {
        let now = self.now();
        let actor = Actor::timer();
        let mut tx = self.store.begin_write().await?;
        let due = tx.take_due_reminders(now, limit).await?;
        for note in &due {
            let Some(conversation) = tx
                .get_conversation(note.organization_id, note.conversation_id)
                .await?
            else {
                continue;
            };
            let event = Event::NoteReminderDue {
                note_id: note.id,
                private: note.is_private,
                text: shown_text(note),
            };
            tx.append_event(note.organization_id, conversation.id, &event, &actor, now)
                .await?;
            self.emit(
                tx.as_mut(),
                &conversation,
                "conversation.note_reminder_due",
                &actor,
                json!({
                    "noteId": note.id,
                    "note": note.text,
                    "isPrivate": note.is_private,
                    "author": note.author,
                    "notificationDateTime": note.remind_at,
                }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(due.len())
    }
}
