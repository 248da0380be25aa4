-- Withdrawn at the customer's request (the `withdraw` update): how a closed
-- complaint ended when not by the customer's written sign-off. NULL for every other
-- complaint; 'withdrawn' for one withdrawn (its row is `closed` with `closed_at` set and no
-- `resolved_at` unless it was withdrawn after its resolution, in the post-mortem).
ALTER TABLE complaints ADD COLUMN outcome text
    CHECK (outcome IS NULL OR outcome IN ('withdrawn'));
