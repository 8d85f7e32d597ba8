//! The folded copies of what chat search matches (migration 0011): each contact's name
//! in `contacts.search_name`, each conversation's title in `conversations.search_title`,
//! both through [`stagecoach_domain::text::fold`], the fold step triggers use. Neither
//! engine can fold as Rust does (SQLite's `lower` knows ASCII only, and PostgreSQL has no
//! function that drops exactly the marks Unicode decomposition yields), so storage writes
//! the copies with every row it writes, and the trigram indexes hold them instead of the
//! text. A search folds its text the same way, so both engines compare folded text to
//! folded text and agree.
//!
//! NULL in either column means "not folded yet": the rows that existed before migration
//! 0011 (or that a binary predating it wrote). [`fold_pending`] folds them in batches after
//! the migrations run; a partial index on each column keeps finding them free once none
//! is left.

use stagecoach_domain::text::fold;
use uuid::Uuid;

use crate::StoreError;
use crate::sql::Executor;

/// What `contacts.search_name` holds for a contact: its name in the shape a search
/// matches ("first last"), folded.
pub(crate) fn contact_search_name(first_name: Option<&str>, last_name: Option<&str>) -> String {
    fold(&format!(
        "{} {}",
        first_name.unwrap_or_default(),
        last_name.unwrap_or_default()
    ))
}

/// What `conversations.search_title` holds for a conversation: its title, folded (empty
/// without one, so that NULL keeps meaning "not folded yet").
pub(crate) fn conversation_search_title(title: Option<&str>) -> String {
    fold(title.unwrap_or_default())
}

/// Rows folded by one call of [`fold_pending`], per table: small enough that a batch
/// holds the write lock for milliseconds, large enough that a million rows take a
/// thousand round trips rather than a million.
pub(crate) const FOLD_BATCH: usize = 1000;

/// How many rows one [`fold_pending`] call folded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Folded {
    pub(crate) contacts: usize,
    pub(crate) conversations: usize,
}

impl Folded {
    pub(crate) fn is_empty(&self) -> bool {
        self.contacts == 0 && self.conversations == 0
    }

    pub(crate) fn add(&mut self, more: Folded) {
        self.contacts += more.contacts;
        self.conversations += more.conversations;
    }

    /// Says what was folded, once it is all done (after migration 0011, the rows it
    /// found; later, only rows an older binary wrote).
    pub(crate) fn log(&self) {
        if !self.is_empty() {
            tracing::info!(
                contacts = self.contacts,
                conversations = self.conversations,
                "folded the names and titles chat search matches"
            );
        }
    }
}

/// Folds up to [`FOLD_BATCH`] contacts and conversations whose copies are still NULL.
/// Run it in a write transaction and repeat until it folds nothing. Each row is written
/// only while still NULL: a row written meanwhile already carries its copy, and two
/// processes folding at once write the same values.
pub(crate) async fn fold_pending<E: Executor + ?Sized>(on: &mut E) -> Result<Folded, StoreError> {
    let contacts: Vec<(Uuid, Option<String>, Option<String>)> = crate::sql::query_as(
        "SELECT id, first_name, last_name FROM contacts WHERE search_name IS NULL LIMIT $1",
    )
    .bind(FOLD_BATCH as i64)
    .fetch_all(on)
    .await?;
    let folded_contacts = contacts
        .iter()
        .map(|(id, first, last)| (*id, contact_search_name(first.as_deref(), last.as_deref())));
    write_folded(on, "contacts", "search_name", folded_contacts).await?;

    let conversations: Vec<(Uuid, Option<String>)> = crate::sql::query_as(
        "SELECT id, title FROM conversations WHERE search_title IS NULL LIMIT $1",
    )
    .bind(FOLD_BATCH as i64)
    .fetch_all(on)
    .await?;
    let folded_conversations = conversations
        .iter()
        .map(|(id, title)| (*id, conversation_search_title(title.as_deref())));
    write_folded(on, "conversations", "search_title", folded_conversations).await?;

    Ok(Folded {
        contacts: contacts.len(),
        conversations: conversations.len(),
    })
}

/// One `UPDATE` for a batch: the `(id, folded)` pairs as a `VALUES` list, which both
/// engines join against (`UPDATE … FROM`).
async fn write_folded<E: Executor + ?Sized>(
    on: &mut E,
    table: &str,
    column: &str,
    rows: impl ExactSizeIterator<Item = (Uuid, String)>,
) -> Result<(), StoreError> {
    if rows.len() == 0 {
        return Ok(());
    }
    let mut qb = crate::sql::QueryBuilder::new("WITH folded (id, folded_text) AS (");
    qb.push_values(rows, |mut row, (id, folded_text)| {
        row.push_bind(id).push_bind(folded_text);
    });
    qb.push(format_args!(
        ") UPDATE {table} SET {column} = folded.folded_text FROM folded \
         WHERE {table}.id = folded.id AND {table}.{column} IS NULL"
    ));
    qb.build().execute(on).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{contact_search_name, conversation_search_title};

    #[test]
    fn copies_hold_the_folded_text_in_the_shape_search_matches() {
        assert_eq!(
            contact_search_name(Some("João"), Some("CONCEIÇÃO")),
            "joao conceicao"
        );
        assert_eq!(contact_search_name(Some("Müller"), None), "muller ");
        assert_eq!(contact_search_name(None, None), " ");
        assert_eq!(conversation_search_title(Some("Renovação")), "renovacao");
        assert_eq!(conversation_search_title(None), "");
    }
}
