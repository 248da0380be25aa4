"""How this project runs the Temporal dev server (`temporal server start-dev` on one SQLite file).

`make dev`, the benchmark and the fault tests start it with the same flags, so what the
benchmark measures is what a developer runs. Measured in docs/performance.md.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeIndexedValueType

from workflows import search_attributes as sa

_TYPE_NAMES = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
}

# start-dev also sets system.forceSearchAttributesCacheRefreshOnRead=true: search attributes
# re-read from SQLite on every use. Turning it off halves the SQLite requests per complaint
# (123 against 225), but with WAL the throughput it buys is within run-to-run noise
# (docs/performance.md), so start-dev's own setting stays.

# A write-ahead log with normal sync: a crash of the server loses nothing, a power cut may
# lose its last transactions (a development server can afford that); about twice the
# workflows per second of the default rollback journal with a full fsync per commit.
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")


def search_attribute_flags() -> list[str]:
    """`--search-attribute Name=Type` for every complaint search attribute."""
    return [flag for key in sa.ALL
            for flag in ("--search-attribute", f"{key.name}={_TYPE_NAMES[key.indexed_value_type]}")]


def tuning_flags() -> list[str]:
    """The flags besides address, file and attributes: SQLite in WAL mode."""
    return [flag for pragma in SQLITE_PRAGMAS for flag in ("--sqlite-pragma", pragma)]


def start_dev_flags() -> list[str]:
    """Everything start-dev needs from this project: the attributes, registered when it
    starts (they work from the first complaint on), and the tuning."""
    return search_attribute_flags() + tuning_flags()
