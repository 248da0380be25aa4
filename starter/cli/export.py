"""`complaints export customer CUSTOMER_ID [--out FILE] [--by WHO]`: everything the product
holds about one customer, as one zip archive (customer.json plus their attachments), on
their request; the export is recorded (database/export.py says what it holds)."""

from __future__ import annotations

import argparse
import getpass
import re
from pathlib import Path

from database.erasure import UnknownCustomer
from database.export import export_customer, write_archive
from database.pool import connection
from settings import Settings
from starter.cli.usage import UsageError

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_archive_name(customer_id: str) -> str:
    return f"customer-{_SAFE.sub('_', customer_id)[:80]}.zip"


def add_export_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="a customer's data on their request, as one zip archive")
    kinds = p.add_subparsers(dest="export_kind", required=True)
    c = kinds.add_parser("customer", help="everything held about one customer")
    c.add_argument("customer_id")
    c.add_argument("--out", metavar="FILE",
                   help="the archive to write (default: customer-<id>.zip here); an existing "
                        "file is refused")
    c.add_argument("--by", default=None,
                   help="who is exporting, for the record (default: the OS user)")
    c.set_defaults(func=cmd_export_customer)


async def cmd_export_customer(args: argparse.Namespace, settings: Settings) -> None:
    out = Path(args.out or default_archive_name(args.customer_id))
    if out.exists():
        raise UsageError(f"{out} exists already; nothing was exported (name another --out)")
    if not out.parent.is_dir():
        raise UsageError(f"{out.parent} is not a directory; nothing was exported")
    exported_by = args.by or getpass.getuser()
    notes = settings.policy().data_requests.notes_disclosable
    async with connection(settings.database_url) as conn:
        try:
            export = await export_customer(conn, args.customer_id, exported_by, notes)
        except UnknownCustomer as err:
            raise UsageError(f"{err}; nothing was exported") from None
    write_archive(export, out)
    rows = ", ".join(f"{n} {table}" for table, n in export.items.items() if n)
    print(f"exported {args.customer_id} to {out} (export {export.id}, by {exported_by}, "
          f"sha256 {export.sha256}): {len(export.complaints)} complaint(s); {rows}")
