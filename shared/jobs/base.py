"""What a job is: a name, a one-line description, the Graph permissions it needs, typed
parameters, its kind (a standard governs settings, an action job performs actions), and two
steps — `plan` (read, report, no writes; one finding per setting or object) and `apply`
(perform the plan).

Jobs are idempotent "ensure" operations: applying twice changes nothing the second time, and a
crash halfway converges on the next run, because every run plans from the tenant's live state.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Generic, Literal, TypeVar

from shared.errors import XtenantError
from shared.graph import GraphSession
from shared.jobs import params as job_params
from shared.jobs.applicability import Prerequisite, TenantFacts
from shared.jobs.compare import SET_LIKE, Comparison


class InvalidParams(XtenantError, ValueError):
    """A job's parameters are wrong; the message names every bad field at once."""

    error_class = "invalid_params"

    def __init__(self, job: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"invalid params for {job}: " + "; ".join(problems),
            remediation="Fix the enrolment's or the request's params and run again.",
        )


@dataclass(frozen=True)
class Change:
    """One difference between the tenant and what the job wants; `apply` performs it."""

    target: str
    action: str
    before: Any = None
    after: Any = None
    #: what apply needs that is not for show (object ids, request bodies)
    data: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def as_record(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "action": self.action,
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True)
class Finding:
    """One governed setting (a standard) or one object acted on (an action job): what is wanted,
    what the tenant has, whether they agree, and the change(s) that would make them agree."""

    setting: str
    desired: Any
    observed: Any
    compliant: bool
    changes: tuple[Change, ...] = ()
    #: the id of the tenant object the setting lives in (e.g. a policy xtenant created),
    #: remembered in the compliance store and handed back to the next plan (`refs`)
    ref: str | None = None
    #: how the setting compares (shared.jobs.compare), also against an accepted value
    how: Comparison = field(default=SET_LIKE, compare=False, repr=False)

    def as_record(self) -> dict[str, Any]:
        record = {
            "setting": self.setting,
            "desired": self.desired,
            "observed": self.observed,
            "compliant": self.compliant,
        }
        return record | ({"ref": self.ref} if self.ref else {})


@dataclass
class Plan:
    job: str
    tenant_id: str
    changes: list[Change] = field(default_factory=list)
    #: one per governed setting (a standard) or per object acted on (an action job)
    findings: list[Finding] = field(default_factory=list)
    #: things the operator should know that are not changes (unknown UPNs, exclusions used)
    notes: list[str] = field(default_factory=list)
    #: job-specific facts apply needs (e.g. the group id found while planning)
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChangeOutcome:
    change: Change
    error: XtenantError | None = None
    #: the id of the object the change created, for its finding's `ref`
    ref: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


P = TypeVar("P")


@dataclass(frozen=True)
class Known:
    """What the app knows of a tenant before a job plans there, besides Graph."""

    #: setting -> the id of the object it lived in at the last evaluation (a finding's `ref`):
    #: how a standard finds an object it created even after the customer renamed it
    refs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: the tenant's service plans and the app's cloud, when the job has prerequisites or
    #: `reads_licences` (shared.jobs.applicability)
    facts: TenantFacts | None = None


NOTHING_KNOWN = Known()
JobKind = Literal["standard", "action"]


class Job(Generic[P]):
    """Base of every job. Subclasses set the class attributes and implement plan and apply."""

    name: ClassVar[str]
    description: ClassVar[str]
    permissions: ClassVar[tuple[str, ...]]
    #: a frozen dataclass whose fields say their type, description, default and rules
    #: (shared.jobs.params)
    params_type: ClassVar[type[Any]]
    #: a standard governs settings (kept in the compliance store); an action job performs actions
    kind: ClassVar[JobKind] = "action"
    #: what a tenant needs for the job to apply (shared.jobs.applicability); a job that needs
    #: service plans lists `LicenseAssignment.Read.All` in its permissions too
    prerequisites: ClassVar[tuple[Prerequisite, ...]] = ()
    #: whether plan needs the tenant's service plans (`known.facts`) without requiring any
    reads_licences: ClassVar[bool] = False

    def parse_params(self, raw: Mapping[str, Any] | None) -> P:
        """Typed params from JSON input, defaults filled in; InvalidParams lists every problem."""
        params, problems = job_params.validate(self.params_type, raw or {})
        if params is not None:
            problems.extend(self.check(params))
        if problems:
            raise InvalidParams(self.name, problems)
        return typing.cast(P, params)

    def find(self, finding: Finding, plan: Plan) -> None:
        """Record a finding in `plan`; its changes become the plan's."""
        plan.findings.append(finding)
        plan.changes.extend(finding.changes)

    def check(self, params: P) -> list[str]:
        """Rules across fields, beyond what one field's type and rules say; each names its field."""
        return []

    @classmethod
    def params_schema(cls) -> dict[str, Any]:
        """The params as JSON Schema: each field's type, description, default and rules."""
        return job_params.schema(cls.params_type)

    async def plan(self, session: GraphSession, params: P, known: Known = NOTHING_KNOWN) -> Plan:
        """Read the tenant and say what differs (`known`: refs and facts, see Known)."""
        raise NotImplementedError

    async def apply(self, session: GraphSession, plan: Plan) -> list[ChangeOutcome]:
        raise NotImplementedError
