-- Archived complaints (the complaint management process, step 16): the closed complaint's
-- row as it was when archived. The live row stays for reports; its status says 'archived'.
CREATE TABLE complaint_archive (
    crn          text PRIMARY KEY REFERENCES complaints (crn),
    archived_at  timestamptz NOT NULL,
    snapshot     jsonb NOT NULL
);
ALTER TABLE complaints ADD COLUMN archived_at timestamptz;
ALTER TABLE complaints ADD COLUMN csat_score smallint CHECK (csat_score BETWEEN 1 AND 5);
