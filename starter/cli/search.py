"""`complaints search "WORDS"` and `complaints queue`: the desk's lists, read from the
complaint row in PostgreSQL (database/desk.py), as the console and `GET /complaints` show
them.

Both see every complaint unless `--as STAFF_ID` names the person whose scope to apply (what
their console queue and search show). `complaints list` stays Temporal visibility's view, the
engineer's."""

from __future__ import annotations

import argparse
import json

from rich import box
from rich.table import Table
from rich.text import Text

from database import desk
from database.pool import Pool, create_pool
from database.records import roster
from settings import Settings
from starter.cli.usage import UsageError
from starter.cli.views import show, when
from starter.listing import (
    MAX_LIMIT,
    SEARCH_LIMIT,
    BadPageToken,
    ListFilters,
    QueueItem,
    SearchHit,
    queue_page,
    scope_of,
    search_page,
)
from workflows import models as m


def _filter_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--status", choices=[v.value for v in m.Status])
    p.add_argument("--phase", choices=[v.value for v in m.Phase])
    p.add_argument("--owner", help="roster id, or 'unassigned'")
    p.add_argument("--severity", type=int, choices=range(1, 5))
    p.add_argument("--customer", help="customer id")
    p.add_argument("--as", dest="as_staff", metavar="STAFF_ID",
                   help="only what this person's queue may show")
    p.add_argument("--limit", type=int, default=50,
                   help=f"at most this many (1-{MAX_LIMIT}; queue 50, search 20)")
    p.add_argument("--json", action="store_true", help="JSON, as GET /complaints returns")


def add_search_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="complaints matching words (PostgreSQL full-text)")
    p.add_argument("words", help='e.g. "late delivery" or ord-2001 or "Acme Logistics"')
    p.add_argument("--open", action="store_true", help="only complaints not closed")
    _filter_flags(p)
    p.set_defaults(func=cmd_search, limit=SEARCH_LIMIT)
    p = sub.add_parser("queue", help="open complaints, most urgent first (the desk's queue)")
    p.add_argument("--page-token", help="the next page, as the last one printed")
    _filter_flags(p)
    p.set_defaults(func=cmd_queue)


async def _scope(pool: Pool, args: argparse.Namespace) -> desk.Scope:
    if args.as_staff is None:
        return desk.Scope(everything=True)
    member = {s.id: s for s in await roster(pool)}.get(args.as_staff)
    if member is None:
        raise UsageError(f"--as {args.as_staff}: no such staff member")
    return scope_of(member)


def _filters(args: argparse.Namespace) -> ListFilters:
    if not 1 <= args.limit <= MAX_LIMIT:
        raise UsageError(f"--limit must be between 1 and {MAX_LIMIT}")
    return ListFilters(status=args.status, phase=args.phase, owner=args.owner,
                       severity=args.severity, customer=args.customer)


async def cmd_search(args: argparse.Namespace, settings: Settings) -> None:
    filters = _filters(args)
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        page = await search_page(pool, args.words, filters, await _scope(pool, args),
                                 limit=args.limit, open_only=args.open)
    except desk.EmptySearch as err:
        raise UsageError(f"{err}: give a name, an order id, a CRN or a word") from None
    finally:
        await pool.close()
    if args.json:
        print(page.model_dump_json(indent=2))
        return
    show(_table(page.items, search=True))


async def cmd_queue(args: argparse.Namespace, settings: Settings) -> None:
    filters = _filters(args)
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        page = await queue_page(pool, filters, await _scope(pool, args), limit=args.limit,
                                page_token=args.page_token)
    except BadPageToken as err:
        raise UsageError(f"--page-token: {err}") from None
    finally:
        await pool.close()
    if args.json:
        print(page.model_dump_json(indent=2))
        return
    show(_table(page.items, search=False))
    if page.next_page_token:
        print(f"more: --page-token {json.dumps(page.next_page_token)}")


def _table(items: list[QueueItem] | list[SearchHit], search: bool) -> Table | Text:
    if not items:
        return Text("no complaints match")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column in ("CRN", "STATUS", "SEV", "OWNER", "NEXT DEADLINE", "CUSTOMER",
                   "MATCHED" if search else "SUBJECT"):
        # The CRN whole, always; the words wrap.
        table.add_column(column, no_wrap=column in ("CRN", "SEV"),
                         min_width=14 if column == "CRN" else None)
    for c in items:
        if isinstance(c, SearchHit):
            said = Text()
            for part in c.headline:
                said.append(part.text, style="bold" if part.matched else "")
        else:
            said = Text(c.subject)
        table.add_row(c.crn, c.status or "-", str(c.severity or "-"), c.owner or "-",
                      f"{c.next_deadline} {when(c.next_deadline_at)}" if c.next_deadline else "-",
                      c.customer_name or c.customer_id or "-", said)
    return table
