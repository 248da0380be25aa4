"""Payload encryption (docs/security.md): an AES-256-GCM `PayloadCodec` on
the data converter of every client and the worker, as in samples-python's `encryption/`.

`PAYLOAD_ENCRYPTION_KEYS` is `id:base64key,...` (32-byte keys); the first key encrypts,
every key decrypts, so a new key goes first and the old ones stay until their complaints
have left Temporal (the namespace's retention). The key id travels in each payload's
metadata, so a reader knows which key to use and a payload under an unknown key fails
loudly instead of decoding to garbage.

The summaries on timers and activities (`ClearText`) are the one exception: the payload
converter marks them (`CLEAR_TEXT`) and the codec leaves them as they are, so an engineer
reads a complaint's timeline in the Temporal UI without the codec server. They never hold
personal data (workflows/messages.py), and they were a seventh of a complaint's history
bytes encrypted (docs/performance.md).
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import os
import re
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Self

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter, pydantic_data_converter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
)

from workflows.messages import ClearText

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
ZLIB = b"binary/zlib"  # inside the encryption: the payload compressed
# Metadata key (with an empty value: it is on every summary) of a ClearText payload, which
# the codec leaves unencrypted.
CLEAR_TEXT = "clear"
COMPRESS_FROM = 200  # bytes; below it compression saves little and costs a call


class EncryptionKeyError(ValueError):
    """PAYLOAD_ENCRYPTION_KEYS is malformed; the message names the entry, never the key."""


class MissingKey(ValueError):
    """A payload under a key this process does not hold: said in one line, wherever it shows
    (CLI, API, console, the worker's log)."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"this complaint's data is encrypted with key {key_id}, which this "
                         "process does not have (PAYLOAD_ENCRYPTION_KEYS)")
        self.key_id = key_id


# The message above as it reaches a client inside a failure another process reported.
_MISSING_KEY = re.compile(r"encrypted with key (\S+), which this process does not have")


def missing_key_in(err: BaseException | None) -> MissingKey | None:
    """The MissingKey behind an error, raised here or reported by a worker (a failed query or
    workflow task carries its message), following causes; None if there is none."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, MissingKey):
            return err
        found = _MISSING_KEY.search(str(err)) or _MISSING_KEY.search(
            str(getattr(err, "message", "")))
        if found:
            return MissingKey(found.group(1))
        err = getattr(err, "cause", None) or err.__cause__ or err.__context__
    return None


# Called by a worker's codec for each payload it cannot decrypt: (key id, workflow id).
MissingKeyObserver = Callable[[str, str | None], None]


def parse_keys(spec: str) -> dict[str, bytes]:
    """`id:base64key,...` -> {id: key}, in order (the first encrypts)."""
    keys: dict[str, bytes] = {}
    for n, entry in enumerate(e.strip() for e in spec.split(",") if e.strip()):
        key_id, sep, encoded = entry.partition(":")
        if not sep or not key_id:
            raise EncryptionKeyError(f"PAYLOAD_ENCRYPTION_KEYS entry {n + 1}: expected id:base64key")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise EncryptionKeyError(f"PAYLOAD_ENCRYPTION_KEYS key {key_id!r}: not base64") from None
        if len(key) != 32:
            raise EncryptionKeyError(f"PAYLOAD_ENCRYPTION_KEYS key {key_id!r}: {len(key)} bytes, "
                            "AES-256 needs 32")
        if key_id in keys:
            raise EncryptionKeyError(f"PAYLOAD_ENCRYPTION_KEYS key {key_id!r} appears twice")
        keys[key_id] = key
    return keys


def new_key_spec(key_id: str) -> str:
    """A fresh `id:base64key` entry (make dev, the docs' rotation recipe)."""
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """`on_missing_key`: told of each payload under a key this process lacks, with the
    workflow it belongs to (the worker decodes each workflow's activations with its id in
    the serialization context), so the worker can say which complaint it cannot read."""

    def __init__(self, keys: dict[str, bytes],
                 on_missing_key: MissingKeyObserver | None = None) -> None:
        if not keys:
            raise EncryptionKeyError("PAYLOAD_ENCRYPTION_KEYS has no key")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.key_id = next(iter(keys))
        self.on_missing_key = on_missing_key
        self.workflow_id: str | None = None

    def with_context(self, context: SerializationContext) -> Self:
        bound = copy.copy(self)
        bound.workflow_id = getattr(context, "workflow_id", None)
        return bound

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self.key_id]
        out = []
        for p in payloads:
            if CLEAR_TEXT in p.metadata:
                out.append(p)
                continue
            nonce = os.urandom(NONCE_BYTES)
            out.append(Payload(
                metadata={"encoding": ENCODING, KEY_ID: self.key_id.encode()},
                data=nonce + cipher.encrypt(nonce, _compressed(p).SerializeToString(), None)))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding", b"") != ENCODING:
                out.append(p)  # written before encryption was on: stays readable
                continue
            key_id = p.metadata.get(KEY_ID, b"").decode(errors="replace")
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                if self.on_missing_key is not None:
                    self.on_missing_key(key_id, self.workflow_id)
                raise MissingKey(key_id)
            out.append(_decompressed(Payload.FromString(
                cipher.decrypt(p.data[:NONCE_BYTES], p.data[NONCE_BYTES:], None))))
        return out


def _compressed(p: Payload) -> Payload:
    """The payload zlib-compressed inside its envelope when that makes it smaller (JSON
    text does, by half or more: a complaint's history is mostly its payloads). Compressed
    before it is encrypted, as ciphertext does not compress. What this reveals is the
    compressed length of one complaint's own data to whoever reads the history's bytes
    (docs/security.md)."""
    inner = p.SerializeToString()
    if len(inner) < COMPRESS_FROM:
        return p
    packed = zlib.compress(inner, 6)
    if len(packed) + len(ZLIB) + 12 >= len(inner):
        return p
    return Payload(metadata={"encoding": ZLIB}, data=packed)


def _decompressed(p: Payload) -> Payload:
    if p.metadata.get("encoding", b"") != ZLIB:
        return p  # encrypted uncompressed (small, or from before compression)
    return Payload.FromString(zlib.decompress(p.data))


class _ClearTextMarkingJSON(PydanticJSONPlainPayloadConverter):
    def to_payload(self, value: Any) -> Payload | None:
        payload = super().to_payload(value)
        if payload is not None and type(value) is ClearText:
            payload.metadata[CLEAR_TEXT] = b""
        return payload


class PayloadConverter(CompositePayloadConverter):
    """The pydantic payload converter, marking ClearText summaries for the codec to pass."""

    def __init__(self) -> None:
        json_converter = _ClearTextMarkingJSON()
        super().__init__(*(json_converter if isinstance(c, JSONPlainPayloadConverter) else c
                           for c in DefaultPayloadConverter.default_encoding_payload_converters))


def data_converter(keys: dict[str, bytes],
                   on_missing_key: MissingKeyObserver | None = None) -> DataConverter:
    """pydantic JSON, encrypted with `keys` when there are any (but for the ClearText
    summaries); failure messages and stack traces then travel as encoded attributes, so the
    codec covers them too. `on_missing_key`: see EncryptionCodec (the worker's)."""
    if not keys:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter, payload_converter_class=PayloadConverter,
        payload_codec=EncryptionCodec(keys, on_missing_key),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes)
