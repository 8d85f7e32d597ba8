-- Leads (TeleCRM's door onto contacts): per-organization lead settings, lead attributes on
-- contacts, team-member details on memberships, and lead actions with their payments.
-- Keep in step with ../sqlite/0004_leads.sql (the money trigger is written per engine).

CREATE TABLE lead_settings (
    organization_id  UUID    NOT NULL PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    document         TEXT    NOT NULL,
    updated_at       BIGINT  NOT NULL
);

ALTER TABLE contacts ADD COLUMN lead_key TEXT;
ALTER TABLE contacts ADD COLUMN lead_rating BIGINT;
ALTER TABLE contacts ADD COLUMN lead_status TEXT;
ALTER TABLE contacts ADD COLUMN lead_assignee_id UUID REFERENCES memberships (id) ON DELETE SET NULL;
ALTER TABLE contacts ADD COLUMN lead_fields TEXT NOT NULL DEFAULT '{}';
ALTER TABLE contacts ADD COLUMN lead_score BIGINT NOT NULL DEFAULT 0;
-- The value of the organization's identifier field, normalized: one lead per value.
CREATE UNIQUE INDEX contacts_org_lead_key ON contacts (organization_id, lead_key);

ALTER TABLE memberships ADD COLUMN phone TEXT;
ALTER TABLE memberships ADD COLUMN availability TEXT NOT NULL DEFAULT 'Active';
ALTER TABLE memberships ADD COLUMN team_role TEXT;

CREATE TABLE lead_actions (
    id                 UUID    NOT NULL PRIMARY KEY,
    organization_id    UUID    NOT NULL,
    contact_id         UUID    NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    -- CUSTOM, PAYMENT, or a system type (PAYMENT_STATUS_CHANGED, …) written by Stagecoach.
    kind               TEXT    NOT NULL,
    type_code          BIGINT,
    fields             TEXT    NOT NULL,
    amount_text        TEXT,
    amount_hundredths  BIGINT,
    currency           TEXT,
    payment_id         TEXT,
    status             TEXT,
    performed_by       TEXT    NOT NULL,
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL
);
CREATE INDEX lead_actions_contact ON lead_actions (organization_id, contact_id, created_at);
CREATE INDEX lead_actions_payments ON lead_actions (organization_id, kind, status, currency);

-- A payment's amount, currency and payment id never change, whatever path writes.
CREATE FUNCTION lead_actions_money_is_immutable() RETURNS trigger AS $$
BEGIN
    IF NEW.amount_text IS DISTINCT FROM OLD.amount_text
       OR NEW.amount_hundredths IS DISTINCT FROM OLD.amount_hundredths
       OR NEW.currency IS DISTINCT FROM OLD.currency
       OR NEW.payment_id IS DISTINCT FROM OLD.payment_id THEN
        RAISE EXCEPTION 'payment amount, currency and payment id are immutable';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER lead_actions_money_is_immutable
BEFORE UPDATE ON lead_actions
FOR EACH ROW EXECUTE FUNCTION lead_actions_money_is_immutable();
