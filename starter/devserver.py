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
}

# start-dev re-reads the namespace's search attributes from SQLite on every use, so that
# attributes added a moment ago work at once: three reads per upsert, on the one connection
# every other write waits for. The attributes are registered when the server starts
# (`--search-attribute`), so it can cache them as a Temporal cluster does.
CACHE_SEARCH_ATTRIBUTES = "system.forceSearchAttributesCacheRefreshOnRead=false"

# A write-ahead log with normal sync: a crash of the server loses nothing, a power cut may
# lose its last transactions (a development server can afford that); about twice the
# workflows per second of the default rollback journal with a full fsync per commit.
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")


def search_attribute_flags() -> list[str]:
    """`--search-attribute Name=Type` for every complaint search attribute."""
    return [flag for key in sa.ALL
            for flag in ("--search-attribute", f"{key.name}={_TYPE_NAMES[key.indexed_value_type]}")]


def tuning_flags(sqlite: bool = True) -> list[str]:
    """The flags besides address and file: attributes registered and cached, SQLite in WAL
    mode (`sqlite=False` for a server kept in memory)."""
    flags = ["--dynamic-config-value", CACHE_SEARCH_ATTRIBUTES]
    if sqlite:
        flags += [flag for pragma in SQLITE_PRAGMAS for flag in ("--sqlite-pragma", pragma)]
    return flags


def start_dev_flags() -> list[str]:
    """Everything start-dev needs from this project: the attributes and the tuning."""
    return search_attribute_flags() + tuning_flags()
