"""The complaint workflow, composed of parts it holds (see `workflow.py` for the reading guide)."""

from workflows.complaint.workflow import ComplaintWorkflow
from workflows.events import (
    AUTOMATIC_ACK,
    CUSTOMER_UPDATE,
    ESCALATION,
    PERSONAL_ACK,
    PHONE_CONTACT,
    REFUND_APPROVAL,
    RESOLUTION,
)

__all__ = ["AUTOMATIC_ACK", "CUSTOMER_UPDATE", "ESCALATION", "PERSONAL_ACK", "PHONE_CONTACT",
           "REFUND_APPROVAL", "RESOLUTION", "ComplaintWorkflow"]
