"""The queue message: one (run, tenant, job), versioned JSON.

    {"v": 1, "run_id": "...", "tenant_id": "<guid>", "job": "guest-cleanup", "mode": "apply",
     "params": {...}, "requested_at": "2026-11-28T22:00:00+00:00", "requested_by": "schedule"}

A message that cannot be read is a BadMessage: recorded and completed, never retried (retrying
cannot fix it). Unknown versions are bad messages too: an older worker must not guess.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.errors import XtenantError
from shared.jobs import JOBS, Mode
from shared.settings import is_guid

VERSION = 1
_RUN_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class BadMessage(XtenantError, ValueError):
    """A queue message that cannot be processed; `known` keeps the fields that could be read."""

    error_class = "bad_message"

    def __init__(self, problems: list[str], known: dict[str, str]) -> None:
        self.problems = problems
        self.known = known
        super().__init__(
            "bad queue message: " + "; ".join(problems),
            tenant_id=known.get("tenant_id"),
            remediation="Dropped, not retried. Whoever wrote it must follow the message schema.",
        )


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: `20261128T220000Z-<8 hex>`."""
    import uuid

    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{moment}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class TenantJobMessage:
    run_id: str
    tenant_id: str
    job: str
    mode: Mode
    params: dict[str, Any] = field(default_factory=dict)
    requested_at: str = ""
    requested_by: str = "schedule"
    v: int = VERSION

    @property
    def scheduled(self) -> bool:
        return self.requested_by == "schedule"

    def to_json(self) -> str:
        body = asdict(self)
        body["mode"] = self.mode.value
        return json.dumps(body, separators=(",", ":"), sort_keys=True)

    @classmethod
    def parse(cls, body: bytes | str) -> TenantJobMessage:
        """Validate everything at once; raise BadMessage listing every problem."""
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadMessage([f"not JSON ({exc.__class__.__name__})"], {}) from None
        if not isinstance(data, dict):
            raise BadMessage(["not a JSON object"], {})
        known = {k: str(data[k])[:80] for k in ("run_id", "tenant_id", "job") if k in data}
        problems = _problems(data)
        if problems:
            raise BadMessage(problems, known)
        return cls(
            run_id=data["run_id"],
            tenant_id=data["tenant_id"].lower(),
            job=data["job"],
            mode=Mode(data["mode"]),
            params=data.get("params") or {},
            requested_at=data["requested_at"],
            requested_by=data["requested_by"],
        )


def _problems(data: dict[str, Any]) -> list[str]:
    if data.get("v") != VERSION:
        return [f"unsupported version v={data.get('v')!r} (this worker reads v={VERSION})"]
    problems = []
    for name in ("run_id", "tenant_id", "job", "mode", "requested_at", "requested_by"):
        if not isinstance(data.get(name), str) or not data[name]:
            problems.append(f"{name} must be a non-empty string")
    if problems:
        return problems
    if not _RUN_ID.match(data["run_id"]):
        problems.append("run_id must be 1-64 letters, digits or dashes")
    if not is_guid(data["tenant_id"]):
        problems.append("tenant_id must be a GUID")
    if data["job"] not in JOBS:
        problems.append(f"unknown job {data['job']!r}")
    if data["mode"] not in {m.value for m in Mode}:
        problems.append("mode must be plan or apply")
    if not isinstance(data.get("params", {}), dict):
        problems.append("params must be an object")
    return problems
