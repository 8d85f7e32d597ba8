-- Notes on conversations (Chatvolt's conversation notes). A note with remind_at is a
-- reminder: the worker announces it once, setting reminded_at in the same transaction as
-- the event it emits. Keep in step with ../sqlite/0016_conversation_notes.sql.

CREATE TABLE conversation_notes (
    id                 UUID NOT NULL PRIMARY KEY,
    organization_id    UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    conversation_id    UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    note               TEXT NOT NULL,
    is_private         BOOLEAN NOT NULL,
    is_justification   BOOLEAN NOT NULL,
    author             TEXT NOT NULL,
    author_email       TEXT NOT NULL,
    remind_at          BIGINT,
    reminded_at        BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX conversation_notes_conversation
    ON conversation_notes (organization_id, conversation_id, created_at);
-- The reminders still to announce, in the order they fall due.
CREATE INDEX conversation_notes_due ON conversation_notes (remind_at)
    WHERE remind_at IS NOT NULL AND reminded_at IS NULL;
