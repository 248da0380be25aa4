"""A complaint whose payloads are under a key that is no longer configured (an old key
retired too early), on the real dev server with the product's worker: the CLI, the API and
the console each say so in one line, naming the key; the worker logs it once per complaint
with the key id and counts it (`complaints_undecryptable_payloads_total`)."""

from __future__ import annotations

import asyncio
import logging
import urllib.request
from dataclasses import replace
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from database.keys import create_key
from settings import Settings, metrics_runtime
from settings.codec import MissingKey, missing_key_in, new_key_spec
from tests.cli_runner import Cli
from tests.conftest import ComplaintStack
from tests.console_stack import console_on, signed_in
from tests.encryption_stack import encrypted_client
from tests.faultstack import free_port
from workers.worker import UNDECRYPTABLE_PAYLOADS, UndecryptableComplaints

LINE = ("this complaint's data is encrypted with key k0, which this process does not have "
        "(PAYLOAD_ENCRYPTION_KEYS)")


def test_the_missing_key_is_found_behind_a_workers_reported_failure():
    reported = RuntimeError("query failed")
    reported.__cause__ = RuntimeError(f"Failed: {MissingKey('2026-01')}")
    assert missing_key_in(reported).key_id == "2026-01"
    assert missing_key_in(RuntimeError("something else")) is None


async def test_a_complaint_under_a_retired_key_says_so_in_one_line_everywhere(
        local_stack: ComplaintStack, capsys: Any, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch):
    stack = local_stack
    old, new = new_key_spec("k0"), new_key_spec("k1")
    stack.own_client = encrypted_client(stack, old)
    async with stack.worker():
        crn = (await stack.submit()).crn
        await stack.until(crn, lambda s: bool(s.timeline))

    # k0 retired too early: the worker, the CLI, the API and the console hold k1 only.
    port = free_port()
    runtime = metrics_runtime(port, host="127.0.0.1")
    report = UndecryptableComplaints(runtime.metric_meter)
    new_settings = Settings.from_env({"PAYLOAD_ENCRYPTION_KEYS": new})
    base = stack.env.client
    stack.own_client = Client(base.service_client, namespace=base.namespace,
                              data_converter=new_settings.data_converter(report))
    stack.settings = replace(stack.settings, payload_keys=new_settings.payload_keys)
    monkeypatch.setenv("TEMPORAL_ADDRESS", base.service_client.config.target_host)
    monkeypatch.setenv("PAYLOAD_ENCRYPTION_KEYS", new)
    caplog.set_level(logging.INFO)
    async with console_on(stack) as console:  # the product's worker and app, k1 only
        code, out, err = await Cli(capsys)("status", crn)
        assert code == 1 and out == ""
        assert err == f"complaints status: {LINE}\n", err
        async with stack.pool.acquire() as conn:
            key = (await create_key(conn, staff_id="sam"))[1]
        async with httpx.AsyncClient(base_url=console.base, timeout=60) as api:
            answer = await api.get(f"/complaints/{crn}", headers={"Authorization": f"Bearer {key}"})
            assert answer.status_code == 503, answer.text
            assert answer.json() == {"error": "undecryptable", "message": LINE, "fields": []}
        async with signed_in(console, "sam") as browser:
            page = await browser.get(f"/console/complaints/{crn}")
            assert page.status_code == 503
            assert "This complaint&#39;s data is encrypted with key k0, which this process " \
                   "does not have (PAYLOAD_ENCRYPTION_KEYS)." in page.text
        # The worker said so once for the complaint, however often its task was retried.
        said = [r for r in caplog.records if r.name == "complaints.worker"
                and LINE in r.getMessage()]
        assert len(said) == 1 and said[0].getMessage() == f"complaint {crn}: {LINE}"
        metrics = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read())
    counted = [line for line in metrics.decode().splitlines()
               if line.startswith(UNDECRYPTABLE_PAYLOADS) and 'key_id="k0"' in line]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 1, counted
