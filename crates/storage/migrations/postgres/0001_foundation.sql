-- Foundation: organizations, memberships, API tokens, agents, scenarios and steps.
-- Ids are UUIDv7 stored as UUID; times are Unix epoch milliseconds.
-- Keep in step with ../sqlite/0001_foundation.sql: a test compares the two schemas.

CREATE TABLE organizations (
    id          UUID    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

-- One row, written by whichever server first finds the database empty, so that several
-- servers starting together bootstrap exactly once.
CREATE TABLE bootstrap (
    id               SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),
    organization_id  UUID    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_at       BIGINT  NOT NULL
);

CREATE TABLE memberships (
    id               UUID    NOT NULL PRIMARY KEY,
    organization_id  UUID    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email            TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    role             TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
CREATE UNIQUE INDEX memberships_org_email ON memberships (organization_id, email);

CREATE TABLE api_tokens (
    id               UUID    NOT NULL PRIMARY KEY,
    organization_id  UUID    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name             TEXT    NOT NULL,
    token_hash       TEXT    NOT NULL,
    display_prefix   TEXT    NOT NULL,
    token_type       TEXT    NOT NULL,
    scopes           TEXT,
    created_at       BIGINT  NOT NULL,
    last_used_at     BIGINT,
    revoked_at       BIGINT
);
CREATE UNIQUE INDEX api_tokens_hash ON api_tokens (token_hash);
CREATE INDEX api_tokens_org ON api_tokens (organization_id);

CREATE TABLE agents (
    id               UUID    NOT NULL PRIMARY KEY,
    organization_id  UUID    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name             TEXT    NOT NULL,
    description      TEXT,
    handle           TEXT,
    model_name       TEXT    NOT NULL,
    temperature      DOUBLE PRECISION NOT NULL,
    system_prompt    TEXT,
    visibility       TEXT    NOT NULL,
    icon_url         TEXT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
CREATE INDEX agents_org ON agents (organization_id);
CREATE UNIQUE INDEX agents_org_handle ON agents (organization_id, handle);

CREATE TABLE scenarios (
    id               UUID    NOT NULL PRIMARY KEY,
    organization_id  UUID    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name             TEXT    NOT NULL,
    description      TEXT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
CREATE INDEX scenarios_org ON scenarios (organization_id, id);

CREATE TABLE steps (
    id                               UUID    NOT NULL PRIMARY KEY,
    organization_id                  UUID    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    scenario_id                      UUID    NOT NULL REFERENCES scenarios (id) ON DELETE CASCADE,
    step_index                       BIGINT  NOT NULL,
    name                             TEXT    NOT NULL,
    agent_id                         UUID    REFERENCES agents (id) ON DELETE SET NULL,
    trigger_text                     TEXT,
    prompt                           TEXT,
    initial_message                  TEXT,
    auto_next_step_id                UUID    REFERENCES steps (id) ON DELETE SET NULL,
    auto_next_time                   BIGINT,
    auto_next_time_unit              TEXT,
    default_status                   TEXT,
    default_priority                 TEXT,
    default_ai_control               BOOLEAN,
    assignee_logic_type              TEXT,
    selected_membership_ids          TEXT,
    is_required                      BOOLEAN,
    is_conversation_removal_step     BOOLEAN,
    default_tags                     TEXT,
    default_tags_to_remove           TEXT,
    request_contact                  TEXT,
    zapi_agent_id                    UUID    REFERENCES agents (id) ON DELETE SET NULL,
    zapi_phone_number                TEXT,
    zapi_message                     TEXT,
    whatsapp_template_agent_id       UUID    REFERENCES agents (id) ON DELETE SET NULL,
    whatsapp_template_name           TEXT,
    whatsapp_template_language_code  TEXT,
    whatsapp_template_text           TEXT,
    webhook_url                      TEXT,
    webhook_header                   TEXT,
    created_at                       BIGINT  NOT NULL,
    updated_at                       BIGINT  NOT NULL
);
CREATE UNIQUE INDEX steps_scenario_index ON steps (scenario_id, step_index);
CREATE INDEX steps_org_agent ON steps (organization_id, agent_id);
CREATE INDEX steps_auto_next ON steps (auto_next_step_id);
CREATE INDEX steps_zapi_agent ON steps (zapi_agent_id);
CREATE INDEX steps_whatsapp_agent ON steps (whatsapp_template_agent_id);
