"""Client-side operations on complaints, with the errors a person can act on.

The CLI (and, later, the HTTP API) call these; they turn Temporal's errors into
`ComplaintNotFound` (unknown CRN) and `ActionRefused` (the workflow's validator
said no, with its reason).
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client, WorkflowExecution, WorkflowUpdateFailedError
from temporalio.common import SearchAttributeIndexedValueType
from temporalio.service import RPCError, RPCStatusCode

from workflows import search_attributes as sa
from workflows.complaint import ComplaintWorkflow
from workflows.models import ComplaintState


class ComplaintNotFound(LookupError):
    def __init__(self, crn: str) -> None:
        super().__init__(f"no complaint {crn}")
        self.crn = crn


class ActionRefused(ValueError):
    """The complaint refused the action; nothing changed."""


async def get_status(client: Client, crn: str) -> ComplaintState:
    try:
        return await client.get_workflow_handle(crn).query(ComplaintWorkflow.status)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ComplaintNotFound(crn) from None
        raise


async def act(client: Client, crn: str, update: str, payload: Any) -> ComplaintState:
    """Send one action (a workflow update) and return the complaint's state after it."""
    payload = _checked(update, payload)
    handle = client.get_workflow_handle(crn)
    try:
        return await handle.execute_update(update, payload, result_type=ComplaintState)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        raise ActionRefused(getattr(cause, "message", None) or str(cause or err)) from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            if "already completed" in err.message or "completed" in err.message:
                raise ActionRefused(f"complaint {crn} is archived; it takes no more actions") from None
            raise ComplaintNotFound(crn) from None
        raise


async def signal(client: Client, crn: str, name: str, payload: Any) -> None:
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
    model = _payload_model(handler)
    if model is None:
        return payload
    try:
        return model.model_validate(payload)
    except ValidationError as err:
        raise ActionRefused("; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(payload)'}: {e['msg']}"
            for e in err.errors())) from None


@functools.cache
def _payload_model(handler: str) -> type[BaseModel] | None:
    """The pydantic model an update or signal handler of ComplaintWorkflow takes."""
    method = getattr(ComplaintWorkflow, handler, None)
    if method is None:
        return None
    params = [p for p in inspect.signature(method).parameters if p != "self"]
    model = typing.get_type_hints(method).get(params[0]) if params else None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def visibility_query(*, status: str | None = None, phase: str | None = None,
                     owner: str | None = None, severity: int | None = None,
                     customer: str | None = None, breached: bool | None = None) -> str:
    """A Temporal visibility query over the complaint search attributes."""
    def quoted(value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    clauses = ["WorkflowType = 'ComplaintWorkflow'"]
    for key, value in ((sa.COMPLAINT_STATUS, status), (sa.COMPLAINT_PHASE, phase),
                       (sa.COMPLAINT_OWNER, owner), (sa.CUSTOMER_ID, customer)):
        if value is not None:
            clauses.append(f"{key.name} = {quoted(value)}")
    if severity is not None:
        clauses.append(f"{sa.COMPLAINT_SEVERITY.name} = {int(severity)}")
    if breached is not None:
        clauses.append(f"{sa.SLA_BREACHED.name} = {'true' if breached else 'false'}")
    return " AND ".join(clauses)


async def list_complaints(client: Client, query: str) -> AsyncIterator[WorkflowExecution]:
    async for execution in client.list_workflows(query):
        yield execution


_INDEXED = {
    SearchAttributeIndexedValueType.KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    SearchAttributeIndexedValueType.INT: IndexedValueType.INDEXED_VALUE_TYPE_INT,
    SearchAttributeIndexedValueType.BOOL: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
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
