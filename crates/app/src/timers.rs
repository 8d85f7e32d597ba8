//! Auto-advance timers: durable rows, claimed when due, re-checked when fired, so a late,
//! duplicate or concurrent firing changes nothing.

use std::collections::HashMap;

use chrono::Duration;
use stagecoach_domain::engine::timeline::{Actor, EntryCause, Event};
use stagecoach_domain::ids::{OrganizationId, StepId};
use stagecoach_domain::step::Step;
use stagecoach_storage::{Backend, PendingAutoAdvance, Transaction};

use crate::engine::{EntryContext, KnownLeaving};
use crate::{AppError, Stagecoach};

/// How long a claimed timer stays reserved for the process that claimed it. A process that
/// dies mid-way leaves the timer to be claimed again after this.
const CLAIM_LEASE: Duration = Duration::seconds(60);

/// How many timers fire in one transaction: one commit for the group instead of one
/// each, while no transaction holds the (single SQLite) writer for long.
const GROUP_COMMIT: usize = 50;

/// The target steps a group's transaction has read. A group's timers mostly lead to a
/// few steps, and nothing in the transaction changes a step, so each is read once.
type TargetSteps = HashMap<(OrganizationId, StepId), Option<Step>>;

/// How many timer passes one worker runs at once on PostgreSQL.
const PASSES_AT_ONCE_POSTGRES: usize = 4;

impl Stagecoach {
    /// How many [`Self::run_due_auto_advances`] passes a worker may run at once. SQLite
    /// has one writer, so a second pass would only wait for it. PostgreSQL takes several
    /// writers; each pass claims timers no other pass holds, and spends most of its time
    /// waiting on round trips.
    pub fn timer_passes_at_once(&self) -> usize {
        match self.store.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => PASSES_AT_ONCE_POSTGRES,
        }
    }

    /// Fires the auto-advances that are due now (at most `limit`); returns how many moved a
    /// conversation. The worker calls this in a loop; tests call it after moving the clock.
    pub async fn run_due_auto_advances(&self, limit: i64) -> Result<usize, AppError> {
        let now = self.now();
        let claimed = {
            let mut tx = self.store.begin_write().await?;
            let claimed = tx
                .claim_due_auto_advances(now, now + CLAIM_LEASE, limit)
                .await?;
            tx.commit().await?;
            claimed
        };
        let mut fired = 0;
        for group in claimed.chunks(GROUP_COMMIT) {
            fired += self.fire_group(group).await;
        }
        Ok(fired)
    }

    /// Fires a group of timers in one transaction (one commit for all of them). When any
    /// of them fails, the group is rolled back and each is fired in a transaction of its
    /// own, so one bad timer holds back none of the others; a timer that fails alone is
    /// left to its lease and tried again.
    async fn fire_group(&self, group: &[PendingAutoAdvance]) -> usize {
        match self.fire_together(group).await {
            Ok(fired) => fired,
            Err(error) if group.len() == 1 => {
                tracing::error!(conversation.id = %group[0].conversation_id, %error, "auto-advance failed");
                0
            }
            Err(_) => {
                let mut fired = 0;
                for plan in group {
                    match self.fire_together(std::slice::from_ref(plan)).await {
                        Ok(one) => fired += one,
                        Err(error) => {
                            tracing::error!(conversation.id = %plan.conversation_id, %error, "auto-advance failed");
                        }
                    }
                }
                fired
            }
        }
    }

    async fn fire_together(&self, group: &[PendingAutoAdvance]) -> Result<usize, AppError> {
        let mut tx = self.store.begin_write().await?;
        let mut fired = 0;
        let mut targets = TargetSteps::new();
        for plan in group {
            fired += usize::from(
                self.fire_auto_advance(tx.as_mut(), plan, &mut targets)
                    .await?,
            );
        }
        tx.commit().await?;
        Ok(fired)
    }

    /// Fires one timer inside the caller's transaction; whether it moved a conversation.
    async fn fire_auto_advance(
        &self,
        tx: &mut dyn Transaction,
        plan: &PendingAutoAdvance,
        targets: &mut TargetSteps,
    ) -> Result<bool, AppError> {
        let org = plan.organization_id;
        let now = self.now();
        let actor = Actor::timer();
        if !tx
            .take_auto_advance(plan.conversation_id, plan.stay_id)
            .await?
        {
            return Ok(false); // fired elsewhere, or the stay already ended
        }
        let Some(conversation) = tx.lock_conversation(org, plan.conversation_id).await? else {
            return Ok(false);
        };
        let current = tx.active_link(org, conversation.id).await?;
        if current.as_ref().map(|l| l.stay_id) != Some(plan.stay_id) {
            let stale = Event::TimerStale {
                stay_id: plan.stay_id,
                reason: "the conversation left that stay".into(),
            };
            tx.append_event(org, conversation.id, &stale, &actor, now)
                .await?;
            return Ok(false);
        }
        let target = match targets.get(&(org, plan.target_step_id)) {
            Some(read) => read.clone(),
            None => {
                let read = tx.get_step(org, plan.target_step_id).await?;
                targets.insert((org, plan.target_step_id), read.clone());
                read
            }
        };
        let Some(target) = target else {
            let stale = Event::TimerStale {
                stay_id: plan.stay_id,
                reason: "the target step no longer exists".into(),
            };
            tx.append_event(org, conversation.id, &stale, &actor, now)
                .await?;
            return Ok(false);
        };
        let fired = Event::TimerFired {
            stay_id: plan.stay_id,
            target_step_id: target.id,
        };
        tx.append_event(org, conversation.id, &fired, &actor, now)
            .await?;
        let context = EntryContext {
            cause: EntryCause::Timer,
            actor,
            send_initial_message_on_move: false,
        };
        // The stay is checked and its timer taken (it fired, so nothing is cancelled):
        // the entry need not read them again.
        let leaving = KnownLeaving {
            link: current,
            cancelled_timer: false,
        };
        self.enter_from(tx, conversation, target, context, Some(leaving))
            .await?;
        Ok(true)
    }
}
