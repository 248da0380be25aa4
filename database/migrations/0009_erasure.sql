-- Erasure on request (database/erasure.py): who erased whose personal data,
-- when, and which complaints it touched; and the resolution log's one recorded exception.

CREATE TABLE erasures (
    id           bigserial PRIMARY KEY,
    customer_id  text NOT NULL,             -- the internal id, kept so the record says whose
    erased_by    text NOT NULL,             -- who ran `complaints erase` (--by, or the OS user)
    erased_at    timestamptz NOT NULL DEFAULT now(),
    complaints   text[] NOT NULL,           -- the CRNs whose rows were erased
    rows_changed jsonb NOT NULL             -- rows changed per table
);

-- complaint_events stays append-only for everything else. Inside an erasure's transaction
-- (`complaints.erasure` set to its id, transaction-local) an event of one of the erasure's
-- complaints may have its free text (detail, reason) replaced; every other column must stay
-- as it was, and nothing is ever deleted.
CREATE OR REPLACE FUNCTION complaint_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    erasure text := current_setting('complaints.erasure', true);
BEGIN
    IF TG_OP = 'UPDATE' AND coalesce(erasure, '') <> ''
       AND EXISTS (SELECT 1 FROM erasures e WHERE e.id = erasure::bigint AND OLD.crn = ANY (e.complaints))
       AND (NEW.crn, NEW.seq, NEW.at, NEW.event, NEW.actor, NEW.deadline, NEW.level,
            NEW.outcome, NEW.amount, NEW.currency)
           IS NOT DISTINCT FROM
           (OLD.crn, OLD.seq, OLD.at, OLD.event, OLD.actor, OLD.deadline, OLD.level,
            OLD.outcome, OLD.amount, OLD.currency)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'complaint_events is append-only (the resolution log is never rewritten)';
END $$;
