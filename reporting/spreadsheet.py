"""CSV for spreadsheets: the reports' figures, complaint lists (`complaints list --format
csv`, the console's downloads).

A cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage return) is a formula to
Excel, LibreOffice and Google Sheets: a customer who writes `=HYPERLINK(...)` in a subject
would have it run on the desk of whoever opens the list. Such a text cell is written with a
leading apostrophe (OWASP's advice), which spreadsheets show as text and do not evaluate.
Numbers are written as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def safe_cell(value: Any) -> Any:
    """The value as a CSV cell that no spreadsheet takes for a formula."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float | Decimal):  # bool too: True, False
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A header line and the rows, every cell through safe_cell."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([safe_cell(v) for v in row])
    return out.getvalue()
