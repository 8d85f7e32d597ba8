-- A contact's variables (Chatvolt's contact variables): one row per key, so concurrent
-- writes of different keys never overwrite each other. The value is JSON text. Keep in
-- step with ../postgres/0017_contact_variables.sql.

CREATE TABLE contact_variables (
    organization_id  BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    contact_id       BLOB NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    key              TEXT NOT NULL,
    value            TEXT NOT NULL,
    source           TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (contact_id, key)
);
