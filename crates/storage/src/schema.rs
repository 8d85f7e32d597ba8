//! A backend-neutral description of the migrated schema, so a test can prove the SQLite and
//! PostgreSQL migrations describe the same tables, columns and indexes.

use std::collections::BTreeMap;

use sqlx::Row;

use crate::StoreError;

/// Table name → column name → (neutral type, nullable); plus index name → (table, unique).
#[derive(Debug, PartialEq, Eq, Default)]
pub struct SchemaShape {
    pub columns: BTreeMap<String, BTreeMap<String, (String, bool)>>,
    pub indexes: BTreeMap<String, (String, bool)>,
}

/// Tables and indexes only the SQLite migrations create: fair distribution's counts, kept
/// by triggers, which PostgreSQL's concurrent writers would queue on (0008), and chat
/// search's FTS5 trigram table with its keys (0009). Everything else must match.
pub const SQLITE_ONLY: [&str; 4] = [
    "member_open_counts",
    "open_assignments_latest",
    "conversation_search",
    "conversation_search_keys",
];

/// Indexes only the PostgreSQL migrations create: chat search's pg_trgm indexes (0009;
/// the name and title ones rebuilt on the folded copies by 0011), which exist only where
/// the extension could be installed.
pub const POSTGRES_ONLY: [&str; 3] = [
    "contacts_name_trigrams",
    "contacts_phone_trigrams",
    "conversations_title_trigrams",
];

/// Maps each engine's spelling of a type to one neutral name.
fn neutral_type(declared: &str) -> String {
    match declared.to_ascii_lowercase().as_str() {
        "blob" | "uuid" => "id",
        "integer" | "bigint" | "smallint" => "integer",
        "real" | "double precision" => "float",
        "boolean" => "boolean",
        "text" => "text",
        other => return other.to_owned(),
    }
    .to_owned()
}

/// Reads the shape of a migrated SQLite database.
pub async fn sqlite_shape(url: &str) -> Result<SchemaShape, StoreError> {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(url).await?;
    // Virtual tables count; the shadow tables FTS5 keeps for them do not.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM pragma_table_list WHERE schema = 'main' \
         AND type IN ('table', 'virtual') \
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await?;
    let mut shape = SchemaShape::default();
    for table in tables {
        let columns = sqlx::query("SELECT name, type, \"notnull\", pk FROM pragma_table_info($1)")
            .bind(&table)
            .fetch_all(&mut conn)
            .await?;
        let entry = shape.columns.entry(table.clone()).or_default();
        for col in columns {
            let not_null: i64 = col.get("notnull");
            let pk: i64 = col.get("pk");
            entry.insert(
                col.get("name"),
                (
                    neutral_type(col.get::<&str, _>("type")),
                    not_null == 0 && pk == 0,
                ),
            );
        }
        let indexes = sqlx::query(
            "SELECT name, \"unique\", origin FROM pragma_index_list($1) WHERE origin = 'c'",
        )
        .bind(&table)
        .fetch_all(&mut conn)
        .await?;
        for index in indexes {
            let unique: i64 = index.get("unique");
            shape
                .indexes
                .insert(index.get("name"), (table.clone(), unique == 1));
        }
    }
    Ok(shape)
}

/// Reads the shape of a migrated PostgreSQL database (the schema on its search path).
pub async fn postgres_shape(url: &str) -> Result<SchemaShape, StoreError> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let columns = sqlx::query(
        "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS ty, \
         is_nullable::text AS n FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await?;
    let mut shape = SchemaShape::default();
    for col in columns {
        shape.columns.entry(col.get("t")).or_default().insert(
            col.get("c"),
            (
                neutral_type(col.get::<&str, _>("ty")),
                col.get::<&str, _>("n") == "YES",
            ),
        );
    }
    let indexes = sqlx::query(
        "SELECT i.relname::text AS name, t.relname::text AS tbl, ix.indisunique AS uniq \
         FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid \
         JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = current_schema() AND NOT ix.indisprimary \
         AND t.relname NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await?;
    for index in indexes {
        shape
            .indexes
            .insert(index.get("name"), (index.get("tbl"), index.get("uniq")));
    }
    Ok(shape)
}
