"""`complaints mail-gateway`: the product's own SMTP server for SUPPORT_ADDRESS (aiosmtpd).

    RCPT TO another address      550 (not a relay)
    a message over INBOUND_MAX_BYTES  552
    PostgreSQL unavailable       451 (the sending server tries again later)
    otherwise                    the message is stored whole, unique by Message-ID, then 250

Only after the row is committed does it answer 250; then it starts the message's
InboundMessageWorkflow (workflows/inbound.py; its id derives from the Message-ID, so a
second start is the same workflow). A message whose start did not happen (the gateway
died after 250, Temporal was away) is started by the sweep, which runs at start and
every `SWEEP_EVERY` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from database import mailbox
from database.pool import UNAVAILABLE, Pool, create_pool
from mail.parsing import message_id_of
from settings import Settings, connect
from workflows.inbound import InboundMessageWorkflow, inbound_workflow_id

log = logging.getLogger("complaints.mailgateway")
SWEEP_EVERY = 15.0
# A stored message younger than this is still being started by the gateway that took it.
SWEEP_GRACE = timedelta(seconds=5)


class InboundHandler:
    """The aiosmtpd handler: which recipients it takes, and what DATA does."""

    def __init__(self, settings: Settings, pool: Pool, client: Client) -> None:
        self.settings, self.pool, self.client = settings, pool, client
        self._starting: set[asyncio.Task[None]] = set()

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address.strip().lower() != self.settings.support_address.lower():
            return f"550 5.7.1 <{address}>: this server takes mail for " \
                   f"{self.settings.support_address} only; it is not a relay"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        raw = raw if isinstance(raw, bytes) else str(raw).encode("utf-8", "surrogateescape")
        if len(raw) > self.settings.inbound_max_bytes:
            return f"552 5.3.4 message too big (the limit is {self.settings.inbound_max_bytes} bytes)"
        message_id = message_id_of(raw)
        try:
            stored = await mailbox.store_inbound(self.pool, message_id, envelope.mail_from or "",
                                                 raw)
        except UNAVAILABLE as err:
            log.warning("cannot store %s, answered 451: %s", message_id, err)
            return "451 4.3.0 the message cannot be stored right now; please try again later"
        # Not the sender: a customer's address stays out of logs (docs/security.md).
        log.info("%s %s (%d bytes)", "stored" if stored else "already had", message_id, len(raw))
        if stored:
            task = asyncio.create_task(self.start(message_id))
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)
        return "250 2.0.0 OK: message accepted"

    async def start(self, message_id: str) -> bool:
        """Start the message's workflow (idempotent); False if Temporal was not reachable
        (the sweep tries again)."""
        try:
            await self.client.start_workflow(
                InboundMessageWorkflow.run, message_id, id=inbound_workflow_id(message_id),
                task_queue=self.settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=f"Inbound email {message_id}")
        except WorkflowAlreadyStartedError:
            pass  # processed already: this start is the same message again
        except Exception as err:  # Temporal away: the row waits for the sweep
            log.warning("could not start processing %s yet: %s", message_id, err)
            return False
        try:
            await mailbox.mark_started(self.pool, message_id)
        except UNAVAILABLE:
            pass  # the sweep's next start is the same workflow again
        return True

    async def sweep(self, grace: timedelta = SWEEP_GRACE) -> int:
        """Start every stored message whose processing has not started; returns how many."""
        started = 0
        for message_id in await mailbox.unstarted(self.pool, grace):
            if not await self.start(message_id):
                break
            started += 1
        return started


async def serve_smtp(handler: InboundHandler, host: str, port: int) -> asyncio.Server:
    """The SMTP server on this event loop (the handler shares its pool and client)."""
    loop = asyncio.get_running_loop()
    limit = handler.settings.inbound_max_bytes

    def protocol() -> Any:
        return SMTP(handler, data_size_limit=limit, enable_SMTPUTF8=True,
                    ident="complaints mail-gateway", hostname=host)

    return await loop.create_server(protocol, host=host, port=port)


async def run_gateway(settings: Settings) -> None:
    """`complaints mail-gateway`: until Ctrl-C/SIGTERM."""
    pool = await create_pool(settings.database_url, min_size=1, max_size=5)
    client = await connect(settings, lazy=True)
    handler = InboundHandler(settings, pool, client)
    server = await serve_smtp(handler, settings.inbound_smtp_host, settings.inbound_smtp_port)
    print(f"mail gateway: SMTP on {settings.inbound_smtp_host}:{settings.inbound_smtp_port} "
          f"for {settings.support_address}", flush=True)
    try:
        while True:
            try:
                swept = await handler.sweep()
                if swept:
                    log.info("started %d stored message(s) the sweep found", swept)
            except UNAVAILABLE as err:
                log.warning("sweep: PostgreSQL unavailable: %s", err)
            await asyncio.sleep(SWEEP_EVERY)
    finally:
        server.close()
        await pool.close()
