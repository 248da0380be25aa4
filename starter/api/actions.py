"""`POST /complaints/{crn}/actions/{update}`: one route per action, each the workflow update
of that name, its body the update's payload less `actor` (the key's owner acts).

Permission is decided here, before anything is sent, with workflows/permissions.py and the
roster in PostgreSQL; the workflow checks again against the roster it started with.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations, and
# the action bodies are models built at run time.

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel

from database.pool import on_roster
from starter.api.bodies import body_model, strict_body, with_actor
from starter.api.complaints import Crn, complaint_state
from starter.api.deps import Database, Staff, Temporal
from starter.api.errors import FieldProblem, forbidden, in_time, invalid, responses
from starter.operations import OWNER_OR_ROLE, UPDATES, act_and_read, check_permission
from workflows.actions import GENERIC
from workflows.models import ComplaintState
from workflows.permissions import OWNER_ACTIONS, ROLES_FOR

router = APIRouter(tags=["actions"])

# What each action is, for /docs: the help of its row in workflows/actions.py.
ACTION_DOCS = {name: a.help for name, a in GENERIC.items()}


def _add_action(update: str, model: type[BaseModel]) -> None:
    Body = body_model(model)  # a model class, built for this action

    async def action(crn: Crn, principal: Staff, body: Body,  # type: ignore[valid-type]
                     strict: Annotated[BaseModel, strict_body(Body)],
                     client: Temporal, pool: Database) -> ComplaintState:
        state = await complaint_state(client, crn)
        member = principal.staff
        if member is None:  # the Staff dependency refused intake keys already
            raise forbidden("an intake key may not act on a complaint")
        check_permission(update, member, state)
        if update == "reassign":
            await _check_new_owner(pool, strict.owner)  # type: ignore[attr-defined]
        return await in_time(act_and_read(client, crn, update, with_actor(model, strict, member.id)),
                             update)

    router.post(
        f"/complaints/{{crn}}/actions/{update}", name=update, operation_id=update,
        summary=f"{update.replace('_', ' ').capitalize()} ({_who(update)})",
        description=ACTION_DOCS[update] + "\n\nWho: " + _who(update) + ". The "
        "actor is the key's owner. Returns the complaint's state after the action, as GET "
        "the complaint does.",
        responses=responses(401, 403, 404, 409, 422, 503),
    )(action)


def _who(update: str) -> str:
    if update in OWNER_ACTIONS:
        return "the complaint's owner, a team lead or the head of customer success"
    roles = ", ".join(sorted(r.value for r in ROLES_FOR[update]))
    return ("the owner, or one of: " if update in OWNER_OR_ROLE else "one of: ") + roles


async def _check_new_owner(pool: Database, owner: str) -> None:
    if not await on_roster(pool, owner):
        raise invalid([FieldProblem(location="body", field="owner",
                                    message=f"{owner!r} is not on the roster")])


for _update, _model in UPDATES.items():
    _add_action(_update, _model)
