//! Auto-advance timers: durable rows, claimed when due, re-checked when fired, so a late,
//! duplicate or concurrent firing changes nothing.

use chrono::Duration;
use stagecoach_domain::engine::timeline::{Actor, EntryCause, Event};
use stagecoach_storage::PendingAutoAdvance;

use crate::engine::EntryContext;
use crate::{AppError, Stagecoach};

/// How long a claimed timer stays reserved for the process that claimed it. A process that
/// dies mid-way leaves the timer to be claimed again after this.
const CLAIM_LEASE: Duration = Duration::seconds(60);

impl Stagecoach {
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
        for plan in claimed {
            match self.fire_auto_advance(&plan).await {
                Ok(true) => fired += 1,
                Ok(false) => {}
                Err(error) => {
                    // The lease runs out and the timer is tried again.
                    tracing::error!(conversation.id = %plan.conversation_id, %error, "auto-advance failed");
                }
            }
        }
        Ok(fired)
    }

    async fn fire_auto_advance(&self, plan: &PendingAutoAdvance) -> Result<bool, AppError> {
        let org = plan.organization_id;
        let now = self.now();
        let actor = Actor::timer();
        let mut tx = self.store.begin_write().await?;
        if !tx
            .take_auto_advance(plan.conversation_id, plan.stay_id)
            .await?
        {
            return Ok(false); // fired elsewhere, or the stay already ended
        }
        let Some(conversation) = tx.lock_conversation(org, plan.conversation_id).await? else {
            tx.commit().await?;
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
            tx.commit().await?;
            return Ok(false);
        }
        let Some(target) = tx.get_step(org, plan.target_step_id).await? else {
            let stale = Event::TimerStale {
                stay_id: plan.stay_id,
                reason: "the target step no longer exists".into(),
            };
            tx.append_event(org, conversation.id, &stale, &actor, now)
                .await?;
            tx.commit().await?;
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
        self.enter(tx.as_mut(), conversation, target, context)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}
