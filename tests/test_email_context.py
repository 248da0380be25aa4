"""Email requests carry only the context their template reads (their bytes stay in the
complaint's history), so the table that says which templates show the case file must
match what the templates use."""

from __future__ import annotations

from pathlib import Path

import jinja2
from jinja2 import meta

from workflows.complaint import presentation as ui

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def _variables(env: jinja2.Environment, name: str) -> set[str]:
    source = (TEMPLATES / "email" / f"{name}.txt.j2").read_text()
    return meta.find_undeclared_variables(env.parse(source))


def test_every_template_that_reads_the_case_file_is_sent_it():
    env = jinja2.Environment(autoescape=False,  # nosec B701 # parsed, never rendered
                             extensions=["jinja2.ext.i18n"])  # the customer's messages
    env.filters["money"] = str  # the customer's amounts (activities/email.py)
    names = sorted(p.name.removesuffix(".txt.j2") for p in (TEMPLATES / "email").glob("*.txt.j2"))
    assert len(names) >= 15
    reads_case_file = {n for n in names if _variables(env, n) & ui.CASE_FILE}
    assert reads_case_file == set(ui.CASE_FILE_TEMPLATES), (
        "CASE_FILE_TEMPLATES in workflows/complaint/presentation.py must name exactly the "
        f"templates that read {sorted(ui.CASE_FILE)}")


def test_the_case_file_is_left_out_of_other_templates_context():
    context = {"crn": "CRN-1", "subject": "S", "customer_name": "N", "severity": 2,
               "status": "new", "customer_id": "c-1", "message": "hello"}
    assert ui.for_template("survey", context) == {"crn": "CRN-1", "subject": "S",
                                                  "customer_name": "N", "message": "hello"}
    assert ui.for_template("escalation", context) == context
