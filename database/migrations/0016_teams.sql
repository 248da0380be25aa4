-- Teams on the roster: a hand-off's deadline (R&D fix, QA's knowledge-base article, Finance's
-- decision) belongs to a team and escalates to that team's lead; a team lead's queue shows
-- their team. Staff without a team are in "support", the complaint-handling team.
ALTER TABLE staff ADD COLUMN team text NOT NULL DEFAULT 'support';
CREATE INDEX staff_team ON staff (team, role);
