"""Payload encryption through the real Temporal dev server, PostgreSQL and SMTP:
what Temporal stores holds no customer data in clear, the codec reads it back, keys rotate.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from temporalio.api.common.v1 import Payload

from settings import Settings
from settings.codec import (
    CLEAR_TEXT,
    KEY_ID,
    EncryptionCodec,
    EncryptionKeyError,
    new_key_spec,
    parse_keys,
)
from tests.cli_runner import Cli
from tests.conftest import ComplaintStack, intake
from tests.encryption_stack import ADDRESS, encrypted_client, history_payloads
from tests.scenarios import to_owner
from workflows import models as m

DESCRIPTION = "The monthly export shows totals that do not match the dashboard."


async def test_history_without_the_codec_holds_no_customer_data(local_stack: ComplaintStack):
    local_stack.own_client = encrypted_client(local_stack, new_key_spec("k1"))
    async with local_stack.worker():
        crn = await to_owner(local_stack)
        await local_stack.act(crn, "record_phone_contact", m.PhoneContact(
            actor=(await local_stack.status(crn)).owner, reached=True,
            summary=f"Called about {ADDRESS}", expectations="A fix this week"))
        # Read with the plain client, no codec: every payload as Temporal stores it.
        stored = await history_payloads(local_stack.env.client, crn)
        assert len(stored) > 10
        # The summaries on timers and activities stay in clear, by design (ClearText), so
        # the Temporal UI shows them without the codec server: searched like the rest.
        summaries = [p.data.decode() for p in stored if CLEAR_TEXT in p.metadata]
        assert any(s.startswith('"SLA: personal acknowledgement due') for s in summaries)
        assert '"Email acknowledgement to the customer"' in summaries
        assert any(s.startswith('"Email owner_assigned to ') for s in summaries)
        for payload in stored:
            if CLEAR_TEXT not in payload.metadata:
                assert payload.metadata["encoding"] == b"binary/encrypted"
                assert payload.metadata[KEY_ID] == b"k1"
            raw = payload.SerializeToString()
            assert ADDRESS.encode() not in raw and b"Jon Kite" not in raw
            assert DESCRIPTION.encode()[:24] not in raw
        # The same history through the codec reads in clear.
        clear = await local_stack.client.data_converter.payload_codec.decode(stored)
        text = b"".join(p.data for p in clear)
        assert ADDRESS.encode() in text and DESCRIPTION.encode() in text
        # And the product itself works on it: the status query is decoded by the client.
        assert (await local_stack.status(crn)).owner is not None


async def test_key_rotation_keeps_old_complaints_readable(local_stack: ComplaintStack):
    old, new = new_key_spec("2026-01"), new_key_spec("2026-06")
    local_stack.own_client = encrypted_client(local_stack, old)
    async with local_stack.worker():
        before = (await local_stack.submit()).crn
        await local_stack.until(before, lambda s: s.owner is not None or bool(s.timeline))
    # Rotated: the new key first, the old one still there to decrypt.
    local_stack.own_client = encrypted_client(local_stack, f"{new},{old}")
    async with local_stack.worker():
        after = (await local_stack.submit()).crn
        await local_stack.until(after, lambda s: bool(s.timeline))
        assert (await local_stack.status(before)).crn == before
        start = (await history_payloads(local_stack.env.client, before))[0]
        assert start.metadata[KEY_ID] == b"2026-01"
        start = (await history_payloads(local_stack.env.client, after))[0]
        assert start.metadata[KEY_ID] == b"2026-06"
    # A reader without the old key is told which key it lacks, not handed garbage.
    only_new = EncryptionCodec(parse_keys(new))
    stored = await history_payloads(local_stack.env.client, before)
    with pytest.raises(ValueError, match="2026-01"):
        await only_new.decode(stored)


@pytest.mark.parametrize("spec, problem", [
    ("k1", "expected id:base64key"),
    ("k1:s3cret*material", "not base64"),
    ("k1:" + "QUJD", "3 bytes"),
    (new_key_spec("k1") + "," + new_key_spec("k1"), "twice"),
])
def test_malformed_keys_are_refused_without_showing_the_key(spec: str, problem: str):
    with pytest.raises(EncryptionKeyError, match=problem) as refused:
        Settings.from_env({"PAYLOAD_ENCRYPTION_KEYS": spec})
    material = spec.split(",")[0].partition(":")[2]
    assert not material or material not in str(refused.value)


def test_without_keys_payloads_are_plain_pydantic_json():
    from temporalio.contrib.pydantic import pydantic_data_converter

    assert Settings.from_env({}).data_converter() is pydantic_data_converter
    assert "payload_keys" not in repr(replace(Settings(), payload_keys={"k": b"x" * 32}))


def test_intake_fixture_carries_the_data_searched_for():
    # The history test searches for these exact strings: keep them in the intake.
    payload = intake()
    assert payload["customer"]["email"] == ADDRESS and payload["description"] == DESCRIPTION


async def test_a_malformed_key_stops_the_cli_with_a_clear_error(capsys, monkeypatch):

    monkeypatch.setenv("PAYLOAD_ENCRYPTION_KEYS", "k1:QUJD")
    code, out, err = await Cli(capsys)("status", "CRN-AAAAAAAAAA")
    assert code == 2 and "PAYLOAD_ENCRYPTION_KEYS key 'k1': 3 bytes" in err
    assert "Traceback" not in err and "QUJD" not in err


async def test_large_payloads_are_compressed_inside_the_encryption_and_old_ones_still_read():
    codec = EncryptionCodec(parse_keys(new_key_spec("k1")))
    text = ('{"detail": "' + "the export shows totals that do not match " * 20 + '"}').encode()
    large = Payload(metadata={"encoding": b"json/plain"}, data=text)
    small = Payload(metadata={"encoding": b"json/plain"}, data=b'"Save progress"')
    encoded_large, encoded_small = await codec.encode([large, small])
    # Compressed before it was encrypted: far smaller than the JSON it holds.
    assert len(encoded_large.data) < len(text) / 3
    assert len(encoded_small.data) > len(small.SerializeToString())  # too small to compress
    assert await codec.decode([encoded_large, encoded_small]) == [large, small]
    # Encrypted before compression existed (the whole payload, uncompressed): still reads.
    nonce = b"\x00" * 12
    cipher = codec._ciphers["k1"]
    before = Payload(metadata={"encoding": b"binary/encrypted", KEY_ID: b"k1"},
                     data=nonce + cipher.encrypt(nonce, large.SerializeToString(), None))
    assert await codec.decode([before]) == [large]


async def test_only_summaries_marked_clear_text_pass_the_codec_unencrypted():
    from workflows.messages import ClearText

    converter = Settings.from_env({"PAYLOAD_ENCRYPTION_KEYS": new_key_spec("k1")}).data_converter()
    summary, text = converter.payload_converter.to_payloads(
        [ClearText("SLA: phone contact due 14:00 UTC"), "SLA: phone contact due 14:00 UTC"])
    assert CLEAR_TEXT in summary.metadata and CLEAR_TEXT not in text.metadata
    clear, encrypted = await converter.payload_codec.encode([summary, text])
    assert clear == summary  # as the converter made it: JSON any reader decodes
    assert encrypted.metadata["encoding"] == b"binary/encrypted"
    assert b"phone contact" not in encrypted.SerializeToString()
    decoded = await converter.payload_codec.decode([clear, encrypted])
    assert converter.payload_converter.from_payloads(decoded) == [
        "SLA: phone contact due 14:00 UTC"] * 2
