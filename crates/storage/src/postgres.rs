//! PostgreSQL, for several server processes sharing one database.

use std::str::FromStr;
use std::time::Duration;

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Column, PgConnection, PgPool, Postgres, Row as _, TypeInfo, ValueRef};
use uuid::Uuid;

use crate::changes::{CHANNEL, Change, ChangeFeed, ChangeSubscription, Touched};
use crate::repos::{
    agents, ai, board, contact_variables, contacts, conversations, crm_events, delivery,
    idempotency, labels, leads, memberships, messages, notes, organizations, reports, scenarios,
    search_text, sessions, steps, timeline, tokens,
};
use crate::sql::{Executor, Kind, Numbering, Param, Row, Value};
use crate::{Backend, Sealer, Store, StoreError, Transaction};

const MAX_CONNECTIONS: u32 = 10;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The PostgreSQL migrations, compiled in.
pub(crate) static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The advisory lock that folding the search text after migrating takes, batch by batch
/// (any fixed number other than sqlx's migration lock would do: "search" in ASCII).
const FOLD_LOCK: i64 = 0x7365_6172_6368;

pub(crate) struct PgStore {
    pool: PgPool,
    /// What the server's one listener hears of committed changes, from every server.
    feed: ChangeFeed,
    listening: std::sync::Once,
    sealer: std::sync::OnceLock<Arc<dyn Sealer>>,
}

impl PgStore {
    pub(crate) async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            feed: ChangeFeed::default(),
            listening: std::sync::Once::new(),
            sealer: std::sync::OnceLock::new(),
        })
    }
}

/// Hears every server's change notices and tells this server's subscribers. A lost
/// connection may have lost notices: subscribers are told to re-read, and it listens again.
async fn listen_for_changes(pool: PgPool, feed: ChangeFeed) {
    let mut connected = false;
    loop {
        let listener = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match listener.await {
            Ok(listener) => listener,
            Err(error) => {
                if pool.is_closed() {
                    return;
                }
                tracing::warn!(%error, "cannot listen for change notices; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if connected {
            feed.resync();
        }
        connected = true;
        loop {
            match listener.try_recv().await {
                Ok(Some(notice)) => feed.publish(
                    notice
                        .payload()
                        .split(' ')
                        .filter_map(Change::decode)
                        .collect(),
                ),
                // The connection dropped; it reconnects on the next call.
                Ok(None) => feed.resync(),
                Err(error) => {
                    if pool.is_closed() {
                        return;
                    }
                    tracing::warn!(%error, "lost the change listener; reconnecting");
                    break;
                }
            }
        }
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATIONS.run(&self.pool).await?;
        for table in search_text::FOLD_ORDER {
            let (mut folded, mut after) = (0, Uuid::nil());
            loop {
                // Nodes started together take turns, a batch each: each batch reads what
                // the previous one left unfolded, so no row is folded twice.
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(FOLD_LOCK)
                    .execute(&mut *tx)
                    .await?;
                let batch = search_text::fold_pending(&mut *tx, table, after).await?;
                tx.commit().await?;
                let Some(batch) = batch else { break };
                (folded, after) = (folded + batch.rows, batch.last);
            }
            search_text::log_folded(table, folded);
        }
        Ok(())
    }

    async fn begin_read(&self) -> Result<Box<dyn Transaction>, StoreError> {
        let tx = begin_detached(
            &self.pool,
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )
        .await?;
        Ok(Box::new(PgTx {
            tx,
            writes: false,
            touched: Touched::default(),
            sealer: self.sealer.get().cloned(),
        }))
    }

    async fn begin_write(&self) -> Result<Box<dyn Transaction>, StoreError> {
        let tx = begin_detached(&self.pool, "BEGIN").await?;
        Ok(Box::new(PgTx {
            tx,
            writes: true,
            touched: Touched::default(),
            sealer: self.sealer.get().cloned(),
        }))
    }

    fn changes(&self) -> ChangeSubscription {
        // Listening starts with the first subscriber: commands that never watch (the
        // admin CLI) hold no listener connection.
        let subscription = self.feed.subscribe();
        self.listening.call_once(|| {
            tokio::spawn(listen_for_changes(self.pool.clone(), self.feed.clone()));
        });
        subscription
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn use_sealer(&self, sealer: Arc<dyn Sealer>) {
        let _ = self.sealer.set(sealer);
    }
}

/// Opens a transaction on a task of its own. sqlx 0.9.0 counts a transaction as open only
/// once `BEGIN` has been answered, so a caller dropped during that round trip (a client
/// that resets its connection) leaves the pooled connection inside a transaction that
/// nothing rolls back, and the next borrower's statements run in it (transact-rs/sqlx#4393,
/// fixed after 0.9.0). Detached, the round trip always completes; a transaction whose
/// caller has gone is then dropped, and rolled back, like any other.
async fn begin_detached(
    pool: &PgPool,
    statement: &'static str,
) -> Result<sqlx::Transaction<'static, Postgres>, StoreError> {
    let pool = pool.clone();
    tokio::spawn(async move { pool.begin_with(statement).await })
        .await
        .map_err(|_| StoreError::Closed)?
        .map_err(StoreError::from)
}

pub(crate) struct PgTx {
    tx: sqlx::Transaction<'static, Postgres>,
    /// Opened by `begin_write`.
    writes: bool,
    touched: Touched,
    sealer: Option<Arc<dyn Sealer>>,
}

/// How many changes one notice carries: a payload stays far under PostgreSQL's 8000 bytes.
const CHANGES_PER_NOTICE: usize = 80;

impl PgTx {
    fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    fn sealer(&self) -> Option<&dyn Sealer> {
        self.sealer.as_deref()
    }

    fn note_change(&mut self, change: Change) {
        self.touched.note(change);
    }
}

#[async_trait]
impl Transaction for PgTx {
    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        // Detached for the same reason as `begin_detached`: once the caller commits, the
        // outcome no longer depends on whether it stays to hear it.
        let claim = self.writes.then(idempotency::current_claim).flatten();
        tokio::spawn(async move {
            idempotency::mark_claimed_work(&mut *self, claim.as_ref()).await?;
            // Sent in the transaction, so listeners hear of it only if it commits.
            let changes = self.touched.take();
            for batch in changes.chunks(CHANGES_PER_NOTICE) {
                let payload: Vec<String> = batch.iter().map(Change::encode).collect();
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(payload.join(" "))
                    .execute(&mut *self.tx)
                    .await?;
            }
            self.tx.commit().await?;
            Ok(())
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}

#[async_trait]
impl Executor for PgConnection {
    async fn fetch(
        &mut self,
        sql: Cow<'static, str>,
        params: Vec<Param>,
        // PostgreSQL numbers `$n` as written.
        _numbering: Numbering,
        max_rows: Option<usize>,
    ) -> Result<Vec<Row>, StoreError> {
        let query = bind(sql, params);
        let rows = match max_rows {
            Some(1) => query
                .fetch_optional(&mut *self)
                .await?
                .into_iter()
                .collect(),
            _ => query.fetch_all(&mut *self).await?,
        };
        let Some(first) = rows.first() else {
            return Ok(Vec::new());
        };
        let columns: Arc<[String]> = first
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        rows.iter()
            .map(|row| Ok(Row::new(Arc::clone(&columns), values(row)?)))
            .collect()
    }

    async fn execute(
        &mut self,
        sql: Cow<'static, str>,
        params: Vec<Param>,
        _numbering: Numbering,
    ) -> Result<u64, StoreError> {
        Ok(bind(sql, params).execute(&mut *self).await?.rows_affected())
    }
}

fn bind(
    sql: Cow<'static, str>,
    params: Vec<Param>,
) -> sqlx::query::Query<'static, Postgres, PgArguments> {
    params.into_iter().fold(
        sqlx::query(AssertSqlSafe(sql)),
        |query, param| match param {
            Param::Null(Kind::Int) => query.bind(None::<i64>),
            Param::Null(Kind::Real) => query.bind(None::<f64>),
            Param::Null(Kind::Text) => query.bind(None::<String>),
            Param::Null(Kind::Bool) => query.bind(None::<bool>),
            Param::Null(Kind::Uuid) => query.bind(None::<Uuid>),
            Param::Int(v) => query.bind(v),
            Param::Real(v) => query.bind(v),
            Param::Text(v) => query.bind(v),
            Param::Bool(v) => query.bind(v),
            Param::Uuid(v) => query.bind(v),
        },
    )
}

/// A row's values, by the types of its columns.
fn values(row: &PgRow) -> Result<Vec<Value>, StoreError> {
    (0..row.len())
        .map(|i| {
            if row.try_get_raw(i)?.is_null() {
                return Ok(Value::Null);
            }
            Ok(match row.column(i).type_info().name() {
                "BOOL" => Value::Bool(row.try_get(i)?),
                "INT2" => Value::Int(row.try_get::<i16, _>(i)?.into()),
                "INT4" => Value::Int(row.try_get::<i32, _>(i)?.into()),
                "INT8" => Value::Int(row.try_get(i)?),
                "FLOAT4" => Value::Real(row.try_get::<f32, _>(i)?.into()),
                "FLOAT8" => Value::Real(row.try_get(i)?),
                "UUID" => Value::Uuid(row.try_get(i)?),
                "BYTEA" => Value::Blob(row.try_get(i)?),
                "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => Value::Text(row.try_get(i)?),
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "column {:?} has a type storage does not read: {other}",
                        row.column(i).name()
                    )));
                }
            })
        })
        .collect()
}

organizations::impl_organizations!(PgTx);
memberships::impl_memberships!(PgTx);
tokens::impl_api_tokens!(PgTx);
agents::impl_agents!(PgTx);
scenarios::impl_scenarios!(PgTx, lock_sql = scenarios::LOCK_SCENARIO_POSTGRES);
steps::impl_steps!(PgTx);
contacts::impl_contacts!(PgTx);
// Row locks are `FOR NO KEY UPDATE` throughout: no key ever changes, and a row inserted
// with a foreign key to a locked one (a delivery's conversation) takes `FOR KEY SHARE`,
// which `FOR UPDATE` would block: two workers deadlocked that way.
conversations::impl_conversations!(
    PgTx,
    lock_clause = " FOR NO KEY UPDATE",
    member_loads = conversations::MEMBER_LOADS_POSTGRES,
    text_match = conversations::push_text_match_postgres
);
messages::impl_messages!(PgTx);
board::impl_board!(
    PgTx,
    claim_sql = board::CLAIM_POSTGRES,
    text_match = conversations::push_text_match_postgres
);
timeline::impl_timeline!(
    PgTx,
    claim_sql = timeline::CLAIM_OUTBOX_POSTGRES,
    take_sql = timeline::TAKE_OUTBOX_POSTGRES,
    prune_sql = timeline::PRUNE_OUTBOX_POSTGRES
);
labels::impl_labels!(PgTx);
leads::impl_leads!(PgTx);
delivery::impl_deliveries!(PgTx);
ai::impl_ai!(PgTx);
sessions::impl_sessions!(PgTx);
reports::impl_reports!(PgTx);
notes::impl_notes!(PgTx, take_sql = notes::TAKE_REMINDERS_POSTGRES);
contact_variables::impl_contact_variables!(PgTx);
idempotency::impl_idempotency_keys!(PgTx);
crm_events::impl_crm_events!(PgTx, json_text = crm_events::json_text_postgres);
