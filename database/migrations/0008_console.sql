-- The staff console (starter/console/): passwords, server-side sessions and the record of
-- failed sign-ins that rate-limits them.

-- One argon2id hash per roster member who may sign in (`complaints staff set-password ID`).
CREATE TABLE staff_passwords (
    staff_id    text PRIMARY KEY REFERENCES staff (id) ON DELETE CASCADE,
    hash        text NOT NULL,               -- argon2id, in its own encoded form
    set_at      timestamptz NOT NULL DEFAULT now()
);

-- A signed-in browser. The cookie carries the session id (signed); only its SHA-256 is
-- kept. A session ends after 8 idle hours, at sign-out, or when its member leaves the
-- roster or is made unavailable (checked on every request).
CREATE TABLE console_sessions (
    id_hash       bytea PRIMARY KEY,
    staff_id      text NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    ended_at      timestamptz
);
CREATE INDEX console_sessions_by_staff ON console_sessions (staff_id) WHERE ended_at IS NULL;

-- Failed sign-ins, by client address and by the login tried: too many in a window and
-- the next attempt is refused (429) before the password is even checked.
CREATE TABLE console_sign_in_failures (
    client  text NOT NULL,
    login   text NOT NULL,
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX console_sign_in_failures_by_client ON console_sign_in_failures (client, at);
CREATE INDEX console_sign_in_failures_by_login ON console_sign_in_failures (login, at);

-- The key the console signs its cookies with, made once by the first server that needs it
-- (so every `complaints serve` process of one database agrees).
CREATE TABLE console_secret (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    secret  bytea NOT NULL
);
