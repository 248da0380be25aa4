"""Observability end to end: the worker's Prometheus endpoint after a complaint's
whole life and a missed deadline, on the Temporal dev server with the real worker, PostgreSQL
and the SMTP sink; the same counts after every complaint is replayed from scratch; the
Grafana dashboard's queries against what the scrape shows.

The Prometheus endpoint lives in the Temporal runtime, so the test makes its own runtime on
a free port and connects the worker's client with it, as `python -m workers` does.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import urllib.request
import uuid
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from activities.email import message_kind
from activities.inbound_metrics import INBOUND_MESSAGES, count_inbound_message
from database.keys import create_key
from database.pool import create_pool
from settings import REPO_ROOT, Settings, connect, metrics_runtime
from settings.logs import CrnFilter, configure_logging, formatter
from settings.tracing import tracer_provider
from starter.api import create_app
from tests.api_stack import serving
from tests.conftest import ComplaintStack, intake
from tests.faultstack import free_port
from tests.scenarios import owner_of, plan_agreed, signed_off_and_reviewed, to_owner, until_outbox
from workers.gauges import keep_gauges_current
from workers.worker import build_worker
from workflows import models as m
from workflows.events import Event, deadline_type
from workflows.models import ComplaintState, Status
from workflows.policy import load_policy

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "dashboards" / "complaints.json"
# Panels for metrics of parts still being built elsewhere: the email channel's inbound mail
# (activities/inbound_metrics.py is the hook it calls; tested alone below).
AWAITING_EMAIL_CHANNEL = {"complaints_inbound_messages_total"}
Samples = list[tuple[str, dict[str, str], float]]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text)
            for s in family.samples]


def series(samples: Samples, name: str, label: str | None = None) -> dict[str, float]:
    """`name`'s values summed by one label (or all under ""), zero-valued series left out."""
    out: defaultdict[str, float] = defaultdict(float)
    for sample_name, labels, value in samples:
        if sample_name == name and value:
            out[labels.get(label, "") if label else ""] += value
    return dict(out)


def fast_policy(tmp_path: Path) -> Any:
    """The demo policy with the acknowledgement and both escalation levels in seconds."""
    text = (REPO_ROOT / "workflows" / "policies" / "demo.toml").read_text()
    for old, new in [('personal_within = "1m"', 'personal_within = "2s"'),
                     ('team_lead_acts_within = "2m"', 'team_lead_acts_within = "2s"'),
                     ('head_of_cs_acts_within = "4m"', 'head_of_cs_acts_within = "2s"')]:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "fast.toml"
    path.write_text(text.replace('name = "demo"', 'name = "fast"'))
    return load_policy(str(path))


def expected_counts(states: list[ComplaintState], outbox: list[Any]) -> dict[str, dict]:
    """What the metrics must say, from the complaints' own state and the outbox rows."""
    deadlines = [d for s in states for d in s.deadlines]
    events = [e for s in states for e in s.timeline]
    return {
        "complaints_started_total": dict(Counter(f"{s.source.value}/{s.severity}" for s in states)),
        "complaints_deadline_met_total": dict(Counter(
            deadline_type(d.name) for d in deadlines if d.met_at is not None and not d.breached)),
        "complaints_deadline_breached_total": dict(Counter(
            deadline_type(d.name) for d in deadlines if d.breached)),
        "complaints_escalations_total": dict(Counter(
            str(e.level) for e in events if e.event == Event.escalated)),
        "complaints_emails_sent_total": dict(Counter(
            message_kind(r["kind"]) for r in outbox if r["sent_at"] is not None)),
        # Each outbox row counts its attempts; all but the last one failed.
        "complaints_email_failures_total": {k: v for k, v in sum(
            (Counter({message_kind(r["kind"]): r["attempts"] - 1}) for r in outbox),
            Counter()).items() if v},
    }


def product_counts(samples: Samples) -> dict[str, dict]:
    by = {"complaints_deadline_met_total": "deadline",
          "complaints_deadline_breached_total": "deadline",
          "complaints_escalations_total": "level", "complaints_emails_sent_total": "kind",
          "complaints_email_failures_total": "kind"}
    counts = {name: series(samples, name, label) for name, label in by.items()}
    started: defaultdict[str, float] = defaultdict(float)
    for name, labels, value in samples:
        if name == "complaints_started_total" and value:
            started[f"{labels['source']}/{labels['severity']}"] += value
    counts["complaints_started_total"] = dict(started)
    return counts


async def until_scrape(port: int, check, timeout: float = 20.0) -> Samples:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        samples = await asyncio.to_thread(scrape, port)
        if check(samples):
            return samples
        if loop.time() > deadline:
            raise AssertionError("the scrape never matched:\n" + "\n".join(
                f"{n}{lab} {v}" for n, lab, v in samples if n.startswith("complaints_")))
        await asyncio.sleep(0.2)


async def test_sla_metrics_count_each_event_once_across_replays(local_stack: ComplaintStack,
                                                                tmp_path: Path):
    stack = local_stack
    port = free_port()
    runtime = metrics_runtime(port, host="127.0.0.1")
    address = stack.client.service_client.config.target_host
    client = await connect(replace(stack.settings, temporal_address=address), runtime)
    gauges = asyncio.create_task(keep_gauges_current(stack.pool, runtime.metric_meter,
                                                     every=timedelta(milliseconds=200)))
    try:
        # 1. A complaint's whole life, every deadline met (the default policy: hours).
        async with build_worker(client, stack.settings, stack.pool, stack.policy):
            lived = await to_owner(stack)
            owner = await owner_of(stack, lived)
            await plan_agreed(stack, lived, owner)
            await stack.act(lived, "record_fix_deployed", m.FixDeployed(actor="raj",
                                                                        reference="REL-42"))
            await signed_off_and_reviewed(stack, lived, owner)
            await stack.until(lived, lambda s: s.status == Status.closed)
            await stack.settle()

        # 2. A complaint left alone under a policy of seconds, while SMTP is briefly away:
        # the acknowledgement breaks, then both escalation levels go unanswered.
        async with build_worker(client, stack.settings, stack.pool, fast_policy(tmp_path)):
            stack.mail.stop()
            missed = (await stack.submit()).crn
            await until_outbox(stack, missed, "acknowledgement",
                               lambda r: r["last_error"] is not None)
            stack.mail.start()

            def unanswered(s: ComplaintState) -> bool:
                events = [e.event for e in s.timeline]
                return (Event.escalation_unanswered in events
                        and events.count(Event.email_sent) == 4)  # ack + 2 levels + reminder

            await stack.until(missed, unanswered, timeout=60)
            await stack.settle()
            states = [await stack.status(crn) for crn in (lived, missed)]

        outbox = await stack.rows("SELECT kind, attempts, sent_at FROM email_outbox")
        expected = expected_counts(states, outbox)
        # The two complaints, as the procedure says they went.
        assert expected["complaints_deadline_breached_total"] == {
            "personal_acknowledgement": 1, "escalation_level_1": 1, "escalation_level_2": 1}
        assert expected["complaints_escalations_total"] == {"1": 1, "2": 1}
        assert expected["complaints_email_failures_total"].get("acknowledgement", 0) >= 1
        assert expected["complaints_emails_sent_total"]["escalation"] == 3
        assert {"automatic_acknowledgement", "personal_acknowledgement", "phone_contact",
                "resolution"} <= set(expected["complaints_deadline_met_total"])

        samples = await until_scrape(port, lambda s: product_counts(s) == expected
                                     and series(s, "complaints_open", "status") == {"new": 1})
        breaches = sum(expected["complaints_deadline_breached_total"].values())
        assert series(samples, "complaints_escalation_lateness_seconds_count") == {"": breaches}
        assert series(samples, "complaints_email_backlog") == {}  # every email went out
        names = {name for name, _, _ in samples}
        # Bounded labels: no series per complaint or per numbered message.
        assert not [lab for _, lab, _ in samples
                    if any(v.startswith("CRN-") or ":" in v for k, v in lab.items()
                           if k != "service_name")]
        assert {"temporal_workflow_task_execution_latency_bucket",
                "temporal_workflow_task_schedule_to_start_latency_bucket"} <= names

        # 3. A worker with no cache replays each complaint from its first event for every
        # query: nothing is counted again.
        async with build_worker(client, stack.settings, stack.pool, stack.policy,
                                max_cached_workflows=0):
            for crn in (lived, missed):
                for _ in range(3):
                    assert (await stack.status(crn)).crn == crn
        again = await asyncio.to_thread(scrape, port)
        assert product_counts(again) == expected
        assert series(again, "complaints_escalation_lateness_seconds_count") == {"": breaches}

        # 4. Every query of the dashboard names a metric that the worker's scrape or the
        # API's shows.
        app = create_app(stack.settings, stack.client, stack.pool)
        async with serving(app) as base, httpx.AsyncClient(base_url=base) as http:
            assert (await http.get("/health")).status_code == 200
            api_text = (await http.get("/metrics")).text
        api_names = {s.name for f in text_string_to_metric_families(api_text) for s in f.samples}
        check_dashboard_queries(names | {name for name, _, _ in again} | api_names)
    finally:
        gauges.cancel()


def dashboard_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in board["panels"] for t in p.get("targets", [])]


def check_dashboard_queries(scraped: set[str]) -> None:
    import re

    queries = dashboard_queries()
    assert queries
    for expr in queries:
        named = set(re.findall(r"\b((?:complaints|temporal|http)_[a-z0-9_]+)", expr))
        assert named, f"no metric in {expr!r}"
        missing = named - scraped - AWAITING_EMAIL_CHANNEL
        assert not missing, f"{expr!r} names {missing}, which the worker's scrape lacks"


# --- the API: /health, /ready, /metrics -----------------------------------------------------


async def test_api_health_readiness_and_request_metrics(local_stack: ComplaintStack):
    stack = local_stack
    app = create_app(stack.settings, stack.client, stack.pool)
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as http:
        assert (await http.get("/health")).json() == {"status": "ok"}
        ready = await http.get("/ready")
        assert (ready.status_code, ready.json()) == (200, {
            "status": "ready", "temporal": "ok", "postgresql": "ok"})
        for _ in range(2):  # two CRNs, one route: one series
            assert (await http.get(f"/complaints/CRN-{uuid.uuid4().hex[:10].upper()}")
                    ).status_code == 401
        assert (await http.get("/no/such/path")).status_code == 404
        text = (await http.get("/metrics")).text
    samples = [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text)
               for s in f.samples]

    def value(name: str, **labels: str) -> float:
        return sum(v for n, lab, v in samples if n == name and labels.items() <= lab.items())

    route = {"handler": "/complaints/{crn}", "method": "GET", "status": "401"}
    assert value("http_requests_total", **route) == 2
    assert value("http_request_duration_seconds_count", **route) == 2
    assert value("http_requests_total", handler="/ready", status="200") == 1
    assert value("http_requests_total", handler="none", status="404") == 1
    assert not [lab for n, lab, _ in samples if "CRN-" in str(lab)]  # no series per complaint


async def test_api_is_not_ready_while_temporal_or_postgresql_is_away(local_stack: ComplaintStack):
    stack = local_stack
    closed = await create_pool(stack.settings.database_url, min_size=1, max_size=1)
    await closed.close()
    dead_temporal = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    for app, away in [(create_app(stack.settings, stack.client, closed), "postgresql"),
                      (create_app(stack.settings, dead_temporal, stack.pool), "temporal")]:
        async with serving(app) as base, httpx.AsyncClient(base_url=base) as http:
            answer = await http.get("/ready")
        body = answer.json()
        assert (answer.status_code, body["status"]) == (503, "unavailable"), body
        other = "temporal" if away == "postgresql" else "postgresql"
        assert body[away] != "ok" and body[other] == "ok", body


# --- tracing ----------------------------------------------------------------------------------


async def test_an_api_request_is_one_trace_with_the_workflow_and_every_span_names_the_crn(
        local_stack: ComplaintStack):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    stack = local_stack
    spans = InMemorySpanExporter()
    provider = tracer_provider(spans, batch=False, service_name="complaints-test")
    address = stack.client.service_client.config.target_host
    client = await connect(replace(stack.settings, temporal_address=address),
                           tracer_provider=provider)
    async with stack.pool.acquire() as conn:
        intake_key = (await create_key(conn, intake="web-form"))[1]
        tom_key = (await create_key(conn, staff_id="tom"))[1]
    app = create_app(stack.settings, client, stack.pool, tracer_provider=provider)
    async with build_worker(client, stack.settings, stack.pool, stack.policy), \
            serving(app) as base, httpx.AsyncClient(base_url=base) as http:
        created = await http.post("/complaints", json=intake(),
                                  headers={"Authorization": f"Bearer {intake_key}"})
        assert created.status_code == 201, created.text
        crn = created.json()["crn"]
        stack.started.append(crn)
        await stack.mail_for(crn, "acknowledgement")
        await stack.until(crn, lambda s: any(e.event == Event.email_sent for e in s.timeline))
        read = await http.get(f"/complaints/{crn}", headers={"Authorization": f"Bearer {tom_key}"})
        assert read.status_code == 200
        await stack.settle()

    finished = spans.get_finished_spans()
    by_name: dict[str, list[Any]] = {}
    for span in finished:
        by_name.setdefault(span.name, []).append(span)
    submitted = next(s for s in by_name["POST /complaints"] if s.attributes.get("http.route"))
    trace_id = submitted.context.trace_id
    in_trace = [s for s in finished if s.context.trace_id == trace_id]
    names = {s.name for s in in_trace}
    # The request, the workflow it started, and the workflow's activities: one trace.
    assert {"POST /complaints", "StartWorkflow:ComplaintWorkflow", "RunWorkflow:ComplaintWorkflow",
            "StartActivity:send_email", "RunActivity:send_email",
            "RunActivity:fetch_complaint_context"} <= names, names
    assert {s.attributes.get("crn") for s in in_trace} == {crn}, [
        (s.name, dict(s.attributes or {})) for s in in_trace if s.attributes.get("crn") != crn]
    # Reading the complaint: the request and its query, a trace of their own, with the CRN.
    query = next(s for s in by_name["GET /complaints/{crn}"])
    read_trace = [s for s in finished if s.context.trace_id == query.context.trace_id]
    assert "QueryWorkflow:status" in {s.name for s in read_trace}
    assert {s.attributes.get("crn") for s in read_trace} == {crn}


# --- logs -----------------------------------------------------------------------------------


async def test_json_logs_are_one_object_per_line_and_workflow_and_activity_lines_carry_the_crn(
        local_stack: ComplaintStack):
    stack = local_stack
    out = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging(Settings.from_env({"LOG_FORMAT": "json"}).log_format, stream=out)
    try:
        async with stack.worker():
            # The customer asks for a manager: escalated at intake (a workflow log line).
            crn = (await stack.submit(flags={"requests_manager": True})).crn
            await stack.mail_for(crn, "acknowledgement")
            await stack.until(crn, lambda s: [e.event for e in s.timeline].count(
                Event.email_sent) >= 2)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in out.getvalue().splitlines()]  # each line parses
    assert all({"time", "level", "logger", "message"} <= set(r) for r in lines)
    ours = [r for r in lines if (r.get("temporal_workflow") or r.get("temporal_activity") or {})
            .get("workflow_id") == crn]
    from_workflow = [r for r in ours if r["logger"] == "temporalio.workflow"]
    from_activities = [r for r in ours if r["logger"] == "temporalio.activity"]
    assert any("escalated to level 1" in r["message"] for r in from_workflow), ours
    assert any("email acknowledgement sent" in r["message"] for r in from_activities), ours
    assert ours and all(r["crn"] == crn for r in ours)


def test_text_logs_tag_complaint_lines_with_the_crn():
    record = logging.LogRecord("temporalio.activity", logging.INFO, __file__, 1, "sent", (), None)
    record.temporal_activity = {"workflow_type": "ComplaintWorkflow", "workflow_id": "CRN-ABC"}
    plain = logging.LogRecord("complaints.worker", logging.INFO, __file__, 1, "started", (), None)
    for r in (record, plain):
        CrnFilter().filter(r)
    text = formatter("text")
    assert text.format(record).endswith("temporalio.activity [CRN-ABC]: sent")
    assert text.format(plain).endswith("complaints.worker: started")


def test_the_inbound_hook_counts_by_outcome_on_the_runtime_it_is_given():
    """The email channel is built alongside: its counter's hook, on a real Prometheus runtime."""
    port = free_port()
    runtime = metrics_runtime(port, host="127.0.0.1")
    for outcome in ("new_complaint", "reply", "reply"):
        count_inbound_message(outcome, runtime.metric_meter)
    assert series(scrape(port), INBOUND_MESSAGES, "outcome") == {"new_complaint": 1, "reply": 2}
