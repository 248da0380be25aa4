"""Bad input, generated (hypothesis): every invalid intake, action payload, seed file and
policy file gets a clear error naming what is wrong, and starts or changes nothing.

Each generated case takes a valid document and breaks exactly one thing in it: a required
field missing, an unknown field added, or one field given a value of the wrong kind (blank,
too long, wrong type, not in the vocabulary, out of range, a naive timestamp...). The error
must name that field, the way a person reads it (`customer.email: ...`).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import enum
import functools
import io
import json
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from temporalio.client import WorkflowUpdateFailedError

from database.seed import SeedError, load_seed, parse_seed
from starter import cli
from starter.intake import IntakeError, submit
from starter.operations import ActionRefused, signal
from tests.conftest import DEMO_SEED, ComplaintStack
from tests.scenarios import to_owner
from workflows import models as m
from workflows.policy import PolicyError, load_policy

UNKNOWN = "unexpected_field"
MAX_TEXT = m.MAX_TEXT_BYTES
BOOL_WORDS = {"0", "1", "true", "false", "yes", "no", "on", "off", "y", "n", "t", "f",
              "0.0", "1.0"}
Loc = tuple[str | int, ...]

# --- kinds of bad values -------------------------------------------------------------------

blank = st.text(alphabet=" \t\r\n", max_size=4)
structured = st.one_of(st.lists(st.integers(), max_size=2),
                       st.dictionaries(st.sampled_from("ab"), st.integers(), max_size=1))
not_text = st.one_of(st.integers(), st.booleans(), st.floats(allow_nan=False), structured)
too_long_name = st.integers(501, 1200).map(lambda n: "n" * n)
over_64_kib = st.integers(1, 64).map(lambda n: "é" * (MAX_TEXT // 2 + n))  # 2 bytes each
letters = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=12)


def bad_name(optional: bool = False) -> st.SearchStrategy:
    return st.one_of(blank, not_text, too_long_name, *([] if optional else [st.none()]))


def bad_text(optional: bool = False) -> st.SearchStrategy:
    """Free text: required ones may not be blank; none may be over 64 KiB or not text."""
    kinds = [not_text, over_64_kib] + ([] if optional else [blank, st.none()])
    return st.one_of(*kinds)


def bad_enum(values: type[Enum], optional: bool = False) -> st.SearchStrategy:
    names = {v.value for v in values}
    word = st.text(max_size=14).filter(lambda s: s not in names and s.strip() not in names)
    return st.one_of(word, st.integers(), structured, *([] if optional else [st.none()]))


def bad_bool(optional: bool = False) -> st.SearchStrategy:
    word = st.text(min_size=1, max_size=8).filter(lambda s: s.strip().lower() not in BOOL_WORDS)
    number = st.integers().filter(lambda i: i not in (0, 1))
    return st.one_of(word, number, structured, *([] if optional else [st.none()]))


bad_email = st.one_of(st.text(max_size=20).filter(lambda s: "@" not in s), st.just("ann@"),
                      st.integers())
naive_or_garbage = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()), letters, structured)
bad_score = st.one_of(st.integers().filter(lambda i: not 1 <= i <= 5), letters, st.none())
bad_severity = st.one_of(st.integers().filter(lambda i: not 1 <= i <= 4), letters, st.none())
bad_currency = st.text(max_size=5).filter(lambda s: not re.fullmatch(r"[A-Z]{3}", s.strip()))


def bad_amount(strictly_positive: bool) -> st.SearchStrategy:
    top = Decimal("0") if strictly_positive else Decimal("-0.01")
    return st.one_of(
        st.decimals(max_value=top, allow_nan=False, allow_infinity=False, places=2).map(str),
        letters)


# --- breaking one thing in a valid document ------------------------------------------------


@dataclass(frozen=True)
class Break:
    how: str  # missing | unknown | value
    path: Loc
    value: Any = None

    @property
    def loc(self) -> Loc:
        return (*self.path, UNKNOWN) if self.how == "unknown" else self.path

    def apply(self, valid: dict[str, Any]) -> dict[str, Any]:
        doc = copy.deepcopy(valid)
        *parents, last = self.path if self.how != "unknown" else (*self.path, UNKNOWN)
        target: Any = doc
        for key in parents:
            target = target[key]
        if self.how == "missing":
            del target[last]
        elif self.how == "unknown":
            target[last] = "surprise"
        else:
            target[last] = self.value
        return doc


def _value_break(path: Loc, value: Any) -> Break:
    return Break("value", path, value)


def breaks(required: list[Loc], objects: list[Loc],
           values: dict[Loc, st.SearchStrategy]) -> st.SearchStrategy[Break]:
    options = [st.sampled_from([Break("missing", p) for p in required]),
               st.sampled_from([Break("unknown", p) for p in objects])]
    options += [bad.map(functools.partial(_value_break, path)) for path, bad in values.items()]
    return st.one_of(*options)


def names_the_field(message: str, loc: Loc) -> bool:
    """The message names the field (or something inside it: `steps.0.kind` for `steps`)."""
    dotted = ".".join(str(p) for p in loc) or "(payload)"
    return re.search(rf"(^|[\s;]){re.escape(dotted)}[.:]", message) is not None


def refused_at(err: ValidationError, loc: Loc) -> bool:
    return any(tuple(e["loc"])[:len(loc)] == loc for e in err.errors())


# --- 1. the intake --------------------------------------------------------------------------

VALID_INTAKE = {
    "source": "web", "external_ref": "form-1",
    "customer": {"id": "cust-1", "name": "Ann Lee", "email": "ann@example.com", "phone": "+44 1"},
    "subject": "Charged twice", "description": "My card was charged twice.",
    "category": "billing_dispute", "impact": "single_client", "order_id": "ord-1",
    "flags": {"threatens_termination": False, "requests_manager": False,
              "legal_or_compliance": False},
    "received_at": "2026-11-20T10:00:00+00:00",
}
INTAKE_BREAKS = breaks(
    required=[("source",), ("external_ref",), ("customer",), ("customer", "id"), ("subject",),
              ("description",)],
    objects=[(), ("customer",), ("flags",)],
    values={
        ("source",): bad_enum(m.Source), ("external_ref",): bad_name(),
        ("customer",): st.one_of(st.integers(), letters, st.lists(st.integers(), max_size=1)),
        ("customer", "id"): bad_name(), ("customer", "name"): bad_name(optional=True),
        ("customer", "email"): bad_email,
        ("customer", "phone"): st.one_of(st.integers(51, 90).map(lambda n: "1" * n), not_text),
        ("subject",): bad_name(), ("description",): bad_text(),
        ("category",): bad_enum(m.Category, optional=True),
        ("impact",): bad_enum(m.Impact, optional=True),
        ("order_id",): bad_name(optional=True),
        ("flags", "threatens_termination"): bad_bool(),
        ("flags", "requests_manager"): bad_bool(),
        ("flags", "legal_or_compliance"): bad_bool(),
        ("received_at",): naive_or_garbage,
    })


class NoStarts:
    """A Temporal client stand-in that fails the test if anything is started."""

    def __init__(self) -> None:
        self.started: list[Any] = []

    async def start_workflow(self, *args: Any, **kwargs: Any) -> None:
        self.started.append((args, kwargs))


def test_the_valid_documents_are_valid():
    """The base documents every broken one is made from must themselves be valid."""
    assert m.ComplaintIntake.model_validate(VALID_INTAKE).external_ref == VALID_INTAKE["external_ref"]
    for model, valid in ACTIONS.values():
        assert isinstance(model.model_validate(valid), model)


@settings(max_examples=250, deadline=None)
@given(INTAKE_BREAKS)
def test_a_bad_intake_is_refused_naming_the_field_and_starts_nothing(broken: Break):
    payload = broken.apply(VALID_INTAKE)
    client = NoStarts()
    with pytest.raises(IntakeError) as err:
        asyncio.run(submit(client, payload, "complaints"))  # type: ignore[arg-type]
    assert client.started == []
    assert any(names_the_field(line, broken.loc) for line in err.value.errors), (
        broken, err.value.errors)
    with pytest.raises(IntakeError):  # the same as JSON text (what the CLI and gateways send)
        asyncio.run(submit(client, json.dumps(payload), "complaints"))  # type: ignore[arg-type]


# --- 2. every action payload (the updates and the refund decision) ---------------------------

ACTOR = {"actor": "sam"}
ACTIONS: dict[str, tuple[type[BaseModel], dict[str, Any]]] = {
    "acknowledge-personally": (m.PersonalAcknowledgement, {**ACTOR, "message": "Sorry, Ann."}),
    "record-phone-contact": (m.PhoneContact, {**ACTOR, "reached": True, "summary": "Called",
                                              "expectations": "Refund"}),
    "submit-internal-review": (m.InternalReview, {
        **ACTOR, "root_cause": "a", "process_failure": "b", "communication_failure": "c",
        "checklist": {"history_reviewed": True, "issue_verified": True, "order_checked": True}}),
    "submit-action-plan": (m.ActionPlan, {
        **ACTOR, "steps": [{"kind": "refund", "description": "Refund", "amount": "10.00",
                            "currency": "GBP"}],
        "estimated_resolution_at": "2026-12-01T10:00:00+00:00"}),
    "record-fix-deployed": (m.FixDeployed, {**ACTOR, "reference": "REL-1"}),
    "send-customer-update": (m.CustomerUpdate, {**ACTOR, "message": "Still on it."}),
    "propose-solution": (m.SolutionProposal, {**ACTOR, "message": "Agreed?"}),
    "record-customer-response": (m.CustomerResponse, {**ACTOR, "agrees": True,
                                                      "message": "Yes"}),
    "confirm-resolution": (m.ResolutionConfirmation, {**ACTOR,
                                                      "confirmation_text": "Resolution Confirmed"}),
    "submit-rca": (m.RootCauseAnalysis, {**ACTOR, "root_cause": "a", "process_failures": ["b"],
                                         "corrective_actions": ["c"], "kb_article_needed": True}),
    "record-kb-article": (m.KbArticleDone, {**ACTOR, "reference": "KB-1"}),
    "record-csat": (m.CsatResponse, {**ACTOR, "score": 4, "comment": "Fine"}),
    "escalate": (m.EscalationRequest, {**ACTOR, "reason": "Asked for a manager"}),
    "reassign": (m.Reassignment, {**ACTOR, "owner": "priya"}),
    "withdraw": (m.Withdrawal, {**ACTOR, "reason": "The customer asked us to close it",
                                "recorded_by": "dpo"}),
    "issue-final-response": (m.FinalResponse, {**ACTOR, "outcome": "partly_upheld",
                                               "message": "Our final answer", "redress": "25.00"}),
    "dismiss": (m.Dismissal, {**ACTOR, "reason": "duplicate", "note": "Sent twice",
                              "duplicate_of": "CRN-ORIGINAL1"}),
    "reopen": (m.Reopen, {**ACTOR, "reason": "The fix did not hold",
                          "message_id": "<reply-1@kite.example>"}),
    "refund-decision": (m.RefundDecision, {"actor": "fiona", "approved": True, "amount": "10.00",
                                           "note": ""}),
    "retriage": (m.Retriage, {**ACTOR, "severity": 1, "category": "technical_bug",
                              "reason": "Every customer is affected"}),
    "request-information": (m.InformationRequest, {**ACTOR, "message": "Which file?"}),
    "resume": (m.ClockResume, {**ACTOR, "reason": "Found it in the ticket"}),
    "add-note": (m.Note, {**ACTOR, "text": "Called them back, @tom", "mentions": ["tom"]}),
}
assert set(ACTIONS) - {"refund-decision"} == set(cli.ACTIONS), "an action without a bad-input test"


def field_breaks(model: type[BaseModel], prefix: Loc = ()) -> tuple[list[Loc], list[Loc],
                                                                    dict[Loc, st.SearchStrategy]]:
    """The ways to break each field of a payload model, from its declared types."""
    required, objects, values = [], [prefix], {}
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        optional = not field.is_required()
        hint = field.annotation
        if field.is_required():
            required.append(path)
        if name == "checklist":
            sub = field_breaks(m.InvestigationChecklist, path)
            objects += sub[1]
            values.update(sub[2])
        elif name == "steps":
            values[path] = st.just([])
            sub = field_breaks(m.PlanStep, (*path, 0))
            required += sub[0]
            objects += sub[1]
            values.update(sub[2])
        elif name in ("process_failures", "corrective_actions"):
            values[path] = st.one_of(st.just([]), bad_name().map(lambda v: [v]))
        elif name == "mentions":  # none is fine; a mention that is not a roster id is not
            values[path] = bad_name().map(lambda v: [v])
        elif name == "kind":
            values[path] = bad_enum(m.StepKind)
        elif isinstance(hint, type) and issubclass(hint, enum.Enum):
            values[path] = bad_enum(hint)  # a final response's outcome, a dismissal's reason
        elif name == "redress":
            values[path] = bad_amount(strictly_positive=True)
        elif name in ("duplicate_of", "message_id"):
            values[path] = bad_name(optional=True)
        elif name == "amount":
            values[path] = bad_amount(strictly_positive=model is m.PlanStep)
        elif name == "currency":
            values[path] = bad_currency
        elif name == "score":
            values[path] = bad_score
        elif name == "severity":  # a re-triage's: 1 to 4
            values[path] = bad_severity
        elif name == "estimated_resolution_at":
            values[path] = naive_or_garbage
        elif hint in (bool, bool | None):
            values[path] = bad_bool(optional=hint != bool)  # noqa: E721
        elif name in ("actor", "reference", "owner"):
            values[path] = bad_name()
        else:
            values[path] = bad_text(optional=optional)
    return required, objects, values


ACTION_BREAKS = st.sampled_from(sorted(ACTIONS)).flatmap(
    lambda command: breaks(*field_breaks(ACTIONS[command][0])).map(lambda b: (command, b)))


@settings(max_examples=300, deadline=None)
@given(ACTION_BREAKS)
def test_a_bad_action_payload_is_refused_naming_the_field(case: tuple[str, Break]):
    command, broken = case
    model, valid = ACTIONS[command]
    payload = broken.apply(valid)
    with pytest.raises(ValidationError) as err:
        model.model_validate(payload)
    assert refused_at(err.value, broken.loc), (broken, err.value.errors())
    # The CLI: exit 2 with one line naming the field, before it connects to anything.
    with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
        json.dump(payload, file)
        file.flush()
        out = io.StringIO()
        with contextlib.redirect_stderr(out), pytest.raises(SystemExit) as exit_:
            cli.main([command, "CRN-NOTHINGTOSEE", "--json", file.name])
    assert exit_.value.code == 2, out.getvalue()
    message = out.getvalue().strip()
    assert len(message.splitlines()) == 1 and names_the_field(message, broken.loc), message


@pytest_asyncio.fixture
async def complaint(local_stack: ComplaintStack) -> AsyncIterator[dict[str, Any]]:
    """One complaint with its owner, for every generated case of a test (fixtures run once per
    test, not once per example), and what it looked like before any of them. On the dev
    server: it discards the workflow task of a refused update, as production does (the
    time-skipping test server records one)."""
    stack = local_stack
    async with stack.worker():
        crn = await to_owner(stack)
        await stack.settle()
        yield {"stack": stack, "crn": crn, "before": await stack.status(crn),
               "events": await events(stack, crn), "history": await history_length(stack, crn)}


async def unchanged(complaint: dict[str, Any]) -> None:
    stack, crn = complaint["stack"], complaint["crn"]
    await stack.settle()
    assert await stack.status(crn) == complaint["before"]
    assert await events(stack, crn) == complaint["events"]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(cases=st.lists(ACTION_BREAKS.filter(lambda c: c[0] != "refund-decision"),
                      min_size=1, max_size=3))
async def test_bad_updates_are_refused_and_change_nothing(complaint: dict[str, Any], cases: list):
    """The same payloads sent as plain JSON to a running complaint, as another system would:
    `starter.operations.act` refuses each naming the field; sent past it, straight to the
    workflow, the update is refused too. Either way the complaint, its row, its resolution
    log and its history stay exactly as they were."""
    stack, crn = complaint["stack"], complaint["crn"]
    handle = stack.client.get_workflow_handle(crn)
    for command, broken in cases:
        update = cli.ACTIONS[command][0]
        payload = broken.apply(ACTIONS[command][1])
        with pytest.raises(ActionRefused) as err:
            await stack.act(crn, update, payload)
        assert names_the_field(str(err.value), broken.loc), (broken, str(err.value))
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(update, payload)
    await unchanged(complaint)
    assert await history_length(stack, crn) == complaint["history"]


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(broken=breaks(*field_breaks(m.RefundDecision)))
async def test_a_bad_refund_decision_is_refused_or_dropped_and_changes_nothing(
        complaint: dict[str, Any], broken: Break):
    """`starter.operations.signal` refuses a malformed decision naming the field. A signal
    sent past it cannot be answered: the worker drops it (the workflow neither fails nor
    stalls) and nothing changes."""
    stack, crn = complaint["stack"], complaint["crn"]
    payload = broken.apply(ACTIONS["refund-decision"][1])
    with pytest.raises(ActionRefused) as err:
        await signal(stack.client, crn, "refund_decision", payload)
    assert names_the_field(str(err.value), broken.loc), (broken, str(err.value))
    await stack.client.get_workflow_handle(crn).signal("refund_decision", payload)
    await unchanged(complaint)
    history = await stack.client.get_workflow_handle(crn).fetch_history()
    assert not any(e.HasField("workflow_task_failed_event_attributes") for e in history.events)


async def events(stack: ComplaintStack, crn: str) -> list[tuple]:
    return [tuple(r) for r in await stack.rows(
        "SELECT seq, event FROM complaint_events WHERE crn = $1 ORDER BY seq", crn)]


async def history_length(stack: ComplaintStack, crn: str) -> int:
    return len((await stack.client.get_workflow_handle(crn).fetch_history()).events)


# --- 3. seed files -------------------------------------------------------------------------

SEED = json.loads(DEMO_SEED.read_text())
SEED_FIELDS: dict[str, dict[str, st.SearchStrategy]] = {
    "staff": {"id": bad_name(), "name": bad_name(), "email": bad_email,
              "role": bad_enum(m.Role), "available": bad_bool(),
              "skills": bad_enum(m.Category).map(lambda v: [v])},
    "customers": {"id": bad_name(), "name": bad_name(), "key_account": bad_bool(),
                  "lifetime_value": letters, "account_balance": letters},
    "orders": {"id": bad_name(), "customer_id": bad_name(), "currency": bad_currency,
               "net_amount": bad_amount(strictly_positive=False),
               "tax_rate": st.one_of(st.decimals(min_value=Decimal("1.01"), max_value=100,
                                                 places=2).map(str), letters)},
}
SEED_REQUIRED = {"staff": ["id", "name", "email", "role"], "customers": ["id", "name"],
                 "orders": ["id", "customer_id", "net_amount", "tax_rate", "currency"]}


@st.composite
def seed_breaks(draw: st.DrawFn) -> tuple[str, int, Break]:
    section = draw(st.sampled_from(sorted(SEED_FIELDS)))
    index = draw(st.integers(0, len(SEED[section]) - 1))
    how = draw(st.sampled_from(["missing", "unknown", "value", "duplicate"]))
    if how == "missing":
        return section, index, Break("missing", (section, index,
                                                 draw(st.sampled_from(SEED_REQUIRED[section]))))
    if how == "unknown":
        return section, index, Break("unknown", (section, index))
    if how == "duplicate":  # the record repeated: same id twice
        return section, index, Break("value", (section,), SEED[section] + [SEED[section][index]])
    name = draw(st.sampled_from(sorted(SEED_FIELDS[section])))
    return section, index, Break("value", (section, index, name),
                                 draw(SEED_FIELDS[section][name]))


@settings(max_examples=200, deadline=None)
@given(seed_breaks())
def test_a_bad_seed_file_is_refused_naming_the_record_and_the_field(case: tuple[str, int, Break]):
    section, index, broken = case
    with pytest.raises(SeedError) as err:
        parse_seed(json.dumps(broken.apply(SEED)))
    message = str(err.value)
    if broken.path == (section,):  # the duplicate: named at the repeated record
        assert f"{section}[{len(SEED[section])}]" in message and "appears twice" in message
        return
    assert f"{section}[{index}]" in message and f": {broken.loc[2]}" in message, message


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(unknown=st.text(alphabet="abcdefghij-", min_size=1, max_size=12),
       where=st.sampled_from(["csm", "customer_id"]))
async def test_a_seed_naming_someone_unknown_loads_nothing(seeded: asyncpg.Pool, unknown: str,
                                                           where: str):
    """Valid records that point at a staff member or customer nobody has loaded: refused
    whole, in one transaction, naming the record; the database is as it was."""
    doc = copy.deepcopy(SEED)
    doc["customers"].append({"id": "cust-new", "name": "New Co", "csm": None})
    doc["orders"].append({"id": "ord-new", "customer_id": "cust-new", "net_amount": "1",
                          "tax_rate": "0", "currency": "GBP"})
    if where == "csm":
        doc["customers"][-1]["csm"] = f"staff-{unknown}"
    else:
        doc["orders"][-1]["customer_id"] = f"cust-{unknown}"
    seed = parse_seed(json.dumps(doc))  # well-formed: only the references are wrong
    async with seeded.acquire() as conn:
        before = await snapshot(conn)
        with pytest.raises(SeedError) as err:
            await load_seed(conn, seed)
        assert await snapshot(conn) == before
    assert (f"csm: no staff member 'staff-{unknown}'" if where == "csm"
            else f"customer_id: no customer 'cust-{unknown}'") in str(err.value)


async def snapshot(conn: asyncpg.Connection) -> list[list[tuple]]:
    return [[tuple(r) for r in await conn.fetch(f"SELECT * FROM {table} ORDER BY id")]
            for table in ("staff", "customers", "orders", "credit_notes")]


# --- 4. policy files -----------------------------------------------------------------------

DURATION_KEYS = [("acknowledgement", "automatic_within"), ("acknowledgement", "personal_within"),
                 ("ownership", "phone_contact_within"), ("communication", "customer_update_every"),
                 ("escalation", "team_lead_acts_within"), ("escalation", "head_of_cs_acts_within"),
                 ("lifecycle", "archive_after"), ("lifecycle", "survey_reminder_after"),
                 ("retention_risk", "repeat_within")]
bad_duration = st.one_of(
    st.sampled_from(['"0m"', '"-5m"', '"1 hour"', '"h"', '"5x"', '"1h 30"', "0", "-60", "true",
                     '""', "[1]"]),
    letters.map(lambda s: json.dumps(s)))
POLICY_BREAKS: list[tuple[str, str, st.SearchStrategy[str]]] = [
    *[(section, key, bad_duration) for section, key in DURATION_KEYS],
    *[("resolution", f"sev{n}", bad_duration) for n in (1, 2, 3, 4)],
    ("calendar", "timezone", st.sampled_from(['"Mars/Olympus"', '"GMT+25"', "1"])),
    ("calendar", "day_starts", st.sampled_from(['"25:00"', '"9am"', '"24:30"', '"9:00"'])),
    ("calendar", "working_days", st.sampled_from(["[]", '["funday"]', '"mon"'])),
    ("communication", "warn_at", st.sampled_from(["0", "1", "1.5", "-0.2", '"half"'])),
    ("resolution", "warn_at", st.sampled_from(["0", "1", "2"])),
    ("escalation", "at_intake_for_severity_up_to", st.sampled_from(["-1", "5", '"two"'])),
    ("retention_risk", "key_account", st.sampled_from(['"maybe"', "2", "[]"])),
    ("refund", "approval_threshold", st.sampled_from(['"lots"', "[]"])),
    ("severity", "unknown", st.sampled_from(["0", "5", '"high"'])),
]


@st.composite
def policy_breaks(draw: st.DrawFn) -> tuple[str, str]:
    """(TOML text, the dotted key the error must name)."""
    if draw(st.booleans()):  # a typo: a key the policy does not have
        section = draw(st.sampled_from(["acknowledgement", "ownership", "calendar", "refund"]))
        key = draw(st.from_regex(r"[a-z]{3,10}_within", fullmatch=True).filter(
            lambda k: k not in {"automatic_within", "personal_within", "phone_contact_within",
                                "approval_within"}))
        return f'[{section}]\n{key} = "1h"\n', f"{section}.{key}"
    section, key, values = draw(st.sampled_from(POLICY_BREAKS))
    return f"[{section}]\n{key} = {draw(values)}\n", f"{section}.{key}"


@settings(max_examples=150, deadline=None)
@given(policy_breaks())
def test_a_bad_policy_file_is_refused_naming_the_file_and_the_key(case: tuple[str, str]):
    text, key = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "policy.toml"
        path.write_text(text)
        with pytest.raises(PolicyError) as err:
            load_policy(path)
    message = str(err.value)
    assert str(path) in message and key in message, (text, message)


def test_the_worker_refuses_to_start_on_a_bad_policy_and_connects_to_nothing(tmp_path: Path):
    import subprocess
    import sys

    path = tmp_path / "policy.toml"
    path.write_text('[ownership]\nphone_contact_within = "four hours"\n')
    env = {"PATH": "/usr/bin:/bin", "COMPLAINTS_POLICY": str(path),
           "TEMPORAL_ADDRESS": "127.0.0.1:1", "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"}
    result = subprocess.run([sys.executable, "-m", "workers"], cwd=Path(cli.__file__).parents[1],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "worker not started" in result.stderr
    assert "ownership.phone_contact_within" in result.stderr and str(path) in result.stderr
