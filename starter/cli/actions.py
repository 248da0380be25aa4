"""One subcommand per action, each built from its payload model, and `refund-decision`.

Fields become kebab-case flags, booleans `--x/--no-x`, lists a repeated flag, nested
objects flattened, plan steps `--step kind:description[:amount]`; `--json FILE|-` takes
the whole payload instead.
"""

from __future__ import annotations

import argparse
import json
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from settings import Settings, connect
from starter.cli.usage import UsageError, describe, read_text
from starter.operations import act, decide_refund, get_status
from workflows import models as m
from workflows.actions import GENERIC

# subcommand -> (workflow update name, payload model), from workflows/actions.py
ACTIONS: dict[str, tuple[str, type[BaseModel]]] = {
    a.command: (name, a.payload) for name, a in GENERIC.items()}


def add_action_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("refund-decision", help="the Finance Manager's refund decision "
                                               "(answered at once)")
    p.add_argument("crn")
    p.add_argument("--actor", help="your roster id (a finance manager)")
    p.add_argument("--approve", dest="approved", action="store_true", default=None)
    p.add_argument("--reject", dest="approved", action="store_false")
    p.add_argument("--amount", help="the amount approved (or the one rejected)")
    p.add_argument("--note")
    p.add_argument("--json", metavar="FILE", help="the whole payload as JSON (- for stdin)")
    p.set_defaults(func=cmd_refund_decision)

    for command, (update, model) in ACTIONS.items():
        p = sub.add_parser(command, help=f"{GENERIC[update].help} (the {update} update)")
        p.add_argument("crn")
        p.add_argument("--actor", help="your roster id")
        p.add_argument("--json", metavar="FILE", help="the whole payload as JSON (- for stdin)")
        _add_model_flags(p, model)
        p.set_defaults(func=_action_command(update, model))


def _action_command(update: str, model: type[BaseModel]) -> Callable:
    async def run(args: argparse.Namespace, settings: Settings) -> None:
        if args.json:
            data = _json_body(args)
        else:
            if not args.actor:
                raise UsageError("--actor is required (the roster id of the person acting)")
            data = _payload_from_flags(args)
        payload = _validated(model, data)  # before connecting: bad input sends nothing
        done = await act(await connect(settings), args.crn, update, payload)
        due = done.next_deadline
        print(f"{done.crn}: {done.status.value}, phase {done.phase.value}"
              + (f"; next deadline {due.name} at {due.due_at.isoformat(timespec='minutes')}"
                 if due else ""))
    return run


async def cmd_refund_decision(args: argparse.Namespace, settings: Settings) -> None:
    """The `decide_refund` update: the complaint answers with the refund's new state, or
    refuses (not a finance manager, nothing pending, above the maximum) and changes nothing."""
    if args.json:
        data = _json_body(args)
    else:
        if args.approved is None:
            raise UsageError("say --approve or --reject")
        data = {"actor": args.actor, "approved": args.approved, "amount": args.amount,
                "note": args.note or ""}
    decision = _validated(m.RefundDecision, data)
    client = await connect(settings)
    await decide_refund(client, args.crn, decision)
    state = await get_status(client, args.crn)  # the refund as it stands now (applied, maybe)
    decided = m.RefundStatus.approved if decision.approved else m.RefundStatus.rejected
    now = "" if state.refund.status == decided else f", now {state.refund.status}"
    print(f"{state.crn}: refund {decided} ({state.refund.amount} {state.refund.currency}{now}); "
          f"status {state.status.value}")


M = TypeVar("M", bound=BaseModel)


def _validated(model: type[M], data: dict) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise UsageError(describe(err)) from None


def _json_body(args: argparse.Namespace) -> dict:
    """The `--json` file's object, with `--actor` put in when given."""
    try:
        data = json.loads(read_text(args.json))
    except json.JSONDecodeError as err:
        raise UsageError(f"{args.json}: not valid JSON: {err}") from None
    if args.actor:
        data["actor"] = args.actor
    return data


# --- building action flags from payload models --------------------------------


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _add_model_flags(parser: argparse.ArgumentParser, model: type[BaseModel],
                     prefix: tuple[str, ...] = ()) -> None:
    for name, field in model.model_fields.items():
        if not prefix and name == "actor":
            continue
        annotation = _unwrap_optional(field.annotation)
        dest = "__".join((*prefix, name))
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            _add_model_flags(parser, annotation, (*prefix, name))  # nested: flattened
        elif annotation is bool:
            parser.add_argument(_flag(name), dest=dest, action=argparse.BooleanOptionalAction,
                                default=None, help=field.description)
        elif typing.get_origin(annotation) is list:
            item = typing.get_args(annotation)[0]
            if isinstance(item, type) and issubclass(item, BaseModel):
                parser.add_argument("--step", dest=dest, action="append", default=None,
                                    metavar="KIND:DESCRIPTION[:AMOUNT]", help="repeat per step")
            else:
                parser.add_argument(_flag(name.rstrip("s")), dest=dest, action="append",
                                    default=None, help=f"one of the {name}; repeat the flag")
        else:
            parser.add_argument(_flag(name), dest=dest, default=None, help=field.description)


def _parse_step(text: str) -> dict[str, Any]:
    kind, sep, rest = text.partition(":")
    if not sep or not rest:
        raise UsageError(f"--step {text!r}: expected kind:description[:amount]")
    description, amount = rest, None
    head, _, tail = rest.rpartition(":")
    if head and tail.replace(".", "", 1).isdigit():
        description, amount = head, tail
    return {"kind": kind, "description": description, "amount": amount}


def _payload_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    payload: dict[str, Any] = {"actor": args.actor}
    for dest, value in vars(args).items():
        if value is None or dest in ("actor", "crn", "json", "command", "func"):
            continue
        if dest.endswith("steps") and value and isinstance(value[0], str):
            value = [_parse_step(v) for v in value]
        target = payload
        *parents, leaf = dest.split("__")
        for p in parents:
            target = target.setdefault(p, {})
        target[leaf] = value
    return payload
