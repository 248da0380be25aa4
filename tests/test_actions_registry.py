"""One table of actions (workflows/actions.py), and the refusals by kind (refusals.py).

Every row is a handler of ComplaintWorkflow with that payload and every handler has a row;
who may act, the operations layer's table, the API's routes, the console's forms and the
CLI's subcommands each hold exactly the table's actions. A refusal reaches the client with
its kind (the workflow's validator on a real server), and each client answers by kind.
"""

from __future__ import annotations

import argparse

import pytest
from fastapi.routing import APIRoute
from temporalio import workflow

from starter import cli
from starter.api import actions as api_actions
from starter.api import refunds as api_refunds
from starter.api.errors import REFUSALS as API_REFUSALS
from starter.console import customer, forms
from starter.console.pages import REFUSED as CONSOLE_REFUSED
from starter.operations import (
    OWNER_OR_ROLE,
    UPDATES,
    ActionNotPermitted,
    ActionRefused,
    ComplaintNotFound,
    act,
    withdraw_and_wait,
)
from tests.conftest import ComplaintStack
from workflows import models as m
from workflows import permissions, refusals
from workflows.actions import ACTIONS, GENERIC, Handler, OwnerRule
from workflows.complaint import ComplaintWorkflow, rules
from workflows.models import Role
from workflows.records import StaffMember

DEFINITION = workflow._Definition.must_from_class(ComplaintWorkflow)


def test_every_row_is_a_handler_with_its_payload_and_every_handler_has_a_row():
    handlers = {name: (Handler.update, d.arg_types) for name, d in DEFINITION.updates.items()}
    handlers |= {name: (Handler.signal, d.arg_types) for name, d in DEFINITION.signals.items()}
    assert set(handlers) == set(ACTIONS)
    for name, action in ACTIONS.items():
        assert handlers[name] == (action.handler, [action.payload]), name


def test_every_update_has_a_validator_and_a_rule_of_its_name():
    """So a refused update never reaches history, and its checks are unit-testable."""
    for name, update in DEFINITION.updates.items():
        assert update.validator is not None, name
        assert callable(getattr(rules, str(name))), name


def _member(role: Role) -> StaffMember:
    return StaffMember(id=f"x-{role.value}", name="X", email="x@example.com", role=role)


def test_who_may_act_is_the_table_s():
    assert permissions.OWNER_ACTIONS == {n for n, a in ACTIONS.items() if a.owner == OwnerRule.only}
    assert set(permissions.ROLES_FOR) == set(ACTIONS) - permissions.OWNER_ACTIONS
    assert permissions.CUSTOMER_ACTIONS == {
        "record_customer_response", "confirm_resolution", "record_csat", "withdraw",
        "reopen"}
    for name, action in ACTIONS.items():
        for role in Role:
            member = _member(role)
            roster = {member.id: member}
            try:
                # Owned by someone else: only the roles of the row may act.
                permissions.check_actor(name, member.id, roster, owner="someone-else")
                accepted = True
            except refusals.NotPermitted:
                accepted = False
            assert accepted == (role in action.roles), (name, role)
        if action.owner == OwnerRule.only:  # the owner, whatever their role
            owner = _member(Role.agent)
            permissions.check_actor(name, owner.id, {owner.id: owner}, owner=owner.id)
        customer = permissions.customer_actor("cust-1")
        if action.customer:
            permissions.check_customer(name, customer, "cust-1")
        else:
            with pytest.raises(refusals.NotPermitted, match="a customer may not"):
                permissions.check_customer(name, customer, "cust-1")


def test_the_operations_api_console_and_cli_hold_exactly_the_table_s_actions():
    assert UPDATES == {n: a.payload for n, a in ACTIONS.items() if a.generic}
    assert OWNER_OR_ROLE == {n for n, a in ACTIONS.items() if a.owner == OwnerRule.or_roles}
    # The API: one route per generic action, with the row's help in its docs.
    prefix = "/complaints/{crn}/actions/"
    routes = {r.path.removeprefix(prefix): r for r in api_actions.router.routes
              if isinstance(r, APIRoute) and r.path.startswith(prefix)}
    assert set(routes) == set(GENERIC) == set(api_actions.ACTION_DOCS)
    for name, route in routes.items():
        assert route.description.startswith(GENERIC[name].help), name
    assert [r.path for r in api_refunds.router.routes if isinstance(r, APIRoute)] == [
        "/complaints/{crn}/refund-decision"]
    # The console: one form per generic action, titled and buttoned as its row says.
    assert {n: (f.title, f.button) for n, f in forms.FORMS.items()} == {
        n: a.form for n, a in GENERIC.items()}
    # The CLI: one subcommand per generic action, and `refund-decision`.
    assert cli.ACTIONS == {a.command: (n, a.payload) for n, a in GENERIC.items()}
    sub = next(a for a in cli.build_parser()._actions
               if isinstance(a, argparse._SubParsersAction))
    assert {*cli.ACTIONS, "refund-decision"} <= set(sub.choices)
    for command in cli.ACTIONS:
        flags = {o for a in sub.choices[command]._actions for o in a.option_strings}
        assert {"--actor", "--json"} <= flags, command


def test_today_s_labels_and_flags_are_kept():
    """Derived values that were written out before: the same as they read."""
    assert forms.FORMS["submit_internal_review"].button == "Submit the 3 Whys"
    assert forms.FORMS["withdraw"].intro.startswith("Only when the customer asks")
    assert forms.FORMS["submit_action_plan"].plan_rows == forms.PLAN_ROWS
    sub = next(a for a in cli.build_parser()._actions
               if isinstance(a, argparse._SubParsersAction))
    flags = {o for a in sub.choices["submit-internal-review"]._actions for o in a.option_strings}
    assert {"--root-cause", "--history-reviewed", "--no-history-reviewed"} <= flags
    flags = {o for a in sub.choices["submit-action-plan"]._actions for o in a.option_strings}
    assert "--step" in flags


def test_a_row_without_a_layout_gets_a_form_from_its_payload():
    class Note(m.Action):
        text: m.Text
        urgent: bool = False

    fields = forms._default_fields(Note)
    assert [(f.name, f.label, f.kind, f.required) for f in fields] == [
        ("text", "Text", "text", True), ("urgent", "Urgent", "checkbox", False)]


# --- refusals by kind ------------------------------------------------------------------------


def test_every_kind_is_named_once_and_each_client_answers_every_kind():
    kinds = list(refusals.KINDS.values())
    assert len(kinds) == len({k.__name__ for k in kinds}) >= 12
    assert refusals.by_name("NotFinanceManager") is refusals.NotFinanceManager
    assert refusals.by_name("ValueError") is refusals.Refused
    assert refusals.by_name(None) is refusals.Refused
    for kind in kinds:
        assert issubclass(kind, ValueError)
        status, _ = refusals.lookup(API_REFUSALS, kind)
        console_status, sentence = refusals.lookup(CONSOLE_REFUSED, kind)
        assert status == console_status, kind
        assert "Nothing was changed" in sentence
        assert isinstance(refusals.lookup(cli.REFUSAL_HINTS, kind), str)
        customer_status, told = refusals.lookup(customer.REFUSED, kind)
        assert customer_status in (409, 422) and told.format(reason="why").strip(), kind
        expected = (403 if issubclass(kind, refusals.NotPermitted) else
                    422 if issubclass(kind, refusals.InvalidValue) else 409)
        assert status == expected, kind
    assert refusals.lookup(cli.REFUSAL_HINTS, refusals.StillRegistering).startswith(
        "still being registered")
    assert refusals.lookup(cli.REFUSAL_HINTS, refusals.Refused) == ""  # the reason alone
    assert refusals.lookup(customer.REFUSED, refusals.ComplaintEnded)[1].endswith(
        "There is nothing more to answer.")


async def test_a_refused_action_reaches_the_client_with_its_kind_on_a_real_server(
        stack: ComplaintStack):
    ack = m.PersonalAcknowledgement(actor="ana", message="Dear Mia, I am sorry; I am on it. Ana")

    async def refused(update: str, payload: m.Action) -> ActionRefused:
        with pytest.raises(ActionRefused) as err:
            await act(stack.client, crn, update, payload)
        return err.value

    async with stack.worker():
        crn = (await stack.submit()).crn
        # Registered once the automatic acknowledgement is met.
        await stack.until(crn, lambda s: any(d.met_at for d in s.deadlines))
        by_specialist = await refused("acknowledge_personally",
                                      ack.model_copy(update={"actor": "sam"}))
        assert isinstance(by_specialist, ActionNotPermitted)
        assert by_specialist.kind is refusals.NotPermitted
        assert "is a specialist" in str(by_specialist)
        too_early = await refused("escalate", m.EscalationRequest(actor="nobody", reason="x"))
        assert too_early.kind is refusals.NotPermitted and "not on the roster" in str(too_early)
        await act(stack.client, crn, "acknowledge_personally", ack)
        again = await refused("acknowledge_personally", ack.model_copy(update={"actor": "ben"}))
        assert again.kind is refusals.AlreadyDone and "already acknowledged" in str(again)
        await stack.until(crn, lambda s: s.owner is not None)
        early = await refused("propose_solution",
                              m.SolutionProposal(actor="tom", message="A refund. Agreed?"))
        assert early.kind is refusals.WrongPhase and "resolution phase" in str(early)
        await withdraw_and_wait(stack.client, crn,
                                m.Withdrawal(actor="tom", reason="the customer asked"))
        ended = await refused("record_csat", m.CsatResponse(actor="ana", score=5))
        assert ended.kind is refusals.ComplaintEnded and "has ended" in str(ended)
        # Withdrawing again is only waited for: nothing left to refuse.
        await withdraw_and_wait(stack.client, crn,
                                m.Withdrawal(actor="tom", reason="the customer asked"))
        with pytest.raises(ComplaintNotFound):
            await act(stack.client, "CRN-AAAAAAAAAA", "record_csat",
                      m.CsatResponse(actor="ana", score=5))
