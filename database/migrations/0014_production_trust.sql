-- The `engineer` role (workflows/models.py Role): reads complaints' payloads in clear
-- through the codec server and takes no complaint action (workflows/permissions.py).
ALTER TABLE staff DROP CONSTRAINT IF EXISTS staff_role_check;
ALTER TABLE staff ADD CONSTRAINT staff_role_check
    CHECK (role IN ('agent', 'specialist', 'csm', 'team_lead', 'head_of_cs',
                    'finance_manager', 'qa', 'rnd', 'engineer'));

-- Erasure gives a customer whose id was derived from their address (the email channel's
-- `email-<sha256>`) a random id, so the erased record cannot be matched to an address by
-- hashing it again (activities/erasure.py): their orders and refunds follow the new id...
ALTER TABLE orders DROP CONSTRAINT orders_customer_id_fkey,
    ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id)
        REFERENCES customers (id) ON UPDATE CASCADE;
ALTER TABLE refunds DROP CONSTRAINT refunds_customer_id_fkey,
    ADD CONSTRAINT refunds_customer_id_fkey FOREIGN KEY (customer_id)
        REFERENCES customers (id) ON UPDATE CASCADE;

-- ...and so do their own actions in the resolution log (actor `customer:<id>`): inside an
-- erasure, an event of one of its complaints may have its free text replaced and a
-- customer actor renamed to the erasure's (new) customer id; nothing else changes, nothing
-- is ever deleted.
CREATE OR REPLACE FUNCTION complaint_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    erasure text := current_setting('complaints.erasure', true);
    renamed_to text;
BEGIN
    IF TG_OP = 'UPDATE' AND coalesce(erasure, '') <> '' THEN
        SELECT 'customer:' || e.customer_id INTO renamed_to FROM erasures e
         WHERE e.id = erasure::bigint AND OLD.crn = ANY (e.complaints);
        IF FOUND
           AND (NEW.crn, NEW.seq, NEW.at, NEW.event, NEW.deadline, NEW.level,
                NEW.outcome, NEW.amount, NEW.currency)
               IS NOT DISTINCT FROM
               (OLD.crn, OLD.seq, OLD.at, OLD.event, OLD.deadline, OLD.level,
                OLD.outcome, OLD.amount, OLD.currency)
           AND (NEW.actor = OLD.actor
                OR (OLD.actor LIKE 'customer:%' AND NEW.actor = renamed_to))
        THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'complaint_events is append-only (the resolution log is never rewritten)';
END $$;
