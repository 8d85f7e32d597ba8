-- Chat search (Texter's GET /chats/search) matched names, titles and phone numbers with
-- LIKE '%…%', which reads one index entry per contact or conversation of the
-- organization: 9 searches per second at a million conversations (BENCHMARKS.md,
-- finding 19). A trigram full-text index answers the same LIKE from the few rows that
-- hold the pattern's trigrams. Keep in step with ../postgres/0009_chat_search_trigrams.sql,
-- which builds pg_trgm indexes instead.

-- FTS5 rows are keyed by an integer. Conversations are keyed by UUIDs, and their implicit
-- rowids may be renumbered by VACUUM, so each conversation gets a stable search key here.
CREATE TABLE conversation_search_keys (
    search_rowid     INTEGER PRIMARY KEY,
    conversation_id  BLOB    NOT NULL UNIQUE
);

-- One row per conversation, holding what a search looks at: the contact's name, in the
-- shape the search matches it ("first last"), the conversation's title and the phone.
CREATE VIRTUAL TABLE conversation_search USING fts5 (name, title, phone, tokenize = 'trigram');

INSERT INTO conversation_search_keys (conversation_id) SELECT id FROM conversations;
INSERT INTO conversation_search (rowid, name, title, phone)
SELECT k.search_rowid, COALESCE(c.first_name, '') || ' ' || COALESCE(c.last_name, ''), v.title, c.phone
FROM conversation_search_keys k
JOIN conversations v ON v.id = k.conversation_id
JOIN contacts c ON c.id = v.contact_id;

-- Triggers keep the index in step with every write, cascading deletes included.
CREATE TRIGGER conversation_search_insert AFTER INSERT ON conversations
BEGIN
    INSERT INTO conversation_search_keys (conversation_id) VALUES (NEW.id);
    INSERT INTO conversation_search (rowid, name, title, phone)
    SELECT k.search_rowid, COALESCE(c.first_name, '') || ' ' || COALESCE(c.last_name, ''), NEW.title, c.phone
    FROM conversation_search_keys k, contacts c
    WHERE k.conversation_id = NEW.id AND c.id = NEW.contact_id;
END;

CREATE TRIGGER conversation_search_delete AFTER DELETE ON conversations
BEGIN
    DELETE FROM conversation_search
    WHERE rowid = (SELECT search_rowid FROM conversation_search_keys WHERE conversation_id = OLD.id);
    DELETE FROM conversation_search_keys WHERE conversation_id = OLD.id;
END;

-- Most conversation updates rewrite the title unchanged: only a real change touches the
-- index.
CREATE TRIGGER conversation_search_update AFTER UPDATE OF title, contact_id ON conversations
WHEN OLD.title IS NOT NEW.title OR OLD.contact_id IS NOT NEW.contact_id
BEGIN
    UPDATE conversation_search
    SET (name, title, phone) = (
        SELECT COALESCE(c.first_name, '') || ' ' || COALESCE(c.last_name, ''), NEW.title, c.phone
        FROM contacts c WHERE c.id = NEW.contact_id
    )
    WHERE rowid = (SELECT search_rowid FROM conversation_search_keys WHERE conversation_id = NEW.id);
END;

CREATE TRIGGER contact_search_update AFTER UPDATE OF first_name, last_name, phone ON contacts
WHEN OLD.first_name IS NOT NEW.first_name OR OLD.last_name IS NOT NEW.last_name
    OR OLD.phone IS NOT NEW.phone
BEGIN
    UPDATE conversation_search
    SET name = COALESCE(NEW.first_name, '') || ' ' || COALESCE(NEW.last_name, ''), phone = NEW.phone
    WHERE rowid IN (
        SELECT k.search_rowid FROM conversations v
        JOIN conversation_search_keys k ON k.conversation_id = v.id
        WHERE v.contact_id = NEW.id
    );
END;

-- Finding 4's narrow index, which phone searches used to scan: nothing reads it now, and
-- each contact write paid for it.
DROP INDEX contacts_org_phone_id;
