"""Internal notes' bodies in PostgreSQL (`notes`): the complaint's history names a note by
its id, so a long discussion never grows the workflow's history or its carried state."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from workflows import activity_types
from workflows.messages import NoteToStore


class NoteActivities(activity_types.NoteActivities):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @activity.defn
    async def store_note(self, note: NoteToStore) -> int:
        """One row per (crn, request_id): a retry after a lost reply returns the same id."""
        async with self.pool.acquire() as conn:
            return await conn.fetchval(
                """INSERT INTO notes (crn, request_id, author, body, mentions)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (crn, request_id) DO UPDATE SET crn = EXCLUDED.crn
                   RETURNING id""",
                # PostgreSQL's text holds no NUL: one typed into a form would fail every retry.
                note.crn, note.request_id, note.author, note.text.replace("\x00", ""),
                note.mentions)
