-- Chat search ignores accents as well as case (`joao` finds `João`), as step triggers
-- do. The server writes a folded copy of each contact's name and conversation's title
-- with every row it writes (crates/storage/src/repos/search_text.rs), since SQLite cannot
-- fold text in SQL and both engines must fold alike; the pg_trgm indexes of 0009 now hold
-- those copies instead of lower(...). Keep in step with ../sqlite/0011_chat_search_folded.sql.
--
-- NULL means "not folded yet": every row that exists now. The server folds them, in
-- batches, right after migrating; these partial indexes find them, and are empty after.
ALTER TABLE contacts ADD COLUMN search_name TEXT;
ALTER TABLE conversations ADD COLUMN search_title TEXT;
CREATE INDEX contacts_search_name_pending ON contacts (id) WHERE search_name IS NULL;
CREATE INDEX conversations_search_title_pending ON conversations (id) WHERE search_title IS NULL;

DROP INDEX IF EXISTS contacts_name_trigrams;
DROP INDEX IF EXISTS conversations_title_trigrams;

-- As in 0009: where pg_trgm cannot be installed, the migration still succeeds and search
-- scans.
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
    SELECT n.nspname INTO trigram_schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    EXECUTE format(
        'CREATE INDEX contacts_name_trigrams ON contacts USING gin (search_name %I.gin_trgm_ops)',
        trigram_schema);
    -- 0009's, in case pg_trgm only became installable now.
    EXECUTE format(
        'CREATE INDEX IF NOT EXISTS contacts_phone_trigrams ON contacts USING gin (phone %I.gin_trgm_ops)',
        trigram_schema);
    EXECUTE format(
        'CREATE INDEX conversations_title_trigrams ON conversations USING gin (search_title %I.gin_trgm_ops)',
        trigram_schema);
END $$;
