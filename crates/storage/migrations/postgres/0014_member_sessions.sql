-- Web sessions that act as a member: opened from a one-time sign-in link that
-- `stagecoach login-link` prints. A session acts as a token or as a member, never both;
-- removing the member ends its sessions and its unused links. Keep in step with
-- ../sqlite/0014_member_sessions.sql.

ALTER TABLE web_sessions ALTER COLUMN token_id DROP NOT NULL;
ALTER TABLE web_sessions ADD COLUMN membership_id UUID REFERENCES memberships (id) ON DELETE CASCADE;
ALTER TABLE web_sessions ADD CONSTRAINT web_sessions_token_or_member
    CHECK ((token_id IS NULL) <> (membership_id IS NULL));
CREATE INDEX web_sessions_member ON web_sessions (membership_id);

-- A link is usable once: taking it deletes it.
CREATE TABLE login_links (
    id               UUID NOT NULL PRIMARY KEY,
    organization_id  UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    membership_id    UUID NOT NULL REFERENCES memberships (id) ON DELETE CASCADE,
    secret_hash      TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX login_links_secret ON login_links (secret_hash);
CREATE INDEX login_links_member ON login_links (membership_id);
