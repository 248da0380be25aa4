"""The HTTP API as the tests reach it: the app served on a real socket (`serving`), and a
client with one key per roster member (`api_on`, `Api`)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from database.keys import create_key
from starter.api import create_app
from tests.conftest import ComplaintStack, intake

STAFF = ("ana", "ben", "sam", "priya", "carla", "tom", "helen", "fiona", "quinn", "raj", "rhea",
         "quentin")


@asynccontextmanager
async def serving(app: FastAPI, port: int = 0) -> AsyncIterator[str]:
    """The app on a real socket (uvicorn, in this event loop); yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass
class Api:
    base: str
    http: httpx.AsyncClient
    keys: dict[str, str]
    stack: ComplaintStack

    async def __call__(self, method: str, path: str, who: str | None = None,
                       **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if who is not None:
            headers["Authorization"] = f"Bearer {self.keys[who]}"
        response = await self.http.request(method, path, headers=headers, **kwargs)
        assert response.headers["content-type"].startswith("application/json"), response.text
        assert "Traceback" not in response.text and 'File "' not in response.text
        if response.status_code >= 400:
            body = response.json()
            assert set(body) == {"error", "message", "fields"}, body
            assert body["message"] and "\n" not in body["message"]
        return response

    async def act(self, crn: str, update: str, who: str, **body: Any) -> httpx.Response:
        return await self("POST", f"/complaints/{crn}/actions/{update}", who, json=body)

    async def submit(self, who: str = "intake", **overrides: Any) -> str:
        response = await self("POST", "/complaints", who, json=intake(**overrides))
        assert response.status_code == 201, response.text
        crn = response.json()["crn"]
        self.stack.started.append(crn)
        return crn


@asynccontextmanager
async def api_on(stack: ComplaintStack) -> AsyncIterator[Api]:
    """The worker and the API on `stack`, with a key for everyone on the demo roster."""
    keys: dict[str, str] = {}
    async with stack.pool.acquire() as conn:
        for staff_id in STAFF:
            keys[staff_id] = (await create_key(conn, staff_id=staff_id))[1]
        keys["intake"] = (await create_key(conn, intake="web-form"))[1]
    app = create_app(stack.settings, stack.client, stack.pool)
    async with stack.worker(), serving(app) as base:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            yield Api(base, http, keys, stack)
