//! `db copy`: moves a deployment from SQLite into an empty PostgreSQL database.
//!
//! The list of tables, their columns and types come from the migrated target itself, and
//! the source must hold the same tables (bar the SQLite-only ones in
//! [`crate::schema::SQLITE_ONLY`], which PostgreSQL replaces with queries and indexes), so
//! a new migration cannot be silently left out. Tables are written parents first, by
//! their foreign keys; a column that refers to its own table (a step's auto-advance
//! target) is written NULL first and set once the whole table is in.
//!
//! The source is opened read-only and read in one transaction, a single snapshot, so it
//! may stay in use (writes after the copy's start are not carried over). The target is
//! written in one transaction: a failed copy leaves it migrated and empty.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use sqlx::postgres::PgArguments;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, Postgres};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::schema::SQLITE_ONLY;
use crate::{Backend, StoreError, backend_of};

/// Rows sent to PostgreSQL per statement, at most.
const BATCH_ROWS: usize = 1000;
/// Bytes of text and blobs per statement, at most (roughly): a conversation's CRM data
/// may weigh 64 KiB, and a thousand of those would make one statement of 64 MB.
const BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Batches read ahead of the writer.
const READ_AHEAD: usize = 4;

/// Told how the copy advances, to show it.
pub trait CopyProgress: Send + Sync {
    /// The copy starts: how many rows it writes in all.
    fn started(&self, total_rows: u64);
    /// It starts on `table`.
    fn table(&self, table: &str);
    /// `rows` more rows were written.
    fn copied(&self, rows: u64);
}

/// What was copied: every table with its rows, in the order they were written.
#[derive(Debug)]
pub struct CopyReport {
    pub tables: Vec<(String, u64)>,
}

/// What can stop a copy. Each message says what became of the target.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(
        "db copy moves a SQLite deployment into PostgreSQL: --from takes sqlite://PATH and \
         --to postgres://…; {0}"
    )]
    UnsupportedDirection(&'static str),
    #[error("the source database {} does not exist", .0.display())]
    SourceMissing(PathBuf),
    #[error("the source is not a Stagecoach database (it has no _sqlx_migrations table)")]
    NotStagecoach,
    #[error("{0}")]
    SourceVersion(String),
    #[error(
        "the target is not empty: table {table} has rows. db copy only writes into an empty \
         database, and wrote nothing"
    )]
    TargetNotEmpty { table: String },
    #[error("the source and target schemas differ: {0}")]
    SchemaMismatch(String),
    #[error("{table}.{column}: {problem}")]
    Value {
        table: String,
        column: String,
        problem: String,
    },
    #[error(
        "{table} has {in_target} rows in the target after the copy, but {in_source} in the source"
    )]
    CountMismatch {
        table: String,
        in_source: u64,
        in_target: u64,
    },
    #[error("{0}; the copy was rolled back: the target is migrated and holds no rows")]
    RolledBack(Box<CopyError>),
    #[error(
        "committing the copy failed ({0}): the target may or may not hold it; check it, \
         and empty it before trying again"
    )]
    CommitFailed(sqlx::Error),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("migrating the target failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Copies the SQLite database `from` names into the empty PostgreSQL database `to` names,
/// migrating it first. See the module documentation.
pub async fn copy_sqlite_to_postgres(
    from: &str,
    to: &str,
    progress: &dyn CopyProgress,
) -> Result<CopyReport, CopyError> {
    match (backend_of(from), backend_of(to)) {
        (Some(Backend::Sqlite), Some(Backend::Postgres)) => {}
        (Some(Backend::Postgres), _) => {
            return Err(CopyError::UnsupportedDirection(
                "copying out of PostgreSQL is pg_dump's job",
            ));
        }
        (Some(Backend::Sqlite), Some(Backend::Sqlite)) => {
            return Err(CopyError::UnsupportedDirection(
                "to copy a SQLite database into another file, use `stagecoach backup --to FILE`",
            ));
        }
        _ => {
            return Err(CopyError::UnsupportedDirection(
                "each URL must start with sqlite:// or postgres://",
            ));
        }
    }
    let path = crate::sqlite::path_of(from)?;
    if !path.is_file() {
        return Err(CopyError::SourceMissing(path));
    }
    let source = tokio::task::spawn_blocking(move || Source::open(&path))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;

    let mut target = PgConnection::connect(to).await?;
    // Checked before migrating too, so that a database in use is not even migrated.
    let existing: Vec<String> = target_tables(&mut target).await?.into_keys().collect();
    if let Some(table) = first_with_rows(&mut target, &existing).await? {
        return Err(CopyError::TargetNotEmpty { table });
    }
    crate::postgres::MIGRATIONS.run(&mut target).await?;
    let plan: Arc<[TablePlan]> = plan(&mut target, &source).await?.into();

    let mut tx = target.begin().await?;
    match write(&mut tx, source, Arc::clone(&plan), progress).await {
        Ok(report) => {
            tx.commit().await.map_err(CopyError::CommitFailed)?;
            Ok(report)
        }
        Err(error) => {
            // Dropping the transaction would roll back too; this says so before returning.
            let _ = tx.rollback().await;
            Err(match error {
                // Found by the check under the lock: nothing was written.
                CopyError::TargetNotEmpty { .. } => error,
                error => CopyError::RolledBack(Box::new(error)),
            })
        }
    }
}

/// The source: a read-only connection inside one read transaction, and what that
/// snapshot holds.
struct Source {
    conn: Connection,
    /// Table → its columns, for every table except the SQLite-only ones.
    tables: BTreeMap<String, BTreeSet<String>>,
    rows: BTreeMap<String, u64>,
}

impl Source {
    fn open(path: &Path) -> Result<Source, CopyError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // The snapshot starts with the first read below and lasts until the last row is read.
        conn.execute_batch("BEGIN")?;
        // FTS5's own shadow tables are listed as `shadow`, and are left out with it.
        let names: Vec<String> = conn
            .prepare(
                "SELECT name FROM pragma_table_list WHERE schema = 'main' \
                 AND type IN ('table', 'virtual') AND name NOT LIKE 'sqlite_%'",
            )?
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        if !names.iter().any(|n| n == "_sqlx_migrations") {
            return Err(CopyError::NotStagecoach);
        }
        check_source_migrations(&conn)?;
        let mut tables = BTreeMap::new();
        let mut rows = BTreeMap::new();
        for name in names {
            if name == "_sqlx_migrations" || SQLITE_ONLY.contains(&name.as_str()) {
                continue;
            }
            let columns = conn
                .prepare("SELECT name FROM pragma_table_info(?1)")?
                .query_map([&name], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            let count: i64 = conn.query_row(
                &format!("SELECT COUNT(*) FROM {}", quote(&name)),
                [],
                |row| row.get(0),
            )?;
            rows.insert(name.clone(), count.unsigned_abs());
            tables.insert(name, columns);
        }
        Ok(Source { conn, tables, rows })
    }

    /// Reads every table of the plan, in its order, into batches for the writer. Ends the
    /// read transaction when done, or as soon as the writer stops listening.
    fn read(self, plan: &[TablePlan], chunks: &mpsc::Sender<Result<Chunk, CopyError>>) {
        let send = |chunk| {
            chunks
                .blocking_send(chunk)
                .map_err(|_| ReadStop::WriterGone)
        };
        let outcome = (|| -> Result<(), ReadStop> {
            for (index, table) in plan.iter().enumerate() {
                send(Ok(Chunk::TableStart(index)))?;
                let names: Vec<String> = table.columns.iter().map(|c| quote(&c.name)).collect();
                let sql = format!("SELECT {} FROM {}", names.join(", "), quote(&table.name));
                let mut statement = self.conn.prepare(&sql).map_err(CopyError::from)?;
                let mut rows = statement.query([]).map_err(CopyError::from)?;
                let mut batch = Batch::new(table);
                while let Some(row) = rows.next().map_err(CopyError::from)? {
                    for (i, (column, plan)) in
                        batch.columns.iter_mut().zip(&table.columns).enumerate()
                    {
                        let value = row.get_ref(i).map_err(CopyError::from)?;
                        batch.bytes += column.push(value).map_err(|problem| CopyError::Value {
                            table: table.name.clone(),
                            column: plan.name.clone(),
                            problem,
                        })?;
                    }
                    batch.rows += 1;
                    if batch.rows >= BATCH_ROWS || batch.bytes >= BATCH_BYTES {
                        let full = std::mem::replace(&mut batch, Batch::new(table));
                        send(Ok(Chunk::Rows(index, full)))?;
                    }
                }
                if batch.rows > 0 {
                    send(Ok(Chunk::Rows(index, batch)))?;
                }
                send(Ok(Chunk::TableEnd(index)))?;
            }
            Ok(())
        })();
        if let Err(ReadStop::Failed(error)) = outcome {
            let _ = chunks.blocking_send(Err(error));
        }
        if let Err(error) = self.conn.execute_batch("COMMIT") {
            tracing::warn!(%error, "ending the read of the source failed");
        }
    }
}

/// Why the reader stopped early.
enum ReadStop {
    Failed(CopyError),
    /// The writer failed and dropped its end: it reports its own error.
    WriterGone,
}

impl From<CopyError> for ReadStop {
    fn from(error: CopyError) -> Self {
        ReadStop::Failed(error)
    }
}

/// The source must be exactly as migrated as this build: a copy of an older schema would
/// miss columns, and a newer one would hold what this build does not know.
fn check_source_migrations(conn: &Connection) -> Result<(), CopyError> {
    let applied: Vec<i64> = conn
        .prepare("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let known: Vec<i64> = crate::sqlite::MIGRATIONS
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| m.version)
        .collect();
    if applied == known {
        return Ok(());
    }
    let advice = if applied.iter().all(|v| known.contains(v)) {
        "bring it up to date first with `stagecoach migrate --database-url sqlite://…` \
         (db copy never writes to its source)"
    } else {
        "it was written by a newer stagecoach: copy it with that version"
    };
    Err(CopyError::SourceVersion(format!(
        "the source database has migrations {applied:?} applied and this stagecoach has \
         {known:?}: {advice}"
    )))
}

/// What one table's copy needs to know.
struct TablePlan {
    name: String,
    /// In the target's column order.
    columns: Vec<ColumnPlan>,
    source_rows: u64,
    /// The primary key's columns (indexes into `columns`); used only to set the columns
    /// that refer to the table itself.
    key: Vec<usize>,
}

struct ColumnPlan {
    name: String,
    ty: PgType,
    /// Refers to this same table: written NULL, then set once every row is in, since a
    /// row may refer to one in a later batch.
    self_reference: bool,
}

impl TablePlan {
    fn self_references(&self) -> Vec<usize> {
        (0..self.columns.len())
            .filter(|&i| self.columns[i].self_reference)
            .collect()
    }

    fn insert_sql(&self) -> String {
        let names: Vec<String> = self.columns.iter().map(|c| quote(&c.name)).collect();
        let arrays: Vec<String> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("${}::{}", i + 1, c.ty.array()))
            .collect();
        // OVERRIDING SYSTEM VALUE keeps the source's values in identity columns, if a
        // table ever has one; their sequences are moved past them after the copy.
        format!(
            "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT * FROM UNNEST({})",
            quote(&self.name),
            names.join(", "),
            arrays.join(", ")
        )
    }

    /// Sets the self-referring columns from arrays of the key's values, then theirs.
    fn update_sql(&self) -> String {
        let refs = self.self_references();
        let arrays: Vec<String> = self
            .key
            .iter()
            .chain(&refs)
            .enumerate()
            .map(|(i, &c)| format!("${}::{}", i + 1, self.columns[c].ty.array()))
            .collect();
        let aliases: Vec<String> = (0..self.key.len())
            .map(|i| format!("key_{i}"))
            .chain((0..refs.len()).map(|i| format!("ref_{i}")))
            .collect();
        let set: Vec<String> = refs
            .iter()
            .enumerate()
            .map(|(i, &c)| format!("{} = u.ref_{i}", quote(&self.columns[c].name)))
            .collect();
        let matches: Vec<String> = self
            .key
            .iter()
            .enumerate()
            .map(|(i, &c)| format!("t.{} = u.key_{i}", quote(&self.columns[c].name)))
            .collect();
        format!(
            "UPDATE {} AS t SET {} FROM UNNEST({}) AS u({}) WHERE {}",
            quote(&self.name),
            set.join(", "),
            arrays.join(", "),
            aliases.join(", "),
            matches.join(" AND ")
        )
    }
}

/// Reads the migrated target's tables and foreign keys, checks them against the source,
/// and orders them parents first.
async fn plan(target: &mut PgConnection, source: &Source) -> Result<Vec<TablePlan>, CopyError> {
    let tables = target_tables(target).await?;
    for name in source.tables.keys() {
        if !tables.contains_key(name) {
            return Err(CopyError::SchemaMismatch(format!(
                "table {name} is in the source but not in the target"
            )));
        }
    }
    let foreign_keys: Vec<(String, String, Vec<String>)> = sqlx::query_as(
        "SELECT child.relname::text, parent.relname::text, \
         ARRAY(SELECT a.attname::text FROM pg_attribute a \
               WHERE a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)) \
         FROM pg_constraint c \
         JOIN pg_class child ON child.oid = c.conrelid \
         JOIN pg_class parent ON parent.oid = c.confrelid \
         JOIN pg_namespace n ON n.oid = child.relnamespace \
         WHERE c.contype = 'f' AND n.nspname = current_schema()",
    )
    .fetch_all(&mut *target)
    .await?;
    let mut parents: BTreeMap<&str, BTreeSet<&str>> = tables
        .keys()
        .map(|t| (t.as_str(), BTreeSet::new()))
        .collect();
    let mut self_references: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (child, parent, columns) in &foreign_keys {
        if child == parent {
            self_references.extend(columns.iter().map(|c| (child.as_str(), c.as_str())));
        } else if tables.contains_key(parent)
            && let Some(set) = parents.get_mut(child.as_str())
        {
            set.insert(parent.as_str());
        }
    }

    let mut plans = Vec::new();
    for name in parents_first(&parents)? {
        let columns = &tables[name];
        let Some(source_columns) = source.tables.get(name) else {
            return Err(CopyError::SchemaMismatch(format!(
                "table {name} is in the target but not in the source"
            )));
        };
        let target_columns: BTreeSet<String> = columns.iter().map(|c| c.name.clone()).collect();
        if &target_columns != source_columns {
            let only_source: Vec<_> = source_columns.difference(&target_columns).collect();
            let only_target: Vec<_> = target_columns.difference(source_columns).collect();
            return Err(CopyError::SchemaMismatch(format!(
                "table {name}: columns only in the source {only_source:?}, only in the target \
                 {only_target:?}"
            )));
        }
        let mut plan_columns = Vec::new();
        for column in columns {
            let ty = PgType::from_udt(&column.udt).ok_or_else(|| {
                CopyError::SchemaMismatch(format!(
                    "{name}.{} has type {}, which db copy does not convert",
                    column.name, column.udt
                ))
            })?;
            let self_reference = self_references.contains(&(name, column.name.as_str()));
            if self_reference && !column.nullable {
                return Err(CopyError::SchemaMismatch(format!(
                    "{name}.{} refers to its own table and is NOT NULL, which db copy \
                     cannot order",
                    column.name
                )));
            }
            plan_columns.push(ColumnPlan {
                name: column.name.clone(),
                ty,
                self_reference,
            });
        }
        let key = if plan_columns.iter().any(|c| c.self_reference) {
            let key_names: Vec<String> = sqlx::query_scalar(
                "SELECT a.attname::text FROM pg_index i \
                 JOIN pg_class t ON t.oid = i.indrelid \
                 JOIN pg_namespace n ON n.oid = t.relnamespace \
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY (i.indkey) \
                 WHERE i.indisprimary AND n.nspname = current_schema() AND t.relname = $1",
            )
            .bind(name)
            .fetch_all(&mut *target)
            .await?;
            if key_names.is_empty() {
                return Err(CopyError::SchemaMismatch(format!(
                    "{name} refers to itself and has no primary key"
                )));
            }
            key_names
                .iter()
                .map(|k| plan_columns.iter().position(|c| &c.name == k))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    CopyError::SchemaMismatch(format!("{name}: primary key columns not found"))
                })?
        } else {
            Vec::new()
        };
        plans.push(TablePlan {
            name: name.to_owned(),
            columns: plan_columns,
            source_rows: source.rows.get(name).copied().unwrap_or(0),
            key,
        });
    }
    Ok(plans)
}

/// The tables in an order where every table comes after those it refers to; among those
/// free to go, by name, so that every run writes in the same order.
fn parents_first<'a>(
    parents: &BTreeMap<&'a str, BTreeSet<&'a str>>,
) -> Result<Vec<&'a str>, CopyError> {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < parents.len() {
        let ready: Vec<&str> = parents
            .iter()
            .filter(|(table, refs)| !done.contains(*table) && refs.is_subset(&done))
            .map(|(table, _)| *table)
            .collect();
        if ready.is_empty() {
            let left: Vec<&str> = parents
                .keys()
                .copied()
                .filter(|t| !done.contains(t))
                .collect();
            return Err(CopyError::SchemaMismatch(format!(
                "the foreign keys between {left:?} form a cycle, which db copy cannot order"
            )));
        }
        done.extend(&ready);
        order.extend(ready);
    }
    Ok(order)
}

struct TargetColumn {
    name: String,
    udt: String,
    nullable: bool,
}

/// The application's tables in the target's schema (the first on its search path), with
/// their columns in order; sqlx's bookkeeping table is not one.
async fn target_tables(
    target: &mut PgConnection,
) -> Result<BTreeMap<String, Vec<TargetColumn>>, CopyError> {
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.udt_name::text, c.is_nullable::text \
         FROM information_schema.columns c \
         JOIN information_schema.tables t \
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
           AND c.table_name <> '_sqlx_migrations' \
         ORDER BY c.table_name, c.ordinal_position",
    )
    .fetch_all(&mut *target)
    .await?;
    let mut tables: BTreeMap<String, Vec<TargetColumn>> = BTreeMap::new();
    for (table, name, udt, nullable) in rows {
        tables.entry(table).or_default().push(TargetColumn {
            name,
            udt,
            nullable: nullable == "YES",
        });
    }
    Ok(tables)
}

/// The first of `tables`, by name, that holds a row.
async fn first_with_rows(
    target: &mut PgConnection,
    tables: &[String],
) -> Result<Option<String>, CopyError> {
    for table in tables {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", quote(table));
        let has_rows: bool = sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_one(&mut *target)
            .await?;
        if has_rows {
            return Ok(Some(table.clone()));
        }
    }
    Ok(None)
}

/// Inside the target's transaction: locks it, checks it is still empty, writes every
/// row the reader sends, moves sequences past the copied values, and compares counts.
async fn write(
    tx: &mut PgConnection,
    source: Source,
    plan: Arc<[TablePlan]>,
    progress: &dyn CopyProgress,
) -> Result<CopyReport, CopyError> {
    let mut names: Vec<String> = plan.iter().map(|t| t.name.clone()).collect();
    names.sort();
    // Other sessions may read but not write until the commit: the target cannot fill up
    // (a server starting on it bootstraps an organization) between the check and the copy.
    let lock = format!(
        "LOCK TABLE {} IN EXCLUSIVE MODE",
        names
            .iter()
            .map(|n| quote(n))
            .collect::<Vec<_>>()
            .join(", ")
    );
    sqlx::query(AssertSqlSafe(lock)).execute(&mut *tx).await?;
    if let Some(table) = first_with_rows(tx, &names).await? {
        return Err(CopyError::TargetNotEmpty { table });
    }
    progress.started(plan.iter().map(|t| t.source_rows).sum());

    let (sender, mut chunks) = mpsc::channel(READ_AHEAD);
    let reader_plan = Arc::clone(&plan);
    let reader = tokio::task::spawn_blocking(move || source.read(&reader_plan, &sender));
    let written = receive(tx, &plan, &mut chunks, progress).await;
    // The reader stops at its next batch once the receiver is gone.
    drop(chunks);
    reader
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    let written = written?;

    advance_sequences(tx).await?;
    let mut report = Vec::new();
    for (table, written) in plan.iter().zip(written) {
        let sql = format!("SELECT COUNT(*) FROM {}", quote(&table.name));
        let count: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_one(&mut *tx)
            .await?;
        let target = count.unsigned_abs();
        if target != table.source_rows || written != table.source_rows {
            return Err(CopyError::CountMismatch {
                table: table.name.clone(),
                in_source: table.source_rows,
                in_target: target,
            });
        }
        report.push((table.name.clone(), target));
    }
    Ok(CopyReport { tables: report })
}

/// Writes what the reader sends; how many rows of each table.
async fn receive(
    tx: &mut PgConnection,
    plan: &[TablePlan],
    chunks: &mut mpsc::Receiver<Result<Chunk, CopyError>>,
    progress: &dyn CopyProgress,
) -> Result<Vec<u64>, CopyError> {
    let mut written = vec![0u64; plan.len()];
    // Per table: the key and self-referring values of the rows that have some.
    let mut deferred: Vec<Vec<Column>> = Vec::new();
    while let Some(chunk) = chunks.recv().await {
        match chunk? {
            Chunk::TableStart(index) => progress.table(&plan[index].name),
            Chunk::Rows(index, mut batch) => {
                let table = &plan[index];
                let refs = table.self_references();
                if !refs.is_empty() {
                    let with_refs: Vec<usize> = (0..batch.rows)
                        .filter(|&row| refs.iter().any(|&c| !batch.columns[c].is_null(row)))
                        .collect();
                    if !with_refs.is_empty() {
                        deferred.push(
                            table
                                .key
                                .iter()
                                .chain(&refs)
                                .map(|&c| batch.columns[c].subset(&with_refs))
                                .collect(),
                        );
                    }
                    for &c in &refs {
                        batch.columns[c] = Column::nulls(table.columns[c].ty, batch.rows);
                    }
                }
                let rows = batch.rows as u64;
                bind_all(table.insert_sql(), batch.columns)
                    .execute(&mut *tx)
                    .await?;
                written[index] += rows;
                progress.copied(rows);
            }
            Chunk::TableEnd(index) => {
                for columns in deferred.drain(..) {
                    bind_all(plan[index].update_sql(), columns)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
    }
    Ok(written)
}

fn bind_all(
    sql: String,
    columns: Vec<Column>,
) -> sqlx::query::Query<'static, Postgres, PgArguments> {
    columns
        .into_iter()
        .fold(sqlx::query(AssertSqlSafe(sql)), |query, column| {
            column.bind(query)
        })
}

/// Serial and identity columns (none today) would hand out values the copy already used:
/// their sequences continue after the largest copied value.
async fn advance_sequences(tx: &mut PgConnection) -> Result<(), CopyError> {
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() \
           AND (is_identity = 'YES' OR column_default LIKE 'nextval(%')",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (table, column) in columns {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence(quote_ident(current_schema()) || '.' || \
             quote_ident($1), $2)::regclass, COALESCE(MAX({c}), 1), MAX({c}) IS NOT NULL) \
             FROM {t}",
            c = quote(&column),
            t = quote(&table),
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(&table)
            .bind(&column)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// What the reader sends the writer.
enum Chunk {
    TableStart(usize),
    Rows(usize, Batch),
    TableEnd(usize),
}

/// Rows of one table, column by column, converted to the target's types.
struct Batch {
    columns: Vec<Column>,
    rows: usize,
    bytes: usize,
}

impl Batch {
    fn new(table: &TablePlan) -> Batch {
        Batch {
            columns: table
                .columns
                .iter()
                .map(|c| Column::new(c.ty, BATCH_ROWS))
                .collect(),
            rows: 0,
            bytes: 0,
        }
    }
}

/// The PostgreSQL column types the migrations use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PgType {
    Uuid,
    SmallInt,
    Integer,
    BigInt,
    Double,
    Boolean,
    Text,
}

impl PgType {
    fn from_udt(name: &str) -> Option<PgType> {
        Some(match name {
            "uuid" => PgType::Uuid,
            "int2" => PgType::SmallInt,
            "int4" => PgType::Integer,
            "int8" => PgType::BigInt,
            "float8" => PgType::Double,
            "bool" => PgType::Boolean,
            "text" | "varchar" => PgType::Text,
            _ => return None,
        })
    }

    fn array(self) -> &'static str {
        match self {
            PgType::Uuid => "uuid[]",
            PgType::SmallInt => "int2[]",
            PgType::Integer => "int4[]",
            PgType::BigInt => "int8[]",
            PgType::Double => "float8[]",
            PgType::Boolean => "bool[]",
            PgType::Text => "text[]",
        }
    }
}

/// One column of a batch, bound to PostgreSQL as one array.
#[derive(Debug, Clone, PartialEq)]
enum Column {
    Uuid(Vec<Option<Uuid>>),
    SmallInt(Vec<Option<i16>>),
    Integer(Vec<Option<i32>>),
    BigInt(Vec<Option<i64>>),
    Double(Vec<Option<f64>>),
    Boolean(Vec<Option<bool>>),
    Text(Vec<Option<String>>),
}

macro_rules! each_column {
    ($column:expr, $values:ident => $body:expr) => {
        match $column {
            Column::Uuid($values) => $body,
            Column::SmallInt($values) => $body,
            Column::Integer($values) => $body,
            Column::BigInt($values) => $body,
            Column::Double($values) => $body,
            Column::Boolean($values) => $body,
            Column::Text($values) => $body,
        }
    };
}

impl Column {
    fn new(ty: PgType, capacity: usize) -> Column {
        match ty {
            PgType::Uuid => Column::Uuid(Vec::with_capacity(capacity)),
            PgType::SmallInt => Column::SmallInt(Vec::with_capacity(capacity)),
            PgType::Integer => Column::Integer(Vec::with_capacity(capacity)),
            PgType::BigInt => Column::BigInt(Vec::with_capacity(capacity)),
            PgType::Double => Column::Double(Vec::with_capacity(capacity)),
            PgType::Boolean => Column::Boolean(Vec::with_capacity(capacity)),
            PgType::Text => Column::Text(Vec::with_capacity(capacity)),
        }
    }

    fn nulls(ty: PgType, rows: usize) -> Column {
        let mut column = Column::new(ty, rows);
        each_column!(&mut column, values => values.resize(rows, None));
        column
    }

    fn is_null(&self, row: usize) -> bool {
        each_column!(self, values => values[row].is_none())
    }

    /// The given rows only, in that order.
    fn subset(&self, rows: &[usize]) -> Column {
        match self {
            Column::Uuid(v) => Column::Uuid(rows.iter().map(|&r| v[r]).collect()),
            Column::SmallInt(v) => Column::SmallInt(rows.iter().map(|&r| v[r]).collect()),
            Column::Integer(v) => Column::Integer(rows.iter().map(|&r| v[r]).collect()),
            Column::BigInt(v) => Column::BigInt(rows.iter().map(|&r| v[r]).collect()),
            Column::Double(v) => Column::Double(rows.iter().map(|&r| v[r]).collect()),
            Column::Boolean(v) => Column::Boolean(rows.iter().map(|&r| v[r]).collect()),
            Column::Text(v) => Column::Text(rows.iter().map(|&r| v[r].clone()).collect()),
        }
    }

    /// Converts a SQLite value to this column's type and appends it; the bytes it adds
    /// to the batch. SQLite stores ids as 16-byte blobs and booleans as 0 and 1.
    fn push(&mut self, value: ValueRef<'_>) -> Result<usize, String> {
        if value == ValueRef::Null {
            each_column!(self, values => values.push(None));
            return Ok(0);
        }
        let mismatch = |expected: &str| format!("expected {expected}, found {}", describe(value));
        match (self, value) {
            (Column::Uuid(values), ValueRef::Blob(bytes)) => {
                let id = Uuid::from_slice(bytes).map_err(|_| mismatch("a 16-byte id"))?;
                values.push(Some(id));
                Ok(16)
            }
            (Column::SmallInt(values), ValueRef::Integer(v)) => {
                let v = i16::try_from(v).map_err(|_| mismatch("a 16-bit integer"))?;
                values.push(Some(v));
                Ok(2)
            }
            (Column::Integer(values), ValueRef::Integer(v)) => {
                let v = i32::try_from(v).map_err(|_| mismatch("a 32-bit integer"))?;
                values.push(Some(v));
                Ok(4)
            }
            (Column::BigInt(values), ValueRef::Integer(v)) => {
                values.push(Some(v));
                Ok(8)
            }
            (Column::Double(values), ValueRef::Real(v)) => {
                values.push(Some(v));
                Ok(8)
            }
            // SQLite stores a REAL without a fraction as an integer.
            (Column::Double(values), ValueRef::Integer(v)) => {
                values.push(Some(v as f64));
                Ok(8)
            }
            (Column::Boolean(values), ValueRef::Integer(v @ (0 | 1))) => {
                values.push(Some(v == 1));
                Ok(1)
            }
            (Column::Text(values), ValueRef::Text(bytes)) => {
                let text =
                    std::str::from_utf8(bytes).map_err(|_| "text is not UTF-8".to_owned())?;
                if text.contains('\0') {
                    return Err("text holds a NUL character, which PostgreSQL refuses".to_owned());
                }
                values.push(Some(text.to_owned()));
                Ok(bytes.len())
            }
            (Column::Uuid(_), _) => Err(mismatch("a 16-byte id")),
            (Column::SmallInt(_) | Column::Integer(_) | Column::BigInt(_), _) => {
                Err(mismatch("an integer"))
            }
            (Column::Double(_), _) => Err(mismatch("a number")),
            (Column::Boolean(_), _) => Err(mismatch("0 or 1")),
            (Column::Text(_), _) => Err(mismatch("text")),
        }
    }

    fn bind(
        self,
        query: sqlx::query::Query<'static, Postgres, PgArguments>,
    ) -> sqlx::query::Query<'static, Postgres, PgArguments> {
        each_column!(self, values => query.bind(values))
    }
}

/// A SQLite value's type, for an error message; text and blobs by size only, since they
/// may hold personal data.
fn describe(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "NULL".to_owned(),
        ValueRef::Integer(v) => format!("the integer {v}"),
        ValueRef::Real(v) => format!("the number {v}"),
        ValueRef::Text(t) => format!("text of {} bytes", t.len()),
        ValueRef::Blob(b) => format!("a blob of {} bytes", b.len()),
    }
}

/// An identifier, quoted for SQL.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_values_convert_by_the_target_type_or_say_why_not() {
        let id = Uuid::now_v7();
        let mut ids = Column::new(PgType::Uuid, 2);
        assert_eq!(ids.push(ValueRef::Blob(id.as_bytes())), Ok(16));
        assert_eq!(ids.push(ValueRef::Null), Ok(0));
        assert_eq!(ids, Column::Uuid(vec![Some(id), None]));
        assert_eq!(
            ids.push(ValueRef::Text(b"0190")),
            Err("expected a 16-byte id, found text of 4 bytes".to_owned())
        );

        let mut flags = Column::new(PgType::Boolean, 2);
        flags.push(ValueRef::Integer(1)).unwrap();
        flags.push(ValueRef::Integer(0)).unwrap();
        assert_eq!(flags, Column::Boolean(vec![Some(true), Some(false)]));
        assert_eq!(
            flags.push(ValueRef::Integer(2)),
            Err("expected 0 or 1, found the integer 2".to_owned())
        );

        let mut small = Column::new(PgType::SmallInt, 1);
        assert!(small.push(ValueRef::Integer(70_000)).is_err());
        let mut numbers = Column::new(PgType::Double, 2);
        numbers.push(ValueRef::Integer(1)).unwrap();
        numbers.push(ValueRef::Real(0.25)).unwrap();
        assert_eq!(numbers, Column::Double(vec![Some(1.0), Some(0.25)]));

        let mut text = Column::new(PgType::Text, 1);
        assert_eq!(text.push(ValueRef::Text(b"{\"a\":1}")), Ok(7));
        assert!(text.push(ValueRef::Text(b"a\0b")).is_err());
        assert!(text.push(ValueRef::Blob(b"x")).is_err());
    }

    #[test]
    fn tables_come_after_the_tables_they_refer_to() {
        let parents: BTreeMap<&str, BTreeSet<&str>> = [
            ("steps", BTreeSet::from(["scenarios", "organizations"])),
            ("scenarios", BTreeSet::from(["organizations"])),
            ("organizations", BTreeSet::new()),
            ("agents", BTreeSet::from(["organizations"])),
        ]
        .into();
        assert_eq!(
            parents_first(&parents).unwrap(),
            ["organizations", "agents", "scenarios", "steps"]
        );
        let cycle: BTreeMap<&str, BTreeSet<&str>> =
            [("a", BTreeSet::from(["b"])), ("b", BTreeSet::from(["a"]))].into();
        assert!(matches!(
            parents_first(&cycle),
            Err(CopyError::SchemaMismatch(_))
        ));
    }

    #[test]
    fn self_references_are_set_by_primary_key() {
        let table = TablePlan {
            name: "steps".into(),
            columns: vec![
                ColumnPlan {
                    name: "id".into(),
                    ty: PgType::Uuid,
                    self_reference: false,
                },
                ColumnPlan {
                    name: "auto_next_step_id".into(),
                    ty: PgType::Uuid,
                    self_reference: true,
                },
            ],
            source_rows: 0,
            key: vec![0],
        };
        assert_eq!(
            table.update_sql(),
            "UPDATE \"steps\" AS t SET \"auto_next_step_id\" = u.ref_0 \
             FROM UNNEST($1::uuid[], $2::uuid[]) AS u(key_0, ref_0) WHERE t.\"id\" = u.key_0"
        );
        assert_eq!(
            table.insert_sql(),
            "INSERT INTO \"steps\" (\"id\", \"auto_next_step_id\") OVERRIDING SYSTEM VALUE \
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[])"
        );
    }
}
