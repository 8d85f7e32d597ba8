-- Texter's view of conversations (chats): deep link, external bot flag, last message time;
-- and labels, which are the names of conversation tags.
-- Keep in step with ../sqlite/0003_chats_and_labels.sql.

ALTER TABLE conversations ADD COLUMN crm_deep_link TEXT;
ALTER TABLE conversations ADD COLUMN external_bot BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE conversations ADD COLUMN last_message_at BIGINT;
CREATE INDEX conversations_org_last_message ON conversations (organization_id, last_message_at, id);

CREATE TABLE labels (
    organization_id  UUID    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id               TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    color            TEXT    NOT NULL,
    system           BOOLEAN NOT NULL,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    PRIMARY KEY (organization_id, id)
);

-- Every organization has the system labels; new ones get them when they are created.
INSERT INTO labels (organization_id, id, name, color, system, created_at, updated_at)
SELECT id, 'failed-message', 'Failed message', '#d32f2f', TRUE, created_at, created_at FROM organizations;
