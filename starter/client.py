"""The Temporal client every caller uses: pydantic models travel as JSON."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from workers.config import Settings


async def connect(settings: Settings | None = None) -> Client:
    settings = settings or Settings.from_env()
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.namespace,
        data_converter=pydantic_data_converter,
    )
