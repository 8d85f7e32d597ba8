//! Idempotency keys: the reservation a keyed POST takes before it runs, the mark its
//! first committed write leaves, and the answer it gave.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use stagecoach_domain::ids::{ApiTokenId, OrganizationId};
use uuid::Uuid;

use crate::StoreError;

/// Whose key it is: keys are per organization and token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyScope {
    pub organization_id: OrganizationId,
    pub token_id: ApiTokenId,
    pub key: String,
}

/// A request's answer, kept to be given again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

/// What a key holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    /// The run of the request that holds the key.
    pub reservation: Uuid,
    /// The server process running (or that ran) it.
    pub server: Uuid,
    /// Whether that process is alive: its heartbeat is recent.
    pub server_alive: bool,
    /// Whether a write of the request has committed.
    pub work_done: bool,
    /// `None` while the request runs, or when its process stopped before answering.
    pub answer: Option<KeptAnswer>,
}

/// A run of a request, as the key records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOfRequest<'a> {
    pub reservation: Uuid,
    pub server: Uuid,
    pub request_hash: &'a str,
}

#[async_trait]
pub trait IdempotencyKeys {
    /// The key's record unless it expired by `now`; its server counts as alive when it
    /// beat its heartbeat since `alive_since`.
    async fn find_idempotency_key(
        &mut self,
        scope: &IdempotencyScope,
        now: DateTime<Utc>,
        alive_since: DateTime<Utc>,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;
    /// Reserves the key for `run`, replacing a record expired by `now`; `false` when a
    /// live record holds it.
    async fn reserve_idempotency_key(
        &mut self,
        scope: &IdempotencyScope,
        run: RunOfRequest<'_>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Hands the key from the run `abandoned` (unanswered, none of its work committed, its
    /// server stopped) to `run`; `false` when the record changed meanwhile.
    async fn take_over_idempotency_key(
        &mut self,
        scope: &IdempotencyScope,
        abandoned: Uuid,
        run: RunOfRequest<'_>,
    ) -> Result<bool, StoreError>;
    /// Marks the work of the run `reservation` done, in the transaction that does it;
    /// `false` when that run no longer holds the key.
    async fn mark_idempotent_work(
        &mut self,
        scope: &IdempotencyScope,
        reservation: Uuid,
    ) -> Result<bool, StoreError>;
    /// Keeps the answer of the run `reservation`; `false` when it no longer holds the key.
    async fn answer_idempotency_key(
        &mut self,
        scope: &IdempotencyScope,
        reservation: Uuid,
        answer: &KeptAnswer,
    ) -> Result<bool, StoreError>;
    /// Drops the run's unanswered reservation if none of its work committed, so the key
    /// can be used again; `false` when work was done (the reservation stays).
    async fn release_idempotency_key(
        &mut self,
        scope: &IdempotencyScope,
        reservation: Uuid,
    ) -> Result<bool, StoreError>;
    /// Deletes up to `limit` records expired by `now` (every organization's).
    async fn prune_idempotency_keys(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<u64, StoreError>;
}

/// The reservation a request runs under. While a request's task runs inside
/// [`within_claim`], every write transaction it commits marks the reservation's work done
/// in that same transaction, so a crash between the work and the answer cannot lead to
/// the work being done again; the claim rides with the task rather than through every
/// use case's arguments.
#[derive(Debug, Clone)]
pub struct IdempotencyClaim {
    pub scope: IdempotencyScope,
    /// The run of the request the task is.
    pub reservation: Uuid,
}

tokio::task_local! {
    static CLAIM: IdempotencyClaim;
}

/// Runs `work` under `claim` (see [`IdempotencyClaim`]). Tasks it spawns do not inherit it.
pub async fn within_claim<F: std::future::Future>(claim: IdempotencyClaim, work: F) -> F::Output {
    CLAIM.scope(claim, work).await
}

/// The claim the current task runs under, if any.
pub fn current_claim() -> Option<IdempotencyClaim> {
    CLAIM.try_with(IdempotencyClaim::clone).ok()
}

/// Marks the work of the claim the task runs under done, in `tx`; a claim another run of
/// the request has taken over (a server taken for stopped) refuses the commit.
pub(crate) async fn mark_claimed_work<T: IdempotencyKeys + Send + ?Sized>(
    tx: &mut T,
    claim: Option<&IdempotencyClaim>,
) -> Result<(), StoreError> {
    match claim {
        Some(claim)
            if !tx
                .mark_idempotent_work(&claim.scope, claim.reservation)
                .await? =>
        {
            Err(StoreError::Superseded)
        }
        _ => Ok(()),
    }
}

crate::sql::row_struct! {
    pub(crate) struct IdempotencyRow {
        request_hash: String,
        reservation_id: Uuid,
        server_id: Uuid,
        server_alive: bool,
        work_done: bool,
        answer_status: Option<i64>,
        answer_type: Option<String>,
        answer_body: Option<String>,
    }
}

impl IdempotencyRow {
    pub(crate) fn into_record(self) -> Result<IdempotencyRecord, StoreError> {
        let answer = match self.answer_status {
            None => None,
            Some(status) => Some(KeptAnswer {
                status: u16::try_from(status)
                    .map_err(|_| StoreError::Corrupt(format!("answer status {status}")))?,
                content_type: self.answer_type,
                body: self.answer_body.unwrap_or_default(),
            }),
        };
        Ok(IdempotencyRecord {
            request_hash: self.request_hash,
            reservation: self.reservation_id,
            server: self.server_id,
            server_alive: self.server_alive,
            work_done: self.work_done,
            answer,
        })
    }
}

/// The condition that names one key, bound as `$1`, `$2`, `$3`.
macro_rules! one_key {
    () => {
        "organization_id = $1 AND token_id = $2 AND idempotency_key = $3"
    };
}
pub(crate) use one_key;

/// A statement about one key, its `$1`, `$2`, `$3` bound to it (see [`one_key`]).
pub(crate) fn about_key(sql: &'static str, scope: &IdempotencyScope) -> crate::sql::Query {
    crate::sql::query(sql)
        .bind(scope.organization_id.0)
        .bind(scope.token_id.0)
        .bind(&scope.key)
}

macro_rules! impl_idempotency_keys {
    ($tx:ty) => {
        #[async_trait::async_trait]
        impl $crate::repos::idempotency::IdempotencyKeys for $tx {
            async fn find_idempotency_key(
                &mut self,
                scope: &$crate::repos::idempotency::IdempotencyScope,
                now: chrono::DateTime<chrono::Utc>,
                alive_since: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<$crate::repos::idempotency::IdempotencyRecord>, $crate::StoreError> {
                let sql = concat!(
                    "SELECT request_hash, reservation_id, server_id, work_done, answer_status, \
                     answer_type, answer_body, EXISTS (SELECT 1 FROM worker_heartbeats \
                     WHERE worker_id = server_id AND beat_at >= $5) AS server_alive \
                     FROM idempotency_keys WHERE ",
                    $crate::repos::idempotency::one_key!(),
                    " AND expires_at > $4"
                );
                $crate::sql::query_as::<$crate::repos::idempotency::IdempotencyRow>(sql)
                    .bind(scope.organization_id.0)
                    .bind(scope.token_id.0)
                    .bind(&scope.key)
                    .bind($crate::rows::millis(now))
                    .bind($crate::rows::millis(alive_since))
                    .fetch_optional(self.conn())
                    .await?
                    .map($crate::repos::idempotency::IdempotencyRow::into_record)
                    .transpose()
            }

            async fn reserve_idempotency_key(
                &mut self,
                scope: &$crate::repos::idempotency::IdempotencyScope,
                run: $crate::repos::idempotency::RunOfRequest<'_>,
                now: chrono::DateTime<chrono::Utc>,
                expires_at: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, $crate::StoreError> {
                let insert = || {
                    $crate::repos::idempotency::about_key(
                        "INSERT INTO idempotency_keys (organization_id, token_id, idempotency_key, \
                         request_hash, reservation_id, server_id, work_done, created_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7, $8) ON CONFLICT DO NOTHING",
                        scope,
                    )
                    .bind(run.request_hash)
                    .bind(run.reservation)
                    .bind(run.server)
                    .bind($crate::rows::millis(now))
                    .bind($crate::rows::millis(expires_at))
                };
                // A new key, the common case, is one statement.
                if insert().execute(self.conn()).await?.rows_affected() == 1 {
                    return Ok(true);
                }
                let expired = $crate::repos::idempotency::about_key(
                    concat!(
                        "DELETE FROM idempotency_keys WHERE ",
                        $crate::repos::idempotency::one_key!(),
                        " AND expires_at <= $4"
                    ),
                    scope,
                )
                .bind($crate::rows::millis(now))
                .execute(self.conn())
                .await?;
                if expired.rows_affected() == 0 {
                    return Ok(false);
                }
                Ok(insert().execute(self.conn()).await?.rows_affected() == 1)
            }

            async fn take_over_idempotency_key(
                &mut self,
                scope: &$crate::repos::idempotency::IdempotencyScope,
                abandoned: uuid::Uuid,
                run: $crate::repos::idempotency::RunOfRequest<'_>,
            ) -> Result<bool, $crate::StoreError> {
                let taken = $crate::repos::idempotency::about_key(
                    concat!(
                        "UPDATE idempotency_keys SET reservation_id = $5, server_id = $6, \
                         request_hash = $7 WHERE ",
                        $crate::repos::idempotency::one_key!(),
                        " AND reservation_id = $4 AND answer_status IS NULL AND NOT work_done"
                    ),
                    scope,
                )
                .bind(abandoned)
                .bind(run.reservation)
                .bind(run.server)
                .bind(run.request_hash)
                .execute(self.conn())
                .await?;
                Ok(taken.rows_affected() == 1)
            }

            async fn mark_idempotent_work(
                &mut self,
                scope: &$crate::repos::idempotency::IdempotencyScope,
                reservation: uuid::Uuid,
            ) -> Result<bool, $crate::StoreError> {
                let marked = $crate::repos::idempotency::about_key(
                    concat!(
                        "UPDATE idempotency_keys SET work_done = TRUE WHERE ",
                        $crate::repos::idempotency::one_key!(),
                        " AND reservation_id = $4"
                    ),
                    scope,
                )
                .bind(reservation)
                .execute(self.conn())
                .await?;
                Ok(marked.rows_affected() == 1)
            }

            async fn answer_idempotency_key(
                &mut self,
                scope: &$crate::repos::idempotency::IdempotencyScope,
                reservation: uuid::Uuid,
                answer: &$crate::repos::idempotency::KeptAnswer,
            ) -> Result<bool, $crate::StoreError> {
                let answered = $crate::repos::idempotency::about_key(
                    concat!(
                        "UPDATE idempotency_keys SET answer_status = $5, answer_type = $6, \
                         answer_body = $7 WHERE ",
                        $crate::repos::idempotency::one_key!(),
                        " AND reservation_id = $4"
                    ),
                    scope,
                )
                .bind(reservation)
                .bind(i64::from(answer.status))
                .bind(&answer.content_type)
                .bind(&answer.body)
                .execute(self.conn())
                .await?;
                Ok(answered.rows_affected() == 1)
            }

            async fn release_idempotency_key(
                &mut self,
                scope: &$crate::repos::idempotency::IdempotencyScope,
                reservation: uuid::Uuid,
            ) -> Result<bool, $crate::StoreError> {
                let released = $crate::repos::idempotency::about_key(
                    concat!(
                        "DELETE FROM idempotency_keys WHERE ",
                        $crate::repos::idempotency::one_key!(),
                        " AND reservation_id = $4 AND answer_status IS NULL AND NOT work_done"
                    ),
                    scope,
                )
                .bind(reservation)
                .execute(self.conn())
                .await?;
                Ok(released.rows_affected() == 1)
            }

            async fn prune_idempotency_keys(
                &mut self,
                now: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> Result<u64, $crate::StoreError> {
                let pruned = $crate::sql::query(
                    "DELETE FROM idempotency_keys WHERE (organization_id, token_id, idempotency_key) IN \
                     (SELECT organization_id, token_id, idempotency_key FROM idempotency_keys \
                     WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)",
                )
                .bind($crate::rows::millis(now))
                .bind(limit)
                .execute(self.conn())
                .await?;
                Ok(pruned.rows_affected())
            }
        }
    };
}
pub(crate) use impl_idempotency_keys;
