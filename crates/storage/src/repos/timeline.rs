//! The conversation timeline and the outbox.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use stagecoach_domain::engine::effects::OutboundEffect;
use stagecoach_domain::engine::timeline::{Actor, Event};
use stagecoach_domain::ids::{ConversationId, EventId, OrganizationId, OutboxId};
use uuid::Uuid;

use crate::StoreError;
use crate::rows::{from_json, time};

/// A stored timeline entry.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    pub id: EventId,
    pub conversation_id: ConversationId,
    pub kind: String,
    pub actor: String,
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

/// A stored outbound effect.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub id: OutboxId,
    /// The webhook endpoint a delivery goes to.
    pub endpoint_id: Option<stagecoach_domain::ids::EndpointId>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub conversation_id: Option<ConversationId>,
    pub kind: String,
    pub payload: Value,
    pub status: String,
    pub attempts: i64,
    pub available_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// The outbox rows of one kind that are still to do or gave up, across organizations:
/// the operator's view of the queue, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxBacklog {
    pub kind: String,
    /// Rows still to do: queued, waiting for a retry, or held by a worker.
    pub pending: i64,
    /// Pending rows due now that no worker holds.
    pub due: i64,
    /// When the longest-waiting of the due rows fell due.
    pub oldest_due_at: Option<DateTime<Utc>>,
    /// Rows that gave up; they stay until retention prunes them.
    pub failed: i64,
}

#[async_trait]
pub trait Timeline {
    async fn append_event(
        &mut self,
        org: OrganizationId,
        conversation: ConversationId,
        event: &Event,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Appends several events by one actor at once, in order (one statement).
    async fn append_events(
        &mut self,
        org: OrganizationId,
        conversation: ConversationId,
        events: &[Event],
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The conversation's timeline, oldest first.
    async fn timeline(
        &mut self,
        org: OrganizationId,
        conversation: ConversationId,
    ) -> Result<Vec<TimelineEntry>, StoreError>;
    /// Queues an effect under a kind of its own (work for the worker rather than a message).
    async fn enqueue_kind(
        &mut self,
        org: OrganizationId,
        kind: &str,
        id: OutboxId,
        effect: &OutboundEffect,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Queues an outbound effect, due at once.
    async fn enqueue(
        &mut self,
        org: OrganizationId,
        conversation: Option<ConversationId>,
        id: OutboxId,
        effect: &OutboundEffect,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Queues several outbound effects of one conversation, due at once (one statement).
    async fn enqueue_all(
        &mut self,
        org: OrganizationId,
        conversation: Option<ConversationId>,
        effects: &[(OutboxId, OutboundEffect)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Claims up to `limit` pending outbox rows of a kind (not scoped to an organization:
    /// the worker's view) for `worker` until `lease_until`; a row a crashed worker claimed
    /// comes back when its lease ends, or sooner once its heartbeat stops (see
    /// [`Timeline::release_orphaned_leases`]). Concurrent claimers never get the same row.
    async fn claim_outbox(
        &mut self,
        kind: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
        worker: Uuid,
    ) -> Result<Vec<(OrganizationId, OutboxEntry)>, StoreError>;
    /// Records that `worker` is alive at `now` and extends the leases of the rows it has
    /// in flight to `lease_until` (never shortening one); returns how many it renewed.
    async fn beat_heartbeat(
        &mut self,
        worker: Uuid,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
    /// Makes due at once the pending rows leased by workers with no heartbeat since
    /// `alive_since` (crashed), and forgets heartbeats far older; returns how many.
    async fn release_orphaned_leases(
        &mut self,
        alive_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
    /// Marks up to `limit` due pending rows of a kind done and returns them, for work
    /// finished in the same transaction (the event fan-out). Such work needs no lease:
    /// the rows and what is made of them commit together or not at all. One write per
    /// row instead of a claim and a finish.
    async fn take_outbox(
        &mut self,
        kind: &str,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<(OrganizationId, OutboxEntry)>, StoreError>;
    /// Marks an outbox row done (or failed); it is no longer claimed.
    async fn finish_outbox(
        &mut self,
        id: OutboxId,
        status: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The conversation's outbound effects, oldest first.
    async fn outbox(
        &mut self,
        org: OrganizationId,
        conversation: ConversationId,
    ) -> Result<Vec<OutboxEntry>, StoreError>;
    /// The backlog of every kind that has pending or failed rows, across organizations.
    /// Reads only those rows, through their partial indexes, never the delivered ones.
    async fn outbox_backlog(
        &mut self,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxBacklog>, StoreError>;
    /// Deletes up to `limit` outbox rows (with their delivery attempts) that settled, done
    /// or failed, before `before`, oldest first; returns how many. Pending rows, retrying
    /// ones included, are never deleted. Not scoped to an organization: the worker's view.
    async fn prune_settled_outbox(
        &mut self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<u64, StoreError>;
}

crate::sql::row_struct! {
    pub(crate) struct EventRow {
        id: Uuid,
        conversation_id: Uuid,
        kind: String,
        actor: String,
        data: String,
        created_at: i64,
    }
}

impl EventRow {
    pub(crate) fn into_entry(self) -> Result<TimelineEntry, StoreError> {
        Ok(TimelineEntry {
            id: EventId(self.id),
            conversation_id: ConversationId(self.conversation_id),
            kind: self.kind,
            actor: self.actor,
            data: from_json("data", Some(self.data))?.unwrap_or(Value::Null),
            created_at: time(self.created_at)?,
        })
    }
}

crate::sql::row_struct! {
    pub struct OutboxRow {
        pub(crate) organization_id: Option<Uuid>,
        id: Uuid,
        endpoint_id: Option<Uuid>,
        last_error: Option<String>,
        conversation_id: Option<Uuid>,
        kind: String,
        payload: String,
        status: String,
        attempts: i64,
        available_at: i64,
        created_at: i64,
    }
}

impl OutboxRow {
    pub(crate) fn into_entry(self) -> Result<OutboxEntry, StoreError> {
        Ok(OutboxEntry {
            id: OutboxId(self.id),
            endpoint_id: self.endpoint_id.map(stagecoach_domain::ids::EndpointId),
            last_error: self.last_error,
            conversation_id: self.conversation_id.map(ConversationId),
            kind: self.kind,
            payload: from_json("payload", Some(self.payload))?.unwrap_or(Value::Null),
            status: self.status,
            attempts: self.attempts,
            available_at: time(self.available_at)?,
            created_at: time(self.created_at)?,
        })
    }
}

/// The claim differs between engines: PostgreSQL skips rows another worker has locked.
pub(crate) const CLAIM_OUTBOX_SQLITE: &str = "UPDATE outbox SET attempts = attempts + 1, available_at = $3, leased_by = $5 \
     WHERE id IN (SELECT id FROM outbox WHERE kind = $1 AND status = 'pending' AND available_at <= $2 \
     ORDER BY available_at LIMIT $4) \
     RETURNING *";
pub(crate) const CLAIM_OUTBOX_POSTGRES: &str = "UPDATE outbox SET attempts = attempts + 1, available_at = $3, leased_by = $5 \
     WHERE id IN (SELECT id FROM outbox WHERE kind = $1 AND status = 'pending' AND available_at <= $2 \
     ORDER BY available_at LIMIT $4 FOR NO KEY UPDATE SKIP LOCKED) \
     RETURNING *";
pub(crate) const TAKE_OUTBOX_SQLITE: &str = "UPDATE outbox SET attempts = attempts + 1, status = 'done', updated_at = $2 \
     WHERE id IN (SELECT id FROM outbox WHERE kind = $1 AND status = 'pending' AND available_at <= $2 \
     ORDER BY available_at LIMIT $3) \
     RETURNING *";
pub(crate) const TAKE_OUTBOX_POSTGRES: &str = "UPDATE outbox SET attempts = attempts + 1, status = 'done', updated_at = $2 \
     WHERE id IN (SELECT id FROM outbox WHERE kind = $1 AND status = 'pending' AND available_at <= $2 \
     ORDER BY available_at LIMIT $3 FOR NO KEY UPDATE SKIP LOCKED) \
     RETURNING *";

/// Pending rows per kind: an index-only read of `outbox_pending`.
pub(crate) const PENDING_BACKLOG_SQL: &str = "SELECT kind, COUNT(*) AS pending, \
     COUNT(*) FILTER (WHERE available_at <= $1) AS due, \
     MIN(available_at) FILTER (WHERE available_at <= $1) AS oldest_due_at \
     FROM outbox WHERE status = 'pending' GROUP BY kind";
/// Failed rows per kind: an index-only read of `outbox_failed` (migration 0010).
pub(crate) const FAILED_BACKLOG_SQL: &str =
    "SELECT kind, COUNT(*) AS failed FROM outbox WHERE status = 'failed' GROUP BY kind";

/// Pruning walks the primary key from the oldest id and stops at the first id created at
/// the cutoff: outbox ids are UUIDv7, ordered by creation, and a row created after the
/// cutoff cannot have settled before it. Without that bound, the pass that finds nothing
/// left to prune would read every row. `updated_at` (when the row settled) decides.
/// PostgreSQL skips rows a worker holds, so pruning never waits for one, and takes the ids
/// as an array: with `IN (SELECT …)`, the generic plan of the prepared statement (which
/// cannot know the limit) joins them to a scan of the whole outbox.
pub(crate) const PRUNE_OUTBOX_SQLITE: &str = "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
     WHERE id < $1 AND status IN ('done', 'failed') AND updated_at < $2 ORDER BY id LIMIT $3)";
pub(crate) const PRUNE_OUTBOX_POSTGRES: &str = "DELETE FROM outbox WHERE id = ANY (ARRAY(SELECT id FROM outbox \
     WHERE id < $1 AND status IN ('done', 'failed') AND updated_at < $2 ORDER BY id LIMIT $3 \
     FOR UPDATE SKIP LOCKED))";

/// The smallest UUIDv7 of the millisecond `at`: every id created before it sorts lower.
pub(crate) fn first_id_at(at: DateTime<Utc>) -> Uuid {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &[0; 10]).into_uuid()
}

crate::sql::row_struct! {
    pub(crate) struct PendingBacklogRow {
        kind: String,
        pending: i64,
        due: i64,
        oldest_due_at: Option<i64>,
    }
}

/// Merges the pending and failed counts of each kind, in kind order.
pub(crate) fn merge_backlog(
    pending: Vec<PendingBacklogRow>,
    failed: Vec<(String, i64)>,
) -> Result<Vec<OutboxBacklog>, StoreError> {
    let mut kinds = std::collections::BTreeMap::new();
    for row in pending {
        kinds.insert(
            row.kind.clone(),
            OutboxBacklog {
                kind: row.kind,
                pending: row.pending,
                due: row.due,
                oldest_due_at: crate::rows::opt_time(row.oldest_due_at)?,
                failed: 0,
            },
        );
    }
    for (kind, failed) in failed {
        kinds
            .entry(kind.clone())
            .or_insert_with(|| OutboxBacklog {
                kind,
                pending: 0,
                due: 0,
                oldest_due_at: None,
                failed: 0,
            })
            .failed = failed;
    }
    Ok(kinds.into_values().collect())
}

/// Claimed or taken outbox rows with the organization each belongs to.
pub(crate) fn with_organizations(
    rows: Vec<OutboxRow>,
) -> Result<Vec<(OrganizationId, OutboxEntry)>, StoreError> {
    rows.into_iter()
        .map(|row| {
            let org = OrganizationId(row.organization_id.unwrap_or_default());
            Ok((org, row.into_entry()?))
        })
        .collect()
}

macro_rules! impl_timeline {
    ($tx:ty, claim_sql = $claim:expr, take_sql = $take:expr, prune_sql = $prune:expr) => {
        #[async_trait::async_trait]
        impl $crate::repos::timeline::Timeline for $tx {
            async fn append_event(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: stagecoach_domain::ids::ConversationId,
                event: &stagecoach_domain::engine::timeline::Event,
                actor: &stagecoach_domain::engine::timeline::Actor,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                self.append_events(org, conversation, std::slice::from_ref(event), actor, at)
                    .await
            }

            async fn append_events(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: stagecoach_domain::ids::ConversationId,
                events: &[stagecoach_domain::engine::timeline::Event],
                actor: &stagecoach_domain::engine::timeline::Actor,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                if events.is_empty() {
                    return Ok(());
                }
                self.note_change($crate::changes::Change::Conversation(org, conversation));
                let label = actor.label();
                let mut qb = $crate::sql::QueryBuilder::new(
                    "INSERT INTO timeline_events (id, organization_id, conversation_id, kind, actor, data, created_at) ",
                );
                qb.push_values(events, |mut row, event| {
                    // Ids are time-ordered: generated in turn, they keep the events' order.
                    row.push_bind(stagecoach_domain::ids::EventId::new().0)
                        .push_bind(org.0)
                        .push_bind(conversation.0)
                        .push_bind(event.kind())
                        .push_bind(label.clone())
                        .push_bind(event.data_text())
                        .push_bind($crate::rows::millis(at));
                });
                qb.build().execute(self.conn()).await?;
                Ok(())
            }

            async fn timeline(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: stagecoach_domain::ids::ConversationId,
            ) -> Result<Vec<$crate::repos::timeline::TimelineEntry>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::timeline::EventRow>(
                    "SELECT id, conversation_id, kind, actor, data, created_at FROM timeline_events \
                     WHERE organization_id = $1 AND conversation_id = $2 ORDER BY id",
                )
                .bind(org.0)
                .bind(conversation.0)
                .fetch_all(self.conn())
                .await?;
                rows.into_iter().map(|r| r.into_entry()).collect()
            }

            async fn enqueue_kind(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                kind: &str,
                id: stagecoach_domain::ids::OutboxId,
                effect: &stagecoach_domain::engine::effects::OutboundEffect,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO outbox (id, organization_id, conversation_id, kind, payload, status, attempts, \
                     available_at, created_at, updated_at) VALUES ($1, $2, NULL, $3, $4, 'pending', 0, $5, $5, $5)",
                )
                .bind(id.0)
                .bind(org.0)
                .bind(kind)
                .bind(serde_json::to_string(effect).expect("effects serialize"))
                .bind($crate::rows::millis(now))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn enqueue(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: Option<stagecoach_domain::ids::ConversationId>,
                id: stagecoach_domain::ids::OutboxId,
                effect: &stagecoach_domain::engine::effects::OutboundEffect,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                self.enqueue_all(org, conversation, &[(id, effect.clone())], now)
                    .await
            }

            async fn enqueue_all(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: Option<stagecoach_domain::ids::ConversationId>,
                effects: &[(stagecoach_domain::ids::OutboxId, stagecoach_domain::engine::effects::OutboundEffect)],
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                if effects.is_empty() {
                    return Ok(());
                }
                let now = $crate::rows::millis(now);
                let mut qb = $crate::sql::QueryBuilder::new(
                    "INSERT INTO outbox (id, organization_id, conversation_id, kind, payload, status, attempts, \
                     available_at, created_at, updated_at) ",
                );
                qb.push_values(effects, |mut row, (id, effect)| {
                    row.push_bind(id.0)
                        .push_bind(org.0)
                        .push_bind(conversation.map(|c| c.0))
                        .push_bind(effect.kind())
                        .push_bind(serde_json::to_string(effect).expect("effects serialize"))
                        .push("'pending'")
                        .push("0")
                        .push_bind(now)
                        .push_bind(now)
                        .push_bind(now);
                });
                qb.build().execute(self.conn()).await?;
                Ok(())
            }

            async fn claim_outbox(
                &mut self,
                kind: &str,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
                limit: i64,
                worker: uuid::Uuid,
            ) -> Result<Vec<(stagecoach_domain::ids::OrganizationId, $crate::repos::timeline::OutboxEntry)>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::timeline::OutboxRow>($claim)
                    .bind(kind)
                    .bind($crate::rows::millis(now))
                    .bind($crate::rows::millis(lease_until))
                    .bind(limit)
                    .bind(worker)
                    .fetch_all(self.conn())
                    .await?;
                $crate::repos::timeline::with_organizations(rows)
            }

            async fn beat_heartbeat(
                &mut self,
                worker: uuid::Uuid,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
            ) -> Result<u64, $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO worker_heartbeats (worker_id, beat_at) VALUES ($1, $2) \
                     ON CONFLICT (worker_id) DO UPDATE SET beat_at = excluded.beat_at",
                )
                .bind(worker)
                .bind($crate::rows::millis(now))
                .execute(self.conn())
                .await?;
                let renewed = $crate::sql::query(
                    "UPDATE outbox SET available_at = $2 \
                     WHERE leased_by = $1 AND status = 'pending' AND available_at < $2",
                )
                .bind(worker)
                .bind($crate::rows::millis(lease_until))
                .execute(self.conn())
                .await?;
                Ok(renewed.rows_affected())
            }

            async fn release_orphaned_leases(
                &mut self,
                alive_since: chrono::DateTime<chrono::Utc>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<u64, $crate::StoreError> {
                let released = $crate::sql::query(
                    "UPDATE outbox SET available_at = $2, leased_by = NULL \
                     WHERE leased_by IS NOT NULL AND status = 'pending' AND leased_by NOT IN \
                     (SELECT worker_id FROM worker_heartbeats WHERE beat_at >= $1)",
                )
                .bind($crate::rows::millis(alive_since))
                .bind($crate::rows::millis(now))
                .execute(self.conn())
                .await?;
                // A heartbeat a day old belongs to a worker long gone.
                $crate::sql::query("DELETE FROM worker_heartbeats WHERE beat_at < $1")
                    .bind($crate::rows::millis(alive_since - chrono::Duration::days(1)))
                    .execute(self.conn())
                    .await?;
                Ok(released.rows_affected())
            }

            async fn take_outbox(
                &mut self,
                kind: &str,
                now: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> Result<Vec<(stagecoach_domain::ids::OrganizationId, $crate::repos::timeline::OutboxEntry)>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::timeline::OutboxRow>($take)
                    .bind(kind)
                    .bind($crate::rows::millis(now))
                    .bind(limit)
                    .fetch_all(self.conn())
                    .await?;
                $crate::repos::timeline::with_organizations(rows)
            }

            async fn finish_outbox(
                &mut self,
                id: stagecoach_domain::ids::OutboxId,
                status: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query("UPDATE outbox SET status = $1, updated_at = $2, leased_by = NULL WHERE id = $3")
                    .bind(status.to_owned())
                    .bind($crate::rows::millis(now))
                    .bind(id.0)
                    .execute(self.conn())
                    .await?;
                Ok(())
            }

            async fn outbox(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: stagecoach_domain::ids::ConversationId,
            ) -> Result<Vec<$crate::repos::timeline::OutboxEntry>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::timeline::OutboxRow>(
                    "SELECT * FROM outbox WHERE organization_id = $1 AND conversation_id = $2 ORDER BY created_at, id",
                )
                .bind(org.0)
                .bind(conversation.0)
                .fetch_all(self.conn())
                .await?;
                rows.into_iter().map(|r| r.into_entry()).collect()
            }

            async fn outbox_backlog(
                &mut self,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Vec<$crate::repos::timeline::OutboxBacklog>, $crate::StoreError> {
                let pending = $crate::sql::query_as::<$crate::repos::timeline::PendingBacklogRow>(
                    $crate::repos::timeline::PENDING_BACKLOG_SQL,
                )
                .bind($crate::rows::millis(now))
                .fetch_all(self.conn())
                .await?;
                let failed = $crate::sql::query_as::<(String, i64)>(
                    $crate::repos::timeline::FAILED_BACKLOG_SQL,
                )
                .fetch_all(self.conn())
                .await?;
                $crate::repos::timeline::merge_backlog(pending, failed)
            }

            async fn prune_settled_outbox(
                &mut self,
                before: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> Result<u64, $crate::StoreError> {
                let done = $crate::sql::query($prune)
                    .bind($crate::repos::timeline::first_id_at(before))
                    .bind($crate::rows::millis(before))
                    .bind(limit)
                    .execute(self.conn())
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}
pub(crate) use impl_timeline;
