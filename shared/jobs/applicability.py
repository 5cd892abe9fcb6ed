"""Whether a job applies to a tenant at all: what it needs (a service plan such as Entra ID P1,
a cloud) against what the tenant has.

A tenant lacking a prerequisite gets `not_applicable` with the reason: not a failure, and its
health does not change. The tenant's licences (`GET /subscribedSkus`) are read at most once per
(run, tenant) in a process, however many of its jobs need them, and only when one does.
docs/decisions.md#applicability
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

#: capabilityStatus values whose service plans still work (Warning: the grace period)
_WORKING = frozenset({"Enabled", "Warning"})
#: provisioningStatus values of a service plan the tenant can use
_PROVISIONED = frozenset({"Success", "PendingProvisioning", "PendingActivation"})


@dataclass(frozen=True)
class TenantFacts:
    """What a prerequisite may ask of a tenant: its usable service plans, the app's cloud."""

    cloud: str
    #: None until a prerequisite needed them (they cost a Graph read)
    service_plans: frozenset[str] | None = None


class Prerequisite(Protocol):
    """Something a tenant needs for a job to apply."""

    #: whether judging it needs the tenant's service plans
    @property
    def needs_licences(self) -> bool: ...

    def unmet(self, facts: TenantFacts) -> str | None:
        """Why the tenant does not meet it, or None when it does."""


@dataclass(frozen=True)
class ServicePlan:
    """Any one of these service plans, provisioned in a working subscription."""

    label: str
    plans: tuple[str, ...]

    @property
    def needs_licences(self) -> bool:
        return True

    def unmet(self, facts: TenantFacts) -> str | None:
        have = facts.service_plans or frozenset()
        if have.isdisjoint(self.plans):
            names = " or ".join(self.plans)
            return f"needs {self.label} (service plan {names}); the tenant has none"
        return None


@dataclass(frozen=True)
class InClouds:
    """Available only in these clouds (Graph's national cloud deployments)."""

    label: str
    clouds: tuple[str, ...]

    @property
    def needs_licences(self) -> bool:
        return False

    def unmet(self, facts: TenantFacts) -> str | None:
        if facts.cloud not in self.clouds:
            return f"{self.label} is not available in the {facts.cloud} cloud"
        return None


#: Entra ID P1, alone or within P2 (every P2 SKU carries the P1 plan as well)
ENTRA_ID_P1 = ServicePlan("Entra ID P1", ("AAD_PREMIUM", "AAD_PREMIUM_P2"))
#: the permission `GET /subscribedSkus` needs (least privileged)
LICENCE_PERMISSION = "LicenseAssignment.Read.All"


def usable_plans(skus: Iterable[dict[str, Any]]) -> frozenset[str]:
    """Service plan names the tenant can use, from `GET /subscribedSkus` answers."""
    return frozenset(
        str(plan.get("servicePlanName"))
        for sku in skus
        if sku.get("capabilityStatus") in _WORKING
        for plan in sku.get("servicePlans") or []
        if plan.get("provisioningStatus") in _PROVISIONED
    )


def unmet(prerequisites: Iterable[Prerequisite], facts: TenantFacts) -> str | None:
    """The first prerequisite the tenant does not meet, as a reason; None when all are met."""
    return next((r for p in prerequisites if (r := p.unmet(facts)) is not None), None)


ReadPlans = Callable[[], Awaitable[frozenset[str]]]


class LicenceCache:
    """Each (run, tenant)'s service plans, read once in this process and shared by its jobs.

    Concurrent jobs of the same tenant wait on the one read; a read that fails is forgotten,
    so the next job asks again. Bounded: the oldest entries go first.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, str], asyncio.Future[frozenset[str]]] = OrderedDict()

    async def plans(self, run_id: str, tenant_id: str, read: ReadPlans) -> frozenset[str]:
        key = (run_id, tenant_id)
        entry = self._entries.get(key)
        if entry is None:
            entry = asyncio.ensure_future(read())
            self._entries[key] = entry
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        try:
            return await asyncio.shield(entry)
        except BaseException:
            if self._entries.get(key) is entry:
                del self._entries[key]
            raise
