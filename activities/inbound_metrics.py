"""The hook for the email channel (README.md, "Complaints by email"): each inbound
message's outcome counted as `complaints_inbound_messages_total{outcome}`,
the series the dashboard's "Inbound email" panel reads. Call it once per message, where the
message's outcome is decided: in an activity it counts through the activity's metric meter
(once per attempt that gets there, so call it after the outcome is stored); a process with
its own runtime (the mail gateway) passes `runtime.metric_meter`.

Outcomes are a short fixed list (a label, never a Message-ID): `new_complaint`, `reply`,
`sign_off`, `sign_off_link` (an unauthenticated sign-off, answered with a link), `ignored`
(auto-replies, bounces, list mail), `refused`, `failed` (kept and flagged: it could not be
read). Suspended mail is stored by the gateway and never processed, so never counted here. activities/inbound.py counts each once its row says it.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.common import MetricMeter

INBOUND_MESSAGES = "complaints_inbound_messages_total"


def count_inbound_message(outcome: str, meter: MetricMeter | None = None) -> None:
    meter = meter or activity.metric_meter()
    meter.create_counter(INBOUND_MESSAGES, "inbound emails, by what became of them").add(
        1, {"outcome": outcome})
