"""`complaints rekey [--dry-run] [--by ID]`: every open complaint written again under the first
of PAYLOAD_ENCRYPTION_KEYS, so that an older key can be retired.

How a complaint's keys are known: each encrypted payload names its key in its metadata
(settings/codec.py), and a complaint's open run holds its state in its own history (its
input, the activities' results, the updates), so the key ids of the payloads in its current
run's history are the keys it still needs. The history is read as Temporal stores it; no
payload is decrypted.

Without `--dry-run`, each open complaint whose run holds a payload under another key is
sent the `rekey` update (actor `--by`: an engineer or the head of customer success), which
makes it continue as new at its next quiet point: the new run's input, and everything after
it, is written under the first key. Then it counts again and says how many complaints still
use each key. A resolved complaint is not continued as new (its post-mortem would start
again); its history leaves Temporal with the namespace's retention, so retire a key only
once the retention has passed since the last complaint under it closed (README,
"Encryption").
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import Iterable

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from settings import Settings, connect
from settings.codec import KEY_ID
from starter.cli.usage import UsageError
from workflows.models import Rekey

OPEN_COMPLAINTS = "WorkflowType = 'ComplaintWorkflow' AND ExecutionStatus = 'Running'"


def add_rekey_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rekey", help="continue every open complaint as new under the first "
                                     "encryption key, so an old key can be retired")
    p.add_argument("--dry-run", action="store_true",
                   help="only count the open complaints under each key")
    p.add_argument("--by", default=None,
                   help="who asks (roster id of an engineer or the head of customer success); "
                        "needed without --dry-run")
    p.add_argument("--only", action="append", metavar="CRN", default=[],
                   help="only these complaints (repeatable): try one first")
    p.add_argument("--wait", type=float, default=60.0,
                   help="seconds to wait for the complaints to continue as new (default 60)")
    p.set_defaults(func=cmd_rekey)


def key_ids_in(message: Message) -> set[str]:
    """The key ids of every encrypted payload inside a protobuf message (a history event);
    what is not encrypted by design (search attributes, the summaries, patch markers) names
    no key and is not counted."""
    found: set[str] = set()

    def walk(m: Message) -> None:
        if isinstance(m, Payload):
            if KEY_ID in m.metadata:
                found.add(m.metadata[KEY_ID].decode(errors="replace"))
            return
        for field, value in m.ListFields():
            if field.type != field.TYPE_MESSAGE:
                continue
            if field.is_repeated:
                entry = field.message_type is not None and field.message_type.GetOptions().map_entry
                items: Iterable = value.values() if entry else value
                for item in items:
                    if isinstance(item, Message):
                        walk(item)
            else:
                walk(value)

    walk(message)
    return found


async def keys_of_open_complaints(client: Client, only: list[str]) -> dict[str, set[str]]:
    """Each open complaint's CRN (of `only`, if given) with the keys its current run's
    history holds payloads under."""
    out: dict[str, set[str]] = {}
    query = OPEN_COMPLAINTS
    if only:
        query += " AND WorkflowId IN (" + ", ".join(
            "'" + crn.replace("'", "") + "'" for crn in only) + ")"
    async for execution in client.list_workflows(query):
        history = await client.get_workflow_handle(execution.id).fetch_history()
        keys: set[str] = set()
        for event in history.events:
            keys |= key_ids_in(event)
        out[execution.id] = keys
    return out


def tally(keys: dict[str, set[str]], first: str) -> list[str]:
    """`key: N complaint(s)` lines, the first key first."""
    counts = Counter(k for ks in keys.values() for k in ks)
    counts.setdefault(first, 0)
    order = [first, *sorted(k for k in counts if k != first)]
    return [f"  {k}{' (encrypts)' if k == first else ''}: {counts[k]} complaint(s)"
            for k in order]


async def cmd_rekey(args: argparse.Namespace, settings: Settings) -> None:
    if not settings.payload_keys:
        raise UsageError("PAYLOAD_ENCRYPTION_KEYS is not set: there is no key to rekey to")
    if not args.dry_run and not args.by:
        raise UsageError("say who asks: --by ID (an engineer or the head of customer success), "
                         "or count only with --dry-run")
    first = next(iter(settings.payload_keys))
    client = await connect(settings)
    keys = await keys_of_open_complaints(client, args.only)
    print(f"{len(keys)} open complaint(s); under each key:")
    print("\n".join(tally(keys, first)))
    behind = sorted(crn for crn, ks in keys.items() if ks - {first})
    if args.dry_run:
        print(f"{len(behind)} complaint(s) would continue as new under {first} (dry run: "
              "nothing sent)")
        return
    asked, refused = [], []
    for crn in behind:
        try:
            await client.get_workflow_handle(crn).execute_update("rekey", Rekey(actor=args.by))
            asked.append(crn)
        except WorkflowUpdateFailedError as err:
            refused.append(f"{crn}: {getattr(err.cause, 'message', None) or err}")
        except RPCError as err:  # ended meanwhile
            refused.append(f"{crn}: {err.message}")
    print(f"asked {len(asked)} complaint(s) to continue as new under {first}")
    for line in refused:
        print(f"  not asked: {line}")
    deadline = asyncio.get_running_loop().time() + args.wait
    while asked:
        keys = await keys_of_open_complaints(client, args.only)
        # Each asked one seen again, its new run under the first key alone (between the
        # runs visibility may list neither, which is not done yet).
        if all(crn in keys and not keys[crn] - {first} for crn in asked):
            break
        if asyncio.get_running_loop().time() > deadline:
            print(f"not all continued within {args.wait:.0f} s (is a worker running?)")
            break
        await asyncio.sleep(1)
    if asked:
        print(f"{len(keys)} open complaint(s); still under each key:")
        print("\n".join(tally(keys, first)))
