-- Reports for the Head of Customer Success (weekly, monthly, quarterly), kept as sent.
-- One row per (kind, period): it is also the report's outbox. The first attempt works
-- the metrics out and renders the email; every retry sends that same stored message,
-- and a sent report is never sent again.
CREATE TABLE reports (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('weekly', 'monthly', 'quarterly')),
    period_key    text NOT NULL,             -- 2026-W05, 2026-01, 2026-Q1
    period_start  timestamptz NOT NULL,
    period_end    timestamptz NOT NULL,
    policy_name   text NOT NULL,
    metrics       jsonb NOT NULL,             -- every number in the report
    recipients    text[] NOT NULL,
    subject       text NOT NULL,
    body_text     text NOT NULL,
    body_html     text NOT NULL,
    message_id    text NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    UNIQUE (kind, period_key)
);
