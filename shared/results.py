"""What one (tenant, job) comes to, as data: the runner produces it, the ledger records it.

Kept apart from both so that neither imports the other.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from shared.errors import XtenantError


class Mode(enum.StrEnum):
    """What a job may do in a tenant: `plan` reads and reports, `apply` also writes.

    For a standard they are its `report` and `remediate` modes: requests and enrolments may
    use either name; what is stored and shown is `plan` or `apply`.
    """

    PLAN = "plan"
    APPLY = "apply"

    @classmethod
    def parse(cls, value: object) -> Mode:
        """The mode named by `value`; ValueError with the one wording every input shares."""
        if isinstance(value, str) and value in cls._value2member_map_:
            return cls(value)
        if isinstance(value, str) and value in _ALIASES:
            return _ALIASES[value]
        raise ValueError("mode must be plan or apply (report or remediate)")

    def allows(self, other: Mode) -> bool:
        """Whether a run in `other` mode stays within this mode (apply allows plan)."""
        return self is Mode.APPLY or other is Mode.PLAN


_ALIASES = {"report": Mode.PLAN, "remediate": Mode.APPLY}


class RunOrigin(enum.StrEnum):
    """Who started a run, decided by the trigger that started it, never by a request body.

    A scheduled run skips tenants whose health says a person must act first; a manual run
    tries them (an operator asked for exactly those tenants).
    """

    SCHEDULE = "schedule"
    MANUAL = "manual"


class Status(enum.StrEnum):
    """A ledger row's status: one (tenant, job) in one run."""

    QUEUED = "queued"
    #: written but not sent: its run awaits approval, or an earlier ring (shared/rollout.py)
    HELD = "held"
    RUNNING = "running"
    CHANGED = "changed"
    NO_CHANGES = "no_changes"
    PLANNED = "planned"
    FAILED = "failed"
    SKIPPED = "skipped"
    #: the job does not apply to the tenant (a prerequisite it lacks): done, not failed
    NOT_APPLICABLE = "not_applicable"
    #: ended by an app-wide outage (the app's own identity), not by anything of the tenant's
    BLOCKED = "blocked"
    #: an operator cancelled the run before this row started: it never ran
    CANCELLED = "cancelled"

    @classmethod
    def _missing_(cls, value: object) -> Status | None:
        # rows written before applicability existed said `not_licensed`
        return cls.NOT_APPLICABLE if value == "not_licensed" else None


class RunState(enum.StrEnum):
    """Where a held run stands (the run entity's `state`; empty for a run sent at once)."""

    AWAITING_APPROVAL = "awaiting_approval"
    ROLLING = "rolling"
    HALTED = "halted"
    REJECTED = "rejected"
    ABORTED = "aborted"
    EXPIRED = "expired"


#: States the run's status shows instead of the one its rows give.
SHOWN_STATES = frozenset(
    {RunState.AWAITING_APPROVAL, RunState.HALTED, RunState.REJECTED, RunState.EXPIRED}
)


@dataclass
class TenantResult:
    tenant_id: str
    job: str
    mode: Mode
    status: Status
    changes_planned: int = 0
    changes_applied: int = 0
    changes: list[dict[str, Any]] = field(default_factory=list)
    #: one per governed setting (a standard) or object acted on: setting, desired, observed,
    #: compliant, and `state` (compliant / drifted / accepted)
    findings: list[dict[str, Any]] = field(default_factory=list)
    #: a standard's settings that changed state since its last run in this tenant
    drift: dict[str, list[str]] = field(default_factory=dict)
    #: what the compliance store knew before this evaluation (the worker's, for recording)
    standing: Any = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)
    #: the service plans the tenant's licences showed, when the job read them (applicability)
    service_plans: frozenset[str] | None = None
    error: XtenantError | None = None
    duration_s: float = 0.0
    graph_requests: int = 0
    #: Graph requests sent again after a throttle or failure, and seconds spent waiting
    retries: int = 0
    waited_s: float = 0.0

    @property
    def retryable(self) -> bool:
        return self.error is not None and self.error.retryable and self.status is Status.FAILED
