-- The AI agent: an organization's model endpoint and limits (its API key encrypted with
-- the server key), and the record of every AI turn. A turn's job is an outbox row of
-- kind 'ai_turn' with the same id. Messages remember who wrote them ('ai:<agent id>'
-- for the agent's replies), so a turn can tell whether a person wrote since.
-- Keep in step with ../sqlite/0012_ai_agent.sql.

CREATE TABLE ai_settings (
    organization_id                    UUID    NOT NULL PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    base_url                           TEXT,
    api_key_encrypted                  TEXT,
    model                              TEXT,
    supports_tools                     BOOLEAN NOT NULL,
    supports_json_schema               BOOLEAN NOT NULL,
    replies_per_conversation_per_hour  BIGINT NOT NULL,
    tokens_per_month                   BIGINT,
    updated_at                         BIGINT NOT NULL
);

CREATE TABLE ai_turns (
    id                UUID    NOT NULL PRIMARY KEY,
    organization_id   UUID    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    conversation_id   UUID    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    message_id        UUID    NOT NULL,
    agent_id          UUID    REFERENCES agents (id) ON DELETE SET NULL,
    model             TEXT,
    step_before       UUID,
    step_after        UUID,
    action            TEXT,
    reason            TEXT,
    decision          TEXT,
    reply_message_id  UUID,
    reply             TEXT,
    tokens_in         BIGINT NOT NULL,
    tokens_out        BIGINT NOT NULL,
    latency_ms        BIGINT NOT NULL,
    attempts          BIGINT NOT NULL,
    outcome           TEXT    NOT NULL,
    error             TEXT,
    created_at        BIGINT NOT NULL,
    finished_at       BIGINT NOT NULL
);
-- One turn per contact message: a job run twice cannot record (or answer) twice.
CREATE UNIQUE INDEX ai_turns_message ON ai_turns (message_id);
CREATE INDEX ai_turns_conversation ON ai_turns (organization_id, conversation_id, finished_at);
CREATE INDEX ai_turns_organization ON ai_turns (organization_id, finished_at);

ALTER TABLE messages ADD COLUMN author TEXT;
