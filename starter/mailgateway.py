"""`complaints mail-gateway`: the product's own SMTP server for SUPPORT_ADDRESS (aiosmtpd).

    a client outside INBOUND_ALLOWED_NETWORKS   554 at the greeting, then closed
    over INBOUND_MAX_CONNECTIONS at once       421 at the greeting (real MTAs come back)
    over INBOUND_RATE_PER_IP / _PER_SENDER     451 to MAIL FROM (messages a minute)
    RCPT TO another address      550 (not a relay)
    a message over INBOUND_MAX_BYTES  552
    PostgreSQL unavailable       451 (the sending server tries again later)
    a full backlog               451 4.3.2 to MAIL FROM and DATA: INBOUND_MAX_BACKLOG messages
                                 stored and not yet started (Temporal slow or away) or being
                                 stored (PostgreSQL slow); real MTAs retry, nothing is lost
    otherwise                    the message is stored whole, unique by Message-ID, with
                                 its sender's verdict (mail/auth.py), then 250

Lines up to 10,000 characters are taken (RFC 5321 says 1,000; real clients send longer).
STARTTLS is offered when INBOUND_TLS_CERT and INBOUND_TLS_KEY are set. A message marked as
spam upstream, failing DMARC where its domain asks for quarantine or reject, or from an
address no customer has beyond INBOUND_UNKNOWN_SENDER_PER_HOUR, is stored *suspended*:
not started, not answered, until a person releases or rejects it (`complaints suspended`).

Only after the row is committed does it answer 250; then it starts the message's
InboundMessageWorkflow (workflows/inbound.py; its id derives from the Message-ID, so a
second start is the same workflow). A message whose start did not happen (the gateway
died after 250, Temporal was away) is started by the sweep, which runs at start and
every `SWEEP_EVERY` seconds.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
import time
from collections import defaultdict, deque
from datetime import timedelta
from email.utils import parseaddr
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.client import Client

from database import mailbox
from database.pool import UNAVAILABLE, Pool, create_pool
from mail.auth import (
    SenderCheck,
    Verdict,
    headers_of,
    spam_reason,
    strip_untrusted_results,
)
from mail.parsing import message_id_of
from settings import Settings, connect
from starter.operations import start_inbound

log = logging.getLogger("complaints.mailgateway")
SWEEP_EVERY = 15.0
# A stored message younger than this is still being started by the gateway that took it.
SWEEP_GRACE = timedelta(seconds=5)
LINE_LIMIT = 10_000
# The sender check's lookups each have VERIFY_TIMEOUT; the whole check has this long.
VERIFY_TIMEOUT = 5.0
VERIFY_BUDGET = 15.0


class Window:
    """Events per key in the last `seconds` (in this gateway process's memory)."""

    def __init__(self, limit: int, seconds: float = 60.0) -> None:
        self.limit, self.seconds = limit, seconds
        self.events: dict[str, deque[float]] = defaultdict(deque)

    def take(self, key: str) -> bool:
        """Count one; False (not counted) when `key` had `limit` already."""
        now, seen = time.monotonic(), self.events[key]
        while seen and now - seen[0] > self.seconds:
            seen.popleft()
        if len(seen) >= self.limit:
            return False
        seen.append(now)
        if len(self.events) > 10_000:  # forget quiet keys; the busy ones refill at once
            for quiet in [k for k, v in self.events.items() if not v]:
                del self.events[quiet]
        return True


class InboundHandler:
    """The aiosmtpd handler: which recipients it takes, and what DATA does."""

    def __init__(self, settings: Settings, pool: Pool, client: Client) -> None:
        self.settings, self.pool, self.client = settings, pool, client
        self._starting: set[asyncio.Task[bool]] = set()
        # Backpressure: messages being stored, and stored ones not yet started (by id).
        self.storing = 0
        self.unstarted: set[str] = set()
        self.sender_check = SenderCheck(
            verify_senders=settings.inbound_verify_senders,
            dns_server=settings.inbound_dns_server,
            trusted_authserv_id=settings.inbound_trusted_authserv_id, timeout=VERIFY_TIMEOUT)
        self.networks = [ipaddress.ip_network(n.strip(), strict=False)
                         for n in settings.inbound_allowed_networks.split(",") if n.strip()]
        self.connections = 0
        self.per_ip = Window(settings.inbound_rate_per_ip)
        self.per_sender = Window(settings.inbound_rate_per_sender)

    def admit(self, peer: Any) -> str | None:
        """The refusal for a new connection from `peer`, or None (then it counts as open)."""
        host = peer[0] if isinstance(peer, tuple) else str(peer)
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return "554 5.7.1 not accepting mail from this client"
        if not any(address in net for net in self.networks):
            return "554 5.7.1 not accepting mail from this network"
        if self.connections >= self.settings.inbound_max_connections:
            return "421 4.7.0 too many connections; try again later"
        self.connections += 1
        return None

    @property
    def backlog(self) -> int:
        """Messages in hand that Temporal or PostgreSQL have not taken yet."""
        return self.storing + len(self.unstarted)

    def backlog_full(self) -> str | None:
        """The refusal while the backlog is full (a transient 4xx: the sender retries)."""
        if self.backlog >= self.settings.inbound_max_backlog:
            return ("451 4.3.2 too many messages waiting to be processed; please try again "
                    "later")
        return None

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        full = self.backlog_full()
        if full:
            return full
        ip = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        if not self.per_ip.take(ip):
            return "451 4.7.1 too many messages from your address; try again later"
        if not self.per_sender.take((address or "<>").lower()):
            return "451 4.7.1 too many messages from this sender; try again later"
        envelope.mail_from, envelope.mail_options = address, list(mail_options)
        return "250 OK"

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
        full = self.backlog_full()  # filled up while this message was being sent
        if full:
            return full
        self.storing += 1
        try:
            return await self._take(server, session, envelope, raw)
        finally:
            self.storing -= 1

    async def _take(self, server: SMTP, session: Session, envelope: Envelope, raw: bytes) -> str:
        """Verify and store the message, then start its processing in the background."""
        message_id = message_id_of(raw)
        peer_ip = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        verdict = await self.verify(raw, peer_ip, envelope.mail_from or "",
                                    session.host_name or "")
        if self.settings.inbound_trusted_authserv_id:
            raw = strip_untrusted_results(raw, self.settings.inbound_trusted_authserv_id)
        headers = headers_of(raw)
        sender = parseaddr(" ".join(str(headers.get("From", "")).split()))[1].lower()
        sender = sender if sender.isprintable() else ""
        try:
            suspended = await self.suspension(headers, verdict, sender)
            stored = await mailbox.store_inbound(
                self.pool, message_id, envelope.mail_from or "", raw, verdict=verdict,
                peer_ip=peer_ip, helo=(session.host_name or "")[:255] or None,
                from_address=sender or None, suspended=suspended)
        except UNAVAILABLE as err:
            log.warning("cannot store %s, answered 451: %s", message_id, err)
            return "451 4.3.0 the message cannot be stored right now; please try again later"
        # Not the sender: a customer's address stays out of logs (docs/security.md).
        log.info("%s %s (%d bytes; sender %s, dmarc=%s%s)",
                 "stored" if stored else "already had", message_id, len(raw),
                 "authenticated" if verdict.authenticated else "unauthenticated", verdict.dmarc,
                 "; suspended" if suspended else "")
        if stored and not suspended:
            self.unstarted.add(message_id)
            task = asyncio.create_task(self.start(message_id))
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)
        return "250 2.0.0 OK: message accepted"

    async def verify(self, raw: bytes, peer_ip: str, mail_from: str, helo: str) -> Verdict:
        """The sender's verdict, in a thread (dkimpy and pyspf block), within VERIFY_BUDGET."""
        if not self.sender_check.configured:
            return self.sender_check.check(raw, peer_ip, mail_from, helo)
        try:
            return await asyncio.wait_for(asyncio.to_thread(
                self.sender_check.check, raw, peer_ip, mail_from, helo), VERIFY_BUDGET)
        except TimeoutError:
            return Verdict(False, "temperror", None, f"not verified within {VERIFY_BUDGET:g} s")
        except Exception as err:  # a malformed signature or record: unauthenticated, not lost
            return Verdict(False, "temperror", None, f"verification failed: {type(err).__name__}")

    async def suspension(self, headers: Any, verdict: Verdict, sender: str) -> str | None:
        """Why this message waits for a person instead of being processed, if it does."""
        spam = spam_reason(headers)
        if spam:
            return spam
        if verdict.failed and verdict.policy in ("reject", "quarantine"):
            return f"fails DMARC, and its domain asks for {verdict.policy} ({verdict.reason})"
        if sender:
            count = await mailbox.unknown_sender_count(self.pool, sender)
            limit = self.settings.inbound_unknown_sender_per_hour
            if count is not None and count >= limit:
                return f"an unknown sender's {count + 1}th message within the hour (limit {limit})"
        return None

    async def start(self, message_id: str) -> bool:
        """Start the message's workflow (idempotent); False if Temporal was not reachable
        (the sweep tries again)."""
        try:
            await start_inbound(self.client, self.settings.task_queue, message_id)
        except Exception as err:  # Temporal away: the row waits for the sweep
            log.warning("could not start processing %s yet: %s", message_id, err)
            self.unstarted.add(message_id)  # counted until the sweep starts it
            return False
        self.unstarted.discard(message_id)
        try:
            await mailbox.mark_started(self.pool, message_id)
        except UNAVAILABLE:
            pass  # the sweep's next start is the same workflow again
        return True

    async def sweep(self, grace: timedelta = SWEEP_GRACE) -> int:
        """Start every stored message whose processing has not started; returns how many."""
        started = 0
        waiting = await mailbox.unstarted(self.pool, grace)
        self.unstarted.update(waiting)  # the backlog counts them until they start
        for message_id in waiting:
            if not await self.start(message_id):
                break
            started += 1
        return started


class GatewaySMTP(SMTP):
    """aiosmtpd's SMTP with longer lines, and the handler's say on each new connection."""

    line_length_limit = LINE_LIMIT + 2  # the text and its CR LF

    async def _handle_client(self) -> None:
        handler: InboundHandler = self.event_handler
        assert self.session is not None and self.transport is not None
        refusal = handler.admit(self.session.peer)
        if refusal is not None:
            await self.push(refusal)
            self.transport.close()
            return
        try:
            await super()._handle_client()
        finally:
            handler.connections -= 1


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """STARTTLS's context when INBOUND_TLS_CERT and INBOUND_TLS_KEY are set (both or neither)."""
    if bool(settings.inbound_tls_cert) != bool(settings.inbound_tls_key):
        raise ValueError("INBOUND_TLS_CERT and INBOUND_TLS_KEY go together: set both")
    if not settings.inbound_tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.inbound_tls_cert, settings.inbound_tls_key)
    return context


async def serve_smtp(handler: InboundHandler, host: str, port: int) -> asyncio.Server:
    """The SMTP server on this event loop (the handler shares its pool and client)."""
    loop = asyncio.get_running_loop()
    limit = handler.settings.inbound_max_bytes
    context = tls_context(handler.settings)

    def protocol() -> Any:
        return GatewaySMTP(handler, data_size_limit=limit, enable_SMTPUTF8=True,
                           ident="complaints mail-gateway", hostname=host, tls_context=context)

    return await loop.create_server(protocol, host=host, port=port)


async def run_gateway(settings: Settings) -> None:
    """`complaints mail-gateway`: until Ctrl-C/SIGTERM."""
    pool = await create_pool(settings.database_url, min_size=1, max_size=5)
    client = await connect(settings, lazy=True)
    handler = InboundHandler(settings, pool, client)
    server = await serve_smtp(handler, settings.inbound_smtp_host, settings.inbound_smtp_port)
    print(f"mail gateway: SMTP on {settings.inbound_smtp_host}:{settings.inbound_smtp_port} "
          f"for {settings.support_address}; STARTTLS "
          f"{'on' if settings.inbound_tls_cert else 'off'}; "
          f"{handler.sender_check.describe()}", flush=True)
    if not handler.sender_check.configured:
        log.warning("sender verification is off: all inbound mail is unauthenticated (set "
                    "INBOUND_VERIFY_SENDERS=on or INBOUND_TRUSTED_AUTHSERV_ID)")
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
