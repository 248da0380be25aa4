"""`complaints rekey` on the real dev server with the product's worker: complaints started
under an old key are counted by key, asked (by an engineer) to continue as new, and then
hold nothing under the old key, so a worker without it runs and answers for them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError

from settings import Settings
from settings.codec import new_key_spec
from starter.cli.rekey import key_ids_in
from tests.cli_runner import Cli
from tests.conftest import ComplaintStack
from tests.encryption_stack import encrypted_client
from tests.rule_facts import complaint
from tests.scenarios import to_owner
from workflows import models as m
from workflows import records
from workflows.complaint import rules
from workflows.events import Event
from workflows.permissions import NotPermitted


async def test_rekey_moves_open_complaints_to_the_first_key_and_counts_each_key(
        local_stack: ComplaintStack, capsys: Any, monkeypatch: pytest.MonkeyPatch):
    stack = local_stack
    old, new = new_key_spec("k0"), new_key_spec("k1")
    await stack.rows("INSERT INTO staff (id, name, email, role) VALUES ('erin', 'Erin Novak', "
                     "'erin@example.com', 'engineer') RETURNING id")
    stack.own_client = encrypted_client(stack, old)
    async with stack.worker():
        before = [await to_owner(stack) for _ in range(2)]  # owned: in the resolution phases
    # Rotated: k1 first, k0 kept to decrypt. One complaint starts under k1.
    rotated = f"{new},{old}"
    stack.own_client = encrypted_client(stack, rotated)
    stack.settings = replace(stack.settings,
                             payload_keys=Settings.from_env(
                                 {"PAYLOAD_ENCRYPTION_KEYS": rotated}).payload_keys)
    monkeypatch.setenv("TEMPORAL_ADDRESS", stack.env.client.service_client.config.target_host)
    monkeypatch.setenv("PAYLOAD_ENCRYPTION_KEYS", rotated)
    cli = Cli(capsys)
    async with stack.worker():
        after = (await stack.submit()).crn
        await stack.until(after, lambda s: bool(s.timeline))
        only = [arg for crn in [*before, after] for arg in ("--only", crn)]

        code, out, err = await cli("rekey", "--dry-run", *only)
        assert code == 0, err
        assert out == ("3 open complaint(s); under each key:\n"
                       "  k1 (encrypts): 1 complaint(s)\n"
                       "  k0: 2 complaint(s)\n"
                       "2 complaint(s) would continue as new under k1 (dry run: nothing sent)\n")

        # A specialist may not; nothing is sent on their word. One still in triage waits.
        code, out, err = await cli("rekey", "--by", "sam", "--wait", "5", *only)
        assert code == 0, err
        assert "asked 0 complaint(s)" in out
        assert out.count("may not rekey a complaint; it needs one of: engineer, head_of_cs") == 2
        triage = (await stack.submit()).crn
        await stack.mail_for(triage, "acknowledgement")  # registered, no owner yet
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await stack.client.get_workflow_handle(triage).execute_update(
                "rekey", m.Rekey(actor="erin"))
        assert "still in triage (no owner yet)" in str(refused.value.cause)
        code, out, err = await cli("rekey", "--by", "erin", "--wait", "60", *only)
        assert code == 0, err
        assert "asked 2 complaint(s) to continue as new under k1" in out
        assert out.endswith("3 open complaint(s); still under each key:\n"
                            "  k1 (encrypts): 3 complaint(s)\n"), out
        for crn in before:
            history = await stack.env.client.get_workflow_handle(crn).fetch_history()
            assert set().union(*(key_ids_in(e) for e in history.events)) == {"k1"}

    # k0 retired: a worker and a client with k1 alone run and read every complaint.
    stack.own_client = encrypted_client(stack, new)
    stack.settings = replace(stack.settings, payload_keys=Settings.from_env(
        {"PAYLOAD_ENCRYPTION_KEYS": new}).payload_keys)
    async with stack.worker():
        for crn in before:
            state = await stack.status(crn)
            assert state.crn == crn and state.status != m.Status.resolved
            assert any(e.event == Event.continued for e in state.timeline)
            await stack.act(crn, "escalate", m.EscalationRequest(actor="tom", reason="check"))
        assert (await stack.status(after)).crn == after


def test_who_may_rekey_and_when():
    """An engineer or the head of customer success, from the owner's assignment until
    resolved (pure rules, as the validator checks them)."""
    erin = records.StaffMember(id="erin", name="Erin", email="erin@example.com", role=m.Role.engineer)

    def facts(**state: object) -> rules.ActionFacts:
        c = complaint(**state)
        return replace(c, roster={**c.roster, "erin": erin})

    for status in (m.Status.under_investigation, m.Status.awaiting_customer,
                   m.Status.awaiting_approval):
        for actor in ("erin", "helen"):
            rules.rekey(facts(status=status), m.Rekey(actor=actor))
    for actor in ("sam", "tom", "fiona", "nobody", "customer:cust-1"):
        with pytest.raises(NotPermitted, match="needs one of: engineer, head_of_cs"):
            rules.rekey(facts(), m.Rekey(actor=actor))
    with pytest.raises(ValueError, match="still in triage"):
        rules.rekey(facts(phase=m.Phase.triage, owner=None), m.Rekey(actor="erin"))
    for status in (m.Status.resolved, m.Status.closed, m.Status.archived):
        with pytest.raises(ValueError, match=f"is {status.value}: it is not continued as new"):
            rules.rekey(facts(status=status), m.Rekey(actor="erin"))
    with pytest.raises(ValueError, match="still being registered"):
        rules.rekey(replace(facts(), registered=False), m.Rekey(actor="erin"))
