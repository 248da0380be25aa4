"""The periodic report as an email: the figures (reporting/figures.py) rendered with jinja2
into a subject, a plain-text part and an HTML part with inline SVG charts. The report
activities (activities/reports.py) send it; `complaints report` and the console show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import asyncpg
import jinja2

from reporting.charts import complaints_per_day, horizontal_bars
from reporting.figures import ReportMetrics, compute_metrics, format_days
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
        self.env.filters.update(label=_label, percent=_percent, days=format_days)

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
