"""Applicability: a job whose prerequisites a tenant lacks ends `not_applicable`, reads nothing
else, changes nothing, and leaves the tenant's health alone; the tenant's licences are read once
per (run, tenant) in a process, however many of its jobs need them.
"""

from __future__ import annotations

import asyncio

import pytest

from devtools.fakecloud import FakeCloud, Fault
from shared.graph import GraphPool
from shared.jobs.applicability import LicenceCache
from shared.results import Status
from shared.runner import run_tenant_job
from tests.integration.graph_support import add_tenant, contoso, everything, graph_requests, writes
from tests.integration.stack_fixture import Stack, new_tenant

pytestmark = pytest.mark.integration

GUESTS = {"days": 90}
SKUS = "/v1.0/subscribedSkus"


def paths(cloud: FakeCloud, tenant_id: str) -> list[str]:
    return [r.path for r in graph_requests(cloud, tenant_id)]


async def test_without_entra_p1_guest_cleanup_is_not_applicable_and_reads_no_user(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso(skus=["O365_BUSINESS_ESSENTIALS"]))
    before = everything(cloud, tenant)

    result = await run_tenant_job(
        graph_pool, tenant_id=tenant, job="guest-cleanup", mode="apply", params=GUESTS
    )

    assert result.status is Status.NOT_APPLICABLE
    assert result.error is not None
    assert result.error.error_class == "not_applicable"
    assert "Entra ID P1" in result.error.message
    assert "AAD_PREMIUM" in result.error.message
    assert paths(cloud, tenant) == [SKUS]
    assert everything(cloud, tenant) == before
    assert writes(cloud, tenant) == []


@pytest.mark.parametrize("skus", [["SPB"], ["SPE_E5"], ["O365_BUSINESS_ESSENTIALS", "AAD_PREMIUM"]])
async def test_any_subscription_with_the_p1_plan_makes_it_apply(
    cloud: FakeCloud, graph_pool: GraphPool, skus: list[str]
) -> None:
    tenant = add_tenant(cloud, contoso(skus=skus))

    result = await run_tenant_job(
        graph_pool, tenant_id=tenant, job="guest-cleanup", mode="plan", params=GUESTS
    )

    assert result.status is Status.PLANNED
    assert result.changes_planned == 3


async def test_licences_are_read_once_per_run_and_tenant_by_concurrent_jobs(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso())
    cache = LicenceCache()

    async def plan(run_id: str) -> Status:
        result = await run_tenant_job(
            graph_pool,
            tenant_id=tenant,
            job="guest-cleanup",
            mode="plan",
            params=GUESTS,
            run_id=run_id,
            licences=cache,
        )
        return result.status

    first = await asyncio.gather(*(plan("run-1") for _ in range(4)))
    second = await plan("run-2")

    assert set(first) == {second} == {Status.PLANNED}
    assert paths(cloud, tenant).count(SKUS) == 2  # one for run-1's four jobs, one for run-2


async def test_a_failed_licence_read_is_not_remembered(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso())
    cloud.add_fault(
        Fault(
            service="graph",
            kind="graph_error",
            status=400,
            code="Request_BadRequest",
            tenant_id=tenant,
            path_contains="subscribedSkus",
            count=1,
        )
    )
    cache = LicenceCache()

    async def plan() -> Status:
        result = await run_tenant_job(
            graph_pool,
            tenant_id=tenant,
            job="guest-cleanup",
            mode="plan",
            params=GUESTS,
            run_id="run-1",
            licences=cache,
        )
        return result.status

    assert await plan() is Status.FAILED
    assert await plan() is Status.PLANNED


async def test_graph_saying_no_premium_licence_is_not_applicable_too(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    """The licences said P1 (read first); Graph then refuses signInActivity for want of it."""
    tenant = add_tenant(cloud, contoso())
    cloud.add_fault(
        Fault(service="graph", kind="no_sign_in_licence", tenant_id=tenant, path_contains="/users")
    )

    result = await run_tenant_job(
        graph_pool, tenant_id=tenant, job="guest-cleanup", mode="apply", params=GUESTS
    )

    assert result.status is Status.NOT_APPLICABLE
    assert result.error is not None
    assert result.error.error_class == "not_licensed"
    assert writes(cloud, tenant) == []


async def test_without_permission_to_read_licences_the_row_names_it(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso(), roles=["User.ReadWrite.All", "AuditLog.Read.All"])

    result = await run_tenant_job(
        graph_pool, tenant_id=tenant, job="guest-cleanup", mode="plan", params=GUESTS
    )

    assert result.status is Status.FAILED
    assert result.error is not None
    assert result.error.error_class == "permission_missing"
    assert "LicenseAssignment.Read.All" in result.error.message


async def test_a_not_applicable_row_is_done_and_the_tenant_stays_healthy(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenant = new_tenant(
        cloud, skus=["O365_BUSINESS_ESSENTIALS"], generate={"guests": 3, "stale_guests": 1}
    )
    await stack.register(tenant)

    run_id = await stack.run("guest-cleanup", [tenant], mode="apply", days=90)
    await stack.host.drain(timeout_s=60)
    run = await stack.status(run_id)
    health = (await stack.call("GET", f"/api/tenants/{tenant}")).json()["health"]

    [row] = run["rows"]
    assert row["status"] == "not_applicable"
    assert row["error_class"] == "not_applicable"
    assert "Entra ID P1" in row["message"]
    assert run["status"] == "succeeded"
    assert health["status"] == "healthy"
    assert writes(cloud, tenant) == []
