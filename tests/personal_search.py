"""Where a piece of personal data still is: a search of every text-like and bytea column of
the schema (information_schema), shared by the erasure and data-request tests."""

from __future__ import annotations

import asyncpg

TEXTLIKE = ("text", "character varying", "character", "jsonb", "json", "ARRAY")


async def where_it_appears(conn: asyncpg.Connection, needle: str) -> list[str]:
    """Every table.column of the public schema holding `needle` (case-insensitive)."""
    columns = await conn.fetch(
        """SELECT table_name, column_name, data_type FROM information_schema.columns
           WHERE table_schema = 'public' AND (data_type = ANY($1) OR data_type = 'bytea')""",
        list(TEXTLIKE))
    assert len(columns) > 40  # the whole schema, not a few columns
    found = []
    for c in columns:
        column = f'"{c["table_name"]}"."{c["column_name"]}"'
        if c["data_type"] == "bytea":
            test = f"position(convert_to($1, 'UTF8') in {column}) > 0"
        else:
            test = f"{column}::text ILIKE '%' || $1 || '%'"
        sql = f'SELECT count(*) FROM "{c["table_name"]}" WHERE {test}'  # nosec B608 # names from information_schema
        if await conn.fetchval(sql, needle):
            found.append(column)
    return found
