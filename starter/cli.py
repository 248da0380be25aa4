"""The `complaints` command line (DESIGN.md, operating surface).

    complaints migrate                 schema + search attributes (idempotent)
    complaints seed FILE               roster, customers, orders
    complaints submit FILE|-           a ComplaintIntake JSON; prints the CRN
    complaints status CRN [--json]     a readable view: deadlines, waiting for, refund, timeline
    complaints list [--status ...] [--json]   the same filters as GET /complaints
    complaints <action> CRN --actor ID [fields...] | --json FILE|-
    complaints report weekly|monthly|quarterly [--period P] [--out FILE]
    complaints policy check|simulate FILE
    complaints serve                   the HTTP API (docs at /docs)
    complaints keys create|revoke|list API keys
    complaints bench [--complaints N]  the lifecycle against the bare Temporal ceiling

Every action subcommand is built from its payload model: fields become kebab-case
flags, booleans `--x/--no-x`, lists a repeated flag, nested objects flattened,
plan steps `--step kind:description[:amount]`. A refused action exits 1 with a
one-line reason; bad input exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import types
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from settings import REPO_ROOT, Settings
from workflows import models as m
from workflows.models import ComplaintState

# subcommand -> (workflow update name, payload model)
ACTIONS: dict[str, tuple[str, type[BaseModel]]] = {
    "acknowledge-personally": ("acknowledge_personally", m.PersonalAcknowledgement),
    "record-phone-contact": ("record_phone_contact", m.PhoneContact),
    "submit-internal-review": ("submit_internal_review", m.InternalReview),
    "submit-action-plan": ("submit_action_plan", m.ActionPlan),
    "record-fix-deployed": ("record_fix_deployed", m.FixDeployed),
    "send-customer-update": ("send_customer_update", m.CustomerUpdate),
    "propose-solution": ("propose_solution", m.SolutionProposal),
    "record-customer-response": ("record_customer_response", m.CustomerResponse),
    "confirm-resolution": ("confirm_resolution", m.ResolutionConfirmation),
    "submit-rca": ("submit_rca", m.RootCauseAnalysis),
    "record-kb-article": ("record_kb_article", m.KbArticleDone),
    "record-csat": ("record_csat", m.CsatResponse),
    "escalate": ("escalate", m.EscalationRequest),
    "reassign": ("reassign", m.Reassignment),
}


class UsageError(Exception):
    """Bad input on the command line or in a file: exit 2, nothing sent."""


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}") from None


def _describe(err: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(payload)'}: {e['msg']}" for e in err.errors()
    )


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


def _payload_from_flags(args: argparse.Namespace, model: type[BaseModel]) -> dict[str, Any]:
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


def _json_body(args: argparse.Namespace) -> dict:
    """The `--json` file's object, with `--actor` put in when given."""
    try:
        data = json.loads(_read(args.json))
    except json.JSONDecodeError as err:
        raise UsageError(f"{args.json}: not valid JSON: {err}") from None
    if args.actor:
        data["actor"] = args.actor
    return data


def _action_payload(args: argparse.Namespace, model: type[BaseModel]) -> BaseModel:
    if args.json:
        data = _json_body(args)
    else:
        if not args.actor:
            raise UsageError("--actor is required (the roster id of the person acting)")
        data = _payload_from_flags(args, model)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise UsageError(_describe(err)) from None


# --- commands ------------------------------------------------------------------


async def cmd_migrate(args: argparse.Namespace, settings: Settings) -> None:
    from activities.db import create_pool, migrate
    from settings import connect
    from starter.operations import register_search_attributes

    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            applied = await migrate(conn)
    finally:
        await pool.close()
    print(f"database: {'applied ' + ', '.join(applied) if applied else 'up to date'}")
    client = await connect(settings)
    added = await register_search_attributes(client, settings.namespace)
    print(f"search attributes: {'added ' + ', '.join(added) if added else 'all registered'}")


async def cmd_seed(args: argparse.Namespace, settings: Settings) -> None:
    from activities.db import SeedError, create_pool, load_seed, parse_seed

    try:
        seed = parse_seed(_read(args.file))
    except SeedError as err:
        raise UsageError(f"{args.file}: {err}; nothing was loaded") from None
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            counts = await load_seed(conn, seed)
    except SeedError as err:
        raise UsageError(f"{args.file}: {err}; nothing was loaded") from None
    finally:
        await pool.close()
    print("loaded " + ", ".join(f"{n} {what}" for what, n in counts.items()))


async def cmd_submit(args: argparse.Namespace, settings: Settings) -> None:
    from settings import connect
    from starter.intake import IntakeError, parse_intake, submit

    try:
        intake = parse_intake(_read(args.file))
    except IntakeError as err:
        raise UsageError(f"not a valid complaint: {err}; nothing was started") from None
    result = await submit(await connect(settings), intake, settings.task_queue)
    print(result.crn)
    if not result.created:
        print(f"(already submitted: {intake.source.value} {intake.external_ref})", file=sys.stderr)


async def cmd_status(args: argparse.Namespace, settings: Settings) -> None:
    from settings import connect
    from starter.operations import get_status

    state = await get_status(await connect(settings), args.crn)
    if args.json:
        print(state.model_dump_json(indent=2))
    else:
        from starter.views import render_state, show

        show(render_state(state))


async def cmd_list(args: argparse.Namespace, settings: Settings) -> None:
    from settings import connect
    from starter.listing import ListFilters, list_page
    from starter.views import render_list, show

    try:
        filters = ListFilters(status=args.status, phase=args.phase, owner=args.owner,
                              severity=args.severity, customer=args.customer,
                              breached=args.breached)
    except ValidationError as err:
        raise UsageError(_describe(err)) from None
    client = await connect(settings)
    items, token = [], None
    while args.limit is None or len(items) < args.limit:
        want = 100 if args.limit is None else min(100, args.limit - len(items))
        page = await list_page(client, filters, want, token)
        items += page.items
        token = page.next_page_token
        if token is None:
            break
    if args.json:
        print(json.dumps([c.model_dump(mode="json") for c in items], indent=2))
    else:
        show(render_list(items))


def _action_command(update: str, model: type[BaseModel]) -> Callable:
    async def run(args: argparse.Namespace, settings: Settings) -> None:
        from settings import connect
        from starter.operations import act

        payload = _action_payload(args, model)
        state = await act(await connect(settings), args.crn, update, payload)
        print(f"{state.crn}: {state.status.value}, phase {state.phase.value}")
    return run


async def cmd_refund_decision(args: argparse.Namespace, settings: Settings) -> None:
    """Sends the `refund_decision` signal, then reads back what the complaint made of it."""
    from settings import connect
    from starter.operations import ActionRefused, get_status, signal

    if args.json:
        data = _json_body(args)
    else:
        if args.approved is None:
            raise UsageError("say --approve or --reject")
        data = {"actor": args.actor, "approved": args.approved, "amount": args.amount,
                "note": args.note or ""}
    try:
        decision = m.RefundDecision.model_validate(data)
    except ValidationError as err:
        raise UsageError(_describe(err)) from None
    client = await connect(settings)
    before = await get_status(client, args.crn)
    await signal(client, args.crn, "refund_decision", decision)
    seen = before.timeline[-1].seq if before.timeline else 0
    for _ in range(50):  # the signal is handled asynchronously: wait for its mark
        state = await get_status(client, args.crn)
        mine = [e for e in state.timeline if e.seq > seen and e.actor == decision.actor
                and e.event.startswith("refund_")]
        if mine:
            if mine[0].event == "refund_decision_rejected":
                raise ActionRefused(f"decision not accepted: {mine[0].detail}")
            print(f"{state.crn}: refund {state.refund.status} "
                  f"({state.refund.amount} {state.refund.currency}); status {state.status.value}")
            return
        await asyncio.sleep(0.1)
    print(f"{args.crn}: decision sent; no worker has handled it yet")


def format_state(s: ComplaintState) -> str:
    """The status view as plain text (starter/views.py renders it)."""
    from starter.views import render_state, to_text

    return to_text(render_state(s))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="complaints", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="create/upgrade the schema, register search attributes"
                   ).set_defaults(func=cmd_migrate)
    p = sub.add_parser("seed", help="load roster, customers and orders from a JSON file")
    p.add_argument("file")
    p.set_defaults(func=cmd_seed)
    p = sub.add_parser("submit", help="submit a ComplaintIntake JSON file (- for stdin)")
    p.add_argument("file")
    p.set_defaults(func=cmd_submit)
    p = sub.add_parser("status", help="a complaint's state, deadlines and timeline")
    p.add_argument("crn")
    p.add_argument("--json", action="store_true", help="the status query's JSON")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("list", help="complaints, filtered via Temporal visibility")
    p.add_argument("--status", choices=[v.value for v in m.Status])
    p.add_argument("--phase", choices=[v.value for v in m.Phase])
    p.add_argument("--owner", help="roster id, or 'unassigned'")
    p.add_argument("--severity", type=int, choices=range(1, 5))
    p.add_argument("--customer", help="customer id")
    p.add_argument("--breached", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--limit", type=int, help="at most this many (newest first); default all")
    p.add_argument("--json", action="store_true", help="JSON, as GET /complaints items")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("refund-decision", help="the Finance Manager's refund decision (a signal)")
    p.add_argument("crn")
    p.add_argument("--actor", help="your roster id (a finance manager)")
    p.add_argument("--approve", dest="approved", action="store_true", default=None)
    p.add_argument("--reject", dest="approved", action="store_false")
    p.add_argument("--amount", help="the amount approved (or the one rejected)")
    p.add_argument("--note")
    p.add_argument("--json", metavar="FILE", help="the whole payload as JSON (- for stdin)")
    p.set_defaults(func=cmd_refund_decision)

    for command, (update, model) in ACTIONS.items():
        p = sub.add_parser(command, help=f"the {update} action")
        p.add_argument("crn")
        p.add_argument("--actor", help="your roster id")
        p.add_argument("--json", metavar="FILE", help="the whole payload as JSON (- for stdin)")
        _add_model_flags(p, model)
        p.set_defaults(func=_action_command(update, model))

    from starter.reports_cli import add_report_commands

    add_report_commands(sub)

    from starter.api_cli import add_api_commands

    add_api_commands(sub)

    _add_bench_command(sub)
    return parser


def _add_bench_command(sub: argparse._SubParsersAction) -> None:
    """`complaints bench`, from the source checkout's bench/ (the wheel does not carry it)."""
    try:
        from bench.options import add_arguments  # development only, see bench/__init__.py
    except ModuleNotFoundError as err:
        if err.name != "bench":
            raise
        add_arguments = None
    about = ("the complaint lifecycle against the bare Temporal ceiling, side by side on the "
             "embedded stack (docs/performance.md)")
    if add_arguments is None:  # every flag (--help too) is the benchmark's, passed on
        p = sub.add_parser("bench", help=about, add_help=False, prefix_chars="+")
        p.add_argument("options", nargs="*")
        p.set_defaults(func=_bench_from_checkout)
    else:
        p = sub.add_parser("bench", help=about)
        add_arguments(p)
        p.set_defaults(func=_bench)


async def _bench(args: argparse.Namespace, settings: Settings) -> None:
    # The benchmark's own stack and actors, loaded when it runs (it starts its own Temporal,
    # PostgreSQL and SMTP sink: `settings` are not used).
    from bench.run import run_from_args

    await run_from_args(args, "complaints " + " ".join(sys.argv[1:]))


async def _bench_from_checkout(args: argparse.Namespace, settings: Settings) -> None:
    """`complaints` installed from a source checkout (`pip install -e .` maps only the
    product's packages): run again with the checkout on the path, where bench/ is."""
    checkout = str(REPO_ROOT)
    if checkout in sys.path or not (REPO_ROOT / "bench" / "__init__.py").is_file():
        raise UsageError("complaints bench runs from a source checkout: make bench")
    path = os.pathsep.join(p for p in (checkout, os.environ.get("PYTHONPATH")) if p)
    os.execve(sys.executable, [sys.executable, "-m", "starter.cli", "bench", *args.options],
              os.environ | {"PYTHONPATH": path})


def main(argv: list[str] | None = None) -> None:
    from starter.operations import ActionRefused, ComplaintNotFound
    from workflows.policy import PolicyError

    if argv is None:  # the `complaints` process itself (tests call main with arguments)
        _exit_without_teardown(main, sys.argv[1:])
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    try:
        asyncio.run(args.func(args, settings))
    except KeyboardInterrupt:  # Ctrl-C (e.g. stopping `complaints serve`): no traceback
        sys.exit(130)
    except UsageError as err:
        print(f"complaints {args.command}: {err}", file=sys.stderr)
        sys.exit(2)
    except (ActionRefused, ComplaintNotFound, PolicyError) as err:
        print(f"complaints {args.command}: {err}", file=sys.stderr)
        sys.exit(1)
    except (OSError, RuntimeError) as err:
        # Connection refused and the like: say what to check, not a stack trace.
        print(f"complaints {args.command}: {err} (is the stack up? see TEMPORAL_ADDRESS, "
              f"DATABASE_URL)", file=sys.stderr)
        sys.exit(1)


def _exit_without_teardown(run: Callable[[list[str]], None], argv: list[str]) -> typing.NoReturn:
    """Run the command, then end the process skipping interpreter teardown, where the
    Temporal client's native threads can abort a finished process ("Fatal Python error:
    PyGILState_Release", temporalio/sdk-python#300): a successful `complaints migrate`
    would exit 134 and fail the one-shot migrate job of the production shape."""
    import logging
    import os
    import traceback

    code = 0
    try:
        run(argv)
    except SystemExit as exit_:
        if isinstance(exit_.code, str):
            print(exit_.code, file=sys.stderr)
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
