"""A bulk loader for the desk's benchmark and tests: many complaint rows at once, in the shape
the workflow's writer writes them.

Each complaint is a `ComplaintRecord` (workflows/messages.py), the very model the writer's
`save_progress` activity takes, with every field set as a run's first write sets them; its
columns are the record's fields, in its order, copied with COPY. The triggers of
migrations/0020_desk_queue.sql build each row's search document as they do for the writer's
INSERT. Customers (a company name each) and a few emails a complaint (the customer's, in
inbound_messages) are loaded alongside, so search has the text it has in production.

Deterministic for a `seed`: the same complaints, deadlines and words every run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from workflows.messages import ComplaintRecord
from workflows.models import Category, Impact, Phase, Source, Status

# The row's columns the writer writes: ComplaintRecord's fields after crn.
COLUMNS = tuple(f for f in ComplaintRecord.model_fields if f != "crn")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_OPEN_STATES = ((Status.new, Phase.triage), (Status.acknowledged, Phase.ownership),
                (Status.under_investigation, Phase.resolution),
                (Status.awaiting_customer, Phase.resolution),
                (Status.awaiting_approval, Phase.resolution),
                (Status.fix_in_progress, Phase.resolution), (Status.resolved, Phase.post_mortem))
_DEADLINES = ("personal_ack", "phone_contact", "customer_update", "resolution",
              "refund_approval", "rnd_fix", "post_mortem")
WORDS = tuple(
    "invoice delivery parcel refund broken screen login password export report totals "
    "dashboard courier damaged missing late wrong charged twice subscription cancel renewal "
    "discount voucher warranty repair replacement battery charger cable printer scanner "
    "account locked email address phone number billing statement credit note tax vat "
    "shipment tracking warehouse pallet container customs label barcode sensor firmware "
    "update crash freeze slow timeout error message support agent manager callback "
    "promise apology contract clause renewal penalty fee interest balance overdue reminder "
    "letter portal upload download attachment photo evidence receipt order quantity size "
    "colour model version licence seat user admin permission role team schedule meeting "
    "visit engineer technician install setup onboarding training manual guide".split())
COMPANY_WORDS = tuple(
    "Acorn Birch Cedar Delta Ember Falcon Granite Harbor Iris Juniper Kestrel Lumen Maple "
    "Nimbus Orchid Pioneer Quartz Raven Summit Tundra Umber Vertex Willow Xenon Yarrow "
    "Zephyr".split())
COMPANY_KINDS = ("Logistics", "Florists", "Studio", "Foods", "Clinics", "Motors", "Legal",
                 "Bakery", "Labs", "Partners")


@dataclass(frozen=True)
class Loaded:
    """What was loaded: each complaint's record (the tests' and the benchmark's truth)."""

    records: list[ComplaintRecord]
    customers: dict[str, str]  # id -> company name
    emails: dict[str, list[str]]  # crn -> the bodies of its customer's emails, in order

    @property
    def open(self) -> list[ComplaintRecord]:
        return [r for r in self.records if r.status not in (Status.closed, Status.archived)]


def crn_for(rng: random.Random) -> str:
    return "CRN-" + "".join(rng.choice(_ALPHABET) for _ in range(10))


def full_sort(records: list[ComplaintRecord]) -> list[str]:
    """The queue's order, computed here: the soonest next deadline first, none last, by CRN."""
    far = datetime.max.replace(tzinfo=UTC)
    return [r.crn for r in sorted(records, key=lambda r: (r.next_deadline_at or far, r.crn))]


async def load_complaints(conn: asyncpg.Connection, *, total: int, open_count: int,
                          now: datetime, seed: int = 7, customers: int = 0,
                          emails_every: int = 10) -> Loaded:
    """`total` complaints, `open_count` of them open, received over the last year before
    `now`; owners from the roster already loaded (the seed). `customers`: how many
    companies they come from (default total/20); every `emails_every`th complaint gets two
    emails from its customer."""
    rng = random.Random(seed)
    staff = await conn.fetch("SELECT id, role, team FROM staff ORDER BY id")
    owners = [s for s in staff if s["role"] in ("specialist", "csm", "team_lead", "head_of_cs")]
    team_of = {s["id"]: s["team"] for s in staff}
    n_customers = customers or max(1, total // 20)
    companies = {f"bulk-{i:06d}": f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_WORDS)}"
                 f" {rng.choice(COMPANY_KINDS)} {i}" for i in range(n_customers)}
    await conn.copy_records_to_table(
        "customers", columns=("id", "name", "email"),
        records=[(cid, name, f"{cid}@bulk.example") for cid, name in companies.items()])
    customer_ids = list(companies)
    records: list[ComplaintRecord] = []
    seen: set[str] = set()
    # A few instants shared by many complaints: ties are broken by CRN.
    shared = [now + timedelta(hours=h) for h in (1, 2, 5)]
    for i in range(total):
        crn = crn_for(rng)
        while crn in seen:
            crn = crn_for(rng)
        seen.add(crn)
        customer = rng.choice(customer_ids)
        received = now - timedelta(minutes=rng.randrange(60 * 24 * 365))
        is_open = i < open_count
        status, phase = rng.choice(_OPEN_STATES) if is_open else rng.choice(
            ((Status.closed, Phase.closed), (Status.archived, Phase.closed)))
        owner = None if is_open and status == Status.new and rng.random() < 0.5 \
            else rng.choice(owners)["id"]
        due: datetime | None = None
        if is_open and rng.random() < 0.95:
            due = rng.choice(shared) if rng.random() < 0.05 else \
                now + timedelta(minutes=rng.randrange(-60 * 24 * 3, 60 * 24 * 30))
        breached = due is not None and due < now
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(15, 40)))
        records.append(ComplaintRecord(
            crn=crn, source=Source.web, external_ref=f"bulk-{seed}-{i}", customer_id=customer,
            customer_name=f"Contact {i}", customer_email=f"{customer}@bulk.example",
            subject=" ".join(rng.choice(WORDS) for _ in range(4)).capitalize(),
            description=words, category=rng.choice(list(Category)),
            impact=rng.choice(list(Impact)), order_id=f"ord-bulk-{i:07d}",
            severity=rng.randrange(1, 5), severity_score=rng.randrange(0, 100),
            status=status, phase=phase, owner=owner, handling_agent=None,
            escalation_level=rng.choice((0, 0, 0, 1, 2)), retention_risk=rng.random() < 0.1,
            sla_breached=breached, recurrent_of=None, policy_name="default",
            received_at=received, acknowledged_at=None, resolved_at=None,
            closed_at=None if is_open else received + timedelta(days=3),
            archived_at=received + timedelta(days=40) if status == Status.archived else None,
            csat_score=None, outcome=None, duplicate_of=None,
            next_deadline_at=due, next_deadline=rng.choice(_DEADLINES) if due else None,
            team=team_of.get(owner or ""), paused_since=None))
    emails: dict[str, list[str]] = {}
    inbound = []
    for n, r in enumerate(records):
        if n % emails_every:
            continue
        bodies = [" ".join(rng.choice(WORDS) for _ in range(30)) for _ in range(2)]
        emails[r.crn] = bodies
        for k, body in enumerate(bodies):
            inbound.append((f"<bulk-{seed}-{n}-{k}@bulk.example>", r.customer_email, b"",
                            0, (r.received_at or now) + timedelta(hours=k), "reply", r.crn,
                            r.customer_email, f"Re: {r.subject}", body))
    if inbound:
        await conn.copy_records_to_table(
            "inbound_messages", columns=("message_id", "envelope_from", "raw", "size",
                                         "received_at", "outcome", "crn", "from_address",
                                         "subject", "body"), records=inbound)
    # The emails first: each complaint's search document is then made once, as its row is
    # copied in (the BEFORE INSERT trigger reads its emails), not once more per email.
    await conn.copy_records_to_table(
        "complaints", columns=("crn", *COLUMNS),
        records=[(r.crn, *(row.get(c) for c in COLUMNS))
                 for r in records for row in (r.changed(),)])
    # As the table stands between bursts of writes: the GIN index's pending entries merged
    # (autovacuum's work) and the planner's statistics current.
    await conn.execute("VACUUM (ANALYZE) complaints")
    return Loaded(records, companies, emails)
