"""Request bodies, read strictly: as the OpenAPI schema says, and never naming an actor."""

# No `from __future__ import annotations`: FastAPI reads the dependency's annotations.

import re
from typing import Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError, create_model

from workflows import models as m

CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def strict_body(model: type[BaseModel], single_line: frozenset[tuple[str, ...]] = frozenset(),
                ) -> Any:
    """Validate the raw JSON body strictly, as the OpenAPI schema says: `"received_at": 0`
    is not a date-time, `"score": "5"` not an integer (pydantic's lax mode would take both).
    NUL characters are refused (PostgreSQL cannot store them in the resolution log), and so
    are line breaks in one-line fields (an email header cannot carry them)."""

    async def parse(request: Request) -> BaseModel:
        raw = await request.body()
        try:
            value = model.model_validate_json(raw, strict=True)
        except ValidationError as err:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in err.errors()]) from None
        problems = []
        for path, text in _strings(value.model_dump()):
            if "\x00" in text:
                problems.append({"loc": ("body", *path), "type": "string_nul",
                                 "msg": "must not contain NUL characters"})
            elif path in single_line and CONTROL.search(text):
                problems.append({"loc": ("body", *path), "type": "string_one_line",
                                 "msg": "must be one line (no line breaks or control "
                                        "characters)"})
        if problems:
            raise RequestValidationError(problems)
        return value

    return Depends(parse)


def _strings(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(v, (*path, k))]
    if isinstance(value, list):
        return [s for i, v in enumerate(value) for s in _strings(v, (*path, i))]
    return []


def body_model(model: type[BaseModel]) -> type[BaseModel]:
    """An action's payload model without `actor` (the key's owner is the actor)."""
    fields: dict[str, Any] = {name: (f.annotation, f) for name, f in model.model_fields.items()
                              if name != "actor"}
    return create_model(f"{model.__name__}Body", __base__=m.Model, __doc__=model.__doc__,
                        **fields)


def with_actor(model: type[BaseModel], body: BaseModel, actor: str) -> Any:
    """The action's payload: the body, acted by the key's owner. The payload's own checks
    across fields (a dismissal's `duplicate_of` with reason `duplicate` only) answer 422
    like the body's, naming the body."""
    try:
        return model.model_validate({**body.model_dump(), "actor": actor})
    except ValidationError as err:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in err.errors()]) from None
