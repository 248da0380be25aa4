"""A webhook receiver on loopback for the tests: every request it got (headers and body, in
arrival order), answering 503 to the first `down_for` of them (a receiver that is down)
and 204 after. Served by uvicorn in the test's event loop (api_stack.serving)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from fastapi import FastAPI
from standardwebhooks import Webhook

from tests.api_stack import serving


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    down_for: int = 0  # requests answered 503 before it is up
    hang_first: int = 0  # of those, how many it holds `hang` seconds before answering
    hang: float = 0.0
    requests: list[Received] = field(default_factory=list)
    url: str = ""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        index = len(self.requests)
        status = 503 if index < self.down_for else 204
        self.requests.append(Received(
            {k.decode(): v.decode() for k, v in scope["headers"]}, body, status))
        if index < self.hang_first:
            await asyncio.sleep(self.hang)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.requests if r.status < 300]

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """The accepted events, each checked by the Standard Webhooks reference verifier."""
        return [Webhook(secret).verify(r.body, r.headers) for r in self.accepted]

    async def until(self, accepted: int, timeout: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.accepted) < accepted:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{len(self.accepted)} of {accepted} events accepted: "
                                     f"{[r.status for r in self.requests]}")
            await asyncio.sleep(0.05)


@asynccontextmanager
async def receiving(down_for: int = 0, path: str = "/hooks", hang_first: int = 0,
                    hang: float = 0.0) -> AsyncIterator[Receiver]:
    receiver = Receiver(down_for=max(down_for, hang_first), hang_first=hang_first, hang=hang)
    async with serving(cast(FastAPI, receiver)) as base:  # any ASGI app serves
        receiver.url = base + path
        yield receiver
