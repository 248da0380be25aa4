-- Staff are told once: every escalation, warning or breach sent to a person is counted here
-- per recipient and window; past the policy's `[digest] after` within its `window`, the rest
-- wait for one digest email at the window's end (activities/digest.py).
CREATE TABLE staff_alert_windows (
    id          bigserial PRIMARY KEY,
    channel     text NOT NULL,              -- 'email' (chat alerts can coalesce the same way)
    recipient   text NOT NULL,              -- an address (or a chat destination)
    opened_at   timestamptz NOT NULL,       -- the window's first alert
    closes_at   timestamptz NOT NULL,       -- opened_at + window: the digest goes out then
    digest_taken_at timestamptz             -- the digest read its list; nothing joins after
);
CREATE INDEX staff_alert_windows_open ON staff_alert_windows (channel, recipient, closes_at DESC);

CREATE TABLE staff_alerts (
    id          bigserial PRIMARY KEY,
    window_id   bigint NOT NULL REFERENCES staff_alert_windows (id) ON DELETE CASCADE,
    channel     text NOT NULL,
    crn         text NOT NULL,
    kind        text NOT NULL,              -- the email's outbox kind: escalation:12, warning:...
    at          timestamptz NOT NULL,       -- when the complaint decided to tell them
    ordinal     integer NOT NULL,           -- the recipient's n-th alert in the window
    coalesced   boolean NOT NULL,           -- true: in the digest, not sent on its own
    summary     text NOT NULL,              -- one line for the digest
    UNIQUE (channel, crn, kind)
);
CREATE INDEX staff_alerts_window ON staff_alerts (window_id, ordinal);
