"""The custom search attributes a complaint keeps current, so the Temporal UI can filter.

`complaints migrate` registers these on the namespace; the workflow upserts them.
"""

from temporalio.common import SearchAttributeKey

COMPLAINT_STATUS = SearchAttributeKey.for_keyword("ComplaintStatus")
COMPLAINT_PHASE = SearchAttributeKey.for_keyword("ComplaintPhase")
COMPLAINT_CATEGORY = SearchAttributeKey.for_keyword("ComplaintCategory")
COMPLAINT_OWNER = SearchAttributeKey.for_keyword("ComplaintOwner")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
COMPLAINT_SEVERITY = SearchAttributeKey.for_int("ComplaintSeverity")
ESCALATION_LEVEL = SearchAttributeKey.for_int("EscalationLevel")
RETENTION_RISK = SearchAttributeKey.for_bool("RetentionRisk")
SLA_BREACHED = SearchAttributeKey.for_bool("SlaBreached")
# When the next open deadline falls due (unset when none runs): the console's queue sorts
# by it in visibility, most urgent first, instead of querying every complaint.
NEXT_DEADLINE_AT = SearchAttributeKey.for_datetime("NextDeadlineAt")

ALL = (
    COMPLAINT_STATUS,
    COMPLAINT_PHASE,
    COMPLAINT_CATEGORY,
    COMPLAINT_OWNER,
    CUSTOMER_ID,
    COMPLAINT_SEVERITY,
    ESCALATION_LEVEL,
    RETENTION_RISK,
    SLA_BREACHED,
    NEXT_DEADLINE_AT,
)
