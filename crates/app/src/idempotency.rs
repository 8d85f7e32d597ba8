//! Idempotent POSTs: a request sent with an `Idempotency-Key` reserves the key before it
//! runs, runs under the reservation (its writes mark the key's work done as they commit,
//! see [`stagecoach_storage::IdempotencyClaim`]), and leaves its answer under the key for
//! retries. Keys are per organization and token.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use stagecoach_domain::idempotency::{self, KeyState, Verdict};
use stagecoach_storage::{
    IdempotencyClaim, IdempotencyScope, KeptAnswer, RunOfRequest, current_claim, within_claim,
};
use uuid::Uuid;

use crate::leases::HEARTBEAT_TIMEOUT;
use crate::{AppError, Principal, Stagecoach};

/// Why a keyed request was refused before it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    /// The key came with another request before (422).
    DifferentRequest,
    /// The first request with the key is still running (409; try again shortly).
    InFlight,
    /// The first request's server stopped after its work committed but before it could
    /// keep its answer (409): the work was done once and is not done again.
    AnswerLost,
}

impl KeyRefusal {
    pub fn code(self) -> &'static str {
        match self {
            KeyRefusal::DifferentRequest => "IDEMPOTENCY_KEY_REUSED",
            KeyRefusal::InFlight => "IDEMPOTENCY_KEY_IN_USE",
            KeyRefusal::AnswerLost => "IDEMPOTENCY_ANSWER_LOST",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            KeyRefusal::DifferentRequest => {
                "this Idempotency-Key was used with a different request (method, path or body); use a new key for a new request"
            }
            KeyRefusal::InFlight => {
                "a request with this Idempotency-Key is still being processed; try again shortly"
            }
            KeyRefusal::AnswerLost => {
                "the request with this Idempotency-Key was carried out, but the server stopped before its answer could be kept; it is not carried out again: read the result back instead"
            }
        }
    }
}

/// What a keyed request may do.
#[derive(Debug)]
pub enum Admission {
    /// Run, under this reservation.
    Run(Reservation),
    /// Answer what the first request answered.
    Replay(KeptAnswer),
}

/// The reserved requests this process is running, so that a retry reaching this same
/// server can tell a request still in hand from one that ended without keeping its
/// answer (whatever this process's heartbeat says).
#[derive(Debug, Default)]
pub(crate) struct RunningRequests(Mutex<HashSet<Uuid>>);

/// A key reserved for a request this process runs. Dropping it tells the process the
/// request is no longer in hand.
#[derive(Debug)]
pub struct Reservation {
    claim: IdempotencyClaim,
    running: Arc<RunningRequests>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.running
            .0
            .lock()
            .expect("not poisoned")
            .remove(&self.claim.reservation);
    }
}

impl Stagecoach {
    /// Reserves `key` for a request of `caller` whose hash is `request_hash`, or says
    /// what the request gets instead.
    pub async fn admit_idempotent(
        &self,
        caller: &Principal,
        key: &str,
        request_hash: &str,
    ) -> Result<Admission, AppError> {
        idempotency::check_key(key)?;
        let token_id = caller.token_id.ok_or(AppError::Unauthorized)?;
        let scope = IdempotencyScope {
            organization_id: caller.organization_id,
            token_id,
            key: key.to_owned(),
        };
        let run = RunOfRequest {
            reservation: Uuid::now_v7(),
            server: self.worker_id,
            request_hash,
        };
        let now = self.now();
        let alive_since = now - chrono::Duration::from_std(HEARTBEAT_TIMEOUT).expect("seconds");
        let expires_at = now + chrono::Duration::from_std(idempotency::RETENTION).expect("a day");
        let mut tx = self.store.begin_write().await?;
        // Registered before the commit: from then on a retry here finds it in hand.
        let reservation = Reservation {
            claim: IdempotencyClaim {
                scope: scope.clone(),
                reservation: run.reservation,
            },
            running: Arc::clone(&self.running_requests),
        };
        self.running_requests
            .0
            .lock()
            .expect("not poisoned")
            .insert(run.reservation);
        if !tx
            .reserve_idempotency_key(&scope, run, now, expires_at)
            .await?
        {
            // Taken and given up again between two statements (PostgreSQL): try shortly.
            let gone = || AppError::IdempotencyKey(KeyRefusal::InFlight);
            let mut held = tx
                .find_idempotency_key(&scope, now, alive_since)
                .await?
                .ok_or_else(gone)?;
            if held.server == self.worker_id && !self.in_hand(held.reservation) {
                // The request ended here, perhaps after that read: it leaves the hand only
                // once its answer is committed, so a second read sees what it kept.
                held = tx
                    .find_idempotency_key(&scope, now, alive_since)
                    .await?
                    .ok_or_else(gone)?;
            }
            let running = if held.server == self.worker_id {
                self.in_hand(held.reservation)
            } else {
                held.server_alive
            };
            let state = KeyState {
                request_hash: &held.request_hash,
                answered: held.answer.is_some(),
                owner_alive: running,
                work_done: held.work_done,
            };
            match idempotency::verdict(state, request_hash) {
                Verdict::Replay => return Ok(Admission::Replay(held.answer.expect("answered"))),
                Verdict::DifferentRequest => {
                    return Err(AppError::IdempotencyKey(KeyRefusal::DifferentRequest));
                }
                Verdict::InFlight => return Err(AppError::IdempotencyKey(KeyRefusal::InFlight)),
                Verdict::AnswerLost => {
                    return Err(AppError::IdempotencyKey(KeyRefusal::AnswerLost));
                }
                Verdict::TakeOver => {
                    if !tx
                        .take_over_idempotency_key(&scope, held.reservation, run)
                        .await?
                    {
                        // Another retry took it over first.
                        return Err(AppError::IdempotencyKey(KeyRefusal::InFlight));
                    }
                    tracing::info!(
                        organization = %scope.organization_id,
                        "took over an idempotent request abandoned before doing its work"
                    );
                }
            }
        }
        tx.commit().await?;
        Ok(Admission::Run(reservation))
    }

    /// Whether the reserved request `reservation` runs in this process now.
    fn in_hand(&self, reservation: Uuid) -> bool {
        self.running_requests
            .0
            .lock()
            .expect("not poisoned")
            .contains(&reservation)
    }

    /// Runs a reserved request's work: what it writes marks the reservation.
    pub async fn run_reserved<F: Future>(&self, reservation: &Reservation, work: F) -> F::Output {
        within_claim(reservation.claim.clone(), work).await
    }

    /// Ends a reservation with the request's answer: kept for retries, or the key
    /// released when the answer is not to be kept (see [`idempotency::keeps_answer`]).
    pub async fn settle_reserved(
        &self,
        reservation: &Reservation,
        answer: &KeptAnswer,
    ) -> Result<(), AppError> {
        let IdempotencyClaim { scope, reservation } = &reservation.claim;
        let mut tx = self.store.begin_write().await?;
        let keep = idempotency::keeps_answer(answer.status, false)
            || !tx.release_idempotency_key(scope, *reservation).await?;
        if keep
            && !tx
                .answer_idempotency_key(scope, *reservation, answer)
                .await?
        {
            tracing::warn!(
                organization = %scope.organization_id,
                "an idempotent request's key was taken over before it answered; its answer is not kept"
            );
        }
        tx.commit().await?;
        Ok(())
    }

    /// Before work that leaves no row behind (a call to a provider's API), marks the
    /// reserved request the task runs, if any, as having done its work: a retry after a
    /// crash must not call out a second time.
    pub(crate) async fn mark_outside_work(&self) -> Result<(), AppError> {
        if current_claim().is_some() {
            // An empty write transaction: committing it under the claim is the mark.
            self.store.begin_write().await?.commit().await?;
        }
        Ok(())
    }

    /// Waits, up to `patience`, for the reserved requests this process has in hand (those
    /// whose clients hung up run on without them) to end and keep their answers; a server
    /// calls it once it stops taking requests. Answers how many were still running.
    pub async fn finish_reserved_requests(&self, patience: std::time::Duration) -> usize {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let running = self.running_requests.0.lock().expect("not poisoned").len();
            if running == 0 || tokio::time::Instant::now() >= deadline {
                return running;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Deletes up to `limit` idempotency keys past their 24 hours; the worker calls it.
    pub async fn prune_idempotency_keys(&self, limit: i64) -> Result<u64, AppError> {
        let mut tx = self.store.begin_write().await?;
        let pruned = tx.prune_idempotency_keys(self.now(), limit).await?;
        tx.commit().await?;
        Ok(pruned)
    }
}
