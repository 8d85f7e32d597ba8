//! The embedded default: one SQLite file in WAL mode, one writer connection and a few
//! read-only connections.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool};

use crate::repos::{
    agents, board, contacts, conversations, delivery, labels, leads, memberships, messages,
    organizations, scenarios, steps, timeline, tokens,
};
use crate::{Backend, Store, StoreError, Transaction};

/// How long a connection waits for a lock before giving up with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const READERS: u32 = 4;
/// Page cache per connection, in KiB (SQLite's default is 2 MiB): with 16 MiB the hot
/// indexes of a million conversations stay in memory instead of being read from the
/// OS for every lookup, and five connections stay well under the memory budget.
const CACHE_KIB: i64 = 16 * 1024;
/// Prepared statements kept per connection (sqlx's default is 100; the API uses more
/// distinct statements than that, and re-preparing them costs more than the memory).
const STATEMENT_CACHE: usize = 400;

pub(crate) struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
}

impl SqliteStore {
    pub(crate) async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("cache_size", format!("-{CACHE_KIB}"))
            .statement_cache_capacity(STATEMENT_CACHE);
        if let Some(folder) = options.get_filename().parent() {
            if !folder.as_os_str().is_empty() {
                std::fs::create_dir_all(folder)
                    .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
            }
        }
        // A single writer: SQLite allows one at a time anyway, and queuing in the pool is
        // cheaper and fairer than retrying on SQLITE_BUSY.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { writer, readers })
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.writer)
            .await?;
        Ok(())
    }

    async fn begin_read(&self) -> Result<Box<dyn Transaction>, StoreError> {
        let tx = self.readers.begin().await?;
        Ok(Box::new(SqliteTx { tx }))
    }

    async fn begin_write(&self) -> Result<Box<dyn Transaction>, StoreError> {
        let tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        Ok(Box::new(SqliteTx { tx }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}

pub(crate) struct SqliteTx {
    tx: sqlx::Transaction<'static, Sqlite>,
}

impl SqliteTx {
    fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}

#[async_trait]
impl Transaction for SqliteTx {
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

organizations::impl_organizations!(SqliteTx);
memberships::impl_memberships!(SqliteTx);
tokens::impl_api_tokens!(SqliteTx);
agents::impl_agents!(SqliteTx);
scenarios::impl_scenarios!(SqliteTx, lock_sql = scenarios::LOCK_SCENARIO_SQLITE);
steps::impl_steps!(SqliteTx);
contacts::impl_contacts!(SqliteTx, sqlx::Sqlite);
conversations::impl_conversations!(
    SqliteTx,
    sqlx::Sqlite,
    lock_sql = conversations::LOCK_CONVERSATION_SQLITE
);
messages::impl_messages!(SqliteTx);
board::impl_board!(SqliteTx, sqlx::Sqlite, claim_sql = board::CLAIM_SQLITE);
timeline::impl_timeline!(
    SqliteTx,
    sqlx::Sqlite,
    claim_sql = timeline::CLAIM_OUTBOX_SQLITE
);
labels::impl_labels!(SqliteTx);
leads::impl_leads!(SqliteTx, sqlx::Sqlite);
delivery::impl_deliveries!(SqliteTx);
