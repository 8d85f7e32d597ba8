//! PostgreSQL, for several server processes sharing one database.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres};

use crate::repos::{
    agents, board, contacts, conversations, delivery, labels, leads, memberships, messages,
    organizations, scenarios, steps, timeline, tokens,
};
use crate::{Backend, Store, StoreError, Transaction};

const MAX_CONNECTIONS: u32 = 10;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub(crate) async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn begin_read(&self) -> Result<Box<dyn Transaction>, StoreError> {
        let tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        Ok(Box::new(PgTx { tx }))
    }

    async fn begin_write(&self) -> Result<Box<dyn Transaction>, StoreError> {
        let tx = self.pool.begin().await?;
        Ok(Box::new(PgTx { tx }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

pub(crate) struct PgTx {
    tx: sqlx::Transaction<'static, Postgres>,
}

impl PgTx {
    fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

#[async_trait]
impl Transaction for PgTx {
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

organizations::impl_organizations!(PgTx);
memberships::impl_memberships!(PgTx);
tokens::impl_api_tokens!(PgTx);
agents::impl_agents!(PgTx);
scenarios::impl_scenarios!(PgTx, lock_sql = scenarios::LOCK_SCENARIO_POSTGRES);
steps::impl_steps!(PgTx);
contacts::impl_contacts!(PgTx, sqlx::Postgres);
conversations::impl_conversations!(
    PgTx,
    sqlx::Postgres,
    lock_sql = conversations::LOCK_CONVERSATION_POSTGRES
);
messages::impl_messages!(PgTx);
board::impl_board!(PgTx, sqlx::Postgres, claim_sql = board::CLAIM_POSTGRES);
timeline::impl_timeline!(
    PgTx,
    sqlx::Postgres,
    claim_sql = timeline::CLAIM_OUTBOX_POSTGRES
);
labels::impl_labels!(PgTx);
leads::impl_leads!(PgTx, sqlx::Postgres);
delivery::impl_deliveries!(PgTx);
