"""`complaints migrate`, `seed` and `serve`: preparing the service, and running its HTTP API."""

from __future__ import annotations

import argparse
import os

from database.pool import connection, migrate
from database.seed import SeedError, load_seed, parse_seed
from settings import Settings, connect
from starter.cli.usage import UsageError, read_text
from starter.operations import register_search_attributes


def add_admin_commands(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("migrate", help="create/upgrade the schema, register search attributes"
                   ).set_defaults(func=cmd_migrate)
    p = sub.add_parser("seed", help="load roster, customers and orders from a JSON file")
    p.add_argument("file")
    p.set_defaults(func=cmd_seed)


def add_serve_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the HTTP API (OpenAPI docs at /docs)")
    p.add_argument("--host", default=os.environ.get("API_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("API_PORT", 8000)))
    p.set_defaults(func=cmd_serve)


async def cmd_migrate(args: argparse.Namespace, settings: Settings) -> None:
    async with connection(settings.database_url) as conn:
        applied = await migrate(conn)
    print(f"database: {'applied ' + ', '.join(applied) if applied else 'up to date'}")
    client = await connect(settings)
    added = await register_search_attributes(client, settings.namespace)
    print(f"search attributes: {'added ' + ', '.join(added) if added else 'all registered'}")


async def cmd_seed(args: argparse.Namespace, settings: Settings) -> None:
    try:
        seed = parse_seed(read_text(args.file))
        async with connection(settings.database_url) as conn:
            counts = await load_seed(conn, seed)
    except SeedError as err:
        raise UsageError(f"{args.file}: {err}; nothing was loaded") from None
    print("loaded " + ", ".join(f"{n} {what}" for what, n in counts.items()))


async def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    # FastAPI and uvicorn take a quarter of a second to import: only `serve` loads them.
    from starter.api import serve

    await serve(settings, host=args.host, port=args.port)
