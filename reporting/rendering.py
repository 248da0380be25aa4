"""The periodic report as an email: the figures (reporting/figures.py) rendered with jinja2
into a subject, a plain-text part and an HTML part with inline SVG charts. The report
activities (activities/reports.py) send it; `complaints report` and the console show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import jinja2

from reporting.charts import complaints_per_day, horizontal_bars
from reporting.figures import ReportMetrics, compute_metrics, format_days
from reporting.spreadsheet import csv_text
from workflows.policy import SlaPolicy
from workflows.report import ReportPeriod

DEADLINE_LABELS = {
    "automatic_acknowledgement": "Automatic acknowledgement",
    "personal_acknowledgement": "Personal acknowledgement",
    "phone_contact": "Phone contact with the owner",
    "customer_update": "Customer update",
    "resolution": "Resolution target",
    "refund_approval": "Refund decision (Finance)",
    "escalation_level_1": "Team lead to act on an escalation",
    "escalation_level_2": "Head of CS to act on an escalation",
    "customer_agreement": "Customer's answer to a proposal",
    "customer_sign_off": "Customer's sign-off (then resolved unconfirmed)",
    "final_response": "Final response after deadlock",
    "regulatory_final_response": "Final response within the regulator's limit",
}


@dataclass(frozen=True)
class RenderedReport:
    subject: str
    text: str
    html: str


def _label(name: str) -> str:
    return DEADLINE_LABELS.get(name) or name.replace("_", " ").capitalize()


OUTCOME_LABELS = {
    "confirmed": "Resolved, confirmed by the customer",
    "unconfirmed": "Resolved, not confirmed",
    "upheld": "Final response: upheld",
    "partly_upheld": "Final response: partly upheld",
    "not_upheld": "Final response: not upheld",
}


def _outcome(name: str) -> str:
    return OUTCOME_LABELS.get(name, name.replace("_", " "))


def _percent(value: float | None) -> str:
    return "no data" if value is None else f"{value * 100:.1f}%"


class ReportRenderer:
    """`templates/report/report.txt.j2` (a `Subject:` line, a blank line, the text part) and
    `templates/report/report.html.j2` (the HTML part, autoescaped, charts inline)."""

    def __init__(self, templates_dir: Path) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates_dir)),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",),
                                                default_for_string=False),
            keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
        )
        self.env.filters.update(label=_label, percent=_percent, days=format_days,
                                outcome=_outcome)

    def render(self, m: ReportMetrics) -> RenderedReport:
        context = {"m": m, "p": m.period, "charts": self.charts(m)}
        text = self.env.get_template("report/report.txt.j2").render(**context)
        head, _, body = text.partition("\n\n")
        if not head.startswith("Subject:"):
            raise ValueError("template report/report.txt.j2 must start with a 'Subject:' line")
        html = self.env.get_template("report/report.html.j2").render(**context)
        return RenderedReport(head.removeprefix("Subject:").strip(), body.strip() + "\n", html)

    @staticmethod
    def charts(m: ReportMetrics) -> dict[str, str]:
        resolution = [(f"Severity {r.severity} (target {r.target})", r.average_days,
                       r.target_days) for r in m.resolution_by_severity]
        resolution.append(("All severities (SOP: < 5 days)", m.average_resolution_days, 5.0))
        categories = [(c.name.replace("_", " ").capitalize(), float(c.count), None)
                      for c in m.breaches_by_category]
        return {
            "per_day": complaints_per_day([(d.day, d.count) for d in m.per_day]),
            "resolution": horizontal_bars(
                resolution, "Average resolution time against target (business days)", " d",
                label_width=230),
            "breaches": horizontal_bars(categories, "SLA breaches by category", counts=True),
        }


async def build_report(conn: asyncpg.Connection, period: ReportPeriod, policy: SlaPolicy,
                       renderer: ReportRenderer) -> tuple[ReportMetrics, RenderedReport]:
    """The report on `period` as the database knows it now (the CLI renders this on demand)."""
    metrics = await compute_metrics(conn, period, policy)
    return metrics, renderer.render(metrics)


def metrics_csv(m: ReportMetrics) -> str:
    """The report's figures as CSV (section, name, value): one row each, for a spreadsheet
    or a regulator's return."""
    rows: list[list[Any]] = []
    rows.append(["period", m.period.kind.value, m.period.key])
    for name in ("received", "resolved", "open_at_end", "withdrawn", "dismissed", "recurrent",
                 "first_contact_resolutions", "average_resolution_days",
                 "median_resolution_days", "csat_responses", "csat_average",
                 "acknowledged_within_hour", "breaches", "escalations"):
        rows.append(["volume", name, getattr(m, name)])
    for section, counts in (("resolved_by_outcome", m.resolved_by_outcome),
                            ("dismissed_by_reason", m.dismissed_by_reason),
                            ("breaches_by_deadline", m.breaches_by_deadline),
                            ("breaches_by_category", m.breaches_by_category),
                            ("escalations_by_level", m.escalations_by_level),
                            ("received_by_category", m.by_category),
                            ("received_by_severity", m.by_severity),
                            ("received_by_channel", m.by_channel)):
        for c in counts:
            rows.append([section, c.name, c.count])
    for r in m.refunds:
        rows.append(["refunds_credited", r.currency, r.total])
    for t in m.targets:
        rows.append(["target", t.metric, "met" if t.met else "no data" if t.met is None
                    else "missed"])
    if m.regulator is not None:
        g = m.regulator
        if g.summary_period is not None:
            rows.append(["regulator", f"resolved within {g.summary_period}", g.within_summary])
        rows.append(["regulator", f"resolved within {g.limit}", g.within_limit])
        rows.append(["regulator", f"resolved after {g.limit}", g.after_limit])
        for row in g.by_category:
            for outcome in ("upheld", "partly_upheld", "not_upheld"):
                rows.append(["regulator", f"{row.category} {outcome}", getattr(row, outcome)])
            rows.append(["regulator", f"{row.category} resolved", row.closed])
    return csv_text(["section", "name", "value"], rows)
