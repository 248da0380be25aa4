"""The case: everything one complaint's run owns, in one object.

Its fields are `CarriedComplaint`'s (workflows/messages.py), so continue-as-new carries the
case whole and a field added there needs no copying code. Beside them it holds the intake
(the workflow's input, never copied into the carried state) and the roster as a lookup.
Every part of the workflow is given the case; it is the one place the run's state lives.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import PrivateAttr
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.complaint import presentation as ui
    from workflows.events import Event
    from workflows.messages import CarriedComplaint, ComplaintStart
    from workflows.models import (
        ComplaintIntake,
        ComplaintOutcome,
        ComplaintState,
        Role,
        TimelineEvent,
    )
    from workflows.policy import SlaPolicy, format_duration
    from workflows.records import ComplaintContext, StaffMember

SYSTEM = "system"  # the actor of what the workflow does by itself
# The timeline events the next run carries: the resolution log in PostgreSQL has them all,
# and a carried timeline that grew with the complaint's age would grow each run's input.
CARRIED_TIMELINE = 200


class Case(CarriedComplaint):
    _intake: ComplaintIntake = PrivateAttr()
    _roster: dict[str, StaffMember] = PrivateAttr(default_factory=dict)

    @classmethod
    def begin(cls, start: ComplaintStart) -> Case:
        """A new complaint from its intake, or the state a previous run carried over."""
        intake = start.intake
        if start.carried is not None:
            case = cls(**dict(start.carried))
        else:
            case = cls(
                state=ComplaintState(
                    crn=workflow.info().workflow_id, source=intake.source,
                    external_ref=intake.external_ref, customer_id=intake.customer.id,
                    subject=intake.subject, received_at=intake.received_at or workflow.now(),
                    category=intake.category, impact=intake.impact, language=intake.language),
                registered=False)
        case._intake = intake
        case._roster = {m.id: m for m in case.context.roster}
        return case

    def carry_over(self) -> ComplaintStart:
        """The next run's input: the whole case, with the recent end of the timeline."""
        s = self.state
        recent = [e for i, e in enumerate(s.timeline)
                  if i >= len(s.timeline) - CARRIED_TIMELINE or e.seq > self.persisted_seq]
        carried = self.model_copy(update={"state": s.model_copy(update={"timeline": recent}),
                                          "runs": self.runs + 1})
        return ComplaintStart(intake=self.intake, carried=carried)

    @property
    def intake(self) -> ComplaintIntake:
        return self._intake

    @property
    def policy_now(self) -> SlaPolicy:
        """The policy snapshot, once registration has taken it."""
        assert self.policy is not None, "the policy is snapshotted at registration"
        return self.policy

    # --- the resolution log ------------------------------------------------------------

    def log(self, event: Event, actor: str, detail: str = "", **typed: Any) -> None:
        """Append to the timeline; `typed` are TimelineEvent's typed fields (deadline,
        level, reason, outcome, amount, currency) where they apply to the event."""
        s = self.state
        seq = s.timeline[-1].seq + 1 if s.timeline else 1
        s.timeline.append(TimelineEvent(seq=seq, at=workflow.now(), event=event, actor=actor,
                                        detail=detail, **typed))

    # --- how it has ended ----------------------------------------------------------------

    @property
    def withdrawn(self) -> bool:
        """Withdrawn at the customer's request (withdrawal.py): it is over."""
        return self.state.outcome == ComplaintOutcome.withdrawn

    @property
    def ended_early(self) -> bool:
        """Withdrawn or dismissed: closed without a resolution, its run ends now."""
        outcome = self.state.outcome
        return outcome is not None and outcome.ends_early

    # --- who is who ------------------------------------------------------------------------

    @property
    def roster(self) -> dict[str, StaffMember]:
        return self._roster

    def learn_context(self, context: ComplaintContext) -> None:
        """What registration read: the customer, the order, the roster."""
        self.context = context
        self._roster = {m.id: m for m in context.roster}
        if self.state.language is None and context.profile is not None:
            self.state.language = context.profile.language

    def staff_for(self, role: Role) -> StaffMember | None:
        people = sorted((m for m in self._roster.values() if m.role == role),
                        key=lambda m: (not m.available, m.id))
        return people[0] if people else None

    def staff_emails(self, role: Role) -> list[str]:
        return [m.email for m in self._roster.values() if m.role == role]

    def name(self, staff_id: str | None) -> str:
        return ui.name_of(self._roster, staff_id)

    def customer_email(self) -> str | None:
        if self.intake.customer.email:
            return str(self.intake.customer.email)
        profile = self.context.profile
        return str(profile.email) if profile and profile.email else None

    def customer_name(self) -> str:
        profile = self.context.profile
        return self.intake.customer.name or (profile.name if profile else None) or "customer"

    # --- how it reads in an email -----------------------------------------------------------

    def mail_context(self) -> dict[str, Any]:
        return ui.mail_context(self.state, self.customer_name())

    def local(self, instant: datetime | None) -> str:
        return ui.local(instant, self.policy.calendar if self.policy else None)

    @property
    def localised(self) -> bool:
        """Whether the customer's emails are written in a language other than English: their
        requests then carry the instants and durations as values too, which the email
        activity writes as that language does (docs/languages.md)."""
        language = self.state.language
        return language is not None and language.split("-")[0].lower() != "en"

    def when(self, key: str, instant: datetime | None) -> dict[str, Any]:
        """An instant for an email's context: `key` as the team's clock reads it and, for a
        customer written to in another language, the instant itself and the time zone."""
        words: dict[str, Any] = {key: self.local(instant)}
        if self.localised and instant is not None:
            words[f"{key}_at"] = instant
            words["time_zone"] = self.policy.calendar.timezone if self.policy else "UTC"
        return words

    def duration(self, key: str, value: timedelta) -> dict[str, Any]:
        """A policy's duration for an email's context, as when() gives an instant."""
        words: dict[str, Any] = {key: format_duration(value)}
        if self.localised:
            words[f"{key}_seconds"] = int(value.total_seconds())
        return words
