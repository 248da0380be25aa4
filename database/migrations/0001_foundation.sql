-- The foundation schema: the roster, customers and orders a complaint is read
-- against, the complaints themselves, their resolution log and the email outbox.

CREATE TABLE staff (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    email      text NOT NULL,
    role       text NOT NULL CHECK (role IN ('agent', 'specialist', 'csm', 'team_lead',
                                             'head_of_cs', 'finance_manager', 'qa', 'rnd')),
    skills     text[] NOT NULL DEFAULT '{}',
    available  boolean NOT NULL DEFAULT true
);

CREATE TABLE customers (
    id               text PRIMARY KEY,
    name             text NOT NULL,
    email            text,
    phone            text,
    key_account      boolean NOT NULL DEFAULT false,
    lifetime_value   numeric(14, 2) NOT NULL DEFAULT 0,
    loyalty_tier     text,
    csm              text REFERENCES staff (id),
    account_balance  numeric(14, 2) NOT NULL DEFAULT 0
);

CREATE TABLE orders (
    id           text PRIMARY KEY,
    customer_id  text NOT NULL REFERENCES customers (id),
    net_amount   numeric(14, 2) NOT NULL CHECK (net_amount >= 0),
    tax_rate     numeric(6, 4) NOT NULL CHECK (tax_rate >= 0 AND tax_rate <= 1),
    currency     char(3) NOT NULL
);

CREATE TABLE credit_notes (
    id          text PRIMARY KEY,
    order_id    text NOT NULL REFERENCES orders (id),
    amount      numeric(14, 2) NOT NULL CHECK (amount >= 0),
    crn         text,               -- the complaint that issued it, if any
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE complaints (
    crn               text PRIMARY KEY,
    source            text NOT NULL,
    external_ref      text NOT NULL,
    customer_id       text NOT NULL,  -- not a foreign key: complaints come from people not yet in the CRM
    customer_name     text,
    customer_email    text,
    subject           text NOT NULL,
    description       text NOT NULL,
    category          text,
    impact            text,
    order_id          text,
    severity          smallint NOT NULL CHECK (severity BETWEEN 1 AND 4),
    severity_score    smallint NOT NULL,
    status            text NOT NULL,
    phase             text NOT NULL,
    owner             text,
    handling_agent    text,
    escalation_level  smallint NOT NULL DEFAULT 0,
    retention_risk    boolean NOT NULL DEFAULT false,
    sla_breached      boolean NOT NULL DEFAULT false,
    recurrent_of      text,
    policy_name       text NOT NULL,
    received_at       timestamptz NOT NULL,
    acknowledged_at   timestamptz,
    resolved_at       timestamptz,
    closed_at         timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, external_ref)
);
CREATE INDEX complaints_customer ON complaints (customer_id, received_at);
CREATE INDEX complaints_open_by_owner ON complaints (owner) WHERE status NOT IN ('resolved', 'closed', 'archived');
CREATE INDEX complaints_open_by_agent ON complaints (handling_agent) WHERE status NOT IN ('resolved', 'closed', 'archived');

-- The resolution log: append-only. `seq` is the workflow's own event number, so
-- an activity retried after its commit inserts nothing twice.
CREATE TABLE complaint_events (
    crn     text NOT NULL REFERENCES complaints (crn),
    seq     integer NOT NULL,
    at      timestamptz NOT NULL,
    event   text NOT NULL,
    actor   text NOT NULL,
    detail  text NOT NULL DEFAULT '',
    PRIMARY KEY (crn, seq)
);
CREATE INDEX complaint_events_by_event ON complaint_events (event, at);

CREATE FUNCTION complaint_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'complaint_events is append-only (the resolution log is never rewritten)';
END $$;
CREATE TRIGGER complaint_events_append_only BEFORE UPDATE OR DELETE ON complaint_events
    FOR EACH ROW EXECUTE FUNCTION complaint_events_append_only();

-- Every email the product sends, once per (crn, kind). The rendered message is
-- kept from the first attempt so a retry sends exactly the same message.
CREATE TABLE email_outbox (
    id          bigserial PRIMARY KEY,
    crn         text NOT NULL,
    kind        text NOT NULL,
    recipients  text[] NOT NULL,
    subject     text NOT NULL,
    body        text NOT NULL,
    message_id  text NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    UNIQUE (crn, kind)
);
