-- Two costs that grew with the data, found by profiling the timer drain at a million
-- conversations (BENCHMARKS.md, finding 16). Keep in step with ../postgres/0008_claims_and_member_loads.sql.

-- The delivery worker claims pending outbox rows of one kind. With the kind outside the
-- index, claiming webhooks read past every pending event (and the other way round).
-- Only pending rows are ever claimed, so only they are indexed.
DROP INDEX outbox_due;
CREATE INDEX outbox_pending ON outbox (kind, available_at) WHERE status = 'pending';

-- Fair distribution read each candidate's load by counting their open conversations in
-- the scenario: a scan as long as their caseload, on every entry into a fair step. The
-- counts are now kept up to date by triggers on open_assignments (cascading deletes fire
-- them too), and the most recent assignment is the last entry of an index.
-- SQLite only: it has one writer, so the shared count rows cost no waiting. PostgreSQL,
-- with concurrent writers, still counts (see its 0008).
CREATE TABLE member_open_counts (
    scenario_id      BLOB    NOT NULL REFERENCES scenarios (id) ON DELETE CASCADE,
    membership_id    BLOB    NOT NULL REFERENCES memberships (id) ON DELETE CASCADE,
    organization_id  BLOB    NOT NULL,
    open_count       INTEGER NOT NULL,
    PRIMARY KEY (scenario_id, membership_id)
) WITHOUT ROWID;

INSERT INTO member_open_counts (scenario_id, membership_id, organization_id, open_count)
SELECT scenario_id, membership_id, organization_id, COUNT(*)
FROM open_assignments
GROUP BY scenario_id, membership_id, organization_id;

CREATE TRIGGER open_assignments_count_insert AFTER INSERT ON open_assignments
BEGIN
    INSERT INTO member_open_counts (scenario_id, membership_id, organization_id, open_count)
    VALUES (NEW.scenario_id, NEW.membership_id, NEW.organization_id, 1)
    ON CONFLICT (scenario_id, membership_id) DO UPDATE SET open_count = open_count + 1;
END;

CREATE TRIGGER open_assignments_count_delete AFTER DELETE ON open_assignments
BEGIN
    UPDATE member_open_counts SET open_count = open_count - 1
    WHERE scenario_id = OLD.scenario_id AND membership_id = OLD.membership_id;
END;

CREATE INDEX open_assignments_latest ON open_assignments (scenario_id, membership_id, assigned_at);
