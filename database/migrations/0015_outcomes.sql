-- How a complaint ended, beyond withdrawn: resolved confirmed or unconfirmed by the customer,
-- a final response's verdict, or dismissed as not a complaint (ComplaintOutcome).
ALTER TABLE complaints DROP CONSTRAINT complaints_outcome_check;
ALTER TABLE complaints ADD CONSTRAINT complaints_outcome_check
    CHECK (outcome IS NULL OR outcome IN ('confirmed', 'unconfirmed', 'upheld', 'partly_upheld',
                                          'not_upheld', 'withdrawn', 'dismissed'));

-- Dismissed as a duplicate: the original, where the customer's later mail threads.
ALTER TABLE complaints ADD COLUMN duplicate_of text;

-- The half-year report (regulators' complaint returns cover January-June and July-December).
ALTER TABLE reports DROP CONSTRAINT reports_kind_check;
ALTER TABLE reports ADD CONSTRAINT reports_kind_check
    CHECK (kind IN ('weekly', 'monthly', 'quarterly', 'half-year'));
