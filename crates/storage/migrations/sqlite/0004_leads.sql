-- Leads (TeleCRM's door onto contacts): per-organization lead settings, lead attributes on
-- contacts, team-member details on memberships, and lead actions with their payments.
-- Keep in step with ../postgres/0004_leads.sql (the money trigger is written per engine).

CREATE TABLE lead_settings (
    organization_id  BLOB    NOT NULL PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    document         TEXT    NOT NULL,
    updated_at       INTEGER NOT NULL
);

ALTER TABLE contacts ADD COLUMN lead_key TEXT;
ALTER TABLE contacts ADD COLUMN lead_rating INTEGER;
ALTER TABLE contacts ADD COLUMN lead_status TEXT;
ALTER TABLE contacts ADD COLUMN lead_assignee_id BLOB REFERENCES memberships (id) ON DELETE SET NULL;
ALTER TABLE contacts ADD COLUMN lead_fields TEXT NOT NULL DEFAULT '{}';
ALTER TABLE contacts ADD COLUMN lead_score INTEGER NOT NULL DEFAULT 0;
-- The value of the organization's identifier field, normalized: one lead per value.
CREATE UNIQUE INDEX contacts_org_lead_key ON contacts (organization_id, lead_key);

ALTER TABLE memberships ADD COLUMN phone TEXT;
ALTER TABLE memberships ADD COLUMN availability TEXT NOT NULL DEFAULT 'Active';
ALTER TABLE memberships ADD COLUMN team_role TEXT;

CREATE TABLE lead_actions (
    id                 BLOB    NOT NULL PRIMARY KEY,
    organization_id    BLOB    NOT NULL,
    contact_id         BLOB    NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    -- CUSTOM, PAYMENT, or a system type (PAYMENT_STATUS_CHANGED, …) written by Stagecoach.
    kind               TEXT    NOT NULL,
    type_code          INTEGER,
    fields             TEXT    NOT NULL,
    amount_text        TEXT,
    amount_hundredths  INTEGER,
    currency           TEXT,
    payment_id         TEXT,
    status             TEXT,
    performed_by       TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX lead_actions_contact ON lead_actions (organization_id, contact_id, created_at);
CREATE INDEX lead_actions_payments ON lead_actions (organization_id, kind, status, currency);

-- A payment's amount, currency and payment id never change, whatever path writes.
CREATE TRIGGER lead_actions_money_is_immutable
BEFORE UPDATE OF amount_text, amount_hundredths, currency, payment_id ON lead_actions
WHEN OLD.amount_text IS NOT NEW.amount_text
  OR OLD.amount_hundredths IS NOT NEW.amount_hundredths
  OR OLD.currency IS NOT NEW.currency
  OR OLD.payment_id IS NOT NEW.payment_id
BEGIN
    SELECT RAISE(ABORT, 'payment amount, currency and payment id are immutable');
END;
