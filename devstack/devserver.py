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

# start-dev sets system.forceSearchAttributesCacheRefreshOnRead=true: the search attributes
# (and the cluster metadata and namespace with them) re-read from SQLite on every use, so
# that one registered at run time works at once. Ours are registered when it starts, so it
# is turned off: half the SQLite requests per complaint (127 against 254), and the p99
# lateness of 200 escalations due at once 3.1 s to 2.0 s (docs/performance.md). An
# attribute registered later takes the cache's refresh (seconds) to be usable.
DYNAMIC_CONFIG = ("system.forceSearchAttributesCacheRefreshOnRead=false",)

# A write-ahead log with normal sync: a crash of the server loses nothing, a power cut may
# lose its last transactions (a development server can afford that); about twice the
# workflows per second of the default rollback journal with a full fsync per commit.
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")


def search_attribute_flags() -> list[str]:
    """`--search-attribute Name=Type` for every complaint search attribute."""
    return [flag for key in sa.ALL
            for flag in ("--search-attribute", f"{key.name}={_TYPE_NAMES[key.indexed_value_type]}")]


def tuning_flags() -> list[str]:
    """The flags besides address, file and attributes: SQLite in WAL mode, the search
    attributes' cache kept."""
    return ([flag for pragma in SQLITE_PRAGMAS for flag in ("--sqlite-pragma", pragma)]
            + [flag for value in DYNAMIC_CONFIG for flag in ("--dynamic-config-value", value)])


def start_dev_flags() -> list[str]:
    """Everything start-dev needs from this project: the attributes, registered when it
    starts (they work from the first complaint on), and the tuning."""
    return search_attribute_flags() + tuning_flags()
