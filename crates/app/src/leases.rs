//! Leases on outbox work (deliveries, AI turns, queued lead writes) held by a live worker.
//! Each worker process beats a heartbeat while it runs: the beat renews the leases of
//! what it has in flight, so a slow receiver is never handed to a second worker while the
//! first still waits on it; and any worker releases the leases of one whose heartbeat
//! stopped, so a crash delays work by seconds rather than by a whole lease.

use std::time::Duration;

use chrono::{DateTime, Utc};
use stagecoach_domain::ids::OrganizationId;
use stagecoach_storage::{OutboxEntry, Transaction};

use crate::delivery::DELIVERY_LEASE;
use crate::{AppError, Stagecoach};

/// How often a worker beats.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// A worker silent this long is taken for dead and its leases are released: three
/// missed beats, so a pause of the process (a long GC-free stall, a busy database)
/// does not cost it its work.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(15);

/// What a beat did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaseUpkeep {
    /// Leases of this worker's work in flight, extended.
    pub renewed: u64,
    /// Leases of dead workers, released to be claimed again at once.
    pub released: u64,
}

impl Stagecoach {
    /// Beats this worker's heartbeat, renewing its leases, and releases those of workers
    /// whose heartbeat stopped. The worker calls it every [`HEARTBEAT_INTERVAL`].
    pub async fn keep_leases(&self) -> Result<LeaseUpkeep, AppError> {
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let renewed = tx
            .beat_heartbeat(self.worker_id, now, now + lease(DELIVERY_LEASE))
            .await?;
        let released = tx
            .release_orphaned_leases(now - lease(HEARTBEAT_TIMEOUT), now)
            .await?;
        tx.commit().await?;
        if released > 0 {
            tracing::info!(released, "released the leases of a worker that stopped");
        }
        Ok(LeaseUpkeep { renewed, released })
    }

    /// Claims outbox work for this worker, and when it got some, beats in the same
    /// transaction: the claim never stands under a stale heartbeat that another worker
    /// would take for a dead one. An idle poll writes nothing.
    pub(crate) async fn claim_for_this_worker(
        &self,
        tx: &mut dyn Transaction,
        kind: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<(OrganizationId, OutboxEntry)>, AppError> {
        let claimed = tx
            .claim_outbox(kind, now, lease_until, limit, self.worker_id)
            .await?;
        if !claimed.is_empty() {
            tx.beat_heartbeat(self.worker_id, now, now).await?;
        }
        Ok(claimed)
    }
}

fn lease(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).expect("a lease of minutes")
}
