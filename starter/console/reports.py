"""The head of customer success's reports: the weekly, monthly and quarterly report in the
page (rendered on demand from PostgreSQL, as `complaints report` does), the HTML report
as it is emailed, and the policy what-if over an uploaded policy file (as `complaints
policy simulate` does)."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from reporting.rendering import ReportRenderer, build_report, metrics_csv
from reporting.spreadsheet import CSV_MEDIA_TYPE
from starter.console.approvals import only_for
from starter.console.auth import CheckedForm, SignedIn
from starter.console.base import PREFIX, ConsoleError, console, render
from starter.policy_apply import apply_policy
from starter.policy_review import describe_policy, format_simulation, policy_changes, what_if
from workflows.models import Role
from workflows.policy import PolicyError, SlaPolicy, policy_from_text
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
                "what_if_error": None, "policy_lines": [], "changes": [], "applied": None,
                "apply_error": None}
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


async def _uploaded(form: Any, verb: str) -> tuple[SlaPolicy, str] | tuple[int, str]:
    """The policy file a form uploaded, read and validated, with its file name; or the
    status and the message to answer with (no file, too large, not a valid policy)."""
    upload = form.get("policy")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return 422, f"Choose a policy file (TOML) to {verb}."
    data = await upload.read(MAX_POLICY_BYTES + 1)
    if len(data) > MAX_POLICY_BYTES:
        return 413, ("A policy file is a few kilobytes; this one is over "
                     f"{MAX_POLICY_BYTES // 1024} KiB.")
    try:
        return policy_from_text(data.decode("utf-8", errors="replace"),
                                upload.filename), upload.filename
    except PolicyError as err:
        return 422, str(err)


@router.post(f"{PREFIX}/reports/what-if")
async def policy_what_if(request: Request, session: SignedIn, form: CheckedForm) -> Response:
    only_for(session.member, HEAD_OF_CS, "reports")
    uploaded = await _uploaded(form, "try")
    if isinstance(uploaded[0], int):
        return _page(request, session, uploaded[0], what_if_error=uploaded[1])
    proposed, filename = uploaded
    c = console(request)
    async with c.pool.acquire() as conn:
        result = await what_if(conn, c.policy, proposed)
    sources = (c.settings.policy_path or "built-in default", filename)
    table = (format_simulation(result, None, sources) if result is not None
             else "No complaints recorded: nothing to replay.")
    return _page(request, session, what_if=table, policy_lines=describe_policy(proposed),
                 changes=policy_changes(c.policy, proposed))


@router.post(f"{PREFIX}/reports/policy-apply")
async def policy_apply(request: Request, session: SignedIn, form: CheckedForm) -> Response:
    """A new policy for the open complaints (starter/policy_apply.py): the dry run, or the
    real run, as `complaints policy apply` does."""
    only_for(session.member, HEAD_OF_CS, "reports")
    uploaded = await _uploaded(form, "apply")
    if isinstance(uploaded[0], int):
        return _page(request, session, uploaded[0], apply_error=uploaded[1])
    policy, _ = uploaded
    member = session.member
    only = str(form.get("only") or "").split()  # these CRNs only (try one first)
    result = await apply_policy(console(request).client, policy, member, member.id,
                                dry_run=form.get("mode") != "apply", crns=only or None)
    return _page(request, session, applied="\n".join(result.lines()))
