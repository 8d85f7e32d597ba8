-- Conversations: contacts, conversations with their tags and assignees, messages, board
-- links, stays in steps, the timeline, the outbox and auto-advance timers.
-- Keep in step with ../sqlite/0002_conversations.sql.

ALTER TABLE organizations ADD COLUMN default_calling_code TEXT;

CREATE TABLE contacts (
    id               UUID    NOT NULL PRIMARY KEY,
    organization_id  UUID    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    first_name       TEXT,
    last_name        TEXT,
    phone            TEXT,
    email            TEXT,
    external_id      TEXT,
    picture          TEXT,
    metadata         TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
-- One contact per phone and per e-mail in an organization (NULLs do not collide).
CREATE UNIQUE INDEX contacts_org_phone ON contacts (organization_id, phone);
CREATE UNIQUE INDEX contacts_org_email ON contacts (organization_id, email);
CREATE INDEX contacts_org_id ON contacts (organization_id, id);

CREATE TABLE conversations (
    id                         UUID    NOT NULL PRIMARY KEY,
    organization_id            UUID    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    contact_id                 UUID    NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    channel                    TEXT    NOT NULL,
    title                      TEXT,
    status                     TEXT    NOT NULL,
    priority                   TEXT    NOT NULL,
    ai_enabled                 BOOLEAN NOT NULL,
    agent_id                   UUID    REFERENCES agents (id) ON DELETE SET NULL,
    crm_data                   TEXT    NOT NULL,
    contact_fields_to_collect  TEXT    NOT NULL,
    last_inbound_at            BIGINT,
    unread_count               BIGINT  NOT NULL,
    created_at                 BIGINT  NOT NULL,
    updated_at                 BIGINT  NOT NULL
);
CREATE INDEX conversations_org_created ON conversations (organization_id, created_at, id);
CREATE INDEX conversations_contact_channel ON conversations (contact_id, channel);
CREATE INDEX conversations_agent ON conversations (agent_id);

CREATE TABLE conversation_tags (
    conversation_id  UUID    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    organization_id  UUID    NOT NULL,
    tag              TEXT    NOT NULL,
    position         BIGINT  NOT NULL,
    PRIMARY KEY (conversation_id, tag)
);
CREATE INDEX conversation_tags_org_tag ON conversation_tags (organization_id, tag);

CREATE TABLE conversation_assignees (
    conversation_id  UUID    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    organization_id  UUID    NOT NULL,
    membership_id    UUID    NOT NULL REFERENCES memberships (id) ON DELETE CASCADE,
    assigned_at      BIGINT  NOT NULL,
    PRIMARY KEY (conversation_id, membership_id)
);
CREATE INDEX conversation_assignees_member ON conversation_assignees (organization_id, membership_id);

CREATE TABLE messages (
    id               UUID    NOT NULL PRIMARY KEY,
    organization_id  UUID    NOT NULL,
    conversation_id  UUID    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    direction        TEXT    NOT NULL,
    text             TEXT    NOT NULL,
    attachments      TEXT    NOT NULL,
    external_id      TEXT,
    channel          TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL
);
-- A provider's message id is stored once per channel: redelivery changes nothing.
CREATE UNIQUE INDEX messages_external ON messages (organization_id, channel, external_id);
CREATE INDEX messages_conversation ON messages (conversation_id, created_at, id);

-- Chatvolt's board cards: a conversation's place in a scenario.
CREATE TABLE scenario_links (
    id               UUID    NOT NULL PRIMARY KEY,
    organization_id  UUID    NOT NULL,
    conversation_id  UUID    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    scenario_id      UUID    NOT NULL REFERENCES scenarios (id) ON DELETE CASCADE,
    step_id          UUID    NOT NULL REFERENCES steps (id) ON DELETE CASCADE,
    stay_id          UUID    NOT NULL,
    available        BOOLEAN NOT NULL,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
CREATE UNIQUE INDEX scenario_links_conversation_scenario ON scenario_links (conversation_id, scenario_id);
CREATE INDEX scenario_links_board ON scenario_links (scenario_id, step_id, available, created_at);

-- Every stay of a conversation in a step (Chatvolt's CRM conversation logs). Kept after
-- the step or scenario is deleted: it is history.
CREATE TABLE stays (
    id               UUID    NOT NULL PRIMARY KEY,
    organization_id  UUID    NOT NULL,
    conversation_id  UUID    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    scenario_id      UUID    NOT NULL,
    step_id          UUID    NOT NULL,
    status           TEXT    NOT NULL,
    entered_at       BIGINT  NOT NULL,
    exited_at        BIGINT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
CREATE INDEX stays_org_conversation ON stays (organization_id, conversation_id, id);
CREATE INDEX stays_org_step ON stays (organization_id, scenario_id, step_id);

CREATE TABLE timeline_events (
    id               UUID    NOT NULL PRIMARY KEY,
    organization_id  UUID    NOT NULL,
    conversation_id  UUID    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    kind             TEXT    NOT NULL,
    actor            TEXT    NOT NULL,
    data             TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL
);
CREATE INDEX timeline_events_conversation ON timeline_events (conversation_id, id);

-- Outbound effects, written in the transaction that caused them; sent by the delivery worker.
CREATE TABLE outbox (
    id               UUID    NOT NULL PRIMARY KEY,
    organization_id  UUID    NOT NULL,
    conversation_id  UUID    REFERENCES conversations (id) ON DELETE CASCADE,
    kind             TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    attempts         BIGINT  NOT NULL,
    available_at     BIGINT  NOT NULL,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
CREATE INDEX outbox_due ON outbox (status, available_at);
CREATE INDEX outbox_conversation ON outbox (conversation_id, id);

-- At most one pending auto-advance per conversation (it belongs to the current stay).
CREATE TABLE auto_advances (
    conversation_id  UUID    NOT NULL PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    organization_id  UUID    NOT NULL,
    link_id          UUID    NOT NULL REFERENCES scenario_links (id) ON DELETE CASCADE,
    stay_id          UUID    NOT NULL,
    step_id          UUID    NOT NULL,
    target_step_id   UUID    NOT NULL,
    due_at           BIGINT  NOT NULL,
    claimed_until    BIGINT,
    created_at       BIGINT  NOT NULL
);
CREATE INDEX auto_advances_due ON auto_advances (due_at);
CREATE INDEX auto_advances_link ON auto_advances (link_id);
