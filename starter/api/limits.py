"""Limits on the HTTP surface (docs/security.md).

- `BodyLimit`: a request body over MAX_BODY_BYTES (1 MiB; the largest intake, a 64 KiB
  description, is far below) gets 413 before it is read whole: at once when Content-Length
  says so, and as soon as the streamed bytes pass the limit when it does not (chunked).
- `AuthFailures`: a client (its socket address; `serve` trusts no proxy header) whose keys
  failed AUTH_FAILURES times within a minute gets 429 with Retry-After until the window
  moves on, whatever key it sends meanwhile. The count is in PostgreSQL (`auth_failures`,
  database/keys.py: one atomic upsert per client per second, a moving minute summed over
  the last 60 seconds, PostgreSQL's clock), so every `serve` process behind a load
  balancer refuses the same guesser.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from database.keys import recent_auth_failures, record_auth_failure
from database.pool import Pool

MAX_BODY_BYTES = 1024 * 1024
AUTH_FAILURES = 10  # per client per minute
WINDOW_SECONDS = 60


def _too_large() -> str:
    return f"the request body is over {MAX_BODY_BYTES // 1024} KiB"


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _refuse(send)
            return
        received, too_large, answered = 0, False, False

        async def counted() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise BodyTooLarge(_too_large())
            return message

        async def answer(message: Message) -> None:
            # Past the limit, whatever the app makes of the error (FastAPI turns a failed
            # body read into a 400) gives way to the 413.
            nonlocal answered
            if too_large:
                if message["type"] == "http.response.start" and not answered:
                    answered = True
                    await _refuse(send)
                return
            await send(message)

        try:
            await self.app(scope, counted, answer)
        except BodyTooLarge:
            if not answered:
                await _refuse(send)


class BodyTooLarge(Exception):
    """Raised by the counted receive once the body passes the limit."""


async def _refuse(send: Send) -> None:
    body = json.dumps({"error": "too_large", "message": _too_large(), "fields": []}).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class AuthFailures:
    def __init__(self, pool: Pool, per_minute: int = AUTH_FAILURES) -> None:
        self._pool, self._limit = pool, per_minute

    async def retry_after(self, client: str) -> int | None:
        """Seconds this client must wait, or None if it may try a key now."""
        now, recent = await recent_auth_failures(self._pool, client, WINDOW_SECONDS)
        total = sum(n for _, n in recent)
        if now is None or total < self._limit:
            return None
        # It may try again once enough of its oldest failures have left the minute.
        for second, n in recent:
            total -= n
            if total < self._limit:
                left = second + timedelta(seconds=WINDOW_SECONDS) - now
                return max(1, math.ceil(left.total_seconds()))
        return WINDOW_SECONDS  # not reached: the loop ends below the limit

    async def failed(self, client: str) -> None:
        await record_auth_failure(self._pool, client)
