"""Chat alerts (docs/integrations.md): what on-call reads in Slack or Microsoft Teams.

`chat_message(kind, alerts)` is the one way an alert becomes a message: Slack's Block Kit
(`blocks` of `section` and `context`) or a Teams message carrying an Adaptive Card. It takes
a list, so several alerts can go out as one message (a digest) as well as one at a time.
An alert carries the CRN, what happened, the deadline, the owner and a console link: never
the customer's name, address or words. Pure functions, no I/O: the outbox writer and
workflow code may both call them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

SLACK = "slack"
TEAMS = "teams"
CHAT_KINDS = (SLACK, TEAMS)
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


class ChatAlert(BaseModel):
    crn: str
    headline: str  # "Deadline breached: phone contact"
    deadline: str | None = None  # the deadline's name
    due: str | None = None  # when it was (or is) due, as people read it
    owner: str  # the owner's name, or "unassigned"
    link: str  # the complaint's page in the staff console


def chat_message(kind: str, alerts: list[ChatAlert]) -> dict[str, Any]:
    """One message for `alerts` in the format of `kind` (slack or teams)."""
    if not alerts:
        raise ValueError("a chat message needs at least one alert")
    if kind == SLACK:
        return slack_message(alerts)
    if kind == TEAMS:
        return teams_message(alerts)
    raise ValueError(f"unknown chat kind {kind!r}: {', '.join(CHAT_KINDS)}")


def _summary(alerts: list[ChatAlert]) -> str:
    if len(alerts) == 1:
        return f"{alerts[0].crn}: {alerts[0].headline}"
    return f"{len(alerts)} complaint alerts"


def _facts(alert: ChatAlert) -> list[tuple[str, str]]:
    facts = [("CRN", alert.crn)]
    if alert.deadline:
        facts.append(("Deadline", alert.deadline.replace("_", " ")))
    if alert.due:
        facts.append(("Due", alert.due))
    facts.append(("Owner", alert.owner))
    return facts


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(alerts: list[ChatAlert]) -> dict[str, Any]:
    """Block Kit: per alert a `section` (headline and facts) and a `context` (the link)."""
    blocks: list[dict[str, Any]] = []
    for alert in alerts:
        lines = [f"*{_slack_escape(alert.headline)}*"] + [
            f"*{name}:* {_slack_escape(value)}" for name, value in _facts(alert)]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"<{alert.link}|Open {alert.crn} in the console>"}]})
    return {"text": _summary(alerts), "blocks": blocks}


def teams_message(alerts: list[ChatAlert]) -> dict[str, Any]:
    """An incoming-webhook message whose one attachment is an Adaptive Card (1.4)."""
    body: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    for alert in alerts:
        body.append({"type": "TextBlock", "text": alert.headline, "weight": "Bolder",
                     "size": "Medium", "wrap": True})
        body.append({"type": "FactSet", "facts": [{"title": name, "value": value}
                                                  for name, value in _facts(alert)]})
        actions.append({"type": "Action.OpenUrl", "title": f"Open {alert.crn}",
                        "url": alert.link})
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard", "version": "1.4", "body": body, "actions": actions}
    return {"type": "message", "summary": _summary(alerts),
            "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}]}
