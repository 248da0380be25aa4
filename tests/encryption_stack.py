"""Payload encryption as the tests check it: a client whose data converter encrypts
(`encrypted_client`) and every payload of a complaint's history (`history_payloads`)."""

from __future__ import annotations

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, SearchAttributes
from temporalio.api.history.v1 import MarkerRecordedEventAttributes
from temporalio.client import Client

from bench.codec_cost import payloads_in
from settings import Settings
from tests.conftest import ComplaintStack

ADDRESS = "kite@kite.example"


def _not_encoded_by_design(message: Message) -> bool:
    """Search attributes (Temporal's visibility indexes them; they hold ids, statuses and
    severities, workflows/search_attributes.py) and the SDK's own patch markers (a
    `workflow.patched` id, which the SDK writes past the codec)."""
    return isinstance(message, SearchAttributes) or (
        isinstance(message, MarkerRecordedEventAttributes) and message.marker_name == "core_patch")


def encrypted_client(stack: ComplaintStack, spec: str) -> Client:
    """A client of the stack's server whose data converter is the one settings build."""
    settings = Settings.from_env({"PAYLOAD_ENCRYPTION_KEYS": spec})
    base = stack.env.client
    return Client(base.service_client, namespace=base.namespace,
                  data_converter=settings.data_converter())


async def history_payloads(client: Client, crn: str) -> list[Payload]:
    history = await client.get_workflow_handle(crn).fetch_history()
    return [p for event in history.events for p in payloads_in(event, _not_encoded_by_design)]
