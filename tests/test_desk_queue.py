"""The desk's queue and search over the complaint row in PostgreSQL (database/desk.py,
migrations/0020_desk_queue.sql): the queue's order exact against a full sort over 2,000 open
complaints (the bulk loader, database/desk_load.py, into the real PostgreSQL), keyset pages
that walk every row once, search by a word of the customer's second email, an order id and a
company name, within the person's scope; and a complaint through a real workflow whose writer
fills the queue's columns."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import asyncpg
import pytest

from database import desk
from database.desk_load import full_sort, load_complaints
from database.records import roster
from starter.listing import (
    BadPageToken,
    ListFilters,
    queue_page,
    scope_of,
    search_page,
)
from tests.cli_runner import Cli
from tests.conftest import ComplaintStack
from tests.scenarios import to_owner
from workflows import models as m
from workflows.models import Status
from workflows.records import StaffMember

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
EVERYTHING = desk.Scope(everything=True)


async def _members(pool: asyncpg.Pool) -> dict[str, StaffMember]:
    return {m.id: m for m in await roster(pool)}


async def _walk(pool: asyncpg.Pool, filters: ListFilters, scope: desk.Scope,
                limit: int) -> tuple[list[str], int]:
    """Every page, following the cursor; the CRNs in order and the pages read."""
    crns: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = await queue_page(pool, filters, scope, limit=limit, page_token=token)
        pages += 1
        crns += [i.crn for i in page.items]
        token = page.next_page_token
        if token is None:
            return crns, pages


async def test_queue_order_is_exact_over_2000_open_complaints(seeded: asyncpg.Pool):
    async with seeded.acquire() as conn:
        loaded = await load_complaints(conn, total=2600, open_count=2000, now=NOW, seed=11)
    expected = full_sort(loaded.open)
    assert len(expected) == 2000
    # Ties on the instant exist (broken by CRN), and some have no deadline (last).
    dues = [r.next_deadline_at for r in loaded.open if r.next_deadline_at]
    assert len(dues) != len(set(dues)) and len(dues) < 2000

    first = await queue_page(seeded, ListFilters(), EVERYTHING, limit=50)
    assert [i.crn for i in first.items] == expected[:50]
    head = {r.crn: r for r in loaded.open}[expected[0]]
    assert first.items[0].next_deadline_at == head.next_deadline_at
    assert first.items[0].next_deadline == head.next_deadline
    assert first.items[0].team == head.team

    walked, pages = await _walk(seeded, ListFilters(), EVERYTHING, limit=137)
    assert walked == expected  # every open complaint, once each, in the full sort's order
    assert pages == -(-2000 // 137)

    # Filters and scopes read the same columns; each is the full sort of what it keeps.
    members = await _members(seeded)
    for filters, scope, keep in (
        (ListFilters(severity=1), EVERYTHING, lambda r: r.severity == 1),
        (ListFilters(owner="unassigned"), EVERYTHING, lambda r: r.owner is None),
        (ListFilters(status=Status.awaiting_approval), EVERYTHING,
         lambda r: r.status == Status.awaiting_approval),
        (ListFilters(), scope_of(members["sam"]), lambda r: r.owner == "sam"),
        (ListFilters(), scope_of(members["ana"]),
         lambda r: r.owner == "ana" or r.phase == "triage"),
        (ListFilters(), scope_of(members["tom"]),
         lambda r: r.team == "support" or r.owner is None or r.owner == "tom"),
    ):
        want = full_sort([r for r in loaded.open if keep(r)])
        assert want, filters
        got, _ = await _walk(seeded, filters, scope, limit=200)
        assert got == want, (filters, scope)


async def test_a_team_lead_sees_their_team_and_not_another(seeded: asyncpg.Pool):
    async with seeded.acquire() as conn:
        await conn.execute("INSERT INTO staff (id, name, email, role, team) VALUES "
                           "('lena', 'Lena Lead', 'lena@example.com', 'team_lead', 'rnd')")
        loaded = await load_complaints(conn, total=300, open_count=300, now=NOW, seed=3)
    members = await _members(seeded)
    rnd_lead, support_lead = scope_of(members["lena"]), scope_of(members["tom"])
    # R&D's lead: their team's, the unassigned, and R&D's hand-offs (fixes in progress).
    rnd = {r.crn for r in loaded.open if r.team == "rnd" or r.owner is None
           or r.status == Status.fix_in_progress}
    assert any(r.status == Status.fix_in_progress and r.team != "rnd" and r.owner is not None
               for r in loaded.open)  # the hand-offs add something here
    got, _ = await _walk(seeded, ListFilters(), rnd_lead, limit=100)
    assert set(got) == rnd and got == full_sort([r for r in loaded.open if r.crn in rnd])
    raj = [r.crn for r in loaded.open if r.owner == "raj"]
    support, _ = await _walk(seeded, ListFilters(), support_lead, limit=100)
    assert not set(raj) & set(support)  # raj is R&D: not in the support lead's queue


async def test_bad_cursors_are_refused_clearly(seeded: asyncpg.Pool):
    async with seeded.acquire() as conn:
        await load_complaints(conn, total=30, open_count=30, now=NOW, seed=5)
    page = await queue_page(seeded, ListFilters(), EVERYTHING, limit=5)
    assert page.next_page_token
    raw = base64.urlsafe_b64decode(page.next_page_token + "=" * (-len(page.next_page_token) % 4))
    forged = base64.urlsafe_b64encode(raw[:8] + b"not json").decode()  # its binding, no cursor
    for bad in ("garbage!", "AAAA", forged):
        with pytest.raises(BadPageToken, match="not a page token this server issued"):
            await queue_page(seeded, ListFilters(), EVERYTHING, page_token=bad)
    with pytest.raises(BadPageToken, match="other filters"):
        await queue_page(seeded, ListFilters(severity=2), EVERYTHING,
                         page_token=page.next_page_token)
    members = await _members(seeded)
    with pytest.raises(BadPageToken, match="other filters"):  # another person's page
        await queue_page(seeded, ListFilters(), scope_of(members["ana"]),
                         page_token=page.next_page_token)


async def test_search_by_second_email_order_id_and_company_within_scope(seeded: asyncpg.Pool):
    async with seeded.acquire() as conn:
        loaded = await load_complaints(conn, total=400, open_count=300, now=NOW, seed=9,
                                       emails_every=1)
        target = next(r for r in loaded.open if r.owner == "sam")
        # The customer's second email carries a word no other text has.
        await conn.execute(
            "UPDATE inbound_messages SET body = body || ' xylophonic' WHERE crn = $1 "
            "AND received_at = (SELECT max(received_at) FROM inbound_messages WHERE crn = $1)",
            target.crn)
        await conn.execute("UPDATE customers SET name = 'Quillfeather Ropeworks' WHERE id = $1",
                           target.customer_id)
    members = await _members(seeded)
    helen, sam, ana = (scope_of(members[i]) for i in ("helen", "sam", "ana"))

    async def found(words: str, scope: desk.Scope, **filters: object) -> list[str]:
        page = await search_page(seeded, words, ListFilters.model_validate(filters), scope,
                                 limit=200)
        return [h.crn for h in page.items]

    assert await found("xylophonic", helen) == [target.crn]
    hit = (await search_page(seeded, "xylophonic", ListFilters(), helen)).items[0]
    assert ("xylophonic", True) in [(p.text, p.matched) for p in hit.headline]
    assert await found(target.order_id or "", helen) == [target.crn]
    company = await found('"Quillfeather Ropeworks"', helen)
    assert set(company) == {r.crn for r in loaded.records if r.customer_id == target.customer_id}
    assert target.crn in company
    assert await found("xylophonic", sam) == [target.crn]  # sam owns it
    assert await found("xylophonic", ana) == []  # an agent: not theirs, not in triage
    assert await found(target.order_id or "", ana) == []
    assert await found("xylophonic", helen, severity=target.severity % 4 + 1) == []
    closed = next(r for r in loaded.records if r.status == Status.closed)
    assert await found(closed.order_id or "", helen) == [closed.crn]  # closed alike
    with pytest.raises(desk.EmptySearch):
        await search_page(seeded, "  !! ", ListFilters(), helen)
    # Words found everywhere: best first, ranked.
    many = await search_page(seeded, "invoice", ListFilters(), helen, limit=20)
    assert len(many.items) == 20 and many.next_offset == 20 and not many.capped
    assert [h.rank for h in many.items] == sorted((h.rank for h in many.items), reverse=True)
    assert many.matched == sum("invoice" in f"{r.subject} {r.description}".lower().split()
                               or "invoice" in " ".join(loaded.emails.get(r.crn, [])).split()
                               for r in loaded.records)


async def test_a_search_matching_more_than_it_ranks_says_so(seeded: asyncpg.Pool,
                                                            monkeypatch: pytest.MonkeyPatch):
    async with seeded.acquire() as conn:
        await load_complaints(conn, total=200, open_count=100, now=NOW, seed=8)
    monkeypatch.setattr(desk, "RANK_CANDIDATES", 30)
    page = await search_page(seeded, "bulk", ListFilters(), EVERYTHING, limit=10)
    assert (page.matched, page.capped, len(page.items)) == (30, True, 10)
    exact = await search_page(seeded, "ord-bulk-0000007", ListFilters(), EVERYTHING)
    assert (exact.matched, exact.capped, len(exact.items)) == (1, False, 1)


async def test_internal_notes_are_searched(seeded: asyncpg.Pool):
    async with seeded.acquire() as conn:
        loaded = await load_complaints(conn, total=30, open_count=30, now=NOW, seed=12)
        one = loaded.records[3]
        await conn.execute("INSERT INTO notes (crn, request_id, author, body) VALUES "
                           "($1, 'r1', 'tom', 'Customer prefers the Thursday quokka slot')",
                           one.crn)
    helen = desk.Scope(everything=True)
    page = await search_page(seeded, "quokka", ListFilters(), helen)
    assert [h.crn for h in page.items] == [one.crn]
    assert "quokka" in [p.text.lower() for p in page.items[0].headline if p.matched]
    async with seeded.acquire() as conn:
        await conn.execute("UPDATE notes SET body = 'moved to Friday' WHERE crn = $1", one.crn)
    assert (await search_page(seeded, "quokka", ListFilters(), helen)).items == []


async def test_erasure_and_renames_keep_the_search_document_current(seeded: asyncpg.Pool):
    async with seeded.acquire() as conn:
        loaded = await load_complaints(conn, total=20, open_count=20, now=NOW, seed=4,
                                       emails_every=1)
        one = loaded.records[0]
        await conn.execute("UPDATE customers SET name = 'Zanzibarite Holdings' WHERE id = $1",
                           one.customer_id)
    helen = desk.Scope(everything=True)
    page = await search_page(seeded, "Zanzibarite", ListFilters(), helen)
    assert one.crn in [h.crn for h in page.items]
    async with seeded.acquire() as conn:
        await conn.execute("UPDATE customers SET name = 'Other' WHERE id = $1", one.customer_id)
        await conn.execute("DELETE FROM inbound_messages WHERE crn = $1", one.crn)
    assert (await search_page(seeded, "Zanzibarite", ListFilters(), helen)).items == []
    left = await search_page(seeded, f'"{loaded.emails[one.crn][1]}"', ListFilters(), helen)
    assert one.crn not in [h.crn for h in left.items]


async def test_the_writer_fills_the_queue_columns(stack: ComplaintStack):
    """A complaint through the real workflow: the row carries its next deadline (instant and
    name), its owner's team, no pause; the queue lists it, search finds it by its order id,
    a word of its description and its company; a reassignment moves it to the new owner's
    team."""
    async with stack.pool.acquire() as conn:
        await conn.execute("INSERT INTO staff (id, name, email, role, team, skills) VALUES "
                           "('kim', 'Kim Key', 'kim@example.com', 'specialist', "
                           "'key-accounts', '{}')")
    async with stack.worker():
        crn = await to_owner(stack, customer={"id": "cust-bloom", "name": "Bea Bloom",
                                              "email": "hello@bloom.example"},
                             category="billing_dispute", order_id="ord-2001",
                             description="Charged twice for the spring arrangement.")
        state = await stack.status(crn)
        due = min((d for d in state.deadlines if d.met_at is None and not d.superseded
                   and not d.breached), key=lambda d: d.due_at)
        row = await stack.until_row(crn, lambda r: r["next_deadline_at"] == due.due_at)
        members = await _members(stack.pool)
        assert state.owner is not None and row["owner"] == state.owner
        assert row["next_deadline"] == due.name and row["paused_since"] is None
        assert row["team"] == members[state.owner].team == "support"
        page = await queue_page(stack.pool, ListFilters(customer="cust-bloom"), EVERYTHING)
        assert [i.crn for i in page.items] == [crn]
        assert page.items[0].next_deadline_at == due.due_at
        for words in ("ord-2001", "spring arrangement", '"Bloom Florists"', crn):
            hits = await search_page(stack.pool, words, ListFilters(), EVERYTHING)
            assert [h.crn for h in hits.items] == [crn], words
        mine = await search_page(stack.pool, "ord-2001", ListFilters(),
                                 scope_of(members[state.owner]))
        assert [h.crn for h in mine.items] == [crn]
        assert (await search_page(stack.pool, "ord-2001", ListFilters(),
                                  scope_of(members["kim"]))).items == []
        await stack.act(crn, "reassign", m.Reassignment(actor="tom", owner="kim"))
        row = await stack.until_row(crn, lambda r: r["owner"] == "kim")
        assert row["team"] == "key-accounts"
        lead = scope_of(members["tom"])  # support's lead: no longer in their queue
        assert crn not in [i.crn for i in (await queue_page(stack.pool, ListFilters(),
                                                             lead)).items]
        assert [h.crn for h in (await search_page(stack.pool, "ord-2001", ListFilters(),
                                                  scope_of(members["kim"]))).items] == [crn]


async def test_the_command_line_queue_and_search(seeded: asyncpg.Pool, database_url: str,
                                                 monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    async with seeded.acquire() as conn:
        loaded = await load_complaints(conn, total=60, open_count=50, now=NOW, seed=6)
    expected = full_sort(loaded.open)
    run = Cli(capsys)
    code, out, err = await run("queue", "--json", "--limit", "5")
    assert (code, err) == (0, "")
    first = json.loads(out)
    assert [i["crn"] for i in first["items"]] == expected[:5]
    code, out, _ = await run("queue", "--json", "--limit", "5", "--page-token",
                             first["next_page_token"])
    assert [i["crn"] for i in json.loads(out)["items"]] == expected[5:10]
    code, out, _ = await run("queue", "--limit", "3")
    assert code == 0 and expected[0] in out and "more: --page-token" in out

    target = next(r for r in loaded.open if r.owner == "sam" and r.phase != "triage")
    code, out, _ = await run("search", target.order_id or "", "--json")
    assert code == 0 and [h["crn"] for h in json.loads(out)["items"]] == [target.crn]
    code, out, _ = await run("search", target.order_id or "")
    assert code == 0 and target.crn in out
    code, out, _ = await run("search", target.order_id or "", "--as", "sam")
    assert code == 0 and target.crn in out
    code, out, _ = await run("search", target.order_id or "", "--as", "ana")
    assert code == 0 and "no complaints match" in out
    for argv, said in ((("search", " !! "), "no word"),
                       (("search", "x", "--as", "nobody"), "no such staff member"),
                       (("queue", "--page-token", "garbage!"), "--page-token"),
                       (("queue", "--limit", "0"), "--limit")):
        code, out, err = await run(*argv)
        assert code == 2 and said in err and out == "", (argv, err)
