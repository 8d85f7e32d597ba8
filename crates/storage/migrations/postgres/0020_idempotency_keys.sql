-- Idempotency keys: what a POST sent with `Idempotency-Key` answered, kept 24 hours so a
-- retry gets the same answer without the work being done again. A row is reserved before
-- the request runs (answer_status NULL while it does), `work_done` is set in the same
-- transaction as the request's first committed write, and the answer is written once
-- it is known. Keep in step with ../sqlite/0020_idempotency_keys.sql.

CREATE TABLE idempotency_keys (
    organization_id  UUID    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    token_id         UUID    NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    idempotency_key  TEXT    NOT NULL,
    request_hash     TEXT    NOT NULL,
    -- This run of the request: a retry that takes the key over gets a new one, and the
    -- writes of the run it replaced are then refused.
    reservation_id   UUID    NOT NULL,
    -- The server process running it (its heartbeat says whether it lives).
    server_id        UUID    NOT NULL,
    work_done        BOOLEAN NOT NULL,
    answer_status    INTEGER,
    answer_type      TEXT,
    answer_body      TEXT,
    created_at       BIGINT  NOT NULL,
    expires_at       BIGINT  NOT NULL,
    PRIMARY KEY (organization_id, token_id, idempotency_key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
