"""Outbound webhooks through the real parts (docs/integrations.md): the complaint's writer
queues events in PostgreSQL, the delivery workflow on the Temporal dev server posts them to
a receiver on loopback, signed; `complaints webhooks` manages the subscriptions."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import jsonschema_rs
import pytest
import pytest_asyncio

from activities.webhooks import pinned_request
from database.erasure import erase_customer
from database.webhook_targets import TargetRefused, check_target, refused_address
from database.webhooks import add_subscription, queue_events
from settings import REPO_ROOT
from tests.api_stack import api_on
from tests.cli_runner import Cli
from tests.conftest import ComplaintStack
from tests.console_stack import console_on, signed_in, token
from tests.webhook_receiver import receiving
from workflows import models as m
from workflows.webhooks import DeliveryRetry, delivery_workflow_id

EVENT_SCHEMA = jsonschema_rs.validator_for(
    json.loads((REPO_ROOT / "schemas" / "webhook-event.v1.schema.json").read_text()))
FAST = DeliveryRetry(initial=timedelta(milliseconds=200), maximum=timedelta(milliseconds=400),
                     poll_every=timedelta(seconds=2))


@pytest_asyncio.fixture
async def local_stack(local_stack: ComplaintStack) -> AsyncIterator[ComplaintStack]:
    """The dev-server stack, leaving no delivery workflow of this test running after it."""
    yield local_stack
    for sub in await local_stack.rows("SELECT id FROM webhook_subscriptions"):
        try:
            await local_stack.client.get_workflow_handle(delivery_workflow_id(
                local_stack.settings.task_queue, sub["id"])).terminate("test finished")
        except Exception:
            pass  # never started, or over


def cli_env(stack: ComplaintStack, monkeypatch, allow_private: str = "loopback") -> None:
    for var, value in {"TEMPORAL_ADDRESS": stack.client.service_client.config.target_host,
                       "DATABASE_URL": stack.settings.database_url,
                       "TASK_QUEUE": stack.settings.task_queue,
                       "WEBHOOKS_ALLOW_PRIVATE": allow_private}.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("TEMPORAL_NAMESPACE", raising=False)


async def until_none_pending(stack: ComplaintStack, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (await stack.rows("SELECT 1 FROM webhook_events WHERE status = 'pending'")):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("webhook events still pending")
        await asyncio.sleep(0.1)


async def test_a_receiver_down_for_five_attempts_gets_every_event_once_in_order_signed(
        local_stack: ComplaintStack, monkeypatch, capsys):
    stack = local_stack
    stack.settings = replace(stack.settings, webhooks_allow_private="loopback",
                             webhook_retry=FAST)
    cli_env(stack, monkeypatch)
    run = Cli(capsys)
    async with receiving(down_for=5) as receiver, stack.worker():
        code, out, err = await run("webhooks", "add", receiver.url, "--owner", "helen")
        assert code == 0, err
        sub_id = int(out.split()[1].rstrip(":"))
        secret = out.split("secret: ")[1].split()[0]
        assert secret.startswith("whsec_")

        crn = (await stack.submit()).crn
        await stack.mail_for(crn, "acknowledgement")
        await stack.act(crn, "acknowledge_personally", m.PersonalAcknowledgement(
            actor="ana", message="Dear customer, I am sorry; I am on it."))
        await stack.until(crn, lambda s: s.owner is not None)
        # The row is written a moment after the state changes: wait for the fourth event
        # (the status it took with its owner) to be queued, then for every one to go out.
        deadline = asyncio.get_running_loop().time() + 30
        while len(queued := await stack.rows(
                "SELECT event_id, event_type FROM webhook_events WHERE subscription_id = $1 "
                "ORDER BY id", sub_id)) < 4:
            assert asyncio.get_running_loop().time() < deadline, queued
            await asyncio.sleep(0.1)
        await until_none_pending(stack)
        await receiver.until(len(queued))

        events = receiver.verified(secret)  # the Standard Webhooks verifier, every one
        ids = [e["id"] for e in events]
        assert len(ids) == len(set(ids)), "an event was delivered twice"
        assert ids == [q["event_id"] for q in queued], "not every event, or not in order"
        types = [e["type"] for e in events]
        changed = [e["data"] for e in events if e["type"] == "complaint.status_changed"]
        assert [(c["from"], c["to"]) for c in changed] == [
            ("new", "acknowledged"), ("acknowledged", "under_investigation")]
        assert types == ["complaint.started", "complaint.acknowledged",
                         "complaint.status_changed", "complaint.status_changed"]
        seqs = [e["data"]["seq"] for e in events]
        assert seqs == sorted(seqs)
        for e, r in zip(events, receiver.accepted, strict=True):
            EVENT_SCHEMA.validate(e)  # the documented schema (schemas/), every event
            assert r.headers["webhook-id"] == e["id"] and e["version"] == 1
            assert e["data"]["crn"] == crn and e["data"]["customer_id"] == "cust-kite"
            # No personal data beyond ids: the receiver is not HTTPS and asked for none.
            for personal in ("Kite", "kite@", "Export shows wrong totals", "I am sorry"):
                assert personal not in r.body.decode()
        assert [r.status for r in receiver.requests[:6]] == [503] * 5 + [204]

        # The delivery log: the first event's five refusals, each with its next retry.
        first = (await stack.rows("SELECT id FROM webhook_events WHERE event_id = $1",
                                  ids[0]))[0]["id"]
        code, out, err = await run("webhooks", "deliveries", "--attempts", str(first), "--json")
        attempts = json.loads(out)
        assert [a["status_code"] for a in attempts] == [503] * 5 + [204]
        assert all(a["next_retry_at"] for a in attempts[:5]) and not attempts[5]["next_retry_at"]
        code, out, err = await run("webhooks", "deliveries", "--subscription", str(sub_id))
        assert code == 0 and out.count("delivered") == len(ids), out

        # Redeliver one: the same event, the same id, once more.
        before = len(receiver.accepted)
        code, out, err = await run("webhooks", "redeliver", str(first))
        assert code == 0, err
        await receiver.until(before + 1)
        assert receiver.accepted[-1].headers["webhook-id"] == ids[0]
        receiver.verified(secret)
        # ...and a time range: everything queued since the start, in its first order.
        code, out, err = await run("webhooks", "redeliver", "--subscription", str(sub_id),
                                   "--since", (datetime.now(UTC) - timedelta(hours=1)).isoformat())
        assert code == 0, err
        await receiver.until(before + 1 + len(ids))
        assert [r.headers["webhook-id"] for r in receiver.accepted[before + 1:]] == ids
        await until_none_pending(stack)

        # A test event goes through the same delivery.
        code, out, err = await run("webhooks", "test", str(sub_id))
        assert code == 0 and "delivered: HTTP 204" in out, out + err
        test_event = receiver.verified(secret)[-1]
        assert test_event["type"] == "webhook.test"
        EVENT_SCHEMA.validate(test_event)
        assert not EVENT_SCHEMA.is_valid({**test_event, "version": 2})


@pytest.mark.parametrize(("address", "refused"), [
    ("10.1.2.3", True), ("192.168.0.10", True), ("172.16.5.4", True), ("127.0.0.1", True),
    ("169.254.169.254", True), ("::1", True), ("fe80::1", True), ("fd00:ec2::254", True),
    ("100.64.0.1", True), ("0.0.0.0", True), ("::ffff:10.0.0.1", True),
    ("93.184.216.34", False), ("2606:4700::1111", False)])
def test_private_loopback_link_local_and_metadata_addresses_are_refused(address, refused):
    assert (refused_address(address, "off") is not None) == refused
    assert refused_address(address, "on") is None
    loopback = address in ("127.0.0.1", "::1")
    assert (refused_address(address, "loopback") is None) == (loopback or not refused)


async def test_a_subscription_to_a_private_address_is_refused(local_stack: ComplaintStack,
                                                              monkeypatch, capsys):
    """At subscribe time (the name resolved), by the CLI; nothing is stored."""
    stack = local_stack
    cli_env(stack, monkeypatch, allow_private="off")
    run = Cli(capsys)
    for url in ("http://10.0.0.7/hook", "http://127.0.0.1:9/hook", "http://localhost/x",
                "http://169.254.169.254/latest/meta-data/", "http://[::1]/hook"):
        code, out, err = await run("webhooks", "add", url)
        assert (code, out) == (2, ""), (url, out, err)
        assert "refused" in err and "WEBHOOKS_ALLOW_PRIVATE" in err, err
    for url in ("ftp://example.com/x", "http://user:pw@example.com/x"):
        code, out, err = await run("webhooks", "add", url)
        assert code == 2 and "refused" in err, err
    with pytest.raises(TargetRefused):
        await check_target("http://localhost:1/x", "off")
    assert await check_target("http://localhost:1/x", "loopback")
    assert await stack.rows("SELECT * FROM webhook_subscriptions") == []


async def test_the_api_manages_subscriptions_for_the_head_of_cs_and_engineers(
        local_stack: ComplaintStack):
    stack = local_stack
    stack.settings = replace(stack.settings, webhooks_allow_private="loopback",
                             webhook_retry=FAST)
    async with receiving() as receiver, api_on(stack) as api:
        response = await api("POST", "/webhooks", "tom", json={"url": receiver.url})
        assert response.status_code == 403  # a team lead may not
        for body, field in (({"url": "http://10.0.0.9/x"}, "url"),
                            ({"url": receiver.url, "events": ["complaint.nope"]}, "events"),
                            ({"url": receiver.url, "include_payload": True}, "url")):
            response = await api("POST", "/webhooks", "helen", json=body)
            assert response.status_code == 422, response.text
            assert response.json()["fields"][0]["field"] == field
        assert (await api("GET", "/webhooks", "helen")).json() == []

        response = await api("POST", "/webhooks", "helen", json={
            "url": receiver.url, "events": ["complaint.started", "deadline.breached"]})
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["owner"] == "helen" and created["secret"].startswith("whsec_")
        [listed] = (await api("GET", "/webhooks", "helen")).json()
        assert "secret" not in listed and listed["events"] == created["events"]

        response = await api("POST", f"/webhooks/{created['id']}/test", "helen")
        assert response.status_code == 202
        await receiver.until(1)
        [event] = receiver.verified(created["secret"])
        assert event["id"] == response.json()["event_id"]
        [delivery] = (await api("GET", f"/webhooks/deliveries?subscription={created['id']}",
                                "helen")).json()
        assert delivery["status"] == "delivered" and delivery["status_code"] == 204
        attempts = (await api("GET", f"/webhooks/deliveries/{delivery['id']}/attempts",
                              "helen")).json()
        assert [a["status_code"] for a in attempts] == [204]
        response = await api("POST", "/webhooks/redeliver", "helen",
                             json={"delivery_id": delivery["id"]})
        assert response.status_code == 200
        await receiver.until(2)
        assert receiver.accepted[1].headers["webhook-id"] == event["id"]
        response = await api("POST", "/webhooks/redeliver", "helen", json={"delivery_id": 999})
        assert response.status_code == 409

        assert (await api("DELETE", f"/webhooks/{created['id']}", "helen")).status_code == 200
        assert (await api("DELETE", f"/webhooks/{created['id']}", "helen")).status_code == 404
        assert (await api("GET", "/webhooks", "helen")).json() == []


async def test_the_console_page_adds_tests_and_redelivers(local_stack: ComplaintStack):
    stack = local_stack
    stack.settings = replace(stack.settings, webhooks_allow_private="loopback",
                             webhook_retry=FAST)
    async with receiving() as receiver, console_on(stack) as console:
        async with signed_in(console, "tom") as http:
            assert (await http.get("/console/webhooks")).status_code == 403
        async with signed_in(console, "helen") as http:
            page = await http.get("/console/webhooks")
            assert page.status_code == 200 and "No subscriptions." in page.text
            refused = await http.post("/console/webhooks/add", data={
                "csrf_token": token(page.text), "url": "http://192.168.1.1/x",
                "events": ["complaint.started"]})
            assert refused.status_code == 422 and "Refused" in refused.text
            added = await http.post("/console/webhooks/add", data={
                "csrf_token": token(page.text), "url": receiver.url,
                "events": ["complaint.started", "deadline.breached"]})
            assert added.status_code == 201, added.text
            secret = re.search(r"<code>(whsec_[^<]+)</code>", added.text).group(1)
            [sub] = await stack.rows("SELECT id, owner, events FROM webhook_subscriptions")
            assert sub["owner"] == "helen"
            assert sub["events"] == ["complaint.started", "deadline.breached"]
            again = await http.get("/console/webhooks")
            assert secret not in again.text  # shown once
            tested = await http.post("/console/webhooks/act", data={
                "csrf_token": token(again.text), "id": str(sub["id"]), "action": "test"})
            assert tested.status_code == 303
            await receiver.until(1)
            assert receiver.verified(secret)[0]["type"] == "webhook.test"
            await until_none_pending(stack)
            log = await http.get("/console/webhooks")
            assert "webhook.test" in log.text and "HTTP 204" in log.text
            [delivery] = await stack.rows("SELECT id FROM webhook_events")
            redone = await http.post("/console/webhooks/act", data={
                "csrf_token": token(log.text), "id": str(delivery["id"]),
                "action": "redeliver"})
            assert redone.status_code == 303
            await receiver.until(2)
            attempts = await http.get(f"/console/webhooks?attempts={delivery['id']}")
            assert f"Attempts of delivery {delivery['id']}" in attempts.text


async def test_erasure_takes_the_personal_payload_out_of_queued_webhook_events(seeded):
    """An HTTPS subscription that asked for personal data had it queued; erasing the
    customer leaves the event, its ids and its facts, and takes the personal part out."""
    pool = seeded
    sub = await add_subscription(pool, "https://hooks.example.com/x", ["complaint.started"],
                                 "helen", include_payload=True)
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO complaints (crn, source, external_ref, customer_id, customer_name,
                   customer_email, subject, description, severity, severity_score, status,
                   phase, policy_name, received_at)
               VALUES ('CRN-AAAAAAAAAA', 'web', 'r-1', 'cust-kite', 'Jon Kite',
                       'kite@kite.example', 'Export shows wrong totals', 'd', 3, 10, 'new',
                       'triage', 'default', now())""")
        await conn.execute(
            "INSERT INTO complaint_events (crn, seq, at, event, actor) VALUES "
            "('CRN-AAAAAAAAAA', 1, now(), 'received', 'system')")
        events = [dict(r) for r in await conn.fetch("SELECT * FROM complaint_events")]
        assert await queue_events(conn, "CRN-AAAAAAAAAA", events, None, "http://c") == [sub["id"]]
        [before] = await conn.fetch("SELECT body FROM webhook_events")
        assert json.loads(before["body"])["data"]["personal"]["customer_email"] == \
            "kite@kite.example"
        await erase_customer(conn, "cust-kite", "test")
        [after] = await conn.fetch("SELECT event_id, body FROM webhook_events")
    data = json.loads(after["body"])["data"]
    assert "personal" not in data and data["crn"] == "CRN-AAAAAAAAAA"
    assert data["customer_id"] == "cust-kite" and after["event_id"] == "evt_CRN-AAAAAAAAAA_1"
    for personal in ("Kite", "kite@", "Export shows"):
        assert personal not in after["body"]


async def test_a_receiver_that_became_private_is_refused_at_delivery(
        local_stack: ComplaintStack):
    """A subscription made while its name was public (here: stored directly) is checked again
    before every request: with WEBHOOKS_ALLOW_PRIVATE off, a loopback receiver gets nothing
    and the log says why."""
    stack = local_stack
    stack.settings = replace(stack.settings, webhook_retry=FAST)  # allow_private: off
    async with receiving() as receiver, stack.worker():
        sub = await add_subscription(stack.pool, receiver.url, ["complaint.started"], "helen")
        crn = (await stack.submit()).crn
        await stack.mail_for(crn, "acknowledgement")

        async def refused() -> list:
            return await stack.rows(
                "SELECT a.error, a.next_retry_at FROM webhook_attempts a JOIN webhook_events e "
                "ON e.id = a.webhook_event WHERE e.subscription_id = $1", sub["id"])
        deadline = asyncio.get_running_loop().time() + 20
        while len(await refused()) < 2:
            assert asyncio.get_running_loop().time() < deadline, await refused()
            await asyncio.sleep(0.1)
        attempts = await refused()
        assert all("refused" in a["error"] and "a loopback address" in a["error"]
                   and a["next_retry_at"] for a in attempts), attempts
        assert receiver.requests == []


def test_a_request_goes_to_the_address_that_was_checked():
    """No second lookup between the check and the connection (DNS rebinding): the URL holds
    the checked address, the name travels in Host and as TLS's server name."""
    assert pinned_request("https://hooks.example.com/in?x=1", "93.184.216.34") == (
        "https://93.184.216.34/in?x=1",
        ({"host": "hooks.example.com"}, {"sni_hostname": "hooks.example.com"}))
    assert pinned_request("http://hooks.example.com:8080/in", "2606:4700::1111") == (
        "http://[2606:4700::1111]:8080/in", ({"host": "hooks.example.com:8080"}, {}))
