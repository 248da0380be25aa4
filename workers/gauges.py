"""The gauges the worker keeps current: open complaints by status and the email backlog,
read from PostgreSQL every few seconds. Every worker reports the same numbers (dashboards
take the max over workers, not the sum). PostgreSQL being away leaves the last values and
a warning; the loop goes on."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import asyncpg
from temporalio.common import MetricMeter

from database.gauges import email_backlog, open_complaints_by_status

log = logging.getLogger("complaints.gauges")

OPEN_COMPLAINTS = "complaints_open"
EMAIL_BACKLOG = "complaints_email_backlog"
EVERY = timedelta(seconds=15)


async def keep_gauges_current(pool: asyncpg.Pool, meter: MetricMeter,
                              every: timedelta = EVERY) -> None:
    """Until cancelled."""
    open_now = meter.create_gauge(OPEN_COMPLAINTS, "open complaints (not yet resolved), by status")
    backlog = meter.create_gauge(EMAIL_BACKLOG, "emails in the outbox not yet sent")
    failing = False
    while True:
        try:
            counts = await open_complaints_by_status(pool)
            unsent = await email_backlog(pool)
        except Exception as err:  # UNAVAILABLE mostly; whatever it is, the loop goes on
            if not failing:
                log.warning("gauges not updated (PostgreSQL unavailable?): %r", err)
            failing = True
        else:
            for status, n in counts.items():
                open_now.set(n, {"status": status})
            backlog.set(unsent)
            failing = False
        await asyncio.sleep(every.total_seconds())
