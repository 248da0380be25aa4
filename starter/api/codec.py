"""The codec server (docs/security.md): Temporal's remote codec protocol, so
the Temporal UI (`--ui-codec-endpoint`) and the `temporal` CLI (`--codec-endpoint ...
--codec-auth "Bearer <key>"`) show complaints in clear while the history stays encrypted.

    POST /codec/encode   {"payloads": [...]}  -> the same payloads, encrypted
    POST /codec/decode   {"payloads": [...]}  -> the same payloads, in clear

Payloads are protobuf JSON (`temporal.api.common.v1.Payloads`), as samples-python's
`encryption/codec_server.py` answers them. Only an engineer or the head of customer success
may call it (PAYLOAD_READERS: a decoded payload is the customer's data, which no other role
needs in bulk): their staff API key (`Authorization: Bearer`, what the CLI sends), or their
console session (the cookie the Temporal UI sends when its codec setting includes
credentials). A payload that is neither encrypted nor tagged clear (the timeline's
summaries) is not passed through: nothing this product writes is like that once keys are
set, so whoever wrote it bypassed the product; its answer is a placeholder that says so
(one refused payload must not hide the rest of a history in the UI).
Mounted as its own app so that its CORS (the Temporal UI's origin, which
calls it from the browser) admits that origin here and nowhere else in the API. Payloads
are never logged, either way.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

from typing import Annotated

from fastapi import Depends, FastAPI, Request, Security
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from settings import Settings
from settings.codec import CLEAR_TEXT, ENCODING, EncryptionCodec
from starter.api.deps import Database, bearer, caller
from starter.api.errors import ApiError, forbidden, install_error_handlers
from starter.console.auth import session_of
from workflows.permissions import PAYLOAD_READERS
from workflows.records import StaffMember


async def _staff(request: Request, pool: Database,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
                 ) -> StaffMember:
    """A staff key's owner, or the console session's when no key is sent, if their role may
    read payloads."""
    member = None
    if credentials is None:
        session = await session_of(request)
        if session is not None:
            member = session.member
    if member is None:
        principal = await caller(request, pool, credentials)  # 401 (or 429) without a good key
        if principal.staff is None:
            raise forbidden(f"{principal.name!r} is an intake key: it may not read payloads")
        member = principal.staff
    if member.role not in PAYLOAD_READERS:
        names = ", ".join(sorted(r.value for r in PAYLOAD_READERS))
        raise forbidden(f"{member.id!r} is a {member.role.value}; reading payloads in clear "
                        f"needs one of: {names}")
    return member


Staff = Annotated[StaffMember, Depends(_staff)]
NOT_PASSED = Payload(metadata={"encoding": b"json/plain"},
                     data=b'"[not encrypted, not tagged clear: the codec server does not pass '
                          b'it through]"')


def _unencrypted(p: Payload) -> bool:
    return p.metadata.get("encoding", b"") != ENCODING and CLEAR_TEXT not in p.metadata


def codec_app(settings: Settings, state: dict) -> FastAPI:
    """The /codec sub-application; `state`: the parent app's client, pool and settings."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    for name, value in state.items():
        setattr(app.state, name, value)
    install_error_handlers(app)
    origins = [o.strip() for o in settings.temporal_ui_origin.split(",") if o.strip()]
    app.add_middleware(CORSMiddleware, allow_origins=origins,
                       allow_credentials=True, allow_methods=["POST"],
                       allow_headers=["authorization", "content-type", "x-namespace"])
    codec = EncryptionCodec(settings.payload_keys) if settings.payload_keys else None

    async def _payloads(request: Request) -> Payloads:
        if codec is None:
            raise ApiError(503, "unavailable", "PAYLOAD_ENCRYPTION_KEYS is not set on this "
                           "server: payloads are stored in clear, there is nothing to decode")
        try:
            return json_format.Parse(await request.body(), Payloads())
        except json_format.ParseError:
            raise ApiError(422, "invalid", 'expected {"payloads": [...]} (protobuf JSON '
                           "of temporal.api.common.v1.Payloads)") from None

    def _answer(payloads: list) -> Response:
        return Response(json_format.MessageToJson(Payloads(payloads=payloads)),
                        media_type="application/json")

    @app.post("/encode")
    async def encode(request: Request, caller: Staff) -> Response:
        payloads = await _payloads(request)
        assert codec is not None  # _payloads answered 503 without one
        return _answer(await codec.encode(payloads.payloads))

    @app.post("/decode")
    async def decode(request: Request, caller: Staff) -> Response:
        payloads = await _payloads(request)
        assert codec is not None  # _payloads answered 503 without one
        try:
            return _answer([NOT_PASSED if _unencrypted(p) else decoded
                            for p, decoded in zip(payloads.payloads,
                                                  await codec.decode(payloads.payloads),
                                                  strict=True)])
        except ValueError as err:  # a key this server does not hold
            raise ApiError(422, "invalid", str(err)) from None
        except Exception:  # tampered with, or not ours: say so, never echo the payload
            raise ApiError(422, "invalid", "a payload could not be decrypted") from None

    return app
