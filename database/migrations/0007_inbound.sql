-- The email channel: every message the mail gateway accepted, stored whole
-- before it answered 250, and what became of it; its attachments; and the customer links
-- that were used (each works once).

CREATE TABLE inbound_messages (
    message_id    text PRIMARY KEY,        -- its Message-ID (one made from its bytes if it had none)
    envelope_from text NOT NULL,           -- SMTP MAIL FROM; '' for a bounce
    raw           bytea NOT NULL,          -- the message as it arrived
    size          integer NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,             -- its processing workflow was started
    processed_at  timestamptz,
    outcome       text,                    -- new_complaint, reply, sign_off, ignored, refused, failed
    detail        text,                    -- why (the auto-reply header, the parse error, the refusal)
    crn           text,                    -- the complaint it started or was threaded to
    from_address  text,
    subject       text,
    body          text                     -- the text recorded: quoted reply and signature stripped
);
CREATE INDEX inbound_unstarted ON inbound_messages (received_at) WHERE started_at IS NULL;
CREATE INDEX inbound_by_crn ON inbound_messages (crn, received_at);
CREATE INDEX inbound_failed ON inbound_messages (received_at) WHERE outcome = 'failed';

CREATE TABLE inbound_attachments (
    message_id    text NOT NULL REFERENCES inbound_messages (message_id) ON DELETE CASCADE,
    n             integer NOT NULL,
    filename      text,
    content_type  text NOT NULL,
    size          integer NOT NULL,
    inline        boolean NOT NULL DEFAULT false,
    content       bytea,                   -- NULL when over the per-attachment bound
    PRIMARY KEY (message_id, n)
);

CREATE TABLE customer_link_uses (
    crn       text NOT NULL,
    question  text NOT NULL,              -- agreement, sign_off, survey
    email     text NOT NULL,              -- the outbox kind of the email that carried the link
    answer    jsonb NOT NULL,
    used_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (crn, question, email)
);

-- Threading replies by the Message-ID of what the product sent.
CREATE INDEX email_outbox_by_message_id ON email_outbox (message_id);
