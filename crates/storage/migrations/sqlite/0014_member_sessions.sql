-- Web sessions that act as a member: opened from a one-time sign-in link that
-- `stagecoach login-link` prints. A session acts as a token or as a member, never both;
-- removing the member ends its sessions and its unused links. SQLite cannot relax a
-- column's NOT NULL, so the table is rebuilt. Keep in step with
-- ../postgres/0014_member_sessions.sql.

CREATE TABLE web_sessions_new (
    id               BLOB NOT NULL PRIMARY KEY,
    organization_id  BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    token_id         BLOB REFERENCES api_tokens (id) ON DELETE CASCADE,
    secret_hash      TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    last_seen_at     INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    membership_id    BLOB REFERENCES memberships (id) ON DELETE CASCADE,
    CHECK ((token_id IS NULL) <> (membership_id IS NULL))
);
INSERT INTO web_sessions_new (id, organization_id, token_id, secret_hash, created_at, last_seen_at, expires_at)
    SELECT id, organization_id, token_id, secret_hash, created_at, last_seen_at, expires_at FROM web_sessions;
DROP TABLE web_sessions;
ALTER TABLE web_sessions_new RENAME TO web_sessions;
CREATE UNIQUE INDEX web_sessions_secret ON web_sessions (secret_hash);
CREATE INDEX web_sessions_token ON web_sessions (token_id);
CREATE INDEX web_sessions_member ON web_sessions (membership_id);

-- A link is usable once: taking it deletes it.
CREATE TABLE login_links (
    id               BLOB NOT NULL PRIMARY KEY,
    organization_id  BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    membership_id    BLOB NOT NULL REFERENCES memberships (id) ON DELETE CASCADE,
    secret_hash      TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX login_links_secret ON login_links (secret_hash);
CREATE INDEX login_links_member ON login_links (membership_id);
