"""The Temporal UI of `make dev`, with its codec requests carrying the console's cookie.

The dev server's UI (`temporal server start-dev --ui-codec-endpoint ...`) has no setting for
the codec's `includeCredentials` (the UI image's TEMPORAL_CODEC_INCLUDE_CREDENTIALS, which
docker-compose.yml sets): its browser requests to `/console/codec/decode` go without the
console's session cookie, every one answers 401, and the UI shows "Codec Server could not
connect" and every payload as ciphertext. So `make dev` serves the UI through this small
proxy on the UI's port, which passes every request to the dev server's UI on a loopback
port of its own and answers the UI's settings (`/api/v1/settings`) with
`Codec.IncludeCredentials` on. The browser then sends the signed-in engineer's cookie
(SameSite=Lax: the UI on localhost:8233 and the API on localhost:8000 are the same site), and
the codec server decides by role as in production. Nothing else is changed.

    python -m devstack.uifront LISTEN_PORT UPSTREAM_PORT     (both on 127.0.0.1)
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

SETTINGS_PATH = "/api/v1/settings"
# Not forwarded either way: they describe one connection, not the message.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade", "host", "content-length"}


def with_credentials(settings: dict) -> dict:
    """The UI's settings with the codec's credentials included (when it has a codec)."""
    codec = settings.get("Codec")
    if isinstance(codec, dict) and codec.get("Endpoint"):
        codec["IncludeCredentials"] = True
    return settings


def front_app(upstream: str) -> Starlette:
    """The proxy to the dev server's UI at `upstream` (http://127.0.0.1:PORT)."""
    state: dict[str, httpx.AsyncClient] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(base_url=upstream, timeout=60) as client:
            state["client"] = client
            yield

    async def forward(request: Request) -> Response:
        client = state["client"]
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        if request.url.path == SETTINGS_PATH:
            headers = [(k, v) for k, v in headers if k.lower() != "accept-encoding"]
        upstream_request = client.build_request(
            request.method, request.url.path, params=request.url.query or None,
            headers=headers, content=await request.body())
        answer = await client.send(upstream_request, stream=True)
        out_headers = [(k, v) for k, v in answer.headers.multi_items()
                       if k.lower() not in HOP_BY_HOP]
        if request.url.path == SETTINGS_PATH and answer.status_code == 200:
            settings = json.dumps(with_credentials(json.loads(await answer.aread()))).encode()
            await answer.aclose()
            response = Response(settings, status_code=200)
            response.raw_headers = [(k.encode(), v.encode()) for k, v in out_headers
                                    if k.lower() != "content-encoding"]
            response.headers["content-length"] = str(len(settings))
            return response

        async def body() -> AsyncIterator[bytes]:
            try:
                async for chunk in answer.aiter_raw():
                    yield chunk
            finally:
                await answer.aclose()

        response = StreamingResponse(body(), status_code=answer.status_code)
        response.raw_headers = [(k.encode(), v.encode()) for k, v in out_headers]
        return response

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
    return Starlette(routes=[Route("/{path:path}", forward, methods=methods)],
                     lifespan=lifespan)


def main(argv: list[str] | None = None) -> None:
    listen, upstream = (int(a) for a in (argv or sys.argv[1:]))
    uvicorn.run(front_app(f"http://127.0.0.1:{upstream}"), host="127.0.0.1", port=listen,
                log_level="warning", server_header=False)


if __name__ == "__main__":
    main()
