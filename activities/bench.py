"""The ceiling's activity for `complaints bench`: it does nothing, so its cost is Temporal's."""

from __future__ import annotations

from temporalio import activity

from workflows.bench import NO_OP


@activity.defn(name=NO_OP)
async def bench_no_op(pad: str = "", reply_bytes: int = 0) -> str:
    """`pad` and `reply_bytes` carry the complaint's payload sizes for `bench --explain`."""
    return "x" * reply_bytes
