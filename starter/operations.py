"""What people do to complaints, for the CLI and the HTTP API alike.

Both call these and nothing lower: they turn Temporal's errors into `ComplaintNotFound`
(unknown CRN), `ActionRefused` (the workflow's validator said no, with its reason; nothing
changed) and `ActionNotPermitted` (refused because of who acted). An `ActionRefused` carries
the kind of refusal (`kind`, a class of workflows/refusals.py, from the ApplicationError's
type), by which the CLI, the API and the console choose what they say; never by its text.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.errordetails.v1 import QueryFailedFailure
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributeIndexedValueType,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from settings.codec import missing_key_in
from workflows import models as m
from workflows import records, refusals
from workflows import search_attributes as sa
from workflows.actions import ACTIONS, GENERIC, OwnerRule
from workflows.complaint import ComplaintWorkflow
from workflows.inbound import InboundMessageWorkflow, inbound_workflow_id
from workflows.models import ComplaintReceipt, ComplaintState
from workflows.permissions import OWNER_ACTIONS, check_actor
from workflows.refusals import NotPermitted, Refused

# The actions people take through the generic route, form and subcommand, one workflow
# update each, with the payload each takes (workflows/actions.py). The refund decision is
# apart (`decide_refund`): the approver answers with an amount.
UPDATES: dict[str, type[BaseModel]] = {name: a.payload for name, a in GENERIC.items()}

# Actions an owner may take whatever their role; others need a role from ROLES_FOR.
OWNER_OR_ROLE = frozenset(n for n, a in ACTIONS.items() if a.owner == OwnerRule.or_roles)


class ComplaintNotFound(LookupError):
    def __init__(self, crn: str) -> None:
        super().__init__(f"no complaint {crn}")
        self.crn = crn


class ComplaintUnreadable(Exception):
    """The complaint's data is under a key this process (or the worker) does not hold: the
    message says which, in one line (settings/codec.py MissingKey)."""


class ActionRefused(ValueError):
    """The complaint refused the action; nothing changed. `kind` says why, as a class of
    workflows/refusals.py."""

    def __init__(self, message: str, kind: type[Refused] = Refused) -> None:
        super().__init__(message)
        self.kind = kind


class ActionNotPermitted(ActionRefused):
    """Refused because the actor may not take this action (their role, not the phase)."""

    def __init__(self, message: str, kind: type[Refused] = NotPermitted) -> None:
        super().__init__(message, kind)


def refusal(message: str, kind: type[Refused]) -> ActionRefused:
    """The client's exception for a refusal of `kind`: ActionNotPermitted when it is about
    who acted, so that callers that catch it stay apart from the others."""
    cls = ActionNotPermitted if issubclass(kind, NotPermitted) else ActionRefused
    return cls(message, kind)


def check_permission(update: str, member: records.StaffMember, state: ComplaintState) -> None:
    """The role check the workflow's validator makes, decided before anything is sent, so
    that a role that may not act is refused (ActionNotPermitted: 403) whatever phase the
    complaint is in. Before an owner is assigned the workflow refuses owner actions for the
    phase (ActionRefused: 409)."""
    roster = {member.id: member}
    try:
        if update in OWNER_ACTIONS:
            if state.owner is not None:
                check_actor(update, member.id, roster, owner=state.owner)
        elif not (update in OWNER_OR_ROLE and member.id == state.owner):
            check_actor(update, member.id, roster)
    except NotPermitted as err:
        raise refusal(str(err), type(err)) from None


async def get_status(client: Client, crn: str) -> ComplaintState:
    try:
        return await client.get_workflow_handle(crn).query(ComplaintWorkflow.status)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ComplaintNotFound(crn) from None
        unreadable(err)
        raise
    except WorkflowQueryFailedError as err:  # the worker's failure, encoded: decode it
        unreadable(err, await _reported_failure(client, err))
        raise
    except Exception as err:  # the answer itself under a key this process lacks
        unreadable(err)
        raise


def unreadable(*errors: BaseException | None) -> None:
    """Raise ComplaintUnreadable if a missing key is behind one of `errors`; else return."""
    for err in errors:
        missing = missing_key_in(err)
        if missing is not None:
            raise ComplaintUnreadable(str(missing)) from None


async def _reported_failure(client: Client, err: BaseException) -> BaseException | None:
    """The failure a worker reported for a query, decoded with this client's converter (with
    encryption its message travels encrypted; the SDK hands over only "Encoded failure").
    A failure this client cannot decode is itself the answer: its key is missing here."""
    rpc = err.__cause__ or err.__context__  # the SDK raises it while handling the RPCError
    if not isinstance(rpc, RPCError):
        return None
    for detail in rpc.grpc_status.details:
        failed = QueryFailedFailure()
        if detail.Unpack(failed) and failed.HasField("failure"):
            try:
                return await client.data_converter.decode_failure(failed.failure)
            except Exception as undecodable:  # noqa: BLE001 # returned, not swallowed
                return undecodable
    return None


async def act(client: Client, crn: str, update: str, payload: Any,
              update_id: str | None = None) -> ComplaintReceipt:
    """Send one action (a workflow update) and return where the complaint stands after it
    (status, phase, next deadline). Callers that show more read `get_status` afterwards.
    `update_id`: the same id sent twice (a form submitted twice) is one action."""
    payload = _checked(update, payload)
    if isinstance(payload, m.Dismissal) and payload.duplicate_of is not None \
            and payload.duplicate_of != crn and not await _known(client, payload.duplicate_of):
        # The workflow cannot look another complaint up; the client can, before it asks.
        raise refusal(f"{payload.duplicate_of} is not a complaint; a duplicate names the "
                      "original's CRN", refusals.InvalidValue)
    handle = client.get_workflow_handle(crn)
    try:
        return await handle.execute_update(update, payload, result_type=ComplaintReceipt,
                                           id=update_id)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        message = getattr(cause, "message", None) or str(cause or err)
        # The validator's exception arrives as an ApplicationError typed by its class name.
        raise refusal(message, refusals.by_name(getattr(cause, "type", None))) from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            if await _known(client, crn):
                raise refusal(f"complaint {crn} has ended (archived, or withdrawn); it "
                              "takes no more actions", refusals.ComplaintEnded) from None
            raise ComplaintNotFound(crn) from None
        raise


async def _known(client: Client, crn: str) -> bool:
    """Whether Temporal knows `crn` (running, or a run that has ended: an update to that is
    NOT_FOUND, as for a CRN that never was)."""
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest

    # The raw answer: nothing of it is read, and decoding its search attributes can fail.
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=crn))
    try:
        await client.workflow_service.describe_workflow_execution(request)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def act_and_read(client: Client, crn: str, update: str, payload: Any) -> ComplaintState:
    """An action, then the complaint's whole state after it (for callers that show it)."""
    await act(client, crn, update, payload)
    return await get_status(client, crn)


async def decide_refund(client: Client, crn: str, decision: m.RefundDecision) -> ComplaintReceipt:
    """The Finance Manager's decision, answered at once (the `decide_refund` update): the
    refund approved or rejected (read `get_status` for its state), or the reason it does
    not count."""
    try:
        return await act(client, crn, "decide_refund", decision)
    except ActionRefused as refused:
        raise refusal(f"decision not accepted: {refused}", refused.kind) from None


async def signal(client: Client, crn: str, name: str, payload: Any) -> None:
    """Fire and forget (as approval systems send the `refund_decision` signal): what the
    complaint made of it shows in its timeline."""
    payload = _checked(name, payload)
    try:
        await client.get_workflow_handle(crn).signal(name, payload)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ComplaintNotFound(crn) from None
        raise


def _checked(handler: str, payload: Any) -> Any:
    """A payload given as plain data (JSON from another system) is validated here against
    the handler's model, so a bad one is refused naming each field and nothing is sent:
    the worker could only answer an update with "Failed decoding arguments", and it drops
    a signal it cannot decode without telling anyone."""
    if isinstance(payload, BaseModel):
        return payload
    action = ACTIONS.get(handler)
    if action is None:
        return payload
    model = action.payload
    try:
        return model.model_validate(payload)
    except ValidationError as err:
        raise ActionRefused("; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(payload)'}: {e['msg']}"
            for e in err.errors()), refusals.InvalidValue) from None


_INDEXED = {
    SearchAttributeIndexedValueType.KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    SearchAttributeIndexedValueType.INT: IndexedValueType.INDEXED_VALUE_TYPE_INT,
    SearchAttributeIndexedValueType.BOOL: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    SearchAttributeIndexedValueType.DATETIME: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}


async def register_search_attributes(client: Client, namespace: str) -> list[str]:
    """Add the complaint search attributes the namespace lacks; returns the names added."""
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        known = set(existing.custom_attributes) | set(existing.system_attributes)
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:  # the time-skipping test server
            raise
        known = set()
    missing = {k.name: _INDEXED[k.indexed_value_type] for k in sa.ALL if k.name not in known}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


async def still_running(client: Client, crns: list[str]) -> list[str]:
    """The complaints among `crns` whose workflow still runs (an erasure must wait for them:
    a running complaint writes its data back). One whose history Temporal no longer has
    (past the namespace's retention) has ended."""
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.enums.v1 import WorkflowExecutionStatus
    from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest

    running = []
    for crn in crns:
        # The raw answer: only its status is needed, none of the search attributes decoded.
        request = DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=crn))
        try:
            described = await client.workflow_service.describe_workflow_execution(request)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                continue
            raise
        status = described.workflow_execution_info.status
        if status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
            running.append(crn)
    return running


async def withdraw_and_wait(client: Client, crn: str, withdrawal: m.Withdrawal,
                            timeout: float = 60.0) -> None:
    """Withdraw one complaint (the `withdraw` update) and wait until its workflow run has
    completed. One still being registered is asked again for a moment; one already
    withdrawn (or already completed) is only waited for. Refused otherwise (ActionRefused:
    closed already, or the actor may not), and then nothing was changed."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            await act(client, crn, "withdraw", withdrawal)
            break
        except ComplaintNotFound:  # gone from Temporal (retention), or already completed
            break
        except ActionRefused as refused:
            if issubclass(refused.kind, refusals.AlreadyWithdrawn | refusals.ComplaintEnded):
                break
            if refused.kind is not refusals.StillRegistering or loop.time() > deadline:
                raise
            await asyncio.sleep(0.2)
    while await still_running(client, [crn]):
        if loop.time() > deadline:
            raise ActionRefused(f"{crn} was withdrawn, but its workflow had not completed "
                                f"within {timeout:.0f} s")
        await asyncio.sleep(0.1)


async def start_inbound(client: Client, task_queue: str, message_id: str) -> None:
    """Start a stored inbound message's processing (idempotent: its workflow id derives from
    the Message-ID, so a second start is the same workflow)."""
    try:
        await client.start_workflow(
            InboundMessageWorkflow.run, message_id, id=inbound_workflow_id(message_id),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"Inbound email {message_id}")
    except WorkflowAlreadyStartedError:
        pass  # processed already: this start is the same message again
