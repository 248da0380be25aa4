"""`python -m bench --storm N --over SECONDS` (`make bench-storm`): outage day.

N new complaints arrive as real emails through the product's mail gateway over SMTP, from N
distinct customers, spread over SECONDS by several concurrent senders (bodies of a few
paragraphs, a tenth with an attachment). The policy is the default one on a 24/7 calendar
with the personal acknowledgement due `--storm-due` after intake (3 minutes instead of an
hour, so the deadlines fall due within the run); nobody acknowledges, so every complaint
breaches and escalates to the team lead, who is told of the first `[digest] after` and gets
the rest in a digest at the window's end.

In the same run, N bare workflows with one timer each (`BenchTimerWorkflow`, on a worker of
their own) fall due at the same instants as the complaints: the ceiling the breach lateness
is compared with. Meanwhile the team lead's console queue and the API's list are read once
a second (their p95 under load), PostgreSQL's connections are sampled, and the CPU of each
process is read from /proc.

What it checks against PostgreSQL and Temporal: every accepted message stored once and
started once as a complaint (`lost`, `doubled`), one automatic acknowledgement per
complaint, and one escalation per complaint in each timeline.
"""

from __future__ import annotations

import asyncio
import html
import os
import random
import re
import secrets
import subprocess  # nosec B404 # fixed programs of this repository
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx

from bench.ceiling import BenchTimerWorkflow
from bench.history import timer_lateness
from bench.options import BenchOptions
from bench.stack import BenchFailed, BenchStack, WorkerProcess, cpu_seconds, free_port
from database.console_auth import hash_password, set_password
from database.keys import create_key
from settings import REPO_ROOT
from workflows import models as m
from workflows.events import PERSONAL_ACK, Event
from workflows.models import complaint_reference
from workflows.policy import DEFAULT_POLICY_PATH, parse_duration

SUPPORT = "support@example.com"
TEAM_LEAD = "tom"  # the demo seed's team lead: every escalation goes to him
STAFF_KINDS = ("escalation", "warning", "staff_digest")
CUSTOMER_KIND = "acknowledgement"
SUBJECTS = ["Service down since this morning", "Cannot log in to my account",
            "Payments failing at checkout", "Dashboard shows no data", "Export is broken",
            "Orders not syncing", "Outage: nothing loads", "API returns errors"]
PARAGRAPHS = [
    "Since about nine this morning none of our team can reach the service. The page loads "
    "for a while and then shows an error. We have tried different browsers and networks.",
    "This is costing us real money: our customers cannot place orders and our support line "
    "is flooded. We need to know when this will be fixed and what you are doing about it.",
    "We have been customers for several years and have never seen anything like this. Your "
    "status page says everything is operational, which is not what we see.",
    "Please call me back as soon as possible. I would also like to understand whether any "
    "of our data has been lost, and whether we will be compensated for the downtime.",
    "Attached is what we see. The error code changes every time we reload the page, and "
    "sometimes the page shows another customer's company name in the header.",
    "Kind regards,\n-- \nOperations manager\nSent from my phone",
]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentiles(values: list[float], digits: int = 2) -> dict[str, float]:
    """Nearest-rank p50, p95, p99 and max (zeros for no values)."""
    ordered = sorted(values)
    out: dict[str, float] = {}
    for p in (50, 95, 99):
        out[f"p{p}"] = round(ordered[max(0, -(-p * len(ordered) // 100) - 1)], digits) \
            if ordered else 0.0
    out["max"] = round(ordered[-1], digits) if ordered else 0.0
    return out


def storm_policy(due: str, digest_after: int, digest_window: str) -> str:
    """The default policy on a 24/7 calendar, the personal acknowledgement due after `due`."""
    text = DEFAULT_POLICY_PATH.read_text()

    def put(key: str, value: str) -> None:
        nonlocal text
        text, n = re.subn(rf"(?m)^{key}\s*=.*$", f"{key} = {value}", text)
        assert n == 1, f"{key} not found in the default policy"

    put("name", '"storm"')
    put("working_days", '["mon", "tue", "wed", "thu", "fri", "sat", "sun"]')
    put("day_starts", '"00:00"')
    put("day_ends", '"24:00"')
    put("holidays_country", '""')
    put("holidays_subdivision", '""')
    put("personal_within", f'"{due}"')
    put("after", str(digest_after))
    put("window", f'"{digest_window}"')
    return text.replace('holidays_country = ""', "").replace('holidays_subdivision = ""', "")


def storm_message(k: int, run_id: str, chooser: random.Random) -> EmailMessage:
    """Customer k's email: a few paragraphs (0.5 to 6 KB), every tenth with an attachment."""
    msg = EmailMessage()
    address = f"storm-{run_id}-{k:05d}@customers.example"
    msg["From"] = f"Customer {k:05d} <{address}>"
    msg["To"] = SUPPORT
    msg["Subject"] = chooser.choice(SUBJECTS)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(idstring=f"storm{k}", domain="customers.example")
    body = "\n\n".join(chooser.sample(PARAGRAPHS[:-1], chooser.randint(1, 4)))
    body = "Hello,\n\n" + body * chooser.randint(1, 3) + "\n\n" + PARAGRAPHS[-1]
    msg.set_content(body)
    if k % 10 == 0:
        size = chooser.randint(20_000, 200_000)
        msg.add_attachment(chooser.randbytes(size), maintype="application", subtype="pdf",
                           filename=f"screenshot-{k}.pdf")
    return msg


@dataclass
class Sent:
    message_id: str
    crn: str
    address: str
    accepted_at: float | None = None  # time.time() at the gateway's 250
    smtp_ms: float | None = None  # MAIL FROM to the 250 after DATA
    deferred: int = 0  # 4xx answers before the 250 (backpressure), each retried


@dataclass
class Sampled:
    """What was read while the storm ran."""

    queue_ms: list[float] = field(default_factory=list)
    api_list_ms: list[float] = field(default_factory=list)
    read_errors: list[str] = field(default_factory=list)
    pg_active: list[int] = field(default_factory=list)
    pg_total: list[int] = field(default_factory=list)
    worker_rss_mib: list[float] = field(default_factory=list)


class Storm:
    def __init__(self, stack: BenchStack, options: BenchOptions) -> None:
        self.stack, self.o = stack, options
        self.run_id = uuid.uuid4().hex[:6]
        self.n = options.storm
        self.due = parse_duration(options.storm_due)
        self.sent: list[Sent] = []
        self.ceiling_ids: list[str] = []
        self.ceiling_starts: list[asyncio.Task[None]] = []
        self.sampled = Sampled()
        self.procs: dict[str, subprocess.Popen] = {}
        self.errors: list[str] = []

    # --- the parts started for the storm -----------------------------------------------

    def _env(self, task_queue: str) -> dict[str, str]:
        return os.environ | {
            "TEMPORAL_ADDRESS": self.stack.env.client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": "default", "TASK_QUEUE": task_queue,
            "DATABASE_URL": self.stack.database_url, "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.stack.sink.port), "PYTHONUNBUFFERED": "1",
            "PAYLOAD_ENCRYPTION_KEYS": self.stack.payload_keys, "SUPPORT_ADDRESS": SUPPORT,
            # The storm's senders stand for many MTAs, all on 127.0.0.1 here.
            "INBOUND_RATE_PER_IP": "1000000", "INBOUND_RATE_PER_SENDER": "1000",
            "INBOUND_UNKNOWN_SENDER_PER_HOUR": "1000",
            "INBOUND_MAX_CONNECTIONS": str(max(20, self.o.storm_senders * 2)),
        }

    async def _start(self, name: str, argv: list[str], env: dict[str, str],
                     ready: str, timeout: float = 60.0) -> subprocess.Popen:
        log = self.stack.root / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(  # nosec B603 # fixed argv, no shell
                [sys.executable, "-m", *argv], cwd=REPO_ROOT, env=env, stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs[name] = proc
        deadline = time.monotonic() + timeout
        while ready.encode() not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise BenchFailed(f"{name} did not start:\n{tail}")
            await asyncio.sleep(0.1)
        return proc

    async def start_parts(self, task_queue: str) -> tuple[int, int]:
        """The mail gateway and `complaints serve` (the console and the API) as processes of
        their own; returns their ports."""
        env = self._env(task_queue)
        smtp_port, http_port = free_port(), free_port()
        await self._start("mail-gateway", ["starter.cli", "mail-gateway"],
                          env | {"INBOUND_SMTP_PORT": str(smtp_port)}, "mail gateway: SMTP on")
        await self._start("serve", ["starter.cli", "serve", "--port", str(http_port)], env,
                          "Uvicorn running")
        return smtp_port, http_port

    def stop_parts(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def cpu_of(self) -> dict[str, float]:
        """CPU seconds so far of the gateway and the HTTP server (own time)."""
        tick = os.sysconf("SC_CLK_TCK")
        out = {}
        for name, proc in self.procs.items():
            try:
                f = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
                out[name] = (int(f[11]) + int(f[12])) / tick
            except OSError:
                out[name] = 0.0
        return out

    # --- the senders ----------------------------------------------------------------------

    async def send_all(self, smtp_port: int, ceiling_queue: str) -> float:
        """Every message, paced over `--over` seconds by `--storm-senders` senders, each on
        one SMTP session (a new one if the gateway drops it); returns the wall time."""
        chooser = random.Random(27)  # nosec B311 # benchmark content, not security
        messages = [storm_message(k, self.run_id, chooser) for k in range(self.n)]
        self.sent = [Sent(str(msg["Message-ID"]), complaint_reference("email", str(
            msg["Message-ID"])), str(msg["From"]).split("<")[1].rstrip(">")) for msg in messages]
        began = time.monotonic()
        spacing = self.o.over / self.n if self.n else 0.0

        async def sender(s: int) -> None:
            smtp: aiosmtplib.SMTP | None = None
            for k in range(s, self.n, self.o.storm_senders):
                await asyncio.sleep(max(0.0, began + k * spacing - time.monotonic()))
                while True:
                    try:
                        if smtp is None or not smtp.is_connected:
                            smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_port,
                                                   timeout=60)
                            await smtp.connect()
                        started = time.perf_counter()
                        await smtp.send_message(messages[k], sender=self.sent[k].address,
                                                recipients=[SUPPORT])
                    except aiosmtplib.SMTPResponseException as err:
                        if 400 <= err.code < 500:  # backpressure: an MTA tries again later
                            self.sent[k].deferred += 1
                            await asyncio.sleep(1.0)
                            continue
                        self.errors.append(f"message {k}: {err.code} {err.message}")
                        break
                    except (aiosmtplib.SMTPException, OSError) as err:
                        if smtp is not None:
                            smtp.close()
                        smtp = None
                        self.sent[k].deferred += 1
                        if self.sent[k].deferred > 20:
                            self.errors.append(f"message {k}: {type(err).__name__}: {err}")
                            break
                        await asyncio.sleep(1.0)
                        continue
                    self.sent[k].accepted_at = time.time()
                    self.sent[k].smtp_ms = (time.perf_counter() - started) * 1000
                    self.ceiling_starts.append(asyncio.create_task(
                        self._ceiling(k, ceiling_queue)))
                    break
            if smtp is not None and smtp.is_connected:
                await smtp.quit()

        await asyncio.gather(*(sender(s) for s in range(self.o.storm_senders)))
        return time.monotonic() - began

    async def _ceiling(self, k: int, task_queue: str) -> None:
        """The bare workflow due when complaint k's acknowledgement falls due."""
        accepted = self.sent[k].accepted_at or time.time()
        due = datetime.fromtimestamp(accepted, UTC) + self.due
        wf_id = f"storm-ceiling-{self.run_id}-{k}"
        try:
            await self.stack.client.start_workflow(BenchTimerWorkflow.run, due, id=wf_id,
                                                   task_queue=task_queue)
            self.ceiling_ids.append(wf_id)
        except Exception as err:
            self.errors.append(f"ceiling {k}: {type(err).__name__}: {err}")

    # --- readers while it runs ------------------------------------------------------------

    async def sign_in(self, http: httpx.AsyncClient) -> str:
        """The team lead's console session and API key (their queue is the storm's)."""
        password = secrets.token_urlsafe(18)  # this run's own; the stack is thrown away
        async with self.stack.pool.acquire() as conn:
            await set_password(conn, TEAM_LEAD, password, hash_password(password))
            _, key = await create_key(conn, staff_id=TEAM_LEAD, replace=True)
        form = await http.get("/console/sign-in")
        token = re.search(r'name="sign_in_token" value="([^"]+)"', form.text)
        if token is None:
            raise BenchFailed("the console's sign-in page has no sign_in_token")
        done = await http.post("/console/sign-in", data={
            "login": TEAM_LEAD, "password": password, "next": "/console/",
            "sign_in_token": html.unescape(token.group(1))})
        if done.status_code != 303:
            raise BenchFailed(f"could not sign in to the console: {done.status_code}")
        return key

    async def read_pages(self, http_port: int, stop: asyncio.Event) -> None:
        """The console's queue page and the API's list, one of each a second."""
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}",
                                     timeout=30) as http:
            key = await self.sign_in(http)
            while not stop.is_set():
                for path, into, headers in (
                        ("/console/", self.sampled.queue_ms, {}),
                        ("/complaints", self.sampled.api_list_ms,
                         {"Authorization": f"Bearer {key}"})):
                    started = time.perf_counter()
                    try:
                        answer = await http.get(path, headers=headers)
                        if answer.status_code != 200:
                            self.sampled.read_errors.append(f"{path}: {answer.status_code}")
                    except httpx.HTTPError as err:
                        self.sampled.read_errors.append(f"{path}: {type(err).__name__}")
                    into.append((time.perf_counter() - started) * 1000)
                try:
                    await asyncio.wait_for(stop.wait(), 1.0)
                except TimeoutError:
                    pass

    async def sample(self, worker: WorkerProcess, stop: asyncio.Event) -> None:
        """PostgreSQL's connections to the product's database and the worker's memory."""
        while not stop.is_set():
            try:
                async with self.stack.pool.acquire() as conn:
                    row = await conn.fetchrow(
                        "SELECT count(*) FILTER (WHERE state <> 'idle') AS active, "
                        "count(*) AS total FROM pg_stat_activity WHERE datname = "
                        "current_database()")
                # This sampler's own connection is one of the active ones.
                self.sampled.pg_active.append(max(0, row["active"] - 1))
                self.sampled.pg_total.append(row["total"])
                self.sampled.worker_rss_mib.append(worker.memory()["rss_mib"])
            except Exception as err:  # a sample missed is not the storm's failure
                self.errors.append(f"sample: {type(err).__name__}")
            try:
                await asyncio.wait_for(stop.wait(), 2.0)
            except TimeoutError:
                pass

    # --- waiting and checking -------------------------------------------------------------

    async def wait_escalated(self, timeout: float) -> int:
        """Until every accepted complaint escalated and its escalation was either emailed
        (in the sink) or coalesced into a digest (or `timeout`); how many escalated."""
        crns = [s.crn for s in self.sent if s.accepted_at]
        deadline = time.monotonic() + timeout
        done, last_said = 0, 0.0
        while time.monotonic() < deadline:
            async with self.stack.pool.acquire() as conn:
                done = await conn.fetchval(
                    "SELECT count(*) FROM complaints WHERE crn = ANY($1) AND "
                    "escalation_level >= 1", crns)
                alone = await conn.fetchval(
                    "SELECT count(*) FROM staff_alerts WHERE crn = ANY($1) AND kind LIKE "
                    "'escalation:%' AND NOT coalesced", crns)
                told = alone + await conn.fetchval(
                    "SELECT count(*) FROM staff_alerts WHERE crn = ANY($1) AND kind LIKE "
                    "'escalation:%' AND coalesced", crns)
            emailed = sum(1 for crn in crns if any(
                k.startswith("escalation:") for k in self.stack.sink.kinds(crn)))
            if done >= len(crns) and told >= len(crns) and emailed >= alone:
                return done
            if time.monotonic() - last_said > 30:
                say(f"  {done} of {len(crns)} escalated ...")
                last_said = time.monotonic()
            await asyncio.sleep(1.0)
        return done

    async def wait_digests(self, max_wait: float) -> dict[str, int]:
        """The digests of the windows that close within `max_wait` (the later ones are
        counted as pending: the run does not wait ten minutes for the last window)."""
        deadline = time.monotonic() + max_wait
        while True:
            async with self.stack.pool.acquire() as conn:
                rows = await conn.fetch(
                    """SELECT w.id, w.closes_at, w.digest_taken_at,
                              count(*) FILTER (WHERE a.coalesced) AS coalesced
                         FROM staff_alert_windows w JOIN staff_alerts a ON a.window_id = w.id
                        GROUP BY w.id""")
            waiting = [r for r in rows if r["coalesced"] and (
                r["digest_taken_at"] is None
                or self.stack.sink.kinds(f"DIGEST-{r['id']}") == [])]
            due_soon = [r for r in waiting if r["closes_at"] <= datetime.now(UTC) + timedelta(
                seconds=max(0.0, deadline - time.monotonic()))]
            if not due_soon or time.monotonic() > deadline:
                return {"windows": len(rows), "with_digest": sum(1 for r in rows
                                                                 if r["coalesced"]),
                        "pending": len(waiting),
                        "coalesced_alerts": sum(r["coalesced"] for r in rows)}
            await asyncio.sleep(1.0)

    async def check(self) -> dict[str, Any]:
        """Each accepted message stored once and started once, as PostgreSQL and Temporal
        say; one acknowledgement each; the escalation and its lateness from each status."""
        accepted = [s for s in self.sent if s.accepted_at]
        ids = [s.message_id for s in accepted]
        async with self.stack.pool.acquire() as conn:
            stored = {r["message_id"]: r for r in await conn.fetch(
                "SELECT message_id, crn, outcome FROM inbound_messages WHERE message_id = "
                "ANY($1)", ids)}
            rows = await conn.fetch(
                "SELECT lower(customer_email) AS email, count(*) AS n FROM complaints WHERE "
                "lower(customer_email) = ANY($1) GROUP BY 1", [s.address.lower() for s in accepted])
        per_customer = {r["email"]: r["n"] for r in rows}
        gate = asyncio.Semaphore(20)
        lateness: list[float] = []
        parts: dict[str, list[float]] = defaultdict(list)
        missing: list[str] = []
        escalations: Counter[str] = Counter()

        async def one(i: int, s: Sent) -> None:
            async with gate:
                handle = self.stack.client.get_workflow_handle(s.crn)
                try:
                    state = m.ComplaintState.model_validate(await handle.query("status"))
                except Exception as err:
                    missing.append(f"{s.crn}: {type(err).__name__}")
                    return
                escalations[s.crn] = sum(1 for e in state.timeline if e.event == Event.escalated)
                due = state.deadline(PERSONAL_ACK)
                fired = next((e for e in state.timeline if e.event == Event.deadline_breached
                              and e.deadline == PERSONAL_ACK), None)
                if due is None or fired is None:
                    self.errors.append(f"{s.crn}: no breach of the personal acknowledgement")
                    return
                lateness.append((fired.at - due.due_at).total_seconds())
                if i % max(1, len(accepted) // 40) == 0:  # where the lateness went, sampled
                    history = await handle.fetch_history()
                    for name, ms in timer_lateness(history, due.due_at):
                        parts[name].append(ms / 1000)

        await asyncio.gather(*(one(i, s) for i, s in enumerate(accepted)))
        ceiling: list[float] = []

        async def bare(wf_id: str) -> None:
            async with gate:
                try:
                    ceiling.append(await self.stack.client.get_workflow_handle(wf_id).result())
                except Exception as err:
                    self.errors.append(f"{wf_id}: {type(err).__name__}")

        await asyncio.gather(*(bare(i) for i in self.ceiling_ids))
        acks = Counter(crn for crn, kind, _ in self.stack.sink.emails() if kind == CUSTOMER_KIND)
        crns = {s.crn for s in accepted}
        not_stored = [s for s in accepted if s.message_id not in stored]
        return {
            "stored": len(stored), "not_stored": len(not_stored),
            "not_in_temporal": len(missing), "first_missing": missing[:5],
            "lost": len({s.crn for s in not_stored} | {x.split(":")[0] for x in missing}),
            "doubled": sum(n - 1 for n in per_customer.values() if n > 1)
            + sum(max(0, acks[c] - 1) for c in crns),
            "acknowledged": sum(1 for c in crns if acks[c]),
            "ack_duplicates": sum(max(0, acks[c] - 1) for c in crns),
            "escalated": sum(1 for c in crns if escalations[c]),
            "lateness": lateness, "ceiling": ceiling,
            "parts": {k: percentiles(v) for k, v in parts.items()},
        }


async def run_storm(stack: BenchStack, options: BenchOptions) -> dict[str, Any]:
    """The storm on `stack`; returns the report's `storm` object."""
    storm = Storm(stack, options)
    n = options.storm
    queue = f"storm-{storm.run_id}"
    ceiling_queue = f"storm-ceiling-{storm.run_id}"
    policy = stack.policy_file("storm", storm_policy(
        options.storm_due, options.storm_digest_after, options.storm_digest_window))
    say(f"storm: {n} complaints by email over {options.over:g} s from {options.storm_senders} "
        f"senders; personal acknowledgement due after {options.storm_due}; digest after "
        f"{options.storm_digest_after} within {options.storm_digest_window} ...")
    worker = await stack.start_worker("lifecycle", queue, policy)
    ceiling_worker = await stack.start_worker("ceiling", ceiling_queue)
    try:
        smtp_port, http_port = await storm.start_parts(queue)
        cpu_before = cpu_seconds(stack, worker) | storm.cpu_of()
        metrics_before = await _by_type(worker)
        stop = asyncio.Event()
        readers = [asyncio.create_task(storm.read_pages(http_port, stop)),
                   asyncio.create_task(storm.sample(worker, stop))]
        began = time.monotonic()
        sending_s = await storm.send_all(smtp_port, ceiling_queue)
        accepted = sum(1 for s in storm.sent if s.accepted_at)
        say(f"  sent in {sending_s:.0f} s: {accepted} of {n} accepted; waiting for every "
            "acknowledgement deadline to fall due and escalate ...")
        await asyncio.gather(*storm.ceiling_starts)
        escalated = await storm.wait_escalated(storm.due.total_seconds() + 300)
        storm_s = time.monotonic() - began
        stop.set()
        await asyncio.gather(*readers, return_exceptions=True)
        cpu_after = cpu_seconds(stack, worker) | storm.cpu_of()
        metrics_after = await _by_type(worker)
        memory = worker.memory()
        say(f"  {escalated} escalated after {storm_s:.0f} s; the digests that fall due soon ...")
        digests = await storm.wait_digests(options.storm_digest_wait)
        checked = await storm.check()
    finally:
        storm.stop_parts()
        worker.stop()
        ceiling_worker.stop()
    acks = [stack.sink.arrived_at[(s.crn, CUSTOMER_KIND)] - s.accepted_at
            for s in storm.sent if s.accepted_at and (s.crn, CUSTOMER_KIND) in stack.sink.arrived_at]
    staff = Counter(kind.partition(":")[0] for _, kind, _ in stack.sink.emails()
                    if kind.partition(":")[0] in STAFF_KINDS)
    breach, ceiling = percentiles(checked["lateness"]), percentiles(checked["ceiling"])
    cpu = {k: round(v - cpu_before.get(k, 0.0), 1) for k, v in cpu_after.items()}
    sa = storm.sampled
    return {
        "sent": n, "accepted": accepted, "lost": checked["lost"], "doubled": checked["doubled"],
        "over_s": options.over, "sending_s": round(sending_s, 1), "storm_s": round(storm_s, 1),
        "accepted_per_s": round(accepted / sending_s, 2) if sending_s else None,
        "deferred": sum(s.deferred for s in storm.sent),
        "stored": checked["stored"], "not_in_temporal": checked["not_in_temporal"],
        "smtp_transaction_ms": percentiles([s.smtp_ms for s in storm.sent if s.smtp_ms], 1),
        "acknowledged": checked["acknowledged"], "ack_duplicates": checked["ack_duplicates"],
        "ack_latency_s": percentiles(acks), "escalated": checked["escalated"],
        "breach_lateness_s": breach, "ceiling_breach_lateness_s": ceiling,
        "ceiling_workflows": len(checked["ceiling"]),
        "lateness_ratio": round(breach["p99"] / ceiling["p99"], 2) if ceiling["p99"] else None,
        "lateness_parts_s": checked["parts"],
        "staff_emails": sum(staff.values()), "staff_emails_by_kind": dict(staff),
        "digests": digests,
        "customer_emails": sum(1 for _, kind, _ in stack.sink.emails() if kind == CUSTOMER_KIND),
        "queue_p95_ms": percentiles(sa.queue_ms, 1)["p95"],
        "queue_ms": percentiles(sa.queue_ms, 1), "api_list_ms": percentiles(sa.api_list_ms, 1),
        "page_reads": len(sa.queue_ms) + len(sa.api_list_ms),
        "page_errors": len(sa.read_errors), "first_page_errors": sa.read_errors[:5],
        "worker_cpu_s": cpu.get("worker"), "cpu_s": cpu,
        "worker_rss_mib": {"peak": memory["peak_rss_mib"],
                           "max_sampled": max(sa.worker_rss_mib, default=None)},
        "postgres_connections": {"active_max": max(sa.pg_active, default=0),
                                 "active_p95": percentiles([float(x) for x in sa.pg_active],
                                                           0)["p95"],
                                 "total_max": max(sa.pg_total, default=0)},
        "time_by_type": _time_by_type(metrics_before, metrics_after, accepted),
        "errors": len(storm.errors), "first_errors": storm.errors[:5],
    }


ACTIVITY_MS = "temporal_activity_execution_latency"
ACTIVITY_WAIT_MS = "temporal_activity_schedule_to_start_latency"
WFT_MS = "temporal_workflow_task_execution_latency"
_LABEL = {ACTIVITY_MS: "activity_type", ACTIVITY_WAIT_MS: "activity_type",
          WFT_MS: "workflow_type"}


async def _by_type(worker: WorkerProcess) -> dict[str, float]:
    """The worker's SDK latency sums and counts per activity and workflow type."""
    out: dict[str, float] = defaultdict(float)
    for port in worker.metrics_ports:
        text = await asyncio.to_thread(_fetch, port)
        for line in text.splitlines():
            for metric, label in _LABEL.items():
                if line.startswith((metric + "_sum{", metric + "_count{")):
                    series, _, value = line.rpartition(" ")
                    kind = re.search(rf'{label}="([^"]+)"', series)
                    suffix = "sum" if series.startswith(metric + "_sum") else "count"
                    out[f"{metric}:{kind.group(1) if kind else '?'}:{suffix}"] += float(value)
    return dict(out)


def _fetch(port: int) -> str:
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:  # nosec B310 # our own worker
        return r.read().decode()


def _time_by_type(before: dict[str, float], after: dict[str, float], complaints: int
                  ) -> dict[str, dict[str, float]]:
    """Where the worker's time went during the storm: per workflow type (its tasks) and per
    activity type, how many, their mean, and their total per complaint (ms)."""
    out: dict[str, dict[str, float]] = {}
    for key in after:
        if not key.endswith(":sum"):
            continue
        metric, kind, _ = key.split(":")
        total = after[key] - before.get(key, 0.0)
        count = after.get(f"{metric}:{kind}:count", 0.0) - before.get(f"{metric}:{kind}:count", 0)
        if not count:
            continue
        what = {ACTIVITY_MS: "activity", ACTIVITY_WAIT_MS: "activity queued",
                WFT_MS: "workflow tasks"}[metric]
        out[f"{what}: {kind}" if kind != "?" else f"{what} (all types)"] = {"count": int(count), "mean_ms": round(total / count, 1),
                                  "ms_per_complaint": round(total / max(1, complaints), 1)}
    return dict(sorted(out.items()))


