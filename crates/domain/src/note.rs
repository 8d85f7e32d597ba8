//! Notes on a conversation: text people leave for each other, optionally private to their
//! author, optionally a reminder that falls due at a time.

use chrono::{DateTime, Duration, Utc};

use crate::error::{Errors, ValidationError};
use crate::ids::{ConversationId, NoteId, OrganizationId};
use crate::patch::Patch;

/// The longest note, in characters (Chatvolt's limit).
pub const MAX_NOTE_LEN: usize = 500;
/// How far ahead a reminder may be set.
pub const MAX_REMINDER_AHEAD: Duration = Duration::days(366);

#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub id: NoteId,
    pub organization_id: OrganizationId,
    pub conversation_id: ConversationId,
    pub text: String,
    /// Shown to its author only.
    pub is_private: bool,
    /// A justification, which only administrators may write.
    pub is_justification: bool,
    /// Who wrote it, as an actor label (`member:<id>`, `api_token:<id>`): its owner.
    pub author: String,
    /// The author's e-mail, when the author is a member.
    pub author_email: String,
    /// When the reminder falls due, if the note is one.
    pub remind_at: Option<DateTime<Utc>>,
    /// When the reminder was announced; a reminder is announced once.
    pub reminded_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A change to a note; absent fields are kept.
#[derive(Debug, Clone, Default)]
pub struct NotePatch {
    pub text: Option<String>,
    pub is_private: Option<bool>,
    pub remind_at: Patch<DateTime<Utc>>,
}

impl Note {
    /// Whether `reader` (an actor label) may see the note.
    pub fn visible_to(&self, reader: &str) -> bool {
        !self.is_private || self.author == reader
    }

    /// The note after `patch`, checked. Moving the reminder arms it again.
    pub fn patched(
        mut self,
        patch: NotePatch,
        now: DateTime<Utc>,
    ) -> Result<Note, ValidationError> {
        let mut errors = Errors::default();
        if let Some(text) = patch.text {
            match clean_text(&text) {
                Ok(text) => self.text = text,
                Err(message) => errors.add("note", message),
            }
        }
        if let Some(private) = patch.is_private {
            self.is_private = private;
        }
        let remind_at = patch.remind_at.apply(self.remind_at);
        if remind_at != self.remind_at {
            if let Some(at) = remind_at
                && let Err(message) = check_reminder(at, now)
            {
                errors.add("notificationDateTime", message);
            }
            self.remind_at = remind_at;
            self.reminded_at = None;
        }
        errors.into_result()?;
        self.updated_at = now;
        Ok(self)
    }
}

/// A note's text, trimmed: 1 to [`MAX_NOTE_LEN`] characters.
pub fn clean_text(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    if text.chars().count() > MAX_NOTE_LEN {
        return Err(format!("must be at most {MAX_NOTE_LEN} characters"));
    }
    Ok(text.to_owned())
}

/// A reminder's time: any time up to [`MAX_REMINDER_AHEAD`] from now (one already past
/// falls due at once).
pub fn check_reminder(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), String> {
    if at > now + MAX_REMINDER_AHEAD {
        return Err("must be at most 366 days ahead".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(now: DateTime<Utc>) -> Note {
        Note {
            id: NoteId::new(),
            organization_id: OrganizationId::new(),
            conversation_id: ConversationId::new(),
            text: "Call back".into(),
            is_private: false,
            is_justification: false,
            author: "member:a".into(),
            author_email: "a@example.com".into(),
            remind_at: Some(now),
            reminded_at: Some(now),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(clean_text("  hi  ").unwrap(), "hi");
        assert!(clean_text("   ").is_err());
        assert!(clean_text(&"x".repeat(500)).is_ok());
        assert!(clean_text(&"é".repeat(501)).is_err());
    }

    #[test]
    fn private_notes_are_their_authors_only() {
        let now = Utc::now();
        let mut n = note(now);
        assert!(n.visible_to("api_token:b"));
        n.is_private = true;
        assert!(n.visible_to("member:a"));
        assert!(!n.visible_to("api_token:b"));
    }

    #[test]
    fn moving_the_reminder_arms_it_again_and_keeping_it_does_not() {
        let now = Utc::now();
        let later = now + Duration::hours(1);
        let kept = note(now)
            .patched(
                NotePatch {
                    text: Some(" Call back today ".into()),
                    ..NotePatch::default()
                },
                later,
            )
            .unwrap();
        assert_eq!(kept.text, "Call back today");
        assert_eq!(
            kept.reminded_at,
            Some(now),
            "an announced reminder stays announced"
        );
        assert_eq!(kept.updated_at, later);
        let moved = note(now)
            .patched(
                NotePatch {
                    remind_at: Patch::Set(later),
                    ..NotePatch::default()
                },
                now,
            )
            .unwrap();
        assert_eq!((moved.remind_at, moved.reminded_at), (Some(later), None));
        let cleared = note(now)
            .patched(
                NotePatch {
                    remind_at: Patch::Null,
                    ..NotePatch::default()
                },
                now,
            )
            .unwrap();
        assert_eq!((cleared.remind_at, cleared.reminded_at), (None, None));
    }

    #[test]
    fn bad_changes_name_their_fields() {
        let now = Utc::now();
        let error = note(now)
            .patched(
                NotePatch {
                    text: Some(String::new()),
                    remind_at: Patch::Set(now + Duration::days(400)),
                    ..NotePatch::default()
                },
                now,
            )
            .unwrap_err();
        let fields: Vec<String> = error.0.iter().map(|e| e.field.to_string()).collect();
        assert_eq!(fields, ["note", "notificationDateTime"]);
    }
}
