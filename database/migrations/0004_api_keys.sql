-- API keys for the HTTP API (`complaints serve`). A key belongs either to one roster
-- member (who is then the actor of everything done with it) or to an intake system
-- (which may only submit complaints). Only a SHA-256 of the key is kept: the key itself
-- is shown once, when it is created. A revoked key stays, for the record.
CREATE TABLE api_keys (
    id           text PRIMARY KEY,                -- the key's public part, e.g. ck_3f9a1c0e
    key_hash     bytea NOT NULL UNIQUE,           -- sha256 of the whole key
    kind         text NOT NULL CHECK (kind IN ('staff', 'intake')),
    staff_id     text REFERENCES staff (id),
    name         text NOT NULL,                   -- the staff id, or the intake system's name
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    CHECK ((kind = 'staff') = (staff_id IS NOT NULL))
);
-- One live key per roster member, and per intake system name.
CREATE UNIQUE INDEX api_keys_one_live_per_owner ON api_keys (kind, name) WHERE revoked_at IS NULL;
