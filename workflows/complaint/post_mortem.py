"""CRR-001 phase 4, after the customer's sign-off: the satisfaction survey (with one
reminder), the root cause analysis, the knowledge base article it may ask for, and the
close once both are in.
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.complaint import presentation as ui
    from workflows.complaint.case import SYSTEM, Case
    from workflows.complaint.clocks import wait_until
    from workflows.complaint.effects import Effects
    from workflows.complaint.escalation import Escalation
    from workflows.events import KB_ARTICLE, Event
    from workflows.models import (
        CsatResponse,
        KbArticleDone,
        KbArticleStatus,
        Phase,
        Role,
        RootCauseAnalysis,
        Status,
    )

excerpt = ui.excerpt


class PostMortem:
    def __init__(self, case: Case, effects: Effects, escalation: Escalation) -> None:
        self.case = case
        self.effects = effects
        self.escalation = escalation
        # Set by the workflow's wiring: the KB article's deadline starts and is met
        # (handoffs.py).
        self.on_kb_task: Callable[[str], None] = lambda kind: None
        self.on_kb_article: Callable[[str, str, str], None] = lambda kind, actor, how: None

    async def run(self) -> None:
        """The survey goes out; the complaint closes once the RCA (and KB article) are in."""
        case = self.case
        s = case.state
        self.effects.spawn(self._survey(), "the satisfaction survey")
        await workflow.wait_condition(
            lambda: s.rca_submitted and s.kb_article != KbArticleStatus.open)
        s.phase, s.status, s.closed_at = Phase.closed, Status.closed, workflow.now()
        case.log(Event.closed, SYSTEM, "RCA done" + (
            ", KB article written" if s.kb_article == KbArticleStatus.done else ""))
        self.effects.changed()

    async def _survey(self) -> None:
        case = self.case
        to = case.customer_email()
        if to is None:
            return
        context = {**case.mail_context(), "reminder": False}
        self.effects.email(ui.this_round("survey", case.state), [to], "survey", context)
        remind_at = workflow.now() + case.policy_now.lifecycle.survey_reminder_after
        reopens = case.state.reopens
        # A withdrawal ends the wait: no reminder for a complaint the customer withdrew (nor
        # for one reopened: its next resolution sends the survey again).
        if not await wait_until(lambda: case.state.csat_score is not None or case.ended_early
                                or case.archive_requested or case.state.reopens != reopens,
                                remind_at, "Survey reminder"):
            self.effects.email(ui.this_round("survey_reminder", case.state), [to], "survey",
                               {**context, "reminder": True})

    def submit_rca(self, rca: RootCauseAnalysis) -> None:
        case = self.case
        s = case.state
        self.escalation.acted(rca.actor)
        s.rca_submitted = True
        case.log(Event.rca, rca.actor,
                 f"{excerpt(rca.root_cause, 150)}; {len(rca.corrective_actions)} corrective "
                 f"action(s); KB article {'needed' if rca.kb_article_needed else 'not needed'}")
        context = {**case.mail_context(), "owner_name": case.name(s.owner),
                   **rca.model_dump(mode="json", exclude={"actor"})}
        heads = case.staff_emails(Role.head_of_cs)
        if heads:
            self.effects.email(ui.this_round("rca", s), heads, "rca", context)
        if rca.kb_article_needed:
            s.kb_article = KbArticleStatus.open
            owner = case.roster.get(s.owner or "")
            to = ([owner.email] if owner else []) + case.staff_emails(Role.qa)
            case.log(Event.kb_task_opened, SYSTEM, "knowledge base article or training to write")
            if to:
                self.effects.email(ui.this_round("kb_task", s), to, "kb_task", context)
            self.on_kb_task(KB_ARTICLE)
        self.effects.changed()

    def record_kb_article(self, done: KbArticleDone) -> None:
        self.escalation.acted(done.actor)
        self.case.state.kb_article = KbArticleStatus.done
        self.on_kb_article(KB_ARTICLE, done.actor, f"written: {done.reference}")
        self.case.log(Event.kb_article_done, done.actor, done.reference)
        self.effects.changed()

    def record_csat(self, csat: CsatResponse) -> None:
        self.escalation.acted(csat.actor)
        self.case.state.csat_score = csat.score
        self.case.log(Event.csat, csat.actor,
                      f"{csat.score}/5" + (f": {excerpt(csat.comment)}" if csat.comment else ""),
                      outcome=str(csat.score))
        self.effects.changed()
