-- The metrics endpoint counts the outbox rows that gave up (status 'failed'), by kind, at
-- every scrape. They are few, but without an index counting them reads the whole outbox,
-- most of which is delivered rows. Only failed rows are indexed, so the index stays small
-- and delivering a row never writes to it. Keep in step with ../postgres/0010_outbox_failed.sql.
CREATE INDEX outbox_failed ON outbox (kind) WHERE status = 'failed';
