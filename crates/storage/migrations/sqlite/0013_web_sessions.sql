-- Sessions of the web UI: a browser signed in with an API token holds a cookie whose
-- secret is stored only as a hash. A session ends when it is idle too long, at its
-- absolute expiry, at logout, or with its token (revoked tokens are refused; deleted ones
-- take their sessions with them). Keep in step with ../postgres/0013_web_sessions.sql.

CREATE TABLE web_sessions (
    id               BLOB NOT NULL PRIMARY KEY,
    organization_id  BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    token_id         BLOB NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    secret_hash      TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    last_seen_at     INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX web_sessions_secret ON web_sessions (secret_hash);
CREATE INDEX web_sessions_token ON web_sessions (token_id);
