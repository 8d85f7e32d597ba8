//! The benchmark's own connection to the server's database: it creates a fresh database,
//! bulk-loads seed rows (inserting a million conversations through the API would take
//! longer than the benchmark itself) and reads counts while the timers drain.

use std::path::Path;

use anyhow::Context;
use sqlx::{AssertSqlSafe, Connection, PgPool, SqlitePool};
use uuid::Uuid;

/// Which engine the run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Sqlite,
    Postgres,
}

pub enum BenchDb {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A database made for one run: its URL for the server, and what to drop afterwards.
pub struct FreshDatabase {
    pub url: String,
    pub engine: Engine,
    /// PostgreSQL: the server URL and the database to drop when the run ends.
    drop_on_finish: Option<(String, String)>,
}

impl FreshDatabase {
    /// SQLite: a new file in `dir`. PostgreSQL: a new database on the server of
    /// `postgres_url`, named after this process, so runs never share data.
    pub async fn create(postgres_url: Option<&str>, dir: &Path) -> anyhow::Result<Self> {
        let Some(server) = postgres_url else {
            return Ok(Self {
                url: format!("sqlite://{}", dir.join("bench.db").display()),
                engine: Engine::Sqlite,
                drop_on_finish: None,
            });
        };
        let name = format!(
            "stagecoach_bench_{}_{}",
            std::process::id(),
            rand::random::<u32>()
        );
        let mut admin = sqlx::PgConnection::connect(server)
            .await
            .with_context(|| format!("cannot connect to PostgreSQL at {server}"))?;
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .context("cannot create the benchmark database")?;
        let mut url = url::Url::parse(server).context("the PostgreSQL URL does not parse")?;
        url.set_path(&name);
        Ok(Self {
            url: url.to_string(),
            engine: Engine::Postgres,
            drop_on_finish: Some((server.to_owned(), name)),
        })
    }

    /// Drops a PostgreSQL database made for the run (the server must have stopped).
    pub async fn finish(self) -> anyhow::Result<()> {
        if let Some((server, name)) = self.drop_on_finish {
            let mut admin = sqlx::PgConnection::connect(&server).await?;
            sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await?;
        }
        Ok(())
    }
}

impl BenchDb {
    pub async fn connect(database: &FreshDatabase) -> anyhow::Result<Self> {
        Ok(match database.engine {
            Engine::Sqlite => {
                let options: sqlx::sqlite::SqliteConnectOptions = database.url.parse()?;
                let options = options
                    .busy_timeout(std::time::Duration::from_secs(30))
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
                Self::Sqlite(
                    sqlx::sqlite::SqlitePoolOptions::new()
                        .max_connections(1)
                        .connect_with(options)
                        .await?,
                )
            }
            Engine::Postgres => Self::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect(&database.url)
                    .await?,
            ),
        })
    }

    /// Runs statements given as literal SQL text (no bind parameters) in one transaction.
    pub async fn execute_batch(&self, sql: &str) -> anyhow::Result<()> {
        let wrapped = format!("BEGIN; {sql}; COMMIT;");
        match self {
            Self::Sqlite(pool) => {
                sqlx::raw_sql(AssertSqlSafe(wrapped)).execute(pool).await?;
            }
            Self::Postgres(pool) => {
                sqlx::raw_sql(AssertSqlSafe(wrapped)).execute(pool).await?;
            }
        }
        Ok(())
    }

    /// A single integer answer (`SELECT COUNT(*) …`); NULL reads as 0.
    pub async fn scalar(&self, sql: &str) -> anyhow::Result<i64> {
        Ok(match self {
            Self::Sqlite(pool) => {
                sqlx::query_scalar::<_, Option<i64>>(AssertSqlSafe(sql.to_owned()))
                    .fetch_one(pool)
                    .await?
                    .unwrap_or(0)
            }
            Self::Postgres(pool) => {
                sqlx::query_scalar::<_, Option<i64>>(AssertSqlSafe(sql.to_owned()))
                    .fetch_one(pool)
                    .await?
                    .unwrap_or(0)
            }
        })
    }

    /// Refreshes the planner's statistics after the bulk load, as autovacuum (PostgreSQL)
    /// or `PRAGMA optimize` (SQLite) would in a deployment that has been running.
    pub async fn analyze(&self) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(pool) => {
                sqlx::raw_sql("ANALYZE").execute(pool).await?;
            }
            Self::Postgres(pool) => {
                sqlx::raw_sql("VACUUM ANALYZE").execute(pool).await?;
            }
        }
        Ok(())
    }

    /// An id as a SQL literal of this engine's column type.
    pub fn uuid(&self, id: Uuid) -> String {
        match self {
            Self::Sqlite(_) => format!("X'{}'", id.simple()),
            Self::Postgres(_) => format!("'{id}'"),
        }
    }

    pub fn boolean(&self, value: bool) -> &'static str {
        match (self, value) {
            (Self::Sqlite(_), true) => "1",
            (Self::Sqlite(_), false) => "0",
            (Self::Postgres(_), true) => "TRUE",
            (Self::Postgres(_), false) => "FALSE",
        }
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}
