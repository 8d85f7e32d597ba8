-- The WhatsApp business account (WABA) a channel's number belongs to: the owner of the
-- message templates that GET /whatsapp/templates lists. Optional; learned from Meta's
-- signed webhooks when not given at connection.
ALTER TABLE channels ADD COLUMN business_account_id TEXT;
