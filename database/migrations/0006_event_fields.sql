-- Events as data: the facts that metrics, the policy what-if and the API read
-- are columns of the resolution log, no longer phrases parsed out of `detail`.
ALTER TABLE complaint_events
    ADD COLUMN deadline text,   -- the deadline the event is about (deadline_*, escalated)
    ADD COLUMN level    integer, -- escalation level (escalated, escalation_*)
    ADD COLUMN reason   text,    -- why (escalated; a refused refund decision; a failed email)
    ADD COLUMN outcome  text,    -- how it ended (met, met_late, breached, warned, superseded...)
    ADD COLUMN amount   numeric, -- money (refund_*), in `currency`
    ADD COLUMN currency text;

-- Rows written before this migration get their fields from what their detail holds. The
-- log is append-only; this fills new columns from each row's own text and changes nothing
-- it already said, once, inside the migration's transaction.
ALTER TABLE complaint_events DISABLE TRIGGER complaint_events_append_only;

UPDATE complaint_events
   SET deadline = split_part(detail, ':', 1),
       outcome = CASE event
                     WHEN 'deadline_breached' THEN 'breached'
                     WHEN 'deadline_warning' THEN 'warned'
                     WHEN 'deadline_closed' THEN 'superseded'
                     WHEN 'deadline_met' THEN
                         CASE WHEN detail LIKE '%(after its breach)' THEN 'met_late' ELSE 'met' END
                 END
 WHERE event IN ('deadline_breached', 'deadline_warning', 'deadline_met', 'deadline_closed');

UPDATE complaint_events
   SET level = substring(detail FROM '^level (\d+)')::integer,
       reason = substring(detail FROM '^level \d+ \([^)]*\): (.*)$')
 WHERE event = 'escalated';

UPDATE complaint_events SET level = 2 WHERE event = 'escalation_unanswered';

UPDATE complaint_events SET reason = detail WHERE event = 'refund_decision_rejected';

UPDATE complaint_events
   SET amount = substring(detail FROM '^([0-9]+(?:\.[0-9]+)?) [A-Z]{3}')::numeric,
       currency = substring(detail FROM '^[0-9]+(?:\.[0-9]+)? ([A-Z]{3})')
 WHERE event IN ('refund_approved', 'refund_applied', 'refund_approval_requested');

UPDATE complaint_events
   SET outcome = CASE event WHEN 'refund_approved' THEN 'approved' ELSE 'rejected' END
 WHERE event IN ('refund_approved', 'refund_rejected');

ALTER TABLE complaint_events ENABLE TRIGGER complaint_events_append_only;

CREATE INDEX complaint_events_by_deadline ON complaint_events (deadline) WHERE deadline IS NOT NULL;
