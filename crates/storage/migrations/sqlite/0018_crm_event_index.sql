-- The CRM event log (GET /crm/events) reads an organization's step entries, exits and
-- removals, newest first. A partial index keeps it off every other timeline entry, and
-- off the writes of the other kinds. Keep in step with ../postgres/0018_crm_event_index.sql.

CREATE INDEX timeline_events_crm ON timeline_events (organization_id, created_at)
    WHERE kind IN ('step_entered', 'step_exited', 'removed_from_scenario');
