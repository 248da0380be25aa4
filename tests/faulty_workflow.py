"""The product's complaint workflow with a fault injected where the personal
acknowledgement's breach is handled (tests/test_background_failures.py). In a module of its
own: the sandbox imports a workflow's module, and a test module imports too much for it."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.complaint import PERSONAL_ACK, ComplaintWorkflow
    from workflows.complaint.clocks import ClockEvent, SlaClock
    from workflows.messages import ComplaintStart
    from workflows.models import ComplaintReceipt


@workflow.defn(name="ComplaintWorkflow")
class BreachHandlerThatRaises(ComplaintWorkflow):
    @workflow.run
    async def run(self, start: ComplaintStart) -> ComplaintReceipt:
        return await super().run(start)

    def _clock_actions(self, name: str) -> tuple[ClockEvent, ClockEvent | None]:
        if name != PERSONAL_ACK:
            return super()._clock_actions(name)

        def broken(clock: SlaClock) -> None:
            raise RuntimeError(f"injected fault while handling the {clock.name} breach")

        return self._on_warning, broken
