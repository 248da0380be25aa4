-- How a complaint ended, beyond withdrawn: resolved confirmed or unconfirmed by the customer,
-- a final response's verdict, or dismissed as not a complaint (ComplaintOutcome).
ALTER TABLE complaints DROP CONSTRAINT complaints_outcome_check;
ALTER TABLE complaints ADD CONSTRAINT complaints_outcome_check
    CHECK (outcome IS NULL OR outcome IN ('confirmed', 'unconfirmed', 'upheld', 'partly_upheld',
                                          'not_upheld', 'withdrawn', 'dismissed'));
