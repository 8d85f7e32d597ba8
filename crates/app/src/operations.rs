//! The operator's view across organizations: the backlog the metrics endpoint reports, and
//! the retention that keeps the outbox from growing without end. Neither takes a
//! principal: they serve the process, never a tenant's request.

use chrono::{DateTime, Utc};
use stagecoach_storage::{AutoAdvanceBacklog, OutboxBacklog};

use crate::delivery::DELIVERY_KINDS;
use crate::{AppError, Stagecoach};

/// The outbox kinds that are not deliveries: events waiting to be fanned out to
/// endpoints, and lead writes queued by TeleCRM's async API.
const WORK_KINDS: [&str; 2] = ["event", "lead_upsert"];

/// What is waiting to be done, read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Backlog {
    /// When it was read (the app's clock, which the stored times come from).
    pub at: DateTime<Utc>,
    /// Per outbox kind, in kind order: every kind the app queues (at zero when it has
    /// nothing waiting), so each one's series goes on without gaps.
    pub outbox: Vec<OutboxBacklog>,
    pub auto_advances: AutoAdvanceBacklog,
}

impl Backlog {
    /// How long ago `since` was, in seconds; zero for nothing or a time ahead.
    pub fn seconds_since(&self, since: Option<DateTime<Utc>>) -> f64 {
        since.map_or(0.0, |since| {
            ((self.at - since).num_milliseconds().max(0) as f64) / 1000.0
        })
    }
}

impl Stagecoach {
    /// The outbox and timer backlog across organizations, from one read transaction.
    pub async fn backlog(&self) -> Result<Backlog, AppError> {
        let at = self.now();
        let mut tx = self.store.begin_read().await?;
        let mut outbox = tx.outbox_backlog(at).await?;
        let auto_advances = tx.auto_advance_backlog(at).await?;
        for kind in DELIVERY_KINDS.iter().chain(&WORK_KINDS) {
            if !outbox.iter().any(|known| known.kind == *kind) {
                outbox.push(OutboxBacklog {
                    kind: (*kind).to_owned(),
                    pending: 0,
                    due: 0,
                    oldest_due_at: None,
                    failed: 0,
                });
            }
        }
        outbox.sort_by(|a, b| a.kind.cmp(&b.kind));
        Ok(Backlog {
            at,
            outbox,
            auto_advances,
        })
    }

    /// Deletes up to `limit` outbox rows, with their delivery attempts, that were done or
    /// failed longer than `older_than` ago; returns how many. One short transaction: the
    /// worker calls it in a loop. Work still pending, retrying included, is never pruned.
    pub async fn prune_settled_outbox(
        &self,
        older_than: std::time::Duration,
        limit: i64,
    ) -> Result<u64, AppError> {
        let Some(before) = chrono::Duration::from_std(older_than)
            .ok()
            .and_then(|age| self.now().checked_sub_signed(age))
        else {
            return Ok(0); // older than time itself: nothing can be that old
        };
        let mut tx = self.store.begin_write().await?;
        let pruned = tx.prune_settled_outbox(before, limit).await?;
        tx.commit().await?;
        Ok(pruned)
    }
}
