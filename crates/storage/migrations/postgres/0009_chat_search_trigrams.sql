-- Chat search (Texter's GET /chats/search) matched names, titles and phone numbers with
-- LIKE '%…%', which reads every contact or conversation of the organization
-- (BENCHMARKS.md, finding 19). pg_trgm's GIN indexes answer the same LIKE from the rows
-- that hold the pattern's trigrams. Keep in step with ../sqlite/0009_chat_search_trigrams.sql,
-- which builds an FTS5 trigram table instead.
--
-- pg_trgm ships with PostgreSQL's contrib modules and is a trusted extension, so a role
-- that may create objects in the database may install it. Where it cannot be installed,
-- the migration still succeeds and search keeps scanning, as before.
DO $$
DECLARE
    trigram_schema text;
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN insufficient_privilege OR undefined_file THEN
        RAISE WARNING 'pg_trgm cannot be installed (%): chat search will scan', SQLERRM;
        RETURN;
    END;
    -- The extension may live in a schema that is not on this role's search path.
    SELECT n.nspname INTO trigram_schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    -- The indexed expressions are exactly those the search's LIKE compares.
    EXECUTE format(
        'CREATE INDEX contacts_name_trigrams ON contacts USING gin '
        '((lower(COALESCE(first_name, '''') || '' '' || COALESCE(last_name, ''''))) %I.gin_trgm_ops)',
        trigram_schema);
    EXECUTE format(
        'CREATE INDEX contacts_phone_trigrams ON contacts USING gin (phone %I.gin_trgm_ops)',
        trigram_schema);
    EXECUTE format(
        'CREATE INDEX conversations_title_trigrams ON conversations USING gin '
        '((lower(COALESCE(title, ''''))) %I.gin_trgm_ops)',
        trigram_schema);
END $$;

-- Finding 4's narrow index, which phone searches used to scan: nothing reads it now, and
-- each contact write paid for it.
DROP INDEX contacts_org_phone_id;
