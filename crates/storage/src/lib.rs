//! Storage: one interface, [`Store`], with a SQLite and a PostgreSQL implementation.
//!
//! Work happens in transactions: [`Store::begin_read`] and [`Store::begin_write`] hand out a
//! [`Transaction`], whose methods are grouped by aggregate (organizations, tokens, agents,
//! scenarios, steps). Every method that reads or writes tenant data takes the organization id
//! and puts it in its `WHERE` clause. Dropping a transaction without committing rolls it back.
//!
//! The SQL is shared between the two engines wherever they agree (almost everywhere); each
//! repository module writes its queries once and stamps them out for both backends with a
//! macro, so a query can only differ between backends on purpose.

pub mod backup;
mod changes;
pub mod copy;
mod error;
mod postgres;
mod repos;
mod rows;
pub mod schema;
mod sql;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;

pub use changes::{Change, ChangeNotice, ChangeSubscription};
pub use error::StoreError;
pub use repos::agents::Agents;
pub use repos::ai::AiStore;
pub use repos::board::{AutoAdvanceBacklog, Board, PendingAutoAdvance, StayFilter};
pub use repos::contact_variables::ContactVariables;
pub use repos::contacts::{ContactFilter, Contacts};
pub use repos::conversations::{ChatSearch, ConversationFilter, Conversations, LinkWrite};
pub use repos::crm_events::{CRM_EVENT_KINDS, CrmEventFilter, CrmEvents};
pub use repos::delivery::{Attempt, Deliveries, RedeliveryFilter};
pub use repos::idempotency::{
    IdempotencyClaim, IdempotencyKeys, IdempotencyRecord, IdempotencyScope, KeptAnswer,
    RunOfRequest, current_claim, within_claim,
};
pub use repos::labels::Labels;
pub use repos::leads::{ActionFilter, Leads, PaymentTotal};
pub use repos::memberships::Memberships;
pub use repos::messages::Messages;
pub use repos::notes::Notes;
pub use repos::organizations::Organizations;
pub use repos::reports::{Reports, StepPayments};
pub use repos::scenarios::Scenarios;
pub use repos::sessions::{LoginLink, SessionOwner, Sessions, WebSession};
pub use repos::steps::Steps;
pub use repos::timeline::{OutboxBacklog, OutboxEntry, Timeline, TimelineEntry};
pub use repos::tokens::ApiTokens;

/// Which engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database holding any number of organizations.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Applies the embedded migrations that have not run yet. Safe to call from several
    /// processes at once (PostgreSQL serializes them with an advisory lock; SQLite with its
    /// single writer).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// A transaction for reads: a consistent snapshot, never blocked by the writer.
    async fn begin_read(&self) -> Result<Box<dyn Transaction>, StoreError>;

    /// A transaction that writes. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so it cannot fail half-way with `SQLITE_BUSY` after reading.
    async fn begin_write(&self) -> Result<Box<dyn Transaction>, StoreError>;

    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// What committed writes change from now on, on this server and (PostgreSQL) on
    /// every other server of the database.
    fn changes(&self) -> ChangeSubscription;

    /// Closes every connection, waiting for those in use to be returned.
    async fn close(&self);

    /// Hands the store the server key's [`Sealer`], for the secrets it keeps inside rows
    /// (a step's webhook headers). Until then those are written as they are. The first
    /// sealer given stays: a deployment has one key.
    fn use_sealer(&self, sealer: Arc<dyn Sealer>);
}

/// Encrypts the secrets kept inside rows the store reads and writes whole (a step's
/// webhook headers), with the server key the app holds.
pub trait Sealer: Send + Sync + 'static {
    fn seal(&self, plaintext: &str) -> String;
    /// `None` when `sealed` was not sealed with this key.
    fn open(&self, sealed: &str) -> Option<String>;
}

/// One unit of work. Drop it to roll back.
#[async_trait]
pub trait Transaction:
    Organizations
    + Memberships
    + ApiTokens
    + Agents
    + Scenarios
    + Steps
    + Contacts
    + Conversations
    + Messages
    + Board
    + Timeline
    + Labels
    + Leads
    + Deliveries
    + AiStore
    + Sessions
    + Reports
    + Notes
    + ContactVariables
    + CrmEvents
    + IdempotencyKeys
    + Send
{
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// The file a `sqlite:` URL names (relative paths stay relative), or `None` for another
/// kind of URL or one that does not parse.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    use std::str::FromStr;
    sqlx::sqlite::SqliteConnectOptions::from_str(url)
        .ok()
        .map(|options| options.get_filename().to_path_buf())
}

/// Opens the database a URL names: `sqlite://PATH` (created with its folder when missing) or
/// `postgres://…`. Does not migrate; call [`Store::migrate`].
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    match backend_of(url) {
        Some(Backend::Sqlite) => Ok(Arc::new(sqlite::SqliteStore::connect(url).await?)),
        Some(Backend::Postgres) => Ok(Arc::new(postgres::PgStore::connect(url).await?)),
        None => Err(StoreError::UnsupportedUrl),
    }
}

/// The engine a database URL names, by its scheme.
pub fn backend_of(url: &str) -> Option<Backend> {
    if url.starts_with("sqlite:") {
        Some(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Some(Backend::Postgres)
    } else {
        None
    }
}
