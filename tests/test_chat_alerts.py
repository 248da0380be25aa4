"""Chat alerts and the three-day limit, on the time-skipping server (docs/integrations.md):
a breach reaches the Slack and Teams incoming webhooks (receivers on loopback) through the
same durable delivery, in their documented shapes (schemas/), with no customer data; a
receiver that fails for three days has its subscription disabled and its owner emailed."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import jsonschema_rs

from database.webhooks import add_subscription, keep_chat_subscription, queue_events
from settings import REPO_ROOT
from tests.conftest import ComplaintStack, text_of
from tests.webhook_receiver import receiving
from workers.worker import ensure_webhook_deliveries
from workflows.chat import ChatAlert, chat_message
from workflows.webhooks import DeliveryRetry

SCHEMAS = REPO_ROOT / "schemas"


def validator(name: str) -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for(json.loads((SCHEMAS / name).read_text()))


SLACK = validator("slack-message.schema.json")
TEAMS = validator("teams-message.schema.json")
ALERT = ChatAlert(crn="CRN-ABCDEFGHIJ", headline="Deadline breached: phone contact",
                  deadline="phone_contact", due="2026-03-02 14:00 UTC", owner="Sam Keller",
                  link="http://localhost:8000/console/complaints/CRN-ABCDEFGHIJ")


def test_chat_messages_have_the_documented_shapes():
    for alerts in ([ALERT], [ALERT, ALERT.model_copy(update={"crn": "CRN-KLMNOPQRST"})]):
        slack = chat_message("slack", alerts)
        SLACK.validate(slack)
        assert [b["type"] for b in slack["blocks"]] == ["section", "context"] * len(alerts)
        teams = chat_message("teams", alerts)
        TEAMS.validate(teams)
        card = teams["attachments"][0]
        assert teams["type"] == "message"
        assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
        assert card["content"]["type"] == "AdaptiveCard"
    # The schemas are not a formality: what breaks the documented shape is refused.
    assert not SLACK.is_valid({"text": "x", "blocks": [{"type": "header"}]})
    assert not TEAMS.is_valid({"type": "message", "attachments": [
        {"contentType": "application/json", "content": {}}]})


async def test_breaches_reach_chat_and_a_receiver_failing_three_days_is_disabled(
        stack: ComplaintStack):
    async with receiving() as slack, receiving() as teams, \
            receiving(down_for=10**6) as failing:
        # Production retry defaults (30 s doubling to 1 h, three days); the idle look once
        # a day, so skipped days are not thousands of lookups.
        stack.settings = replace(
            stack.settings, webhooks_allow_private="loopback", slack_webhook_url=slack.url,
            teams_webhook_url=teams.url, webhook_retry=DeliveryRetry(poll_every=timedelta(days=1)))
        sub = await add_subscription(stack.pool, failing.url, ["deadline.breached"], "helen")
        async with stack.worker():
            await ensure_webhook_deliveries(stack.client, stack.settings, stack.pool)
            crn = (await stack.submit()).crn
            await stack.mail_for(crn, "acknowledgement")
            await stack.sleep(timedelta(hours=2))  # the personal acknowledgement (1 h) breached
            await slack.until(1)
            await teams.until(1)
            first_slack, first_teams = slack.accepted[0].json, teams.accepted[0].json
            SLACK.validate(first_slack)
            TEAMS.validate(first_teams)
            text = json.dumps(first_slack) + json.dumps(first_teams)
            for wanted in (crn, "Deadline breached: personal acknowledgement",
                           f"{stack.settings.public_url}/console/complaints/{crn}"):
                assert wanted in text, text
            facts = {f["title"]: f["value"] for f in
                     first_teams["attachments"][0]["content"]["body"][1]["facts"]}
            assert facts["CRN"] == crn and facts["Deadline"] == "personal acknowledgement"
            assert facts["Due"].endswith("UTC") and facts["Owner"]
            for personal in ("Kite", "kite@", "Export shows wrong totals"):
                assert personal not in text
            assert failing.requests, "the failing receiver was never tried"

            await stack.sleep(timedelta(days=3, hours=2))
            notice = await stack.mail.wait_for(
                lambda msg: msg["X-Complaint-Reference"] == f"webhook-{sub['id']}", timeout=30)
            assert notice["To"] == "helen@example.com"
            assert f"subscription {sub['id']}" in notice["Subject"]
            assert "complaints webhooks enable" in text_of(notice)
            [row] = await stack.rows("SELECT enabled, disabled_reason FROM webhook_subscriptions "
                                     "WHERE id = $1", sub["id"])
            assert not row["enabled"] and "no delivery within 3 days" in row["disabled_reason"]
            failed = await stack.rows("SELECT status FROM webhook_events WHERE subscription_id "
                                      "= $1 ORDER BY id", sub["id"])
            assert failed[0]["status"] == "failed"
            attempts = await stack.rows(
                "SELECT count(*) AS n, max(at) - min(at) AS span FROM webhook_attempts a "
                "JOIN webhook_events e ON e.id = a.webhook_event WHERE e.subscription_id = $1",
                sub["id"])
            assert attempts[0]["n"] > 5
            # Meanwhile the escalation chain reached the head of customer success: on-call heard.
            headlines = [b["text"]["text"] for r in slack.accepted
                         for b in r.json["blocks"] if b["type"] == "section"]
            assert any("Escalated to level 2 (head of customer success)" in h
                       for h in headlines), headlines
            for r in slack.accepted:
                SLACK.validate(r.json)
            for r in teams.accepted:
                TEAMS.validate(r.json)
            assert len(teams.accepted) == len(slack.accepted)
            # The chat channels are untouched by the failing one.
            [slack_sub] = await stack.rows("SELECT enabled FROM webhook_subscriptions "
                                           "WHERE kind = 'slack'")
            assert slack_sub["enabled"]


async def test_chat_gets_breaches_level_2_escalations_and_late_refund_decisions_only(seeded):
    """What the writer queues for a chat channel, from a run of timeline events: a breach, an
    escalation to level 2 and the refund approval's warning; not a level-1 escalation, not
    another deadline's warning, not the rest."""
    pool = seeded
    slack_id = await keep_chat_subscription(pool, "slack", "https://hooks.slack.example/x")
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO complaints (crn, source, external_ref, customer_id, customer_name,
                   subject, description, severity, severity_score, status, phase,
                   policy_name, received_at, owner)
               VALUES ('CRN-BBBBBBBBBB', 'web', 'r-2', 'cust-kite', 'Jon Kite', 'Export',
                       'd', 2, 20, 'awaiting_approval', 'resolution', 'default', now(),
                       'sam')""")
        at = await conn.fetchval("SELECT now()")
        events = [
            {"seq": 1, "at": at, "event": "received", "actor": "system"},
            {"seq": 2, "at": at, "event": "deadline_warning", "actor": "system",
             "deadline": "resolution", "outcome": "warned"},
            {"seq": 3, "at": at, "event": "deadline_warning", "actor": "system",
             "deadline": "refund_approval", "outcome": "warned"},
            {"seq": 4, "at": at, "event": "escalated", "actor": "system", "level": 1},
            {"seq": 5, "at": at, "event": "escalated", "actor": "system", "level": 2},
            {"seq": 6, "at": at, "event": "deadline_breached", "actor": "system",
             "deadline": "phone_contact_2", "outcome": "breached"},
        ]
        assert await queue_events(conn, "CRN-BBBBBBBBBB", events, "awaiting_approval",
                                  "http://c/console") == [slack_id]
        rows = await conn.fetch("SELECT event_id, event_type, body FROM webhook_events "
                                "ORDER BY id")
    assert [(r["event_id"], r["event_type"]) for r in rows] == [
        ("evt_CRN-BBBBBBBBBB_3", "deadline.warning"), ("evt_CRN-BBBBBBBBBB_5", "complaint.escalated"),
        ("evt_CRN-BBBBBBBBBB_6", "deadline.breached")]
    texts = [json.loads(r["body"]) for r in rows]
    for t in texts:
        SLACK.validate(t)
        assert "Jon Kite" not in json.dumps(t) and "Sam Keller" in json.dumps(t)
        assert "<http://c/console/complaints/CRN-BBBBBBBBBB|" in json.dumps(t)
    assert [t["text"] for t in texts] == [
        "CRN-BBBBBBBBBB: Refund decision waiting past its warning: refund approval",
        "CRN-BBBBBBBBBB: Escalated to level 2 (head of customer success)",
        "CRN-BBBBBBBBBB: Deadline breached: phone contact 2"]
