"""The codec server through a real HTTP client and the real `temporal` CLI: the
history stays encrypted on the dev server, engineers (and the head of customer success) read
it in clear through /codec, nobody else does, and only the Temporal UI's origin may call it
from a browser."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
import pytest_asyncio
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from database.keys import create_key
from database.seed import load_seed, parse_seed
from settings.codec import CLEAR_TEXT, new_key_spec, parse_keys
from tests.api_stack import Api, api_on
from tests.conftest import ComplaintStack, _binary
from tests.console_stack import console_on, signed_in
from tests.encryption_stack import ADDRESS, encrypted_client, history_payloads
from workflows.permissions import OWNER_ACTIONS, ROLES_FOR, NotPermitted, check_actor

UI = "http://localhost:8233"
ENGINEER = "erin"


async def add_engineer(api: Api) -> None:
    """An engineer on the roster (the demo roster has none) with a staff key."""
    async with api.stack.pool.acquire() as conn:
        await conn.execute("INSERT INTO staff (id, name, email, role) VALUES ($1, $2, $3, "
                           "'engineer')", ENGINEER, "Erin Novak", "erin@example.com")
        api.keys[ENGINEER] = (await create_key(conn, staff_id=ENGINEER))[1]


@pytest_asyncio.fixture
async def encrypted_api(local_stack: ComplaintStack) -> AsyncIterator[Api]:
    spec = new_key_spec("k1")
    local_stack.own_client = encrypted_client(local_stack, spec)
    local_stack.settings = replace(local_stack.settings, payload_keys=parse_keys(spec),
                                   temporal_ui_origin=UI)
    async with api_on(local_stack) as api:
        await add_engineer(api)
        yield api


async def stored_start(api: Api) -> tuple[str, str]:
    """A complaint's first payloads as Temporal stores them, as the codec protocol's JSON."""
    crn = await api.submit()
    stored = await history_payloads(api.stack.env.client, crn)
    return crn, json_format.MessageToJson(Payloads(payloads=stored[:3]))


async def test_staff_decode_in_clear_and_encode_back(encrypted_api: Api):
    crn, body = await stored_start(encrypted_api)
    assert ADDRESS not in body
    decoded = await encrypted_api("POST", "/codec/decode", ENGINEER, content=body,
                                  headers={"X-Namespace": "default"})
    assert decoded.status_code == 200, decoded.text
    clear = json_format.Parse(decoded.text, Payloads())
    assert any(ADDRESS.encode() in p.data for p in clear.payloads)
    encoded = await encrypted_api("POST", "/codec/encode", ENGINEER, content=decoded.text)
    assert encoded.status_code == 200 and ADDRESS not in encoded.text
    again = await encrypted_api("POST", "/codec/decode", "helen", content=encoded.text)
    assert json_format.Parse(again.text, Payloads()) == clear


async def test_codec_refuses_a_missing_wrong_or_intake_key(encrypted_api: Api):
    _, body = await stored_start(encrypted_api)
    for path in ("/codec/decode", "/codec/encode"):
        missing = await encrypted_api("POST", path, content=body)
        assert missing.status_code == 401 and ADDRESS not in missing.text
        wrong = await encrypted_api("POST", path, content=body,
                                    headers={"Authorization": "Bearer ck_00000000_wrong"})
        assert wrong.status_code == 401 and ADDRESS not in wrong.text
        intake = await encrypted_api("POST", path, "intake", content=body)
        assert intake.status_code == 403 and ADDRESS not in intake.text
        # Staff whose work does not need customers' data in bulk: any role but the two.
        for who in ("sam", "ana", "tom", "fiona", "raj"):
            other = await encrypted_api("POST", path, who, content=body)
            assert other.status_code == 403 and ADDRESS not in other.text, who
            assert "needs one of: engineer, head_of_cs" in other.json()["message"]


async def test_unencrypted_payloads_are_not_passed_through(encrypted_api: Api):
    """Once keys are set, only what this product encrypted, or tagged clear, decodes: a
    plain payload (written by someone with Temporal access who bypassed the product) comes
    back as a placeholder, never as itself; the encrypted one beside it still decodes."""
    _, body = await stored_start(encrypted_api)
    stored = json_format.Parse(body, Payloads()).payloads[0]
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"forged: pay me"')
    clear = Payload(metadata={"encoding": b"json/plain", CLEAR_TEXT: b""}, data=b'"SLA: due"')
    mixed = json_format.MessageToJson(Payloads(payloads=[plain, stored, clear]))
    decoded = await encrypted_api("POST", "/codec/decode", ENGINEER, content=mixed)
    assert decoded.status_code == 200, decoded.text
    out = json_format.Parse(decoded.text, Payloads()).payloads
    assert b"forged" not in out[0].data and b"does not pass it through" in out[0].data
    assert ADDRESS.encode() in out[1].data
    assert out[2] == clear
    # Encoding encrypts everything but what is tagged clear: nothing goes out in clear.
    encoded = await encrypted_api("POST", "/codec/encode", ENGINEER, content=mixed)
    back = json_format.Parse(encoded.text, Payloads()).payloads
    assert back[0].metadata["encoding"] == b"binary/encrypted" and b"forged" not in back[0].data
    assert back[2] == clear


async def test_codec_refuses_a_body_that_is_not_payloads(encrypted_api: Api):
    bad = await encrypted_api("POST", "/codec/decode", ENGINEER, content=b"{not json")
    assert bad.status_code == 422 and "payloads" in bad.json()["message"]
    forged = json.dumps({"payloads": [{"metadata": {
        "encoding": "YmluYXJ5L2VuY3J5cHRlZA==", "encryption-key-id": "azE="},
        "data": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]})
    tampered = await encrypted_api("POST", "/codec/decode", ENGINEER, content=forged)
    assert tampered.status_code == 422 and "could not be decrypted" in tampered.json()["message"]


async def test_cors_admits_the_temporal_ui_origin_only(encrypted_api: Api):
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type,x-namespace"}
    ui = await encrypted_api.http.options("/codec/decode", headers={"Origin": UI, **preflight})
    assert ui.status_code == 200 and ui.headers["access-control-allow-origin"] == UI
    assert ui.headers["access-control-allow-credentials"] == "true"
    other = await encrypted_api.http.options(
        "/codec/decode", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in other.headers
    # The rest of the API admits no browser origin at all.
    api = await encrypted_api.http.options("/complaints", headers={"Origin": UI, **preflight})
    assert "access-control-allow-origin" not in api.headers


async def test_temporal_cli_reads_the_history_through_the_codec(encrypted_api: Api):
    crn = await encrypted_api.submit()
    await encrypted_api.stack.until(crn, lambda s: bool(s.timeline))
    address = encrypted_api.stack.env.client.service_client.config.target_host

    async def show(*codec: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            _binary("temporal"), "workflow", "show", "-w", crn, "--address", address,
            "-o", "json", *codec, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        return out.decode()

    def intake_payload(shown: str) -> tuple[bytes, bytes]:
        start = json.loads(shown)["events"][0]["workflowExecutionStartedEventAttributes"]
        payload = start["input"]["payloads"][0]
        return base64.b64decode(payload["metadata"]["encoding"]), base64.b64decode(payload["data"])

    encoding, data = intake_payload(await show())
    assert encoding == b"binary/encrypted" and ADDRESS.encode() not in data
    encoding, data = intake_payload(await show(
        "--codec-endpoint", f"{encrypted_api.base}/codec",
        "--codec-auth", f"Bearer {encrypted_api.keys[ENGINEER]}"))
    assert encoding == b"json/plain" and ADDRESS.encode() in data


async def test_a_console_session_decodes_under_the_consoles_path(local_stack: ComplaintStack):
    """What the Temporal UI does in a signed-in engineer's browser: POST to /console/codec
    with the console's session cookie (path /console) and no key."""
    spec = new_key_spec("k1")
    local_stack.own_client = encrypted_client(local_stack, spec)
    local_stack.settings = replace(local_stack.settings, payload_keys=parse_keys(spec),
                                   temporal_ui_origin=UI)
    async with console_on(local_stack) as console:
        crn = (await local_stack.submit()).crn
        stored = await history_payloads(local_stack.env.client, crn)
        body = json_format.MessageToJson(Payloads(payloads=stored[:1]))
        async with signed_in(console, "helen") as browser:
            decoded = await browser.post("/console/codec/decode", content=body,
                                         headers={"Origin": UI, "X-Namespace": "default"})
            assert decoded.status_code == 200, decoded.text
            assert decoded.headers["access-control-allow-origin"] == UI
            assert ADDRESS.encode() in json_format.Parse(decoded.text, Payloads()).payloads[0].data
        async with signed_in(console, "sam") as specialist:  # signed in, not a payload reader
            refused = await specialist.post("/console/codec/decode", content=body,
                                            headers={"Origin": UI})
            assert refused.status_code == 403 and ADDRESS not in refused.text
        async with httpx.AsyncClient(base_url=console.base) as anonymous:
            refused = await anonymous.post("/console/codec/decode", content=body)
            assert refused.status_code == 401 and ADDRESS not in refused.text


async def test_an_engineer_is_seeded_like_any_member_and_takes_no_complaint_action(
        pool):
    """The seed format takes the role (PostgreSQL's check admits it, 0014); the permission
    table gives it no action: not an owner's, not a role's, not escalation."""
    seed = parse_seed(json.dumps({"staff": [{"id": "erin", "name": "Erin Novak",
                                             "email": "erin@example.com", "role": "engineer"}],
                                  "customers": [], "orders": []}))
    async with pool.acquire() as conn:
        await load_seed(conn, seed)
        row = await conn.fetchrow("SELECT role FROM staff WHERE id = 'erin'")
    assert row["role"] == "engineer"
    (erin,) = seed.staff
    # Rekeying (the payloads moved to the first key) is an operator's, not a complaint action.
    for action in sorted((set(ROLES_FOR) | OWNER_ACTIONS) - {"rekey"}):
        with pytest.raises(NotPermitted):
            check_actor(action, "erin", {"erin": erin}, owner="sam")
    assert check_actor("rekey", "erin", {"erin": erin}) == erin
