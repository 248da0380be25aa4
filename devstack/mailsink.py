"""A local SMTP sink: every message the worker sends lands here, nothing leaves the machine.

`make dev` runs one on port 1025 saving `.eml` files to `.dev/mail/`; tests use one to
assert on what customers and staff would have received, and stop/start it on the same
port to simulate an SMTP outage.

    python -m devstack.mailsink --dir .dev/mail --port 1025
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import re
import signal
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.controller import Controller

log = logging.getLogger(__name__)

Predicate = Callable[[EmailMessage], bool]


class MailSink:
    """An SMTP server on a thread that keeps every message in memory and, optionally, on disk."""

    def __init__(self, directory: Path | None = None, host: str = "127.0.0.1", port: int = 0):
        self.directory = directory
        self.host = host
        self._port = port
        self._controller: Controller | None = None
        self._messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        self._counter = itertools.count(1)

    @property
    def port(self) -> int:
        """The bound port (a free one is chosen at the first start when port=0)."""
        return self._port

    def start(self) -> None:
        if self._controller is not None:
            return
        if self._port == 0:
            self._port = _free_port(self.host)
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        # A Controller cannot be restarted (its loop is closed on stop), so each start gets a new one.
        # server_hostname avoids socket.getfqdn(), which can stall for seconds without DNS.
        self._controller = Controller(
            self, hostname=self.host, port=self._port, server_hostname="mailsink"
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()  # closes the listening socket before returning
            self._controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    def matching(self, predicate: Predicate) -> list[EmailMessage]:
        return [msg for msg in self.messages if predicate(msg)]

    async def wait_for(self, predicate: Predicate, timeout: float = 10.0) -> EmailMessage:
        """The first message matching `predicate`, waiting up to `timeout` seconds for it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = self.matching(predicate)
            if found:
                return found[0]
            if loop.time() >= deadline:
                subjects = [str(msg["Subject"]) for msg in self.messages]
                raise AssertionError(
                    f"no matching email within {timeout}s; received {len(subjects)}: {subjects}"
                )
            await asyncio.sleep(0.05)

    # aiosmtpd handler hook, called on the sink's thread for each message.
    async def handle_DATA(self, server, session, envelope) -> str:
        # The envelope goes into headers so Bcc recipients stay visible, as in Mailpit.
        envelope_headers = (
            f"X-MailFrom: {envelope.mail_from}\r\nX-RcptTo: {', '.join(envelope.rcpt_tos)}\r\n"
        )
        raw = envelope_headers.encode() + envelope.original_content
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        with self._lock:
            n = next(self._counter)
            self._messages.append(msg)
        if self.directory is not None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            to = re.sub(r"[^\w@.+-]", "_", envelope.rcpt_tos[0] if envelope.rcpt_tos else "nobody")
            (self.directory / f"{stamp}-{n}-{to}.eml").write_bytes(raw)
        log.info("mail to %s: %s", ", ".join(envelope.rcpt_tos), msg["Subject"])
        return "250 Message accepted for delivery"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description="Local SMTP sink: keeps every message as .eml")
    parser.add_argument("--dir", type=Path, default=Path(".dev/mail"), help="where .eml files go")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-connection chatter

    sink = MailSink(args.dir, args.host, args.port)
    sink.start()
    print(f"SMTP sink on {args.host}:{sink.port}, saving to {args.dir}/ (Ctrl-C to stop)")
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
