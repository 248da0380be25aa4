"""The head of customer success's reports: the weekly, monthly and quarterly report in the
page (rendered on demand from PostgreSQL, as `complaints report` does), the HTML report
as it is emailed, and the policy what-if over an uploaded policy file (as `complaints
policy simulate` does)."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from reporting.rendering import ReportRenderer, build_report, metrics_csv
from reporting.spreadsheet import CSV_MEDIA_TYPE
from starter.console.approvals import only_for
from starter.console.auth import CheckedForm, SignedIn
from starter.console.base import PREFIX, ConsoleError, console, render
from starter.policy_review import describe_policy, format_simulation, policy_changes, what_if
from workflows.models import Role
from workflows.policy import PolicyError, load_policy
from workflows.report import ReportKind, parse_period

router = APIRouter(include_in_schema=False)
HEAD_OF_CS = frozenset({Role.head_of_cs})
MAX_POLICY_BYTES = 256 * 1024
# The emailed report carries its styles and charts inline and no script.
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
              "frame-ancestors 'none'; sandbox")


async def _built(request: Request, kind: str, period: str):
    c = console(request)
    try:
        chosen = parse_period(ReportKind(kind), period, c.policy.calendar.timezone)
    except ValueError as err:
        raise ConsoleError(422, f"That period cannot be reported: {err}") from None
    async with c.pool.acquire() as conn:
        metrics, rendered = await build_report(conn, chosen, c.policy,
                                               ReportRenderer(c.settings.templates_dir))
    return chosen, metrics, rendered


async def _report(request: Request, kind: str, period: str):
    chosen, _, rendered = await _built(request, kind, period)
    return chosen, rendered


def _page(request: Request, session, status: int = 200, **context) -> Response:
    defaults: dict[str, Any] = {"kind": "weekly", "period": "last", "report": None, "what_if": None,
                "what_if_error": None, "policy_lines": [], "changes": []}
    return render(request, "reports.html.j2", status=status, member=session.member,
                  csrf=session.csrf_token, kinds=[k.value for k in ReportKind],
                  **{**defaults, **context})


@router.get(f"{PREFIX}/reports")
async def reports(request: Request, session: SignedIn) -> Response:
    only_for(session.member, HEAD_OF_CS, "reports")
    kind = request.query_params.get("kind", "weekly")
    period = request.query_params.get("period", "last")[:40]
    if kind not in {k.value for k in ReportKind}:
        raise ConsoleError(422, "A report is weekly, monthly or quarterly.")
    _, rendered = await _report(request, kind, period)
    return _page(request, session, kind=kind, period=period, report=rendered)


@router.get(PREFIX + "/reports/{kind}.html")
async def report_html(request: Request, kind: str, session: SignedIn) -> Response:
    only_for(session.member, HEAD_OF_CS, "reports")
    if kind not in {k.value for k in ReportKind}:
        raise ConsoleError(404, "A report is weekly, monthly or quarterly.")
    _, rendered = await _report(request, kind, request.query_params.get("period", "last")[:40])
    response = HTMLResponse(rendered.html)
    response.headers["Content-Security-Policy"] = REPORT_CSP
    return response


@router.get(PREFIX + "/reports/{kind}.csv")
async def report_csv(request: Request, kind: str, session: SignedIn) -> Response:
    """The report's figures as `complaints report KIND --format csv` gives them."""
    only_for(session.member, HEAD_OF_CS, "reports")
    if kind not in {k.value for k in ReportKind}:
        raise ConsoleError(404, "A report is weekly, monthly or quarterly.")
    chosen, metrics, _ = await _built(request, kind,
                                      request.query_params.get("period", "last")[:40])
    return Response(metrics_csv(metrics), media_type=CSV_MEDIA_TYPE, headers={
        "Content-Disposition": f'attachment; filename="{kind}-{chosen.key}.csv"'})


@router.post(f"{PREFIX}/reports/what-if")
async def policy_what_if(request: Request, session: SignedIn, form: CheckedForm) -> Response:
    only_for(session.member, HEAD_OF_CS, "reports")
    upload = form.get("policy")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _page(request, session, 422, what_if_error="Choose a policy file (TOML) to try.")
    data = await upload.read(MAX_POLICY_BYTES + 1)
    if len(data) > MAX_POLICY_BYTES:
        return _page(request, session, 413, what_if_error="A policy file is a few kilobytes; "
                     f"this one is over {MAX_POLICY_BYTES // 1024} KiB.")
    c = console(request)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "policy.toml"
        path.write_bytes(data)
        try:
            proposed = load_policy(path)
        except PolicyError as err:
            return _page(request, session, 422, what_if_error=str(err).replace(
                str(path), upload.filename))
    async with c.pool.acquire() as conn:
        result = await what_if(conn, c.policy, proposed)
    sources = (c.settings.policy_path or "built-in default", upload.filename)
    table = (format_simulation(result, None, sources) if result is not None
             else "No complaints recorded: nothing to replay.")
    return _page(request, session, what_if=table, policy_lines=describe_policy(proposed),
                 changes=policy_changes(c.policy, proposed))
