//! The embedded default: one SQLite file in WAL mode, one writer connection and a few
//! read-only connections.

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::changes::{Change, ChangeFeed, ChangeSubscription, Touched};
use crate::repos::{
    agents, ai, board, contact_variables, contacts, conversations, crm_events, delivery,
    idempotency, labels, leads, memberships, messages, notes, organizations, reports, scenarios,
    search_text, sessions, steps, timeline, tokens,
};
use crate::sql::{Executor, Numbering, Param, Row, Value};
use crate::{Backend, Sealer, Store, StoreError, Transaction};

/// How long a connection waits for another process's lock before giving up with
/// `SQLITE_BUSY` (within this process, transactions queue for the writer instead).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const READERS: usize = 4;
/// Page cache per connection, in KiB (SQLite's default is 2 MiB): with 16 MiB the hot
/// indexes of a million conversations stay in memory instead of being read from the
/// OS for every lookup, and five connections stay well under the memory budget.
const CACHE_KIB: i64 = 16 * 1024;
/// Prepared statements kept per connection: the API uses a few hundred distinct ones, and
/// preparing a statement again costs more than keeping it.
const STATEMENT_CACHE: usize = 400;
/// How often the checkpointer copies committed pages from the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// WAL frames (4 KiB pages) past which the checkpointer holds writes back for a moment,
/// so that its checkpoint completes and the next write starts the WAL over. Without it,
/// steady writes always leave a few frames behind and the WAL only grows.
const WAL_RESTART_FRAMES: i64 = 4096;
/// The size the WAL file is cut back to when it starts over.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// The SQLite migrations, compiled in.
pub(crate) static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The file a `sqlite:` URL names (the URL may carry options after `?`).
pub(crate) fn path_of(url: &str) -> Result<std::path::PathBuf, StoreError> {
    Ok(SqliteConnectOptions::from_str(url)?
        .get_filename()
        .to_path_buf())
}

/// Statements run on the calling task's thread: with the pages cached they take
/// microseconds, much less than a hand-off to a connection thread and back. Transactions
/// queue (fairly, without blocking a thread) for the one writer connection or one of the
/// readers. Checkpoints, the one step that syncs files to disk, run on a thread of their
/// own, so no request waits for the disk.
pub(crate) struct SqliteStore {
    /// Kept for migrations, which sqlx runs (its `_sqlx_migrations` bookkeeping).
    options: SqliteConnectOptions,
    writer: Arc<Mutex<Connection>>,
    readers: Vec<Arc<Mutex<Connection>>>,
    next_reader: AtomicUsize,
    closed: AtomicBool,
    /// Dropping it stops the checkpointer.
    _checkpointer: mpsc::Sender<()>,
    /// Held by whoever checkpoints: SQLite runs one checkpoint at a time and answers
    /// another "busy" without waiting, so the last one, on close, must not meet the
    /// checkpointer's. Taken after the writer by whoever takes both.
    checkpointing: Arc<std::sync::Mutex<()>>,
    /// Committed changes, told to live views (one process: no database notification).
    feed: ChangeFeed,
    sealer: std::sync::OnceLock<Arc<dyn Sealer>>,
}

impl SqliteStore {
    pub(crate) async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let path = options.get_filename().to_path_buf();
        if let Some(folder) = path.parent()
            && !folder.as_os_str().is_empty()
        {
            std::fs::create_dir_all(folder)?;
        }
        // The writer first: it creates the file and switches it to WAL, which the
        // read-only connections cannot do.
        let writer = open(&path, Role::Writer)?;
        let readers = (0..READERS)
            .map(|_| open(&path, Role::Reader).map(|c| Arc::new(Mutex::new(c))))
            .collect::<Result<_, _>>()?;
        let writer = Arc::new(Mutex::new(writer));
        let checkpointing = Arc::new(std::sync::Mutex::new(()));
        let checkpointer = spawn_checkpointer(
            open(&path, Role::Checkpointer)?,
            Arc::clone(&writer),
            Arc::clone(&checkpointing),
        )?;
        Ok(Self {
            options,
            writer,
            readers,
            next_reader: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            _checkpointer: checkpointer,
            checkpointing,
            feed: ChangeFeed::default(),
            sealer: std::sync::OnceLock::new(),
        })
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        Ok(())
    }

    /// A free reader if there is one, else the next in turn once it is free.
    async fn reader(&self) -> Result<OwnedMutexGuard<Connection>, StoreError> {
        self.check_open()?;
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for i in 0..self.readers.len() {
            let reader = &self.readers[(start + i) % self.readers.len()];
            if let Ok(guard) = Arc::clone(reader).try_lock_owned() {
                return Ok(guard);
            }
        }
        Ok(Arc::clone(&self.readers[start % self.readers.len()])
            .lock_owned()
            .await)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Writer,
    Reader,
    Checkpointer,
}

fn open(path: &Path, role: Role) -> Result<Connection, StoreError> {
    let flags = match role {
        Role::Reader => OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        Role::Writer | Role::Checkpointer => {
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
        }
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    if role == Role::Writer {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // Commits only append to the WAL; the checkpointer thread does the rest.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Every [`CHECKPOINT_EVERY`], until the returned sender is dropped, copies the WAL into
/// the database file with a passive checkpoint, which never waits for readers or the
/// writer. When the WAL has grown past [`WAL_RESTART_FRAMES`] anyway, it takes the writer
/// (write transactions wait for it without holding a thread) and checkpoints the rest.
fn spawn_checkpointer(
    conn: Connection,
    writer: Arc<Mutex<Connection>>,
    checkpointing: Arc<std::sync::Mutex<()>>,
) -> Result<mpsc::Sender<()>, StoreError> {
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY)
            {
                let passive = {
                    let _exclusive = exclusive(&checkpointing);
                    checkpoint(&conn)
                };
                let outcome = passive.and_then(|wal_frames| {
                    if wal_frames < WAL_RESTART_FRAMES {
                        return Ok(());
                    }
                    let _writes_wait = writer.blocking_lock();
                    let _exclusive = exclusive(&checkpointing);
                    checkpoint(&conn).map(|_| ())
                });
                if let Err(error) = outcome {
                    tracing::warn!(%error, "SQLite WAL checkpoint failed");
                }
            }
        })?;
    Ok(stop)
}

/// The right to checkpoint (see `SqliteStore::checkpointing`).
fn exclusive(checkpointing: &std::sync::Mutex<()>) -> std::sync::MutexGuard<'_, ()> {
    // The lock guards no data: a panic while it was held leaves nothing to repair.
    checkpointing
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A passive checkpoint; how many frames the WAL holds.
fn checkpoint(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // Holding the writer keeps this process's transactions out while the schema changes.
        let writer = self.writer.lock().await;
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(self.options.clone())
            .await?;
        let migrated = MIGRATIONS.run(&pool).await;
        pool.close().await;
        migrated?;
        drop(writer);
        for table in search_text::FOLD_ORDER {
            let (mut folded, mut after) = (0, uuid::Uuid::nil());
            loop {
                // The writer for one batch at a time, so that the checkpointer may take
                // it in between and the WAL stays bounded. `BEGIN IMMEDIATE` takes the
                // database's write lock: no other process writes during a batch either.
                let mut writer = self.writer.lock().await;
                writer.execute_batch("BEGIN IMMEDIATE")?;
                let batch = match search_text::fold_pending(&mut *writer, table, after).await {
                    Ok(batch) => batch,
                    Err(error) => {
                        writer.execute_batch("ROLLBACK")?;
                        return Err(error);
                    }
                };
                writer.execute_batch("COMMIT")?;
                let Some(batch) = batch else { break };
                (folded, after) = (folded + batch.rows, batch.last);
            }
            search_text::log_folded(table, folded);
        }
        Ok(())
    }

    async fn begin_read(&self) -> Result<Box<dyn Transaction>, StoreError> {
        Ok(Box::new(SqliteTx::begin(
            self.reader().await?,
            "BEGIN",
            None,
            self.sealer.get().cloned(),
        )?))
    }

    async fn begin_write(&self) -> Result<Box<dyn Transaction>, StoreError> {
        self.check_open()?;
        let writer = Arc::clone(&self.writer).lock_owned().await;
        Ok(Box::new(SqliteTx::begin(
            writer,
            "BEGIN IMMEDIATE",
            Some(self.feed.clone()),
            self.sealer.get().cloned(),
        )?))
    }

    fn changes(&self) -> ChangeSubscription {
        self.feed.subscribe()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.reader().await?.query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    fn use_sealer(&self, sealer: Arc<dyn Sealer>) {
        let _ = self.sealer.set(sealer);
    }

    async fn close(&self) {
        // Refuses new transactions and waits for those in flight; the connections
        // themselves close with the store.
        self.closed.store(true, Ordering::Release);
        let writer = self.writer.lock().await;
        for reader in &self.readers {
            let _reader = reader.lock().await;
        }
        // Leaves every commit in the database file itself and the WAL empty, as closing
        // the last connection would, since the process may exit before the store drops.
        // Past this, with no writes let in, a checkpoint finds nothing left to copy.
        let _exclusive = exclusive(&self.checkpointing);
        match writer.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
            row.get::<_, i64>(0)
        }) {
            Ok(0) => {}
            Ok(_) => tracing::warn!("SQLite WAL checkpoint on close was blocked"),
            Err(error) => tracing::warn!(%error, "SQLite WAL checkpoint on close failed"),
        }
    }
}

pub(crate) struct SqliteTx {
    conn: OwnedMutexGuard<Connection>,
    touched: Touched,
    /// Where a write transaction tells its changes once committed.
    feed: Option<ChangeFeed>,
    sealer: Option<Arc<dyn Sealer>>,
}

impl SqliteTx {
    fn begin(
        conn: OwnedMutexGuard<Connection>,
        begin: &str,
        feed: Option<ChangeFeed>,
        sealer: Option<Arc<dyn Sealer>>,
    ) -> Result<Self, StoreError> {
        // Cached like any statement: BEGIN and COMMIT run once per request.
        conn.prepare_cached(begin)?.execute([])?;
        Ok(Self {
            conn,
            touched: Touched::default(),
            feed,
            sealer,
        })
    }

    fn sealer(&self) -> Option<&dyn Sealer> {
        self.sealer.as_deref()
    }

    fn note_change(&mut self, change: Change) {
        self.touched.note(change);
    }

    fn conn(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if !self.conn.is_autocommit()
            && let Err(error) = self.conn.execute_batch("ROLLBACK")
        {
            tracing::error!(%error, "rolling back a SQLite transaction failed");
        }
    }
}

#[async_trait]
impl Transaction for SqliteTx {
    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        if self.feed.is_some() {
            let claim = idempotency::current_claim();
            idempotency::mark_claimed_work(&mut *self, claim.as_ref()).await?;
        }
        self.conn().prepare_cached("COMMIT")?.execute([])?;
        if let Some(feed) = &self.feed {
            feed.publish(self.touched.take());
        }
        Ok(())
    }
}

#[async_trait]
impl Executor for Connection {
    async fn fetch(
        &mut self,
        sql: Cow<'static, str>,
        params: Vec<Param>,
        numbering: Numbering,
        max_rows: Option<usize>,
    ) -> Result<Vec<Row>, StoreError> {
        fetch(self, &sql, &params, numbering, max_rows)
    }

    async fn execute(
        &mut self,
        sql: Cow<'static, str>,
        params: Vec<Param>,
        numbering: Numbering,
    ) -> Result<u64, StoreError> {
        fetch(self, &sql, &params, numbering, Some(0))?;
        Ok(self.changes())
    }
}

/// Runs a statement to its end (or until `max_rows` rows are read) and returns its rows.
fn fetch(
    conn: &Connection,
    sql: &str,
    params: &[Param],
    numbering: Numbering,
    max_rows: Option<usize>,
) -> Result<Vec<Row>, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    // `$n` is a named parameter to SQLite, numbered by first appearance.
    for index in 1..=statement.parameter_count() {
        let position = match numbering {
            Numbering::InOrder => {
                debug_assert_eq!(
                    statement.parameter_name(index),
                    Some(format!("${index}").as_str()),
                    "placeholders out of order in {sql}"
                );
                index
            }
            Numbering::ByName => match statement.parameter_name(index) {
                Some(name) => name[1..].parse::<usize>().map_err(|_| {
                    StoreError::Corrupt(format!("placeholder {name} is not $n in {sql}"))
                })?,
                None => index,
            },
        };
        let param = params
            .get(position - 1)
            .ok_or_else(|| StoreError::Corrupt(format!("no value for ${position} in {sql}")))?;
        statement.raw_bind_parameter(index, SqliteParam(param))?;
    }
    // Named once per statement, and only when it returns rows (most writes do not).
    let mut columns: Option<Arc<[String]>> = None;
    // A write is only done once its statement has run to the end, rows or not.
    let writes = !statement.readonly();
    let mut rows = statement.raw_query();
    let mut read = Vec::new();
    while let Some(row) = rows.next()? {
        if max_rows.is_some_and(|max| read.len() >= max) {
            if writes {
                continue;
            }
            break;
        }
        let columns = columns.get_or_insert_with(|| {
            let statement: &rusqlite::Statement = row.as_ref();
            statement
                .column_names()
                .into_iter()
                .map(str::to_owned)
                .collect()
        });
        let values = (0..columns.len())
            .map(|i| {
                Ok(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(v) => Value::Real(v),
                    ValueRef::Text(text) => Value::Text(
                        std::str::from_utf8(text)
                            .map_err(|e| StoreError::Corrupt(format!("column {i}: {e}")))?
                            .to_owned(),
                    ),
                    ValueRef::Blob(bytes) => Value::Blob(bytes.to_vec()),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        read.push(Row::new(Arc::clone(columns), values));
    }
    Ok(read)
}

struct SqliteParam<'a>(&'a Param);

impl ToSql for SqliteParam<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Param::Null(_) => ToSqlOutput::Borrowed(ValueRef::Null),
            Param::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Param::Real(v) => ToSqlOutput::Borrowed(ValueRef::Real(*v)),
            Param::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Param::Bool(v) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*v))),
            // As sqlx stored them: 16 bytes.
            Param::Uuid(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v.as_bytes())),
        })
    }
}

organizations::impl_organizations!(SqliteTx);
memberships::impl_memberships!(SqliteTx);
tokens::impl_api_tokens!(SqliteTx);
agents::impl_agents!(SqliteTx);
scenarios::impl_scenarios!(SqliteTx, lock_sql = scenarios::LOCK_SCENARIO_SQLITE);
steps::impl_steps!(SqliteTx);
contacts::impl_contacts!(SqliteTx);
conversations::impl_conversations!(
    SqliteTx,
    lock_clause = "",
    member_loads = conversations::MEMBER_LOADS_SQLITE,
    text_match = conversations::push_text_match_sqlite
);
messages::impl_messages!(SqliteTx);
board::impl_board!(
    SqliteTx,
    claim_sql = board::CLAIM_SQLITE,
    text_match = conversations::push_text_match_sqlite
);
timeline::impl_timeline!(
    SqliteTx,
    claim_sql = timeline::CLAIM_OUTBOX_SQLITE,
    take_sql = timeline::TAKE_OUTBOX_SQLITE,
    prune_sql = timeline::PRUNE_OUTBOX_SQLITE
);
labels::impl_labels!(SqliteTx);
leads::impl_leads!(SqliteTx);
delivery::impl_deliveries!(SqliteTx);
ai::impl_ai!(SqliteTx);
sessions::impl_sessions!(SqliteTx);
reports::impl_reports!(SqliteTx);
notes::impl_notes!(SqliteTx, take_sql = notes::TAKE_REMINDERS_SQLITE);
contact_variables::impl_contact_variables!(SqliteTx);
idempotency::impl_idempotency_keys!(SqliteTx);
crm_events::impl_crm_events!(SqliteTx, json_text = crm_events::json_text_sqlite);
