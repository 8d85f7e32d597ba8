-- The AI agent: an organization's model endpoint and limits (its API key encrypted with
-- the server key), and the record of every AI turn. A turn's job is an outbox row of
-- kind 'ai_turn' with the same id. Messages remember who wrote them ('ai:<agent id>'
-- for the agent's replies), so a turn can tell whether a person wrote since.
-- Keep in step with ../postgres/0012_ai_agent.sql.

CREATE TABLE ai_settings (
    organization_id                    BLOB    NOT NULL PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    base_url                           TEXT,
    api_key_encrypted                  TEXT,
    model                              TEXT,
    supports_tools                     BOOLEAN NOT NULL,
    supports_json_schema               BOOLEAN NOT NULL,
    replies_per_conversation_per_hour  INTEGER NOT NULL,
    tokens_per_month                   INTEGER,
    updated_at                         INTEGER NOT NULL
);

CREATE TABLE ai_turns (
    id                BLOB    NOT NULL PRIMARY KEY,
    organization_id   BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    conversation_id   BLOB    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    message_id        BLOB    NOT NULL,
    agent_id          BLOB    REFERENCES agents (id) ON DELETE SET NULL,
    model             TEXT,
    step_before       BLOB,
    step_after        BLOB,
    action            TEXT,
    reason            TEXT,
    decision          TEXT,
    reply_message_id  BLOB,
    reply             TEXT,
    tokens_in         INTEGER NOT NULL,
    tokens_out        INTEGER NOT NULL,
    latency_ms        INTEGER NOT NULL,
    attempts          INTEGER NOT NULL,
    outcome           TEXT    NOT NULL,
    error             TEXT,
    created_at        INTEGER NOT NULL,
    finished_at       INTEGER NOT NULL
);
-- One turn per contact message: a job run twice cannot record (or answer) twice.
CREATE UNIQUE INDEX ai_turns_message ON ai_turns (message_id);
CREATE INDEX ai_turns_conversation ON ai_turns (organization_id, conversation_id, finished_at);
CREATE INDEX ai_turns_organization ON ai_turns (organization_id, finished_at);

ALTER TABLE messages ADD COLUMN author TEXT;
