-- Failed API authentications (starter/api/limits.py, the 429): counted in PostgreSQL so that
-- every `complaints serve` process behind a load balancer sees the same count. One row per
-- client per second it failed in; a moving minute is the sum of the last 60 rows' counts.
-- Rows older than a few minutes are deleted as new failures come in.
CREATE TABLE auth_failures (
    client       text NOT NULL,          -- the client's socket address
    second       timestamptz NOT NULL,   -- the second the failures fell in
    failures     integer NOT NULL CHECK (failures > 0),
    PRIMARY KEY (client, second)
);
CREATE INDEX auth_failures_by_second ON auth_failures (second);
