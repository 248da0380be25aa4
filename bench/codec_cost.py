"""The payload codec's own cost, measured beside the ceiling.

Both sides of the benchmark run with the codec (AES-256-GCM, a key made for the run) unless
`--plain-payloads`, so the lifecycle/ceiling ratio is unchanged by it. What the codec itself
costs is measured here: every payload of one finished complaint's history, as the server
stores it, decrypted and encrypted again (each payload is encrypted once by its writer and
decrypted by its reader), in this process's CPU time, against the ceiling worker's CPU time
per workflow. A worker that replays a complaint decrypts its history again; that is the
same cost once more per replay.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from settings.codec import ENCODING, EncryptionCodec, parse_keys

ROUNDS = 20


def payloads_in(message: Message,
                skip: Callable[[Message], bool] = lambda _: False) -> Iterator[Payload]:
    """Every Payload anywhere in a protobuf message (a history event: inputs, results,
    update arguments, user metadata, failures' encoded attributes), however deeply nested,
    except inside the messages `skip` names."""
    if isinstance(message, Payload):
        yield message
        return
    if skip(message):
        return
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        if descriptor.message_type.GetOptions().map_entry:
            values = list(value.values())
        elif descriptor.is_repeated:
            values = list(value)
        else:
            values = [value]
        for v in values:
            if isinstance(v, Message):
                yield from payloads_in(v, skip)


async def codec_cost(client: Client, payload_keys: str, ceiling_cpu_ms: float | None
                     ) -> dict[str, Any]:
    codec = EncryptionCodec(parse_keys(payload_keys))
    crn = None
    async for wf in client.list_workflows("WorkflowType = 'ComplaintWorkflow'", limit=1):
        crn = wf.id
    if crn is None:
        return {}
    history = await client.get_workflow_handle(crn).fetch_history()
    stored = [p for e in history.events for p in payloads_in(e)
              if p.metadata.get("encoding") == ENCODING]
    began = time.process_time()
    for _ in range(ROUNDS):
        await codec.encode(await codec.decode(stored))
    per_complaint = (time.process_time() - began) / ROUNDS * 1000
    return {
        "payloads_per_complaint": len(stored),
        "payload_kib_per_complaint": round(sum(p.ByteSize() for p in stored) / 1024, 1),
        "cpu_ms_per_complaint": round(per_complaint, 2),
        "ceiling_worker_cpu_ms_per_workflow": ceiling_cpu_ms,
        "share_of_ceiling": round(per_complaint / ceiling_cpu_ms, 3) if ceiling_cpu_ms else None,
    }
