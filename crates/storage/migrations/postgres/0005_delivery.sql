-- Outbound delivery: webhook endpoints subscribed to events, channels (WhatsApp Cloud API,
-- Z-API), and every delivery attempt. Secrets are stored encrypted.
-- Keep in step with ../sqlite/0005_delivery.sql.

CREATE TABLE webhook_endpoints (
    id                UUID    NOT NULL PRIMARY KEY,
    organization_id   UUID    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url               TEXT    NOT NULL,
    description       TEXT,
    event_types       TEXT    NOT NULL,
    style             TEXT    NOT NULL,
    secret_encrypted  TEXT    NOT NULL,
    disabled          BOOLEAN NOT NULL,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (organization_id);

CREATE TABLE channels (
    id                 UUID    NOT NULL PRIMARY KEY,
    organization_id    UUID    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    kind               TEXT    NOT NULL,
    name               TEXT    NOT NULL,
    agent_id           UUID    REFERENCES agents (id) ON DELETE SET NULL,
    account_id         TEXT    NOT NULL,
    secrets_encrypted  TEXT    NOT NULL,
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL
);
CREATE UNIQUE INDEX channels_kind_account ON channels (organization_id, kind, account_id);

ALTER TABLE outbox ADD COLUMN endpoint_id UUID REFERENCES webhook_endpoints (id) ON DELETE CASCADE;
ALTER TABLE outbox ADD COLUMN last_error TEXT;

CREATE TABLE delivery_attempts (
    id                UUID    NOT NULL PRIMARY KEY,
    organization_id   UUID    NOT NULL,
    outbox_id         UUID    NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    attempt           BIGINT  NOT NULL,
    started_at        BIGINT  NOT NULL,
    duration_ms       BIGINT  NOT NULL,
    http_status       BIGINT,
    response_excerpt  TEXT,
    error             TEXT
);
CREATE INDEX delivery_attempts_outbox ON delivery_attempts (outbox_id, attempt);
CREATE INDEX outbox_endpoint ON outbox (endpoint_id, id);
