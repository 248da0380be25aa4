"""The agent's desk, for the API, the console and the CLI alike (docs/desk.md): a canned
reply filled in for one complaint, an attachment as a download, and what changed on a
complaint since a person loaded its page.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi.responses import Response

from database.conversation import StoredAttachment, fill
from database.records import ComplaintFile
from workflows.complaint import presentation as ui
from workflows.complaint.case import SYSTEM
from workflows.models import ComplaintState, Role, TimelineEvent
from workflows.policy import CalendarPolicy
from workflows.records import StaffMember

# Who keeps the canned replies.
REPLY_KEEPERS = frozenset({Role.head_of_cs})
# A content type as stored, if it is one a browser reads as such; anything else downloads
# as bytes.
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def fill_values(s: ComplaintState, file: ComplaintFile, roster: dict[str, StaffMember],
                cal: CalendarPolicy) -> dict[str, str]:
    """What a canned reply's placeholders become for this complaint."""
    name = file.customer_name or (file.profile.name if file.profile else None) or "customer"
    due = ui.next_deadline(s)
    return {
        "customer_name": name,
        "crn": s.crn,
        "owner": ui.name_of(roster, s.owner) if s.owner else "our Customer Care team",
        "next_deadline": ui.local(due.due_at, cal) if due else "(no deadline running)",
        "order": file.order.id if file.order else "your order",
    }


def filled(body: str, s: ComplaintState, file: ComplaintFile,
           roster: dict[str, StaffMember], cal: CalendarPolicy) -> str:
    return fill(body, fill_values(s, file, roster, cal))


def attachment_response(found: StoredAttachment) -> Response:
    """An attachment as a download, never rendered: `Content-Disposition: attachment`, its
    stored type (or bytes), no sniffing, and a policy that runs and loads nothing should a
    browser open it anyway."""
    assert found.content is not None
    media = found.content_type.lower() if _MEDIA_TYPE.match(found.content_type.lower()) \
        else "application/octet-stream"
    name = found.filename or "attachment"
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:150] or "attachment"
    return Response(found.content, media_type=media, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                               f"filename*=UTF-8''{quote(name[:150], safe='')}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "no-store",
    })


def changed_since(s: ComplaintState, seen: int, member_id: str) -> list[TimelineEvent]:
    """What other people did on the complaint after the event `seen` (the last one the
    person's page showed): their own actions and the product's own doings do not count."""
    return [e for e in s.timeline
            if e.seq > seen and e.actor not in (SYSTEM, member_id)]


def describe_changes(events: list[TimelineEvent], cal: CalendarPolicy) -> str:
    return "; ".join(f"{e.event.replace('_', ' ')} by {e.actor} at {ui.local(e.at, cal)}"
                     + (f" ({e.detail[:120]})" if e.detail else "") for e in events[-5:])
