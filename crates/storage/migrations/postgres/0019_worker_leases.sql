-- Leases held by a live worker: each worker process beats a heartbeat every few seconds,
-- renewing the leases of the work it has in flight (a slow receiver keeps its delivery
-- to itself), and any worker releases the leases of one whose heartbeat stopped (a
-- crash delays work by seconds, not by a whole lease). Keep in step with
-- ../sqlite/0019_worker_leases.sql.

CREATE TABLE worker_heartbeats (
    worker_id  UUID    NOT NULL PRIMARY KEY,
    beat_at    BIGINT  NOT NULL
);

-- The worker that claimed a pending row, while it works on it; NULL otherwise.
ALTER TABLE outbox ADD COLUMN leased_by UUID;
CREATE INDEX outbox_leased ON outbox (leased_by) WHERE leased_by IS NOT NULL;
