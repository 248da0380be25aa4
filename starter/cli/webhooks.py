"""`complaints webhooks`: subscriptions to the product's events (docs/integrations.md).

    complaints webhooks add URL [--event TYPE ...] [--owner ID] [--include-payload]
                            [--description TEXT]     prints the id and the signing secret
    complaints webhooks list [--json]
    complaints webhooks remove ID
    complaints webhooks enable ID                    after it was disabled (3 days of failures)
    complaints webhooks test ID [--wait SECONDS]     a `webhook.test` event, through delivery
    complaints webhooks deliveries [--subscription ID] [--attempts DELIVERY_ID] [--json]
    complaints webhooks redeliver DELIVERY_ID
    complaints webhooks redeliver --subscription ID --since TIME [--until TIME]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from database import webhooks as hooks
from database.pool import Pool, create_pool
from database.webhook_targets import TargetRefused, check_target
from settings import Settings, connect
from settings.webhooks import wake_deliveries
from starter.cli.usage import UsageError
from workflows.webhook_events import SUBSCRIBABLE


def add_webhook_commands(sub: argparse._SubParsersAction) -> None:
    webhooks = sub.add_parser("webhooks", help="subscriptions to the product's events: add, "
                              "list, remove, test, deliveries, redeliver")
    wsub = webhooks.add_subparsers(dest="webhooks_command", required=True)
    p = wsub.add_parser("add", help="a new receiver; prints its id and its signing secret")
    p.add_argument("url", help="where events are POSTed (https://; public addresses only)")
    p.add_argument("--event", action="append", default=[], metavar="TYPE",
                   help=f"an event type it wants (repeat; default: all): {', '.join(SUBSCRIBABLE)}")
    p.add_argument("--owner", default=None, help="the roster member emailed if it is disabled")
    p.add_argument("--include-payload", action="store_true",
                   help="personal data in the events too (https:// receivers only)")
    p.add_argument("--description", default="")
    p.set_defaults(func=cmd_add)
    p = wsub.add_parser("list", help="every subscription with its backlog")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    for name, text, func in (("remove", "delete it, with its outbox and log", cmd_remove),
                             ("enable", "turn a disabled subscription back on", cmd_enable)):
        p = wsub.add_parser(name, help=text)
        p.add_argument("id", type=int)
        p.set_defaults(func=func)
    p = wsub.add_parser("test", help="send it a webhook.test event through the delivery")
    p.add_argument("id", type=int)
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the answer")
    p.set_defaults(func=cmd_test)
    p = wsub.add_parser("deliveries", help="the delivery log, newest first")
    p.add_argument("--subscription", type=int, default=None)
    p.add_argument("--attempts", type=int, default=None, metavar="DELIVERY_ID",
                   help="every attempt of one delivery")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_deliveries)
    p = wsub.add_parser("redeliver", help="send one delivery again, or a subscription's "
                        "deliveries queued in a time range")
    p.add_argument("delivery", type=int, nargs="?", default=None)
    p.add_argument("--subscription", type=int, default=None)
    p.add_argument("--since", type=_instant, default=None, help="ISO 8601 (UTC if no zone)")
    p.add_argument("--until", type=_instant, default=None)
    p.set_defaults(func=cmd_redeliver)


def _instant(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


async def _wake(settings: Settings, ids: list[int]) -> None:
    if ids:
        await wake_deliveries(await connect(settings), settings.task_queue, ids)


async def cmd_add(args: argparse.Namespace, settings: Settings) -> None:
    try:
        await check_target(args.url, settings.webhooks_allow_private)
    except TargetRefused as err:
        raise UsageError(f"refused: {err}") from None
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        row = await hooks.add_subscription(
            pool, args.url, args.event or list(SUBSCRIBABLE), args.owner,
            include_payload=args.include_payload, description=args.description)
    except hooks.SubscriptionRefused as err:
        raise UsageError(str(err)) from None
    finally:
        await pool.close()
    await _wake(settings, [row["id"]])
    print(f"subscription {row['id']}: {row['url']} ({', '.join(row['events'])})")
    print(f"secret: {row['secret']}")
    print("Keep the secret: it is shown this once and verifies every request's "
          "webhook-signature.")


async def _read(settings: Settings, read: Callable[[Pool], Awaitable[list[dict[str, Any]]]],
                as_json: bool, none: str) -> list[dict[str, Any]]:
    """Rows from PostgreSQL; printed here as JSON (or `none` when there are none), else
    returned for the caller to print."""
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        rows = await read(pool)
    finally:
        await pool.close()
    if as_json:
        print(json.dumps(rows, default=str, indent=1))
        return []
    if not rows:
        print(none)
    return rows


async def cmd_list(args: argparse.Namespace, settings: Settings) -> None:
    rows = await _read(settings, hooks.list_subscriptions, args.json, "no webhook subscriptions")
    for r in rows:
        state = "enabled" if r["enabled"] else f"DISABLED ({r['disabled_reason'] or 'off'})"
        print(f"{r['id']:>4}  {r['kind']:<8} {state:<10} {r['url']}")
        print(f"      events: {', '.join(r['events']) or 'alerts'}; owner: {r['owner'] or '-'};"
              f" pending: {r['pending']}"
              + ("; with personal data" if r["include_payload"] else ""))


async def _one(settings: Settings, action, subscription_id: int, done: str) -> None:
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        found = await action(pool, subscription_id)
    finally:
        await pool.close()
    if not found:
        print(f"no webhook subscription {subscription_id}", file=sys.stderr)
        raise SystemExit(1)
    print(f"subscription {subscription_id} {done}")


async def cmd_remove(args: argparse.Namespace, settings: Settings) -> None:
    await _one(settings, hooks.remove_subscription, args.id, "removed")


async def cmd_enable(args: argparse.Namespace, settings: Settings) -> None:
    await _one(settings, hooks.enable_subscription, args.id, "enabled")
    await _wake(settings, [args.id])


async def cmd_test(args: argparse.Namespace, settings: Settings) -> None:
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        event_id = await hooks.queue_test_event(pool, args.id, datetime.now(UTC))
        if event_id is None:
            print(f"no webhook subscription {args.id}", file=sys.stderr)
            raise SystemExit(1)
        await _wake(settings, [args.id])
        print(f"test event {event_id} queued")
        deadline = asyncio.get_running_loop().time() + args.wait
        while True:
            [row] = [r for r in await hooks.list_deliveries(pool, args.id, limit=20)
                     if r["event_id"] == event_id]
            if row["status"] == "delivered":
                print(f"delivered: HTTP {row['status_code']} in {row['latency_ms']} ms")
                return
            if asyncio.get_running_loop().time() > deadline:
                print(f"not delivered yet ({row['attempts']} attempt(s); last: "
                      f"{row['error'] or 'none'}); `complaints webhooks deliveries "
                      f"--subscription {args.id}` follows it", file=sys.stderr)
                raise SystemExit(1)
            await asyncio.sleep(0.2)
    finally:
        await pool.close()


async def cmd_deliveries(args: argparse.Namespace, settings: Settings) -> None:
    async def read(pool: Pool) -> list[dict[str, Any]]:
        if args.attempts is not None:
            return await hooks.list_attempts(pool, args.attempts)
        return await hooks.list_deliveries(pool, args.subscription, args.limit)
    rows = await _read(settings, read, args.json, "no deliveries")
    if args.attempts is not None:
        for r in rows:
            print(f"attempt {r['attempt']:>3}  {r['at']:%Y-%m-%d %H:%M:%S}  "
                  f"{r['status_code'] or '-':>3}  {r['latency_ms'] or 0:>5} ms  "
                  f"{r['error'] or 'ok'}"
                  + (f"  next {r['next_retry_at']:%H:%M:%S}" if r["next_retry_at"] else ""))
        return
    for r in rows:
        last = (f"HTTP {r['status_code']}" if r["status_code"] else (r["error"] or "-"))
        print(f"{r['id']:>6}  sub {r['subscription_id']:<4} {r['status']:<9} "
              f"{r['event_type']:<26} {r['crn'] or '-':<14} attempts {r['attempts']:<3} "
              f"last {last}" + (f" {r['latency_ms']} ms" if r["latency_ms"] is not None else "")
              + (f"  next retry {r['next_retry_at']:%Y-%m-%d %H:%M:%S}"
                 if r["status"] == "pending" and r["next_retry_at"] else ""))


async def cmd_redeliver(args: argparse.Namespace, settings: Settings) -> None:
    if args.delivery is None and (args.subscription is None or args.since is None):
        raise UsageError("name a delivery id, or --subscription ID --since TIME [--until TIME]")
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        woken = await hooks.redeliver(pool, delivery_id=args.delivery,
                                      subscription_id=args.subscription, since=args.since,
                                      until=args.until)
    finally:
        await pool.close()
    if not woken:
        print("nothing to redeliver (unknown, or still pending)", file=sys.stderr)
        raise SystemExit(1)
    await _wake(settings, woken)
    print(f"queued again for subscription(s) {', '.join(map(str, woken))}")
