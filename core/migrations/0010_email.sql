-- E-mail notifications (tasks/email.py).
-- * organizations.email_from / email_reply_to: the organization's own sender (an address its
--   SMTP relay may send as); empty = PVARA_EMAIL_FROM with the organization's name.
-- * interviews.calendar_sequence: the iCalendar SEQUENCE of the interview's invitation; every
--   reschedule or cancellation raises it, so calendars replace the event of the same UID.
-- * email_deliveries: one row per e-mail of an event, claimed before the SMTP transaction and
--   marked sent after it: a redelivered event sends nothing twice. No addresses are stored,
--   only a masked form for operators (the key is an HMAC of event, kind and recipient).

ALTER TABLE organizations ADD COLUMN IF NOT EXISTS email_from text;
ALTER TABLE organizations ADD COLUMN IF NOT EXISTS email_reply_to text;
ALTER TABLE interviews ADD COLUMN IF NOT EXISTS calendar_sequence integer NOT NULL DEFAULT 0;

CREATE TABLE IF NOT EXISTS email_deliveries (
    dedupe_key        text PRIMARY KEY,
    event_id          uuid NOT NULL,
    event_type        text NOT NULL,
    kind              text NOT NULL,
    organization_id   uuid,
    job_id            uuid,
    recipient_masked  text NOT NULL,
    message_id        text NOT NULL,
    status            text NOT NULL DEFAULT 'sending'
                      CHECK (status IN ('sending', 'sent', 'refused')),
    attempts          integer NOT NULL DEFAULT 1,
    error             text,
    claimed_at        timestamptz NOT NULL DEFAULT now(),
    sent_at           timestamptz
);
CREATE INDEX IF NOT EXISTS email_deliveries_job_idx ON email_deliveries (job_id, kind);
CREATE INDEX IF NOT EXISTS email_deliveries_event_idx ON email_deliveries (event_id);
