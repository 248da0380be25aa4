-- The agent's desk: the queue and search read the complaint's row, not Temporal visibility.
--
-- The queue: the workflow's single writer (workflows/complaint/effects.py) also writes what
-- the queue sorts and filters on: the next open deadline (its instant and name), since when
-- the complaint is paused waiting on the customer, and the owner's team. `queue_at` is the
-- sort key (no deadline sorts last), so "most urgent first" is an index scan with keyset
-- pagination over every open complaint.
ALTER TABLE complaints
    ADD COLUMN next_deadline_at timestamptz,
    ADD COLUMN next_deadline    text,
    ADD COLUMN paused_since     timestamptz,
    ADD COLUMN team             text,
    ADD COLUMN queue_at         timestamptz
        GENERATED ALWAYS AS (coalesce(next_deadline_at, 'infinity'::timestamptz)) STORED,
    ADD COLUMN search           tsvector;

-- Open: not closed and not archived (what a person can still act on).
CREATE INDEX complaints_queue ON complaints (queue_at, crn)
    WHERE status NOT IN ('closed', 'archived');
CREATE INDEX complaints_queue_by_owner ON complaints (owner, queue_at, crn)
    WHERE status NOT IN ('closed', 'archived');
CREATE INDEX complaints_queue_by_team ON complaints (team, queue_at, crn)
    WHERE status NOT IN ('closed', 'archived');
CREATE INDEX complaints_queue_by_phase ON complaints (phase, queue_at, crn)
    WHERE status NOT IN ('closed', 'archived');
CREATE INDEX complaints_queue_by_status ON complaints (status, queue_at, crn);
-- Search reads open and closed complaints: a person's scope over all of them.
CREATE INDEX complaints_by_owner ON complaints (owner);
CREATE INDEX complaints_by_team ON complaints (team);
CREATE INDEX complaints_by_phase ON complaints (phase);
CREATE INDEX complaints_search ON complaints USING gin (search);

UPDATE complaints c SET team = s.team FROM staff s WHERE s.id = c.owner;

-- Search: one tsvector a complaint (the `simple` configuration: no stemming, no stop words,
-- so a name, an order id or a CRN is found as written). Weights: A the CRN, order id and
-- subject; B the customer (name, email, id, the CRM's company name); C the description;
-- D every message (the customer's emails, what we sent the customer, internal notes).

-- Internal notes, when a `notes` table (crn, and its text in `text` or `body`) exists.
CREATE FUNCTION complaint_search_notes(p_crn text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    col text;
    found text;
BEGIN
    IF to_regclass('notes') IS NULL THEN
        RETURN '';
    END IF;
    SELECT a.attname INTO col FROM pg_attribute a
     WHERE a.attrelid = to_regclass('notes') AND a.attname IN ('text', 'body')
       AND NOT a.attisdropped
     ORDER BY a.attname DESC LIMIT 1;
    IF col IS NULL THEN
        RETURN '';
    END IF;
    EXECUTE format('SELECT coalesce(string_agg(%I::text, '' ''), '''') FROM notes WHERE crn = $1',
                   col) INTO found USING p_crn;
    RETURN found;
END $$;

-- Every message's text: inbound mail threaded to it, our emails to the customer, notes.
CREATE FUNCTION complaint_search_messages(p_crn text, p_email text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT concat_ws(' ',
        (SELECT string_agg(concat_ws(' ', subject, body), ' ' ORDER BY received_at)
           FROM inbound_messages WHERE crn = p_crn),
        (SELECT string_agg(body, ' ' ORDER BY id) FROM email_outbox
          WHERE crn = p_crn AND p_email IS NOT NULL AND p_email = ANY (recipients)),
        complaint_search_notes(p_crn))
$$;

-- The text a search result's headline is cut from (the document below, as text).
CREATE FUNCTION complaint_search_text(c complaints) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT concat_ws(' … ', c.subject, c.description,
                     concat_ws(' ', c.customer_name, c.customer_email,
                               (SELECT name FROM customers WHERE id = c.customer_id)),
                     c.order_id, complaint_search_messages(c.crn, c.customer_email))
$$;

CREATE FUNCTION complaint_search_document(c complaints) RETURNS tsvector
LANGUAGE sql STABLE AS $$
    SELECT setweight(to_tsvector('simple', concat_ws(' ', c.crn, c.order_id, c.subject)), 'A')
        || setweight(to_tsvector('simple', concat_ws(' ', c.customer_name, c.customer_email,
                         c.customer_id, (SELECT name FROM customers WHERE id = c.customer_id))),
                     'B')
        || setweight(to_tsvector('simple', coalesce(c.description, '')), 'C')
        || setweight(to_tsvector('simple', complaint_search_messages(c.crn, c.customer_email)),
                     'D')
$$;

-- The row's own words changed, or a message asked for it (search set to NULL): made anew.
CREATE FUNCTION complaints_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.search IS NULL
       OR NEW.subject IS DISTINCT FROM OLD.subject
       OR NEW.description IS DISTINCT FROM OLD.description
       OR NEW.customer_id IS DISTINCT FROM OLD.customer_id
       OR NEW.customer_name IS DISTINCT FROM OLD.customer_name
       OR NEW.customer_email IS DISTINCT FROM OLD.customer_email
       OR NEW.order_id IS DISTINCT FROM OLD.order_id THEN
        NEW.search := complaint_search_document(NEW);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER complaints_search_refresh BEFORE INSERT OR UPDATE ON complaints
    FOR EACH ROW EXECUTE FUNCTION complaints_search_refresh();

-- A message (any table with a `crn` column) was added, changed or removed: its complaint's
-- document is made anew. The hook for a notes table: a trigger with this function on it.
CREATE FUNCTION complaint_search_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.crn IS NOT NULL THEN
        UPDATE complaints SET search = NULL WHERE crn = OLD.crn;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.crn IS NOT NULL THEN
        UPDATE complaints SET search = NULL WHERE crn = NEW.crn;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER inbound_messages_search AFTER INSERT OR DELETE
    OR UPDATE OF crn, subject, body ON inbound_messages
    FOR EACH ROW EXECUTE FUNCTION complaint_search_touch();
CREATE TRIGGER email_outbox_search AFTER INSERT OR DELETE
    OR UPDATE OF crn, body, recipients ON email_outbox
    FOR EACH ROW EXECUTE FUNCTION complaint_search_touch();
DO $$
BEGIN
    IF to_regclass('notes') IS NOT NULL THEN
        CREATE TRIGGER notes_search AFTER INSERT OR UPDATE OR DELETE ON notes
            FOR EACH ROW EXECUTE FUNCTION complaint_search_touch();
    END IF;
END $$;

-- A customer's company name (the CRM's record) is found too: renamed, found anew.
CREATE FUNCTION customers_search_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE complaints SET search = NULL WHERE customer_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER customers_search AFTER INSERT OR UPDATE OF name ON customers
    FOR EACH ROW EXECUTE FUNCTION customers_search_touch();

UPDATE complaints SET search = NULL;
