-- Keep in step with ../sqlite/0008_claims_and_member_loads.sql (BENCHMARKS.md, finding 16).

-- The delivery worker claims pending outbox rows of one kind. With the kind outside the
-- index, claiming webhooks read past every pending event (and the other way round).
-- Only pending rows are ever claimed, so only they are indexed.
DROP INDEX outbox_due;
CREATE INDEX outbox_pending ON outbox (kind, available_at) WHERE status = 'pending';

-- SQLite keeps each member's open count in a table maintained by triggers. Here
-- concurrent transactions would queue on those shared rows, and two moves that swap
-- assignees would deadlock on them, so fair distribution still counts open_assignments.
