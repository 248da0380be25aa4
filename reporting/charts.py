"""Inline SVG charts for the report email: no scripts, fonts or images to fetch, so a mail
client (or a browser opening the saved file) draws them as they are.

Each function returns the markup of one <svg> (safe to put into the jinja template).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from html import escape

from markupsafe import Markup

INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
BLUE = "#2563eb"
GREEN = "#16a34a"
RED = "#dc2626"
FONT = "font-family:Helvetica,Arial,sans-serif"


def _nice_max(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2, 5 x 10^n)."""
    if value <= 0:
        return 1
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        top = step * 10**exponent
        if top >= value:
            return top
    return 10 ** (exponent + 1)


def _count_max(value: float) -> int:
    """An axis maximum for counts: a multiple of 4, so the 4 gridlines fall on whole numbers."""
    return max(4, 4 * math.ceil(value / 4))


def _number(value: float) -> str:
    if float(value).is_integer():
        return f"{value:.0f}"
    if abs(value) < 0.01:
        return "<0.01"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    return Markup(  # nosec B704 # every interpolated value is escaped or a number
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'style="{FONT};font-size:11px;max-width:100%;height:auto">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>")


def complaints_per_day(days: list[tuple[date, int]], width: int = 640, height: int = 220
                       ) -> Markup:
    """Vertical bars, one per local day of the period."""
    left, right, top, bottom = 36, 8, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _count_max(max((n for _, n in days), default=0))
    body: list[str] = []
    for i in range(5):  # gridlines and the axis' numbers
        value = peak * i / 4
        y = top + plot_h - plot_h * i / 4
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                    f'stroke="{GRID}"/>')
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">'
                    f"{_number(value)}</text>")
    slot = plot_w / max(len(days), 1)
    bar = max(slot * 0.7, 1)
    every = 1 if len(days) <= 14 else 7 if len(days) <= 62 else 14
    for i, (day, count) in enumerate(days):
        x = left + i * slot + (slot - bar) / 2
        h = plot_h * count / peak
        y = top + plot_h - h
        body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                    f'fill="{BLUE}"><title>{day:%a %d %b}: {count}</title></rect>')
        if count and len(days) <= 31:
            body.append(f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                        f'fill="{INK}">{count}</text>')
        if i % every == 0:
            label = f"{day:%a %d}" if len(days) <= 14 else f"{day:%d %b}"
            body.append(f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 16}" '
                        f'text-anchor="middle" fill="{MUTED}">{label}</text>')
    body.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" '
                f'y2="{top + plot_h}" stroke="{MUTED}"/>')
    return _svg(width, height, "Complaints received per day", body)


def horizontal_bars(rows: Sequence[tuple[str, float | None, float | None]], title: str,
                    unit: str = "", width: int = 640, label_width: int = 190,
                    counts: bool = False) -> Markup:
    """One bar per row (label, value, target). A target draws a dark tick; a bar past its
    target is red, within it green; rows without a target are blue. None draws no bar.
    `counts`: whole numbers on the axis."""
    row_h, top, bottom, right = 26, 8, 24, 60
    height = top + bottom + row_h * len(rows)
    plot_w = width - label_width - right
    largest = max([v for _, v, _ in rows if v] + [t for _, _, t in rows if t] + [0])
    scale = _count_max(largest) if counts else _nice_max(largest)
    body: list[str] = []
    for i in range(5):
        x = label_width + plot_w * i / 4
        body.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" '
                    f'stroke="{GRID}"/>')
        body.append(f'<text x="{x:.1f}" y="{height - bottom + 15}" text-anchor="middle" '
                    f'fill="{MUTED}">{_number(scale * i / 4)}{escape(unit)}</text>')
    for i, (label, value, target) in enumerate(rows):
        y = top + i * row_h
        tick = None if target is None else label_width + plot_w * target / scale
        body.append(f'<text x="{label_width - 8}" y="{y + row_h / 2 + 4:.1f}" text-anchor="end" '
                    f'fill="{INK}">{escape(label)}</text>')
        if value is not None:
            colour = BLUE if target is None else RED if value > target else GREEN
            w = plot_w * value / scale
            body.append(f'<rect x="{label_width}" y="{y + 5}" width="{w:.1f}" '
                        f'height="{row_h - 10}" fill="{colour}"><title>{escape(label)}: '
                        f"{_number(value)}{escape(unit)}</title></rect>")
            # The number goes after the bar, or after a target tick just beyond it.
            x = label_width + w + 4
            if tick is not None and tick + 2 >= x - 4 and tick - x < 40:
                x = tick + 6
            body.append(f'<text x="{x:.1f}" y="{y + row_h / 2 + 4:.1f}" '
                        f'fill="{INK}">{_number(value)}{escape(unit)}</text>')
        else:
            body.append(f'<text x="{label_width + 4}" y="{y + row_h / 2 + 4:.1f}" '
                        f'fill="{MUTED}">none</text>')
        if tick is not None and target is not None:
            body.append(f'<line x1="{tick:.1f}" y1="{y + 2}" x2="{tick:.1f}" y2="{y + row_h - 2}" '
                        f'stroke="{INK}" stroke-width="3"><title>target {_number(target)}'
                        f"{escape(unit)}</title></line>")
    return _svg(width, height, title, body)
