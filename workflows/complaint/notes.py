"""Internal notes: a colleague's word on the complaint, for staff only.

The note's body goes to PostgreSQL (an activity, keyed by the update's id so a retry
stores it once); the timeline's `note_added` event names the note's id and who it
mentions, never its text, so the history and the carried state do not grow with the
discussion. Each person mentioned gets an email linking to the complaint's page. Nothing
here writes to the customer, and the customer's status page never shows a note.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.activity_types import NoteActivities
    from workflows.complaint import rules
    from workflows.complaint.case import Case
    from workflows.complaint.effects import Effects
    from workflows.events import Event
    from workflows.messages import NoteToStore
    from workflows.models import Note


class Notes:
    def __init__(self, case: Case, effects: Effects) -> None:
        self.case = case
        self.effects = effects

    async def add(self, note: Note) -> int:
        """Store the note, log it by id, tell whoever it mentions; returns its id."""
        case = self.case
        who = rules.mentioned(note)
        update = workflow.current_update_info()
        request_id = update.id if update is not None else str(workflow.uuid4())
        note_id = await self.effects.call(
            NoteActivities.store_note,
            NoteToStore(crn=case.state.crn, request_id=request_id, author=note.actor,
                        text=note.text, mentions=who),
            "Store an internal note")
        case.log(Event.note_added, note.actor, f"note {note_id}"
                 + (f", mentioning {', '.join(who)}" if who else ""))
        self.effects.changed()
        author = case.name(note.actor)
        for staff_id in who:
            member = case.roster[staff_id]  # the validator refused anyone not on the roster
            self.effects.email(f"note_mention:{note_id}:{staff_id}", [member.email],
                               "note_mention", {**case.mail_context(), "name": member.name,
                                                "author_name": author, "note_id": note_id})
        return note_id
