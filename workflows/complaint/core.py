"""What every part of the complaint workflow stands on: its state, the resolution log,
the deadlines it starts, its background tasks, its activities and the single writer.

- `_log` appends a timeline event (typed fields where they apply); `_changed` runs after
  every state change: search attributes, the UI details, and a wake-up for the writer
  that persists the row and the resolution log.
- `_start_deadline` makes an `SlaClock` for a deadline and watches it in the background;
  what a warning or a breach does depends on the deadline's kind (`_clock_actions`).
- `_spawn` starts a background task (a deadline's watcher, an email, a notice). A task
  that raises fails the workflow task, so Temporal retries it and the engineer sees it in
  the UI; nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows import search_attributes as sa
    from workflows.activity_types import EmailActivities, StoreActivities
    from workflows.complaint import metrics
    from workflows.complaint import presentation as ui
    from workflows.complaint.clocks import ClockEvent, SlaClock
    from workflows.events import PERSONAL_ACK, Event, Outcome
    from workflows.messages import (
        ClearText,
        ComplaintProgress,
        ComplaintRecord,
        ComplaintStart,
        EmailReceipt,
        EmailRequest,
        UpdateClockState,
    )
    from workflows.models import (
        ComplaintContext,
        ComplaintIntake,
        ComplaintOutcome,
        ComplaintReceipt,
        ComplaintState,
        Deadline,
        PersonalAcknowledgement,
        Role,
        StaffMember,
        TimelineEvent,
    )
    from workflows.policy import SlaPolicy

# Activities retry until they succeed: a database or SMTP outage delays a write or an
# email, it never loses one. Backoff caps at a minute. What may not be retried (a broken
# template) the activity says itself, with a non-retryable error, which keeps a list of
# error names out of every activity's history event.
RETRY_FOREVER = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
ACTIVITY_TIMEOUT = timedelta(seconds=30)
SYSTEM = "system"  # the actor of what the workflow does by itself
# Patches (workflow.patched) for what the email channel added to running complaints.
ASK_FOR_SIGN_OFF = "ask-customer-for-sign-off"
REPLY_NOTIFIES_OWNER = "customer-reply-notifies-owner"
# A workflow task's search-attribute changes in one upsert (before it: one per change).
ONE_UPSERT_PER_TASK = "one-search-attribute-upsert-per-task"

A = TypeVar("A")
R = TypeVar("R")


class BackgroundTaskFailed(RuntimeError):
    """A background task of the complaint raised. Not a Temporal failure type, so it fails
    the workflow task (retried, visible in the UI) instead of the complaint."""


class ComplaintCore:
    def __init__(self, start: ComplaintStart) -> None:
        intake: ComplaintIntake = start.intake
        self.intake = intake
        carried = start.carried
        self.state: ComplaintState = carried.state if carried else ComplaintState(
            crn=workflow.info().workflow_id,
            source=intake.source,
            external_ref=intake.external_ref,
            customer_id=intake.customer.id,
            subject=intake.subject,
            received_at=intake.received_at or workflow.now(),
            category=intake.category,
            impact=intake.impact,
        )
        self.policy: SlaPolicy | None = (
            SlaPolicy.model_validate(carried.policy) if carried else None)
        self.context = carried.context if carried else ComplaintContext()
        self.roster: dict[str, StaffMember] = {m.id: m for m in self.context.roster}
        self.registered = carried is not None
        self.automatic_ack_body: str | None = carried.automatic_ack_body if carried else None
        self.personal_ack: PersonalAcknowledgement | None = (
            carried.personal_ack if carried else None)
        self.update_clock_state = carried.update_clock if carried else UpdateClockState()
        # Escalation level -> whether its person has acted (False: their clock is running).
        self.supervisor_acted: dict[int, bool] = dict(carried.supervisor_acted) if carried else {}
        # What this complaint already credited to the order.
        self.refunded_total = carried.refunded_total if carried else Decimal(0)
        self.runs = carried.runs if carried else 1
        self.reassignments = carried.reassignments if carried else 0
        self._persisted_seq = carried.persisted_seq if carried else 0
        self._indexed: dict[str, Any] = dict(carried.indexed) if carried else {}
        self._clocks: dict[str, SlaClock] = {}
        self._dirty = False
        self._row_written: dict[str, Any] = {}  # the row as this run last wrote it
        self._index_pending = False  # search attributes to upsert at the end of the task
        self._archive_requested = False  # withdrawn once closed: archived at once
        self._indexer: asyncio.Task[None] | None = None
        self._writing = False
        self._finished = False
        self._writer: asyncio.Task[Any] | None = None  # the progress writer, once started
        self._background: list[asyncio.Task[Any]] = []
        self._watchers: set[asyncio.Task[Any]] = set()
        self._failure: BackgroundTaskFailed | None = None

    @property
    def withdrawn(self) -> bool:
        """Withdrawn at the customer's request (withdrawal.py): it is over."""
        return self.state.outcome == ComplaintOutcome.withdrawn

    @property
    def archive_requested(self) -> bool:
        """Withdrawn once closed (withdrawal.py): archived now, no survey reminder."""
        return self._archive_requested

    # --- background tasks -----------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, Any], what: str, *, track: bool = True,
               watcher: bool = False) -> asyncio.Task[Any]:
        """Run `work` in the background; if it raises, the workflow task fails. `track`:
        the run waits for it before it completes; `watcher`: it waits on a clock (long-lived,
        rebuilt after continue-as-new) rather than doing a piece of work."""
        task = asyncio.create_task(work)

        def done(t: asyncio.Task[Any]) -> None:
            if t.cancelled() or self._failure is not None:
                return
            err = t.exception()
            if err is not None:
                failure = BackgroundTaskFailed(f"{self.state.crn}: {what} failed: {err!r}")
                failure.__cause__ = err
                self._failure = failure

        task.add_done_callback(done)
        if track:
            self._background.append(task)
        if watcher:
            self._watchers.add(task)
        return task

    def _raise_background_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    # --- the resolution log and the state ----------------------------------------------

    def _log(self, event: Event, actor: str, detail: str = "", **typed: Any) -> None:
        """Append to the timeline; `typed` are TimelineEvent's typed fields (deadline,
        level, reason, outcome, amount, currency) where they apply to the event."""
        seq = self.state.timeline[-1].seq + 1 if self.state.timeline else 1
        self.state.timeline.append(TimelineEvent(seq=seq, at=workflow.now(), event=event,
                                                 actor=actor, detail=detail, **typed))

    def _changed(self) -> None:
        """After every state change: search attributes, UI details, and a database write."""
        s = self.state
        s.waiting_for = ui.waiting_for(s, self.roster)
        if workflow.patched(ONE_UPSERT_PER_TASK):
            # What every handler and the procedure changed in this workflow task goes out in
            # one upsert, made once they have all had their turn (an upsert is a history
            # event and a visibility write each).
            if self._indexer is None:
                self._indexer = self._spawn(self._index_when_changed(), "the search attributes",
                                            track=False)
            self._index_pending = True
        else:
            self._index(merge=False)
        workflow.set_current_details(ui.ui_details(s))
        self._dirty = True

    async def _index_when_changed(self) -> None:
        while True:
            await workflow.wait_condition(lambda: self._index_pending)
            self._index(merge=True)

    def _flush_index(self) -> None:
        """Before the run ends or continues as new: what is still to upsert."""
        if self._index_pending:
            self._index(merge=True)

    def _index(self, merge: bool) -> None:
        """Upsert the search attributes that changed; `merge`: in one upsert (else the
        attributes and NextDeadlineAt apart, as histories before ONE_UPSERT_PER_TASK did)."""
        self._index_pending = False
        s = self.state
        indexed = {
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
            indexed = {k: v for k, v in indexed.items() if self._indexed.get(k.name) != v}
        updates: list[SearchAttributeUpdate[Any]] = [k.value_set(v) for k, v in indexed.items()]
        self._indexed.update({k.name: v for k, v in indexed.items()})
        if updates and not merge:
            workflow.upsert_search_attributes(updates)
            updates = []
        if workflow.patched("next-deadline-search-attribute"):
            updates += self._next_deadline_update()
        if updates:
            workflow.upsert_search_attributes(updates)

    def _receipt(self) -> ComplaintReceipt:
        return ui.receipt(self.state,
                          paused_update_clock=self.update_clock_state.paused_with is not None)

    def _next_deadline_update(self) -> list[SearchAttributeUpdate[Any]]:
        """NextDeadlineAt: the open deadline due first (the customer-update clock not while it
        is paused for the customer), when it changed. Kept as ISO text in `_indexed`, which
        continue-as-new carries as JSON."""
        paused = self.update_clock_state.paused_with is not None
        due = ui.next_deadline(self.state, paused_update_clock=paused)
        value = due.due_at.isoformat() if due else None
        if self._indexed.get(sa.NEXT_DEADLINE_AT.name) == value:
            return []
        self._indexed[sa.NEXT_DEADLINE_AT.name] = value
        return [sa.NEXT_DEADLINE_AT.value_set(due.due_at) if due
                else sa.NEXT_DEADLINE_AT.value_unset()]

    # --- deadlines ---------------------------------------------------------------------

    def _start_deadline(self, name: str, due_at: datetime, *, warn_at: datetime | None = None,
                        watch: bool = True) -> SlaClock:
        what = ui.what_is_due(name, self.state.severity)
        d = Deadline(name=name, due_at=due_at, summary=ui.sla_summary(what, due_at),
                     warn_at=warn_at)
        self.state.deadlines.append(d)
        clock = self._clock(d)
        if watch:
            self._spawn(clock.run(), f"the {name} deadline", watcher=True)
        return clock

    def _clock(self, d: Deadline) -> SlaClock:
        on_warning, on_breach = self._clock_actions(d.name)
        clock = SlaClock(d, ui.what_is_due(d.name, self.state.severity),
                         on_warning=self._warned(on_warning), on_breach=self._breached(on_breach))
        self._clocks[d.name] = clock
        return clock

    def _clock_actions(self, name: str) -> tuple[ClockEvent, ClockEvent | None]:
        """What a warning and a breach of this kind of deadline do (None: the SLA default).
        The escalation chain and the money path add their kinds."""
        return self._on_warning, None

    def _log_clock(self, event: Event, clock: SlaClock, due: str, outcome: Outcome) -> None:
        d = clock.deadline
        self._log(event, SYSTEM, f"{d.name}: {clock.what} {due} {ui.clock(d.due_at)}",
                  deadline=d.name, outcome=outcome)

    def _warned(self, action: ClockEvent) -> ClockEvent:
        def warned(clock: SlaClock) -> None:
            if self.withdrawn:  # its timer fell in the same task as the withdrawal
                return
            self._log_clock(Event.deadline_warning, clock, "due", Outcome.warned)
            action(clock)
            self._changed()
        return warned

    def _breached(self, action: ClockEvent | None) -> ClockEvent:
        def breached(clock: SlaClock) -> None:
            if self.withdrawn:  # its timer fell in the same task as the withdrawal
                return
            d = clock.deadline
            self._log_clock(Event.deadline_breached, clock, "was due", Outcome.breached)
            metrics.deadline_breached(d.name, d.due_at)
            workflow.logger.info("deadline breached: %s was due %s", d.name, ui.clock(d.due_at))
            if action is not None:
                action(clock)
            else:
                self.state.sla_breached = True
                self._escalate(max(1, self.state.escalation_level),
                               f"SLA breached: {clock.what}", SYSTEM)
            self._changed()
        return breached

    def _on_warning(self, clock: SlaClock) -> None:
        """The default warning at 75%: the owner (or, before ownership, a team lead) is told."""
        d = clock.deadline
        recipient = self.roster.get(self.state.owner or "") or self._staff_for(Role.team_lead)
        if recipient is not None:
            self._email(f"warning:{d.name}", [recipient.email], "deadline_warning", {
                **self._mail_context(), "recipient_name": recipient.name, "what": clock.what,
                "due": self._local(d.due_at)})

    def _escalate(self, level: int, reason: str, actor: str) -> None:
        raise NotImplementedError  # the escalation chain (escalation.py)

    def _ask_for_sign_off(self) -> None:
        raise NotImplementedError  # the procedure asks (procedure.py)

    def _mark_met(self, name: str, actor: str, how: str) -> None:
        clock = self._clocks.get(name)
        if clock is None or not clock.meet(workflow.now()):
            return
        late = clock.deadline.breached
        self._log(Event.deadline_met, actor, f"{name}: {how}" + (" (after its breach)" if late else ""),
                  deadline=name, outcome=Outcome.met_late if late else Outcome.met)
        if not late:
            metrics.deadline_met(name)
        self._changed()

    def _supersede(self, d: Deadline, why: str) -> None:
        clock = self._clocks.get(d.name)
        if clock is not None and clock.supersede():
            self._log(Event.deadline_closed, SYSTEM, f"{d.name}: {why}", deadline=d.name,
                      outcome=Outcome.superseded)

    # --- the writer -----------------------------------------------------------------------

    async def _write_progress(self) -> None:
        """The single writer of the complaint's row and resolution log: one write at a time,
        always the latest state, never blocking a decision while PostgreSQL is away."""
        while True:
            await workflow.wait_condition(lambda: self._dirty or self._finished)
            if not self._dirty:
                return
            self._dirty, self._writing = False, True
            new_events = [e for e in self.state.timeline if e.seq > self._persisted_seq]
            row = self._row()
            changed = {k: v for k, v in row.items()
                       if k not in self._row_written or self._row_written[k] != v}
            await self._call(
                StoreActivities.save_progress,
                ComplaintProgress(record=ComplaintRecord(crn=self.state.crn, **changed),
                                  events=new_events),
                f"Save progress ({len(new_events)} new event"
                f"{'' if len(new_events) == 1 else 's'})")
            self._writing, self._row_written = False, row
            if new_events:
                self._persisted_seq = new_events[-1].seq

    async def _finish(self, writer: asyncio.Task[None]) -> None:
        """Let every email go out and the last write land before the workflow completes."""
        await workflow.wait_condition(lambda: all(t.done() for t in self._background))
        self._finished = True
        await writer
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._flush_index()

    def _row(self) -> dict[str, Any]:
        """The complaint's row (ComplaintRecord's fields); a run's first write sends it all."""
        s = self.state
        ack = s.deadline(PERSONAL_ACK)
        return dict(
            source=s.source, external_ref=s.external_ref, customer_id=s.customer_id,
            customer_name=self._customer_name(), customer_email=self._customer_email(),
            subject=s.subject, description=self.intake.description, category=s.category,
            impact=s.impact, order_id=self.intake.order_id, severity=s.severity,
            severity_score=s.severity_score, status=s.status, phase=s.phase, owner=s.owner,
            handling_agent=s.handling_agent, escalation_level=s.escalation_level,
            retention_risk=s.retention_risk, sla_breached=s.sla_breached,
            recurrent_of=s.recurrent_of, policy_name=s.policy_name, received_at=s.received_at,
            acknowledged_at=ack.met_at if ack else None, resolved_at=s.resolved_at,
            closed_at=s.closed_at, archived_at=s.archived_at, csat_score=s.csat_score,
            outcome=s.outcome.value if s.outcome else None,
        )

    # --- activities and email -------------------------------------------------------------

    async def _call(self, activity: Callable[[Any, A], Awaitable[R]], arg: A, summary: str,
                    *, personal: bool = False) -> R:
        """One activity, by reference (its name and result type from its signature). Its
        summary is left unencrypted (ClearText) unless it is `personal`."""
        return await workflow.execute_activity_method(
            activity, arg, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY_FOREVER,
            summary=summary if personal else ClearText(summary))

    def _email(self, kind: str, to: list[str], template: str, context: dict[str, Any],
               then: Callable[[EmailReceipt], Awaitable[None]] | None = None,
               with_body: bool = False) -> None:
        """Queue an email in the background: SMTP being down never holds up a decision.
        A withdrawn complaint writes to nobody again (what was queued before still goes)."""
        if self.withdrawn or self.archive_requested:
            return
        request = EmailRequest(crn=self.state.crn, kind=kind, to=to, template=template,
                               context=ui.for_template(template, context), with_body=with_body)

        async def send() -> None:
            try:
                receipt = await self._call(
                    EmailActivities.send_email, request,
                    f"Email {kind} to {ui.recipients(to, self.roster, self._customer_email())}")
            except ActivityError as err:  # only a broken template gets here: it never retries
                self._log(Event.email_failed, SYSTEM, f"{kind}: {err.cause or err}",
                          reason=str(err.cause or err))
                self._changed()
                return
            held = " (held back: the hourly cap on automatic mail to this address)" \
                if receipt.status == "suppressed" else ""
            self._log(Event.email_sent, SYSTEM, f"{kind} to {', '.join(to)}{held}")
            self._changed()
            if then is not None:
                await then(receipt)

        self._spawn(send(), f"the {kind} email")

    # --- small helpers ----------------------------------------------------------------------

    def _mail_context(self) -> dict[str, Any]:
        return ui.mail_context(self.state, self._customer_name())

    def _staff_for(self, role: Role) -> StaffMember | None:
        people = sorted((m for m in self.roster.values() if m.role == role),
                        key=lambda m: (not m.available, m.id))
        return people[0] if people else None

    def _staff_emails(self, role: Role) -> list[str]:
        return [m.email for m in self.roster.values() if m.role == role]

    def _name(self, staff_id: str | None) -> str:
        return ui.name_of(self.roster, staff_id)

    def _customer_email(self) -> str | None:
        if self.intake.customer.email:
            return str(self.intake.customer.email)
        profile = self.context.profile
        return str(profile.email) if profile and profile.email else None

    def _customer_name(self) -> str:
        profile = self.context.profile
        return self.intake.customer.name or (profile.name if profile else None) or "customer"

    def _local(self, instant: datetime | None) -> str:
        return ui.local(instant, self.policy.calendar if self.policy else None)

