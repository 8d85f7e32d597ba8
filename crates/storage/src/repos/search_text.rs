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

/// Rows folded by one call of [`fold_pending`]: small enough that a batch holds the
/// write lock for milliseconds, large enough that a million rows take a thousand round
/// trips rather than a million.
pub(crate) const FOLD_BATCH: usize = 1000;

/// A table whose searched text has a folded copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pending {
    Contacts,
    Conversations,
}

/// The order the tables are folded in: every contact first, so that on SQLite each
/// conversation's search row is written once, when the conversation is folded, with its
/// contact's name already folded (folding a contact leaves the search rows of
/// conversations not folded yet alone; see the SQLite migration 0011).
pub(crate) const FOLD_ORDER: [Pending; 2] = [Pending::Contacts, Pending::Conversations];

impl Pending {
    fn table(self) -> &'static str {
        match self {
            Pending::Contacts => "contacts",
            Pending::Conversations => "conversations",
        }
    }

    /// The column holding the folded copy.
    fn column(self) -> &'static str {
        match self {
            Pending::Contacts => "search_name",
            Pending::Conversations => "search_title",
        }
    }
}

/// A batch [`fold_pending`] folded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FoldedBatch {
    pub(crate) rows: usize,
    /// The batch's greatest id, after which the next batch starts.
    pub(crate) last: Uuid,
}

/// Folds up to [`FOLD_BATCH`] rows of `table` whose copy is still NULL, in id order from
/// after `after` (start with [`Uuid::nil`]); `None` when none is left. Run it in a write
/// transaction and repeat from the batch's `last`. Reading by id rather than from the
/// start each time keeps a pass linear on PostgreSQL, whose partial index keeps the
/// entries of rows already folded until a vacuum. Each row is written only while still
/// NULL: a row written meanwhile already carries its copy, and two processes folding at
/// once would write the same values.
pub(crate) async fn fold_pending<E: Executor + ?Sized>(
    on: &mut E,
    table: Pending,
    after: Uuid,
) -> Result<Option<FoldedBatch>, StoreError> {
    let folded: Vec<(Uuid, String)> = match table {
        Pending::Contacts => {
            let rows: Vec<(Uuid, Option<String>, Option<String>)> = crate::sql::query_as(
                "SELECT id, first_name, last_name FROM contacts \
                 WHERE search_name IS NULL AND id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(FOLD_BATCH as i64)
            .fetch_all(on)
            .await?;
            rows.into_iter()
                .map(|(id, first, last)| {
                    (id, contact_search_name(first.as_deref(), last.as_deref()))
                })
                .collect()
        }
        Pending::Conversations => {
            let rows: Vec<(Uuid, Option<String>)> = crate::sql::query_as(
                "SELECT id, title FROM conversations \
                 WHERE search_title IS NULL AND id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(FOLD_BATCH as i64)
            .fetch_all(on)
            .await?;
            rows.into_iter()
                .map(|(id, title)| (id, conversation_search_title(title.as_deref())))
                .collect()
        }
    };
    let Some(&(last, _)) = folded.last() else {
        return Ok(None);
    };
    let rows = folded.len();
    let (name, column) = (table.table(), table.column());
    // One `UPDATE` for the batch: the (id, folded) pairs as a `VALUES` list, which both
    // engines join against (`UPDATE … FROM`).
    let mut qb = crate::sql::QueryBuilder::new("WITH folded (id, folded_text) AS (");
    qb.push_values(folded, |mut row, (id, folded_text)| {
        row.push_bind(id).push_bind(folded_text);
    });
    qb.push(format_args!(
        ") UPDATE {name} SET {column} = folded.folded_text FROM folded \
         WHERE {name}.id = folded.id AND {name}.{column} IS NULL"
    ));
    qb.build().execute(on).await?;
    Ok(Some(FoldedBatch { rows, last }))
}

/// Says how many rows of a table were folded, when there were any: after migration
/// 0011, every row; later, only rows that a binary predating it wrote.
pub(crate) fn log_folded(table: Pending, rows: usize) {
    if rows > 0 {
        tracing::info!(
            table = table.table(),
            rows,
            "folded the text chat search matches"
        );
    }
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
