"""The chaos suite's customer tenants: who misbehaves how, and what each is enrolled in.

Every tenant is enrolled in the three jobs, mostly in apply mode (one (tenant, job) in five
plans). A tenant's own fault, spread evenly over the tenants by index:
  throttled        Graph answers 429 with Retry-After to its first requests; every other one is
                   throttled at the token endpoint too (429 with Retry-After)
  graph_5xx        Graph answers 500, 502, 503 or 504 to its first requests
  consent_revoked  its admin removed the consent (AADSTS65001)
  ca_blocked       its Conditional Access blocks the app (AADSTS53003)
  deleted          the tenant is gone (AADSTS90002)
  federation       no fault of its own; see FEDERATION below
  none             no fault
Tenants with no tenant fault (none, federation) must end the run `healthy`: whatever else goes
wrong during the run is app-wide.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, replace
from typing import Any

from devtools.fakecloud.faults import Fault
from devtools.fakecloud.scenario import Scenario, TenantSpec, TenantStateName, make_scenario

_NAMESPACE = uuid.UUID("1d6f5b9e-2c47-4a8e-9d3e-7c0c4f2a9b61")
JOBS = ("guest-cleanup", "ensure-group", "tenant-baseline")
GROUP_NICKNAME = "xtenant-chaos"


class TenantFault(enum.StrEnum):
    NONE = "none"
    THROTTLED = "throttled"
    GRAPH_5XX = "graph_5xx"
    CONSENT_REVOKED = "consent_revoked"
    CA_BLOCKED = "ca_blocked"
    DELETED = "deleted"
    #: A per-tenant federation mismatch does not exist in Entra: the federated credential lives
    #: on the app registration in the app's home tenant, and every customer tenant's token is
    #: asked for with the same assertion against it, so AADSTS70021 hits every tenant at once.
    #: The tenant named for it has no fault of its own; the suite models the mismatch as what it
    #: is, app-wide: a window in which the token endpoint answers 70021 for every tenant
    #: (devtools/chaos/timeline.py).
    FEDERATION = "federation"


_STATES: dict[TenantFault, TenantStateName] = {
    TenantFault.CONSENT_REVOKED: "consent_missing",
    TenantFault.CA_BLOCKED: "blocked_by_policy",
    TenantFault.DELETED: "deleted",
}
_GRAPH_5XX = (500, 502, 503, 504)


def fault_for(index: int) -> TenantFault:
    """Tenant 0 stands for the federation mismatch; then 1 in 10 throttled, 1 in 10 Graph 5xx,
    1 in 20 each consent revoked, Conditional Access blocked, deleted."""
    if index == 0:
        return TenantFault.FEDERATION
    by_ten = {1: TenantFault.THROTTLED, 3: TenantFault.GRAPH_5XX}
    by_twenty = {
        5: TenantFault.CONSENT_REVOKED,
        7: TenantFault.CA_BLOCKED,
        9: TenantFault.DELETED,
    }
    return by_ten.get(index % 10) or by_twenty.get(index % 20) or TenantFault.NONE


@dataclass(frozen=True)
class ChaosTenant:
    index: int
    fault: TenantFault

    @property
    def tenant_id(self) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"chaos-tenant-{self.index}"))

    @property
    def name(self) -> str:
        return f"Chaos {self.index:03d} ({self.fault.value})"

    @property
    def domain(self) -> str:
        return f"chaos{self.index:03d}.onmicrosoft.com"

    @property
    def has_tenant_fault(self) -> bool:
        """A fault of its own; the app-wide ones (federation) are not."""
        return self.fault not in (TenantFault.NONE, TenantFault.FEDERATION)

    def mode(self, job: str) -> str:
        return "plan" if (self.index + JOBS.index(job)) % 5 == 4 else "apply"

    def enrolments(self) -> dict[str, Any]:
        members = [f"user{n}@{self.domain}" for n in (1, 2, 3)]
        params: dict[str, dict[str, Any]] = {
            "guest-cleanup": {"days": 90},
            "ensure-group": {
                "mail_nickname": GROUP_NICKNAME,
                "display_name": "Helpdesk (chaos suite)",
                "description": "Members are set by xtenant.",
                "members": members,
            },
            "tenant-baseline": {},
        }
        return {job: {"mode": self.mode(job), "params": params[job]} for job in JOBS}

    def registration(self) -> dict[str, Any]:
        """The body of PUT /api/tenants/{id}."""
        return {"name": self.name, "enabled": True, "enrolments": self.enrolments()}

    def spec(self) -> TenantSpec:
        """The tenant as the fake cloud knows it: state, faults and directory."""
        return TenantSpec(
            tenant_id=self.tenant_id,
            name=self.name,
            state=_STATES.get(self.fault, "consented"),
            faults=self._faults(),
            graph={
                "domain": self.domain,
                "generate": {"members": 4, "guests": 4, "stale_guests": 2, "seed": self.index},
            },
        )

    def _faults(self) -> tuple[Fault, ...]:
        tid = self.tenant_id
        if self.fault is TenantFault.THROTTLED:
            graph = Fault("graph", "status", tid, status=429, retry_after="2", count=2)
            if self.index % 20 != 1:
                return (graph,)
            token = Fault("token", "status", tid, status=429, retry_after="3", count=1)
            return (graph, token)
        if self.fault is TenantFault.GRAPH_5XX:
            status = _GRAPH_5XX[(self.index // 10) % len(_GRAPH_5XX)]
            return (Fault("graph", "status", tid, status=status, count=2),)
        return ()


def chaos_tenants(count: int) -> list[ChaosTenant]:
    return [ChaosTenant(i, fault_for(i)) for i in range(count)]


def chaos_scenario(tenants: list[ChaosTenant]) -> Scenario:
    """One managed identity, one app trusting it, and the tenants."""
    return replace(make_scenario(0), tenants=tuple(t.spec() for t in tenants))
