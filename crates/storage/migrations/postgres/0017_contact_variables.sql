-- A contact's variables (Chatvolt's contact variables): one row per key, so concurrent
-- writes of different keys never overwrite each other. The value is JSON text. Keep in
-- step with ../sqlite/0017_contact_variables.sql.

CREATE TABLE contact_variables (
    organization_id  UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    contact_id       UUID NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    key              TEXT NOT NULL,
    value            TEXT NOT NULL,
    source           TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (contact_id, key)
);
