"""The complaint's effects on the world, which every other part is given: background tasks,
activities, emails, the search attributes and the single writer of its row.

- `changed()` runs after every state change: the search attributes, the UI details, and a
  wake-up for the writer that persists the row and the resolution log.
- `spawn()` starts a background task (a deadline's watcher, an email, a notice). A task that
  raises fails the workflow task, so Temporal retries it and the engineer sees it in the UI;
  nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows import search_attributes as sa
    from workflows.activity_types import EmailActivities, StoreActivities
    from workflows.complaint import presentation as ui
    from workflows.complaint.case import SYSTEM, Case
    from workflows.events import PERSONAL_ACK, Event
    from workflows.messages import (
        ClearText,
        ComplaintProgress,
        ComplaintRecord,
        EmailReceipt,
        EmailRequest,
    )
    from workflows.models import ComplaintReceipt

# Activities retry until they succeed: a database or SMTP outage delays a write or an
# email, it never loses one. Backoff caps at a minute. What may not be retried (a broken
# template) the activity says itself, with a non-retryable error, which keeps a list of
# error names out of every activity's history event.
RETRY_FOREVER = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
ACTIVITY_TIMEOUT = timedelta(seconds=30)
# A workflow task's search-attribute changes in one upsert (before it: one per change).
ONE_UPSERT_PER_TASK = "one-search-attribute-upsert-per-task"
OWNER_TOLD_OF_FAILED_EMAIL = "owner-told-of-a-failed-email"

A = TypeVar("A")
R = TypeVar("R")


class BackgroundTaskFailed(RuntimeError):
    """A background task of the complaint raised. Not a Temporal failure type, so it fails
    the workflow task (retried, visible in the UI) instead of the complaint."""


class Effects:
    def __init__(self, case: Case) -> None:
        self.case = case
        self.failure: BackgroundTaskFailed | None = None
        self._background: list[asyncio.Task[Any]] = []
        self._watchers: set[asyncio.Task[Any]] = set()
        self._indexer: asyncio.Task[None] | None = None
        self._index_pending = False  # search attributes to upsert at the end of the task
        self.dirty = False  # state changed since the writer last wrote
        self._writing = False
        self._finished = False
        self._row_written: dict[str, Any] = {}  # the row as this run last wrote it
        self.writer: asyncio.Task[Any] | None = None  # the progress writer, once started

    # --- background tasks -----------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, Any], what: str, *, track: bool = True,
              watcher: bool = False) -> asyncio.Task[Any]:
        """Run `work` in the background; if it raises, the workflow task fails. `track`:
        the run waits for it before it completes; `watcher`: it waits on a clock (long-lived,
        rebuilt after continue-as-new) rather than doing a piece of work."""
        task = asyncio.create_task(work)

        def done(t: asyncio.Task[Any]) -> None:
            if t.cancelled() or self.failure is not None:
                return
            err = t.exception()
            if err is not None:
                failure = BackgroundTaskFailed(f"{self.case.state.crn}: {what} failed: {err!r}")
                failure.__cause__ = err
                self.failure = failure

        task.add_done_callback(done)
        if track:
            self._background.append(task)
        if watcher:
            self._watchers.add(task)
        return task

    def raise_background_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    def quiet(self) -> bool:
        """Between tasks: no handler running, no email or write in flight."""
        return (workflow.all_handlers_finished() and not self.dirty and not self._writing
                and not self._index_pending
                and all(t.done() for t in self._background if t not in self._watchers))

    # --- after every change ------------------------------------------------------------

    def changed(self) -> None:
        """After every state change: search attributes, UI details, and a database write."""
        s = self.case.state
        s.waiting_for = ui.waiting_for(s, self.case.roster)
        if workflow.patched(ONE_UPSERT_PER_TASK):
            # What every handler and the procedure changed in this workflow task goes out in
            # one upsert, made once they have all had their turn (an upsert is a history
            # event and a visibility write each).
            if self._indexer is None:
                self._indexer = self.spawn(self._index_when_changed(), "the search attributes",
                                           track=False)
            self._index_pending = True
        else:
            self._index(merge=False)
        workflow.set_current_details(ui.ui_details(s))
        self.dirty = True

    async def _index_when_changed(self) -> None:
        while True:
            await workflow.wait_condition(lambda: self._index_pending)
            self._index(merge=True)

    def flush_index(self) -> None:
        """Before the run ends or continues as new: what is still to upsert."""
        if self._index_pending:
            self._index(merge=True)

    def _index(self, merge: bool) -> None:
        """Upsert the search attributes that changed; `merge`: in one upsert (else the
        attributes and NextDeadlineAt apart, as histories before ONE_UPSERT_PER_TASK did)."""
        self._index_pending = False
        s, known = self.case.state, self.case.indexed
        indexed: dict[Any, Any] = {
            sa.COMPLAINT_STATUS: s.status.value,
            sa.COMPLAINT_PHASE: s.phase.value,
            sa.COMPLAINT_CATEGORY: s.category.value if s.category else "uncategorised",
            sa.COMPLAINT_OWNER: s.owner or "unassigned",
            sa.CUSTOMER_ID: s.customer_id,
            sa.COMPLAINT_SEVERITY: s.severity,
            sa.ESCALATION_LEVEL: s.escalation_level,
            sa.RETENTION_RISK: s.retention_risk,
            sa.SLA_BREACHED: s.sla_breached,
        }
        if workflow.patched("upsert-only-changed-search-attributes"):
            # An upsert is a history event, a visibility task and a write; most state changes
            # leave every attribute as it was (17 of 28 in a complaint's life).
            indexed = {k: v for k, v in indexed.items() if known.get(k.name) != v}
        updates: list[SearchAttributeUpdate[Any]] = [k.value_set(v) for k, v in indexed.items()]
        known.update({k.name: v for k, v in indexed.items()})
        if updates and not merge:
            workflow.upsert_search_attributes(updates)
            updates = []
        if workflow.patched("next-deadline-search-attribute"):
            updates += self._next_deadline_update()
        if updates:
            workflow.upsert_search_attributes(updates)

    def _next_deadline_update(self) -> list[SearchAttributeUpdate[Any]]:
        """NextDeadlineAt: the open deadline due first (the customer-update clock not while it
        is paused for the customer), when it changed. Kept as ISO text in `indexed`, which
        continue-as-new carries as JSON."""
        due = ui.next_deadline(self.case.state, paused_update_clock=self.update_clock_paused)
        value = due.due_at.isoformat() if due else None
        if self.case.indexed.get(sa.NEXT_DEADLINE_AT.name) == value:
            return []
        self.case.indexed[sa.NEXT_DEADLINE_AT.name] = value
        return [sa.NEXT_DEADLINE_AT.value_set(due.due_at) if due
                else sa.NEXT_DEADLINE_AT.value_unset()]

    @property
    def update_clock_paused(self) -> bool:
        return self.case.update_clock.paused_with is not None

    def receipt(self) -> ComplaintReceipt:
        """What an update answers: status, phase, next deadline and last event."""
        return ui.receipt(self.case.state, paused_update_clock=self.update_clock_paused)

    # --- the writer -----------------------------------------------------------------------

    def start_writer(self) -> asyncio.Task[Any]:
        self.writer = self.spawn(self._write_progress(), "the progress writer", track=False)
        return self.writer

    async def _write_progress(self) -> None:
        """The single writer of the complaint's row and resolution log: one write at a time,
        always the latest state, never blocking a decision while PostgreSQL is away."""
        case = self.case
        while True:
            await workflow.wait_condition(lambda: self.dirty or self._finished)
            if not self.dirty:
                return
            self.dirty, self._writing = False, True
            new_events = [e for e in case.state.timeline if e.seq > case.persisted_seq]
            row = self._row()
            changed = {k: v for k, v in row.items()
                       if k not in self._row_written or self._row_written[k] != v}
            await self.call(
                StoreActivities.save_progress,
                ComplaintProgress(record=ComplaintRecord(crn=case.state.crn, **changed),
                                  events=new_events),
                f"Save progress ({len(new_events)} new event"
                f"{'' if len(new_events) == 1 else 's'})")
            self._writing, self._row_written = False, row
            if new_events:
                case.persisted_seq = new_events[-1].seq

    async def finish(self) -> None:
        """Let every email go out and the last write land before the workflow completes."""
        assert self.writer is not None
        await workflow.wait_condition(lambda: all(t.done() for t in self._background))
        self._finished = True
        await self.writer
        await workflow.wait_condition(workflow.all_handlers_finished)
        self.flush_index()

    def _row(self) -> dict[str, Any]:
        """The complaint's row (ComplaintRecord's fields); a run's first write sends it all."""
        case = self.case
        s = case.state
        ack = s.deadline(PERSONAL_ACK)
        # What the queue sorts and filters on (the desk reads the row, not visibility).
        due = ui.next_deadline(s, paused_update_clock=self.update_clock_paused)
        owner = case.roster.get(s.owner or "")
        return dict(
            source=s.source, external_ref=s.external_ref, customer_id=s.customer_id,
            customer_name=case.customer_name(), customer_email=case.customer_email(),
            subject=s.subject, description=case.intake.description, category=s.category,
            impact=s.impact, order_id=case.intake.order_id, severity=s.severity,
            severity_score=s.severity_score, status=s.status, phase=s.phase, owner=s.owner,
            handling_agent=s.handling_agent, escalation_level=s.escalation_level,
            retention_risk=s.retention_risk, sla_breached=s.sla_breached,
            recurrent_of=s.recurrent_of, policy_name=s.policy_name, received_at=s.received_at,
            acknowledged_at=ack.met_at if ack else None, resolved_at=s.resolved_at,
            closed_at=s.closed_at, archived_at=s.archived_at, csat_score=s.csat_score,
            outcome=s.outcome.value if s.outcome else None, duplicate_of=s.duplicate_of,
            policy_version=s.policy_version, adopted_policy_version=s.adopted_policy_version,
            next_deadline_at=due.due_at if due else None, next_deadline=due.name if due else None,
            team=owner.team if owner else None,
            # Waiting on the customer's information: since when.
            paused_since=s.paused.since if s.paused else None,
        )

    # --- activities and email -------------------------------------------------------------

    async def call(self, activity: Callable[[Any, A], Awaitable[R]], arg: A, summary: str,
                   *, personal: bool = False) -> R:
        """One activity, by reference (its name and result type from its signature). Its
        summary is left unencrypted (ClearText) unless it is `personal`."""
        return await workflow.execute_activity_method(
            activity, arg, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY_FOREVER,
            summary=summary if personal else ClearText(summary))

    def email(self, kind: str, to: list[str], template: str, context: dict[str, Any],
              then: Callable[[EmailReceipt], Awaitable[None]] | None = None,
              with_body: bool = False) -> None:
        """Queue an email in the background: SMTP being down never holds up a decision.
        A withdrawn or dismissed complaint writes to nobody again (what was queued before
        still goes)."""
        case = self.case
        if case.ended_early or case.archive_requested:
            return
        request = EmailRequest(crn=case.state.crn, kind=kind, to=to, template=template,
                               context=ui.for_template(template, context), with_body=with_body,
                               language=case.state.language)

        async def send() -> None:
            try:
                receipt = await self.call(
                    EmailActivities.send_email, request,
                    f"Email {kind} to {ui.recipients(to, case.roster, case.customer_email())}")
            except ActivityError as err:  # a broken template or header: it never retries
                case.log(Event.email_failed, SYSTEM, f"{kind}: {err.cause or err}",
                         reason=str(err.cause or err))
                self.changed()
                self._tell_owner_it_failed(kind, to)
                return
            held = {"suppressed": " (held back: the hourly cap on automatic mail to this "
                                  "address)",
                    "coalesced": " (in the recipient's digest at the end of the window: "
                                 "they were told of enough complaints already)",
                    }.get(receipt.status, "")
            case.log(Event.email_sent, SYSTEM, f"{kind} to {', '.join(to)}{held}")
            self.changed()
            if then is not None:
                await then(receipt)

        self.spawn(send(), f"the {kind} email")

    def _tell_owner_it_failed(self, kind: str, to: list[str]) -> None:
        """An email that can never go out (its template or a header is broken): the owner
        hears of it, once, unless it was their own notice that failed."""
        case = self.case
        owner = case.roster.get(case.state.owner or "")
        if (owner is None or owner.email in to or kind.startswith("email_failed")
                or not workflow.patched(OWNER_TOLD_OF_FAILED_EMAIL)):
            return
        self.email(f"email_failed:{kind}", [owner.email], "email_failed", {
            **case.mail_context(), "owner_name": owner.name, "kind": kind.partition(":")[0],
            "to": ui.recipients(to, case.roster, case.customer_email())})
