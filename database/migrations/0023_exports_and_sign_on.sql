-- A customer's data on request (database/export.py, docs/data-requests.md): every export of
-- what the product holds about one customer, who made it and when. The archive itself is
-- handed to whoever asked and never kept here.
CREATE TABLE exports (
    id           bigserial PRIMARY KEY,
    customer_id  text NOT NULL,
    exported_by  text NOT NULL,             -- the console member, or --by / the OS user
    exported_at  timestamptz NOT NULL DEFAULT now(),
    complaints   text[] NOT NULL,           -- the CRNs it covered
    items        jsonb NOT NULL,            -- rows exported per table
    sha256       text NOT NULL              -- the archive's digest: which file was handed over
);
CREATE INDEX exports_by_customer ON exports (customer_id, exported_at);

-- Single sign-on (starter/console/oidc.py): the ID token a console session was opened with,
-- kept for the provider's sign-out (its id_token_hint); NULL for a password sign-in.
ALTER TABLE console_sessions ADD COLUMN id_token text;
