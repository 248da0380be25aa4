"""Webhook delivery through real processes (`make faults`): the worker SIGKILLed while a
delivery is in flight loses nothing; the restarted worker delivers every event, in order,
signed, under the ids they were queued with."""

from __future__ import annotations

import asyncio

import pytest
from standardwebhooks import Webhook

from tests import faultstack
from tests.faultstack import Scenario, eventually, run_cli
from tests.webhook_receiver import receiving
from workflows import models as m

pytestmark = pytest.mark.faults

faults, scenario = faultstack.faults, faultstack.scenario


async def test_worker_killed_during_delivery_loses_nothing(scenario: Scenario):
    sc = scenario
    async with receiving(hang_first=1, hang=6.0) as receiver:
        sc.worker.stop()  # again, with short webhook retries and loopback allowed
        sc.env |= {"WEBHOOKS_ALLOW_PRIVATE": "loopback", "WEBHOOKS_RETRY_INITIAL": "0.2",
                   "WEBHOOKS_RETRY_MAXIMUM": "1", "WEBHOOKS_POLL_EVERY": "2",
                   "WEBHOOKS_ATTEMPT_TIMEOUT": "3"}
        sc.worker.env = sc.env
        sc.worker.start()
        await sc.worker.polling(sc.client)
        out = await asyncio.to_thread(run_cli, sc.env, "webhooks", "add", receiver.url)
        secret = out.split("secret: ")[1].split()[0]

        crn = (await sc.submit()).crn
        # The first delivery is in the receiver's hands (it holds it): kill the worker now.
        await eventually(lambda: asyncio.sleep(0, result=receiver.requests), 60,
                         "the first delivery reaching the receiver", every=0.05)
        sc.worker.kill()
        sc.worker.start()
        await sc.worker.polling(sc.client)
        await sc.act(crn, "acknowledge_personally", m.PersonalAcknowledgement(
            actor="ana", message="Dear customer, I am sorry; I am on it."))

        async def all_delivered() -> list | None:
            pending = await sc.rows("SELECT 1 FROM webhook_events WHERE status = 'pending'")
            queued = await sc.rows("SELECT event_id FROM webhook_events ORDER BY id")
            return queued if queued and not pending and len(queued) >= 3 else None
        queued = await eventually(all_delivered, 120, "every webhook event delivered")
        ids = [q["event_id"] for q in queued]
        accepted = [Webhook(secret).verify(r.body, r.headers) for r in receiver.accepted]
        first_seen = list(dict.fromkeys(e["id"] for e in accepted))
        assert first_seen == ids, "an event lost, or out of order"
        assert {"complaint.started", "complaint.acknowledged"} <= {e["type"] for e in accepted}
        # At least once: a repeat is the same event under the same id (receivers dedupe).
        assert len(accepted) == len(ids), [e["id"] for e in accepted]
        assert receiver.requests[0].status == 503  # the one the kill cut short
