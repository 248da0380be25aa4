"""The product's complaint workflow with a fault injected where the personal
acknowledgement's breach is handled (tests/test_background_failures.py). In a module of its
own: the sandbox imports a workflow's module, and a test module imports too much for it."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.complaint import PERSONAL_ACK, ComplaintWorkflow
    from workflows.complaint.clocks import SlaClock
    from workflows.messages import ComplaintStart
    from workflows.models import ComplaintReceipt


@workflow.defn(name="ComplaintWorkflow")
class BreachHandlerThatRaises(ComplaintWorkflow):
    @workflow.init
    def __init__(self, start: ComplaintStart) -> None:
        super().__init__(start)

        def broken(clock: SlaClock) -> None:
            raise RuntimeError(f"injected fault while handling the {clock.name} breach")

        self.deadlines.on(PERSONAL_ACK, breach=broken)

    @workflow.run
    async def run(self, start: ComplaintStart) -> ComplaintReceipt:
        return await super().run(start)
