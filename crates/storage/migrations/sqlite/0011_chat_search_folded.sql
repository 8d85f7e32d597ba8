-- Chat search ignores accents as well as case (`joao` finds `João`), as step triggers
-- do. SQLite cannot fold text as the server does (its lower() knows ASCII only), so the
-- server writes a folded copy of each contact's name and conversation's title with every
-- row it writes (crates/storage/src/repos/search_text.rs), and the FTS5 table now holds
-- those copies. Keep in step with ../postgres/0011_chat_search_folded.sql.
--
-- NULL means "not folded yet": every row that exists now. The server folds them, in
-- batches, right after migrating; these partial indexes find them, and are empty after.
ALTER TABLE contacts ADD COLUMN search_name TEXT;
ALTER TABLE conversations ADD COLUMN search_title TEXT;
CREATE INDEX contacts_search_name_pending ON contacts (id) WHERE search_name IS NULL;
CREATE INDEX conversations_search_title_pending ON conversations (id) WHERE search_title IS NULL;

-- The triggers of 0009, reading the folded copies. Until a row is folded, its search row
-- keeps the text 0009 gave it; folding it is an update, which these triggers follow.
DROP TRIGGER conversation_search_insert;
DROP TRIGGER conversation_search_update;
DROP TRIGGER contact_search_update;

CREATE TRIGGER conversation_search_insert AFTER INSERT ON conversations
BEGIN
    INSERT INTO conversation_search_keys (conversation_id) VALUES (NEW.id);
    INSERT INTO conversation_search (rowid, name, title, phone)
    SELECT k.search_rowid, COALESCE(c.search_name, ''), COALESCE(NEW.search_title, ''), c.phone
    FROM conversation_search_keys k, contacts c
    WHERE k.conversation_id = NEW.id AND c.id = NEW.contact_id;
END;

-- Every save writes the folded title, most often unchanged: only a real change touches
-- the index.
CREATE TRIGGER conversation_search_update AFTER UPDATE OF search_title, contact_id ON conversations
WHEN OLD.search_title IS NOT NEW.search_title OR OLD.contact_id IS NOT NEW.contact_id
BEGIN
    UPDATE conversation_search
    SET (name, title, phone) = (
        SELECT COALESCE(c.search_name, ''), COALESCE(NEW.search_title, ''), c.phone
        FROM contacts c WHERE c.id = NEW.contact_id
    )
    WHERE rowid = (SELECT search_rowid FROM conversation_search_keys WHERE conversation_id = NEW.id);
END;

-- A new name leaves the search rows of conversations not folded yet alone: folding one
-- rewrites its whole search row. The server folds every contact before any conversation,
-- so each search row is rewritten once, not twice (an FTS5 update costs tens of
-- microseconds). A new phone is written to every search row at once.
CREATE TRIGGER contact_search_update AFTER UPDATE OF search_name, phone ON contacts
WHEN OLD.search_name IS NOT NEW.search_name OR OLD.phone IS NOT NEW.phone
BEGIN
    UPDATE conversation_search
    SET name = COALESCE(NEW.search_name, ''), phone = NEW.phone
    WHERE rowid IN (
        SELECT k.search_rowid FROM conversations v
        JOIN conversation_search_keys k ON k.conversation_id = v.id
        WHERE v.contact_id = NEW.id AND (v.search_title IS NOT NULL OR OLD.phone IS NOT NEW.phone)
    );
END;
