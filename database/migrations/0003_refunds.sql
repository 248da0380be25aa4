-- Refunds and credits applied to a customer's account (the complaint management process,
-- steps 11-12). One row per (crn, refund_id): an activity retried after its commit finds the row and writes nothing.
CREATE TABLE refunds (
    crn          text NOT NULL REFERENCES complaints (crn),
    refund_id    integer NOT NULL,
    customer_id  text NOT NULL REFERENCES customers (id),
    order_id     text NOT NULL REFERENCES orders (id),
    amount       numeric(14, 2) NOT NULL CHECK (amount > 0),
    currency     char(3) NOT NULL,
    approved_by  text,
    credit_note  text NOT NULL REFERENCES credit_notes (id),
    applied_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (crn, refund_id)
);
