-- Complaints that change under way: what a re-triage or a new policy changed, as it was and
-- as it is (`before`, `after` on the resolution log's events), and the policy version a
-- complaint started under beside the one applied to it later, so that reports tell apart
-- complaints started before and after a policy change.
ALTER TABLE complaint_events
    ADD COLUMN before text,
    ADD COLUMN after  text;

ALTER TABLE complaints
    ADD COLUMN policy_version text,          -- the policy snapshot's version at intake
    ADD COLUMN adopted_policy_version text;  -- the latest policy applied to it while open
