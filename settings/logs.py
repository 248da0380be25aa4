"""Logging for the worker and the API: every line from workflow or activity code carries
the complaint's CRN; `LOG_FORMAT=json` writes one JSON object per line for log shippers.

The SDK's workflow and activity loggers (`workflow.logger`, `activity.logger`) put the
workflow's details on each record (`temporal_workflow` / `temporal_activity`); `CrnFilter`
lifts the workflow id of a complaint out of them as `crn`. JSON comes from python-json-logger:
it serialises every extra a record carries (the SDK's details too) and the traceback, which a
formatter of our own would have to redo.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import IO

from pythonjsonlogger.json import JsonFormatter
from temporalio import activity

COMPLAINT_WORKFLOW = "ComplaintWorkflow"
# A customer link's path (/c/<question>/<token>): the token is the customer's key to their
# complaint, so it never reaches a log; the question stays, which says what was asked.
CUSTOMER_LINK = re.compile(r"(/c/[A-Za-z_]+)/[^\s\"'?#]+")
REDACTED = "[redacted]"
TEXT = "%(asctime)s %(levelname)s %(name)s%(crn_tag)s: %(message)s"


def crn_of(record: logging.LogRecord) -> str | None:
    """The CRN of the complaint whose workflow or activity wrote this record, if any."""
    for key in ("temporal_workflow", "temporal_activity"):
        details = getattr(record, key, None)
        if isinstance(details, dict) and details.get("workflow_type") == COMPLAINT_WORKFLOW:
            return details.get("workflow_id")
    if activity.in_activity():  # a plain logging.getLogger() inside an activity
        info = activity.info()
        if info.workflow_type == COMPLAINT_WORKFLOW:
            return info.workflow_id
    return None


class CrnFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        crn = crn_of(record)
        # Attributes a formatter's `%(crn)s` and `%(crn_tag)s` read.
        setattr(record, "crn", crn)  # noqa: B010
        setattr(record, "crn_tag", f" [{crn}]" if crn else "")  # noqa: B010
        return True


def redact_links(text: str) -> str:
    return CUSTOMER_LINK.sub(rf"\1/{REDACTED}", text)


class RedactLinks(logging.Filter):
    """Takes customer link tokens out of a record's message and arguments (uvicorn's access
    log passes the path as an argument) before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "/c/" in record.msg:
            record.msg = redact_links(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_links(a) if isinstance(a, str) and "/c/" in a else a
                                for a in record.args)
        return True


ACCESS_LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact_access_logs() -> None:
    """On uvicorn's own loggers, so that every handler (and a test's capture) sees the
    records already redacted; idempotent."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactLinks) for f in logger.filters):
            logger.addFilter(RedactLinks())


class _Json(JsonFormatter):
    def add_fields(self, log_record, record, message_dict) -> None:  # noqa: ANN001
        super().add_fields(log_record, record, message_dict)
        log_record.pop("crn_tag", None)  # the text format's; JSON has `crn`


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return _Json("%(asctime)s %(levelname)s %(name)s %(message)s %(crn)s",
                     rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})
    return logging.Formatter(TEXT)


def configure_logging(log_format: str = "text", level: int = logging.INFO,
                      stream: IO[str] | None = None) -> logging.Handler:
    """The process's root handler (replacing any): `text` or `json`, with the CRN filter."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(CrnFilter())
    handler.addFilter(RedactLinks())  # any other logger that names a customer link
    redact_access_logs()
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
