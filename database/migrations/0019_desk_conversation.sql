-- The agent's desk (docs/desk.md): internal notes, whose bodies live here and not in the
-- complaint's history (its `note_added` event names the note's id), and the canned replies
-- the head of customer success keeps for the reply box.

CREATE TABLE notes (
    id          bigserial PRIMARY KEY,
    crn         text NOT NULL,
    request_id  text NOT NULL,             -- the add_note update's id: a retried activity stores it once
    author      text NOT NULL,             -- roster id
    body        text NOT NULL,
    mentions    text[] NOT NULL DEFAULT '{}',  -- roster ids, each emailed a link to the complaint
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (crn, request_id)
);
CREATE INDEX notes_by_crn ON notes (crn, id);

CREATE TABLE reply_templates (
    name        text PRIMARY KEY,          -- what the reply box offers it as
    body        text NOT NULL,             -- with {customer_name}, {crn}, {owner}, {next_deadline}, {order}
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
