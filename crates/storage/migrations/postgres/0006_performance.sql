-- Indexes and a table for the hot paths the load benchmark (crates/bench) measures.
--
-- Fair distribution counts each member's open conversations in a scenario on every entry
-- into a fair step. Counting them from assignees, conversations and board links costs a
-- join over every conversation the member was ever assigned; this table keeps just the
-- open ones (assigned, not RESOLVED, on the scenario's board), one row per scenario,
-- member and conversation, so the count is a range scan of its primary key. The storage
-- layer rewrites a conversation's rows whenever its status, assignees or links are saved.
-- Keep in step with ../sqlite/0006_performance.sql.

CREATE TABLE open_assignments (
    scenario_id      UUID    NOT NULL REFERENCES scenarios (id) ON DELETE CASCADE,
    membership_id    UUID    NOT NULL REFERENCES memberships (id) ON DELETE CASCADE,
    conversation_id  UUID    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    organization_id  UUID    NOT NULL,
    assigned_at      BIGINT  NOT NULL,
    PRIMARY KEY (scenario_id, membership_id, conversation_id)
);
CREATE INDEX open_assignments_conversation ON open_assignments (conversation_id);

INSERT INTO open_assignments (scenario_id, membership_id, conversation_id, organization_id, assigned_at)
SELECT l.scenario_id, a.membership_id, a.conversation_id, a.organization_id, a.assigned_at
FROM conversation_assignees a
JOIN scenario_links l ON l.conversation_id = a.conversation_id AND l.available
JOIN conversations v ON v.id = a.conversation_id AND v.status <> 'RESOLVED';

-- Board pages: `available` compared with a value (not tested bare) and `id` last, so a
-- step's page is read in order from the index instead of sorting every card of the step.
DROP INDEX scenario_links_board;
CREATE INDEX scenario_links_board ON scenario_links (scenario_id, step_id, available, created_at, id);

-- Chat search by phone: a scan of this narrow index finds the contacts whose number holds
-- the digits without reading the contacts themselves.
CREATE INDEX contacts_org_phone_id ON contacts (organization_id, phone, id);
