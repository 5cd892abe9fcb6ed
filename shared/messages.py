"""The queue message: one (run, tenant, job), versioned JSON, and the queues it travels on.

    {"v": 2, "run_id": "...", "tenant_id": "<guid>", "job": "guest-cleanup", "mode": "apply",
     "params": {...}, "origin": "schedule", "requested_at": "2026-11-28T22:00:00+00:00",
     "requested_by": "schedule"}

A message that cannot be read is a BadMessage: recorded and completed, never retried (retrying
cannot fix it). Other versions are bad messages too: a worker must not guess what they mean.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from shared.errors import XtenantError
from shared.ids import is_guid, is_run_id
from shared.jobs import JOBS
from shared.results import Mode, RunOrigin
from shared.stored import from_text

VERSION = 2
#: The work queue; the Functions host moves a message that failed maxDequeueCount times to
#: `<queue>-poison` (docs/decisions.md#queue-settings).
QUEUE = "tenant-jobs"
POISON_QUEUE = f"{QUEUE}-poison"


#: A job's params, as JSON, at most this long: the row keeps them whole (a table property holds
#: 32K characters) and the message stays well under the queue's 64 KiB after base64.
MAX_PARAMS_CHARS = 30_000


def params_problem(params: object) -> str | None:
    """Why params are too large to run with, or None."""
    size = len(json.dumps(params, separators=(",", ":"), default=str))
    if size > MAX_PARAMS_CHARS:
        return f"params are {size:,} characters as JSON; at most {MAX_PARAMS_CHARS:,} are allowed"
    return None


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


@dataclass(frozen=True)
class TenantJobMessage:
    run_id: str
    tenant_id: str
    job: str
    mode: Mode
    params: dict[str, Any] = field(default_factory=dict)
    origin: RunOrigin = RunOrigin.MANUAL
    requested_at: str = ""
    requested_by: str = ""
    v: int = VERSION

    @property
    def scheduled(self) -> bool:
        return self.origin is RunOrigin.SCHEDULE

    @classmethod
    def from_row(
        cls, run_id: str, run: Mapping[str, Any], row: Mapping[str, Any]
    ) -> TenantJobMessage:
        """The message for a ledger row, as the run recorded it (the sweeper sending a lost
        message again; a rollout ring releasing its held rows)."""
        return cls(
            run_id=run_id,
            tenant_id=str(row["tenant_id"]),
            job=str(row["job"]),
            mode=Mode(row["mode"]),
            params=from_text(row.get("params"), {}),
            origin=RunOrigin(row.get("origin") or run.get("origin") or RunOrigin.MANUAL.value),
            requested_at=str(run.get("requested_at", "")),
            requested_by=str(run.get("requested_by", "")),
        )

    def to_json(self) -> str:
        body = asdict(self)
        body["mode"], body["origin"] = self.mode.value, self.origin.value
        return json.dumps(body, separators=(",", ":"), sort_keys=True)

    @classmethod
    def parse(cls, body: bytes | str) -> TenantJobMessage:
        """Validate everything at once; raise BadMessage listing every problem."""
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
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
            origin=RunOrigin(data["origin"]),
            requested_at=data["requested_at"],
            requested_by=data["requested_by"],
        )


_TEXT_FIELDS = ("run_id", "tenant_id", "job", "mode", "origin", "requested_at", "requested_by")


def _problems(data: dict[str, Any]) -> list[str]:
    if data.get("v") != VERSION:
        return [f"unsupported version v={data.get('v')!r} (this worker reads v={VERSION})"]
    problems = [
        f"{name} must be a non-empty string"
        for name in _TEXT_FIELDS
        if not isinstance(data.get(name), str) or not data[name]
    ]
    if problems:
        return problems
    if not is_run_id(data["run_id"]):
        problems.append("run_id must be 1-64 letters, digits or dashes")
    if not is_guid(data["tenant_id"]):
        problems.append("tenant_id must be a GUID")
    if data["job"] not in JOBS:
        problems.append(f"unknown job {data['job']!r}")
    if data["mode"] not in Mode._value2member_map_:
        problems.append("mode must be plan or apply")
    if data["origin"] not in RunOrigin._value2member_map_:
        problems.append("origin must be schedule or manual")
    if not isinstance(data.get("params", {}), dict):
        problems.append("params must be an object")
    return problems
