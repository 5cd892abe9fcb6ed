"""Applicability as pure logic: which service plans a tenant can use, and which prerequisite it
lacks, in words an operator reads; the licence cache's one read per (run, tenant)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shared.jobs import JOBS
from shared.jobs.applicability import (
    ENTRA_ID_P1,
    LICENCE_PERMISSION,
    InClouds,
    LicenceCache,
    TenantFacts,
    unmet,
    usable_plans,
)
from shared.results import Status


def sku(status: str, *plans: tuple[str, str]) -> dict[str, Any]:
    return {
        "capabilityStatus": status,
        "servicePlans": [{"servicePlanName": n, "provisioningStatus": p} for n, p in plans],
    }


def test_only_provisioned_plans_of_working_subscriptions_count() -> None:
    skus = [
        sku("Enabled", ("AAD_PREMIUM", "Success"), ("EXCHANGE_S_STANDARD", "Disabled")),
        sku("Warning", ("INTUNE_A", "Success")),  # lapsed, in its grace period: still works
        sku("Suspended", ("AAD_PREMIUM_P2", "Success")),
        sku("LockedOut", ("SHAREPOINTSTANDARD", "Success")),
        sku("Enabled", ("MCOSTANDARD", "PendingProvisioning")),
    ]

    assert usable_plans(skus) == {"AAD_PREMIUM", "INTUNE_A", "MCOSTANDARD"}


@pytest.mark.parametrize(
    ("plans", "applies"),
    [
        ({"AAD_PREMIUM"}, True),
        ({"AAD_PREMIUM_P2"}, True),
        ({"EXCHANGE_S_STANDARD"}, False),
        (set(), False),
    ],
)
def test_entra_id_p1_is_either_premium_plan(plans: set[str], applies: bool) -> None:
    reason = unmet((ENTRA_ID_P1,), TenantFacts("public", frozenset(plans)))

    assert (reason is None) is applies
    if not applies:
        assert reason == (
            "needs Entra ID P1 (service plan AAD_PREMIUM or AAD_PREMIUM_P2); the tenant has none"
        )


def test_a_cloud_prerequisite_names_the_cloud_and_needs_no_licences() -> None:
    api = InClouds("The SharePoint settings API", ("public", "usgov"))

    assert not api.needs_licences
    assert unmet((api,), TenantFacts("usgov")) is None
    assert unmet((api,), TenantFacts("china")) == (
        "The SharePoint settings API is not available in the china cloud"
    )


def test_the_first_unmet_prerequisite_is_the_reason() -> None:
    api = InClouds("Feature X", ("public",))
    facts = TenantFacts("china", frozenset())

    assert unmet((api, ENTRA_ID_P1), facts) == "Feature X is not available in the china cloud"


def test_a_job_that_needs_service_plans_may_read_them() -> None:
    for job in JOBS.values():
        needs = job.reads_licences or any(p.needs_licences for p in job.prerequisites)
        assert (LICENCE_PERMISSION in job.permissions) is needs, job.name


def test_rows_written_as_not_licensed_read_as_not_applicable() -> None:
    assert Status("not_licensed") is Status.NOT_APPLICABLE
    with pytest.raises(ValueError, match="is not a valid Status"):
        Status("licenced")


async def test_the_cache_reads_once_per_run_and_tenant_and_forgets_failures() -> None:
    cache, reads = LicenceCache(size=2), []
    gate = asyncio.Event()

    async def read() -> frozenset[str]:
        reads.append(1)
        await gate.wait()
        return frozenset({"AAD_PREMIUM"})

    waiting = [asyncio.ensure_future(cache.plans("r1", "t1", read)) for _ in range(3)]
    gate.set()
    assert [await w for w in waiting] == [frozenset({"AAD_PREMIUM"})] * 3
    assert len(reads) == 1

    async def broken() -> frozenset[str]:
        raise RuntimeError("graph said no")

    with pytest.raises(RuntimeError):
        await cache.plans("r1", "t2", broken)
    assert await cache.plans("r1", "t2", read) == frozenset({"AAD_PREMIUM"})
    assert len(reads) == 2


async def test_the_cache_is_bounded() -> None:
    cache, reads = LicenceCache(size=2), []

    async def read() -> frozenset[str]:
        reads.append(1)
        return frozenset()

    for tenant in ("t1", "t2", "t3", "t1"):
        await cache.plans("r1", tenant, read)

    assert len(reads) == 4  # t1 was the oldest when t3 came, so it was read again
