-- Outbound webhooks and chat alerts (docs/integrations.md): the subscriptions, the outbox
-- of events each is owed, and the delivery log.

-- Who is told what: a receiver of signed events (`webhook`), or the Slack or Teams channel
-- SLACK_WEBHOOK_URL / TEAMS_WEBHOOK_URL name (one row each, kept by the worker at start).
CREATE TABLE webhook_subscriptions (
    id               bigserial PRIMARY KEY,
    kind             text NOT NULL DEFAULT 'webhook' CHECK (kind IN ('webhook', 'slack', 'teams')),
    url              text NOT NULL,
    events           text[] NOT NULL DEFAULT '{}',  -- the event types it wants (chat: its alerts)
    secret           text NOT NULL,                  -- whsec_<base64>: signs every request
    include_payload  boolean NOT NULL DEFAULT false, -- personal data too (HTTPS receivers only)
    enabled          boolean NOT NULL DEFAULT true,
    owner            text REFERENCES staff (id),     -- emailed when it is disabled
    description      text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    disabled_at      timestamptz,
    disabled_reason  text
);
CREATE UNIQUE INDEX webhook_subscriptions_one_chat ON webhook_subscriptions (kind)
    WHERE kind <> 'webhook';

-- The outbox: one row per event per subscription, written in the same transaction as the
-- resolution-log events it comes from. `event_id` is the event's own (the same for every
-- subscription, every attempt and every redelivery): the Standard Webhooks `webhook-id`.
-- `body` is the JSON exactly as it is signed and sent.
CREATE TABLE webhook_events (
    id               bigserial PRIMARY KEY,
    subscription_id  bigint NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_id         text NOT NULL,
    event_type       text NOT NULL,
    crn              text,
    occurred_at      timestamptz NOT NULL,
    body             text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_events_pending ON webhook_events (subscription_id, id)
    WHERE status = 'pending';
CREATE INDEX webhook_events_by_crn ON webhook_events (crn);

-- The delivery log: every attempt, what the receiver answered and when the next one is due.
CREATE TABLE webhook_attempts (
    id             bigserial PRIMARY KEY,
    webhook_event  bigint NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    attempt        integer NOT NULL,
    at             timestamptz NOT NULL DEFAULT now(),
    status_code    integer,
    latency_ms     integer,
    error          text,
    next_retry_at  timestamptz
);
CREATE INDEX webhook_attempts_by_event ON webhook_attempts (webhook_event, attempt);
