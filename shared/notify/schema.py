"""The event as it travels: its fields, kinds, severities, and its deterministic id.

    {"id": "<uuid>", "kind": "tenant_quarantined", "schema_version": "1",
     "occurred_at": "2026-11-28T02:04:11+00:00", "subject": "<tenant id>",
     "severity": "error", "summary": "one line a person reads",
     "data": {...kind-specific...}, "links": {"tenant": "https://<app>/api/tenants/<id>"}}

docs/notifications.md documents the schema (version 1); events.py builds each kind.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

SCHEMA_VERSION = "1"
#: The namespace of every event id (UUIDv5, RFC 9562 section 5.5).
NAMESPACE = uuid.UUID("5d7c3f0e-2b1a-4c8e-9f61-3a0d4b7e9c21")


class EventKind(enum.StrEnum):
    RUN_FINISHED = "run_finished"
    RUN_HALTED = "run_halted"
    APPROVAL_REQUESTED = "approval_requested"
    DRIFT_NEW = "drift_new"
    DRIFT_FIXED = "drift_fixed"
    TENANT_NEEDS_CONSENT = "tenant_needs_consent"
    TENANT_MISCONFIGURED = "tenant_misconfigured"
    TENANT_QUARANTINED = "tenant_quarantined"
    TENANT_RECOVERED = "tenant_recovered"
    APP_OUTAGE = "app_outage"
    APP_RECOVERED = "app_recovered"
    POISON_MESSAGE = "poison_message"


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class InvalidEvent(ValueError):
    """A JSON value that is not an event of this schema version."""


@dataclass(frozen=True)
class Event:
    id: str
    kind: EventKind
    occurred_at: str
    subject: str
    severity: Severity
    summary: str
    data: dict[str, Any] = field(default_factory=dict)
    #: name -> URL; builders give paths (`/api/runs/<id>`), the notifier makes them absolute
    links: dict[str, str] = field(default_factory=dict)
    schema_version: str = SCHEMA_VERSION

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "schema_version": self.schema_version,
            "occurred_at": self.occurred_at,
            "subject": self.subject,
            "severity": self.severity.value,
            "summary": self.summary,
            "data": self.data,
            "links": self.links,
        }

    @classmethod
    def from_json(cls, raw: Any) -> Event:
        """The event `as_json` wrote; InvalidEvent for anything else."""
        if not isinstance(raw, dict) or raw.get("schema_version") != SCHEMA_VERSION:
            raise InvalidEvent(f"not a version {SCHEMA_VERSION} event")
        try:
            return cls(
                id=str(uuid.UUID(raw["id"])),
                kind=EventKind(raw["kind"]),
                occurred_at=str(raw["occurred_at"]),
                subject=str(raw["subject"]),
                severity=Severity(raw["severity"]),
                summary=str(raw["summary"]),
                data=dict(raw.get("data") or {}),
                links={str(k): str(v) for k, v in dict(raw.get("links") or {}).items()},
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidEvent(f"event field missing or wrong: {exc}") from None

    def linked_from(self, base_url: str) -> Event:
        """The event with its relative links made absolute under the app's public URL."""
        links = {k: base_url + v if v.startswith("/") else v for k, v in self.links.items()}
        return replace(self, links=links)


def event_id(kind: EventKind, subject: str, change: str) -> str:
    """Deterministic: the same (kind, subject, change) always has the same id."""
    return str(uuid.uuid5(NAMESPACE, f"{kind.value}|{subject}|{change}"))
