-- Email you can trust (docs/security.md, "Email you can trust"): what the mail gateway knew
-- of each inbound message's sender when it took it, why a message was held aside
-- (suspended) or read differently, and the counts behind the gateway's per-sender limit.

ALTER TABLE inbound_messages
    ADD COLUMN peer_ip        text,     -- the connecting server's address
    ADD COLUMN helo           text,     -- the name it gave in HELO/EHLO
    ADD COLUMN authenticated  boolean NOT NULL DEFAULT false,  -- the From domain passed DMARC
    ADD COLUMN dmarc          text,     -- pass, fail, none (no policy), temperror, unchecked
    ADD COLUMN dmarc_policy   text,     -- the From domain's p= (none, quarantine, reject)
    ADD COLUMN auth_reason    text,     -- how the verdict was reached, in a line
    ADD COLUMN suspended      text,     -- why it is held aside (spam, DMARC policy, rate); NULL if not
    ADD COLUMN flag           text;     -- read differently: reply stripping timed out, ...

-- The suspended messages that wait for a person (the console page, `complaints suspended list`).
CREATE INDEX inbound_suspended ON inbound_messages (received_at)
    WHERE outcome = 'suspended';
-- The per-sender rate (messages from one From address in the last hour).
CREATE INDEX inbound_by_sender ON inbound_messages (from_address, received_at);
