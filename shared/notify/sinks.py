"""Where events go, and the body each sink is sent: the event itself, or a Teams card.

- `webhook`: the event's JSON, as is (docs/notifications.md documents the schema).
- `teams`: a Workflows webhook ("Post to a channel when a webhook request is received"). The
  workflow expects a message whose attachments hold Adaptive Cards; Workflows take Adaptive
  Cards only, not the connectors' old MessageCard:
  https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using
  The card says what happened and links to the run (or the tenant) in the app's API.

A sink's URL embeds the token that lets anyone post: it is a `Secret` (repr hides it), never
logged, never stored, never put in a queue message; a delivery names its sink by kind only.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.notify.schema import Event, Severity
from shared.settings import Secret, Settings


class SinkKind(enum.StrEnum):
    WEBHOOK = "webhook"
    TEAMS = "teams"


@dataclass(frozen=True)
class Sink:
    kind: SinkKind
    url: Secret

    def body(self, event: Event) -> dict[str, Any]:
        """What this sink is sent for `event`."""
        if self.kind is SinkKind.TEAMS:
            return teams_message(event)
        return event.as_json()


def sinks_from(settings: Settings) -> dict[SinkKind, Sink]:
    """The sinks the settings configure (none: notifications are off)."""
    urls = {SinkKind.WEBHOOK: settings.webhook_url, SinkKind.TEAMS: settings.teams_webhook_url}
    return {kind: Sink(kind, url) for kind, url in urls.items() if url is not None}


#: Adaptive Card 1.4: what Teams renders on desktop, web and mobile alike.
#: https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/cards-reference
CARD_VERSION = "1.4"
_COLOUR = {Severity.INFO: "Good", Severity.WARNING: "Warning", Severity.ERROR: "Attention"}
_LINK_TITLES = {
    "run": "Open the run",
    "tenant": "Open the tenant",
    "compliance": "Open the tenant's compliance",
    "health": "Open the app's health",
}


def teams_message(event: Event) -> dict[str, Any]:
    """The message a Teams Workflows webhook takes: one Adaptive Card attachment."""
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": adaptive_card(event),
            }
        ],
    }


def adaptive_card(event: Event) -> dict[str, Any]:
    """A card: the kind as a coloured title, the summary, the facts, a button per link."""
    title = event.kind.value.replace("_", " ").capitalize()
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": [
            {
                "type": "TextBlock",
                "text": f"xtenant: {title}",
                "weight": "Bolder",
                "size": "Medium",
                "color": _COLOUR[event.severity],
                "wrap": True,
            },
            {"type": "TextBlock", "text": event.summary, "wrap": True},
            {"type": "FactSet", "facts": _facts(event)},
        ],
        "actions": [
            {"type": "Action.OpenUrl", "title": _LINK_TITLES.get(name, name), "url": url}
            for name, url in event.links.items()
        ],
    }


def _facts(event: Event) -> list[dict[str, str]]:
    """The event's short scalar data (ids, statuses, counts), then when, its kind and id."""
    facts = [
        {"title": name.replace("_", " "), "value": str(value)}
        for name, value in event.data.items()
        if _short(value)
    ]
    facts.append({"title": "occurred at", "value": event.occurred_at})
    facts.append({"title": "event kind", "value": event.kind.value})
    facts.append({"title": "event id", "value": event.id})
    return facts


def _short(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    return isinstance(value, int | float) or (isinstance(value, str) and 0 < len(value) <= 120)


def configured(sinks: Mapping[SinkKind, Sink]) -> list[str]:
    """The configured sinks by kind, for GET /api/health (never their URLs)."""
    return sorted(kind.value for kind in sinks)
