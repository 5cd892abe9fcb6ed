"""sharepoint-sharing end to end: the runner, real msgraph-sdk over HTTPS, the fake cloud's
Graph. Report writes nothing; remediate converges with one PATCH; a second remediate writes
nothing; a change by someone else is drift, the same meaning written differently is not; a
tenant without SharePoint Online is not_applicable; failures come back classified.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from devtools.fakecloud import FakeCloud, Fault
from shared.graph import GraphPool
from shared.jobs.applicability import LicenceCache
from shared.results import Status, TenantResult
from shared.runner import run_tenant_job
from tests.integration.graph_support import ALL_ROLES, add_tenant, graph_requests, writes

pytestmark = pytest.mark.integration

JOB = "sharepoint-sharing"
CAPABILITY = "sharepoint.sharingCapability"
DOMAINS = "sharepoint.sharingDomainRestriction"
SKUS = "/v1.0/subscribedSkus"


async def run(
    pool: GraphPool,
    tenant_id: str,
    mode: str,
    params: dict[str, Any] | None = None,
    **options: Any,
) -> TenantResult:
    return await run_tenant_job(
        pool, tenant_id=tenant_id, job=JOB, mode=mode, params=params, **options
    )


def settings(cloud: FakeCloud, tenant_id: str) -> dict[str, Any]:
    return cloud.directory(tenant_id).sharepoint_settings()


def compliance(result: TenantResult) -> dict[str, bool]:
    return {f["setting"]: f["compliant"] for f in result.findings}


async def test_report_shows_each_setting_and_writes_nothing(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, {})
    before = settings(cloud, tenant)

    result = await run(graph_pool, tenant, "plan")

    assert result.status is Status.PLANNED
    assert compliance(result) == {
        CAPABILITY: False,
        "sharepoint.isResharingByExternalUsersEnabled": False,
        "sharepoint.isLegacyAuthProtocolsEnabled": False,
        DOMAINS: True,
    }
    capability = next(f for f in result.findings if f["setting"] == CAPABILITY)
    assert (capability["desired"], capability["observed"]) == (
        "existingExternalUserSharingOnly",
        "externalUserAndGuestSharing",
    )
    assert settings(cloud, tenant) == before
    assert writes(cloud, tenant) == []


async def test_remediate_sends_one_patch_of_what_differs_then_nothing(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, {})
    params = {"domain_restriction": "blockList", "blocked_domains": ["evil.example"]}

    first = await run(graph_pool, tenant, "apply", params)
    [applied] = [w for w in cloud.write_log.writes() if w.tenant_id == tenant.lower()]
    cloud.reset_log()
    second = await run(graph_pool, tenant, "apply", params)

    assert first.status is Status.CHANGED
    assert (first.changes_planned, first.changes_applied) == (4, 4)
    assert json.loads(applied.body) == {
        "sharingCapability": "existingExternalUserSharingOnly",
        "isResharingByExternalUsersEnabled": False,
        "isLegacyAuthProtocolsEnabled": False,
        "sharingDomainRestrictionMode": "blockList",
        "sharingBlockedDomainList": ["evil.example"],
    }
    after = settings(cloud, tenant)
    assert after["isLoopEnabled"] is True  # unmanaged settings are left alone
    assert second.status is Status.NO_CHANGES
    assert all(compliance(second).values())
    assert writes(cloud, tenant) == []


async def test_sharing_opened_again_by_someone_else_is_drift(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, {})
    await run(graph_pool, tenant, "apply")

    cloud.directory(tenant).update_sharepoint_settings(
        {"sharingCapability": "externalUserAndGuestSharing"}
    )
    result = await run(graph_pool, tenant, "plan")

    assert result.status is Status.PLANNED
    assert [s for s, ok in compliance(result).items() if not ok] == [CAPABILITY]


async def test_the_same_meaning_written_differently_is_not_drift(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    # given the wanted settings, with the allowed domains in another order and case and a
    # blocked list the allowList mode does not use
    tenant = add_tenant(
        cloud,
        {
            "sharepoint_settings": {
                "sharingCapability": "existingExternalUserSharingOnly",
                "isResharingByExternalUsersEnabled": False,
                "isLegacyAuthProtocolsEnabled": False,
                "sharingDomainRestrictionMode": "allowList",
                "sharingAllowedDomainList": ["Contoso.com", "fabrikam.com"],
                "sharingBlockedDomainList": ["northwind.example"],
            }
        },
    )
    params = {"domain_restriction": "allowList", "allowed_domains": ["fabrikam.com", "contoso.com"]}

    result = await run(graph_pool, tenant, "apply", params)

    assert result.status is Status.NO_CHANGES
    assert all(compliance(result).values())
    assert writes(cloud, tenant) == []


@pytest.mark.parametrize("skus", [["EXCHANGESTANDARD"], ["AAD_PREMIUM"]])
async def test_without_a_sharepoint_plan_it_is_not_applicable_and_reads_no_settings(
    cloud: FakeCloud, graph_pool: GraphPool, skus: list[str]
) -> None:
    tenant = add_tenant(cloud, {"skus": skus})

    result = await run(graph_pool, tenant, "apply")

    assert result.status is Status.NOT_APPLICABLE
    assert result.error is not None
    assert result.error.error_class == "not_applicable"
    assert "SharePoint Online" in result.error.message
    assert [r.path for r in graph_requests(cloud, tenant)] == [SKUS]


@pytest.mark.parametrize("skus", [["SPB"], ["SPE_E5"], ["SPE_F1"], ["EXCHANGESTANDARD", "SPE_F1"]])
async def test_any_sharepoint_plan_makes_it_apply(
    cloud: FakeCloud, graph_pool: GraphPool, skus: list[str]
) -> None:
    tenant = add_tenant(cloud, {"skus": skus})

    result = await run(graph_pool, tenant, "plan")

    assert result.status is Status.PLANNED


async def test_graph_saying_the_tenant_has_no_sharepoint_is_not_applicable_too(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    # given a run that read the tenant's licences while it still had SharePoint
    tenant = add_tenant(cloud, {})
    cache = LicenceCache()
    await run(graph_pool, tenant, "plan", run_id="run-1", licences=cache)

    # when the subscription ends before the run's next job there reads the settings
    cloud.directory(tenant).set_skus(("EXCHANGESTANDARD",))
    result = await run(graph_pool, tenant, "apply", run_id="run-1", licences=cache)

    # then Graph's 400 "Tenant does not have a SPO license." makes the row not_applicable
    assert result.status is Status.NOT_APPLICABLE
    assert result.error is not None
    assert result.error.error_class == "not_licensed"
    assert "Tenant does not have a SPO license." in result.error.message
    assert writes(cloud, tenant) == []


async def test_with_read_only_permission_report_works_and_remediate_names_the_missing_one(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    roles = [r for r in ALL_ROLES if r != "SharePointTenantSettings.ReadWrite.All"]
    tenant = add_tenant(cloud, {}, roles=[*roles, "SharePointTenantSettings.Read.All"])

    report = await run(graph_pool, tenant, "plan")
    remediate = await run(graph_pool, tenant, "apply")

    assert report.status is Status.PLANNED
    assert remediate.status is Status.FAILED
    assert remediate.error is not None
    assert remediate.error.error_class == "permission_missing"
    assert "SharePointTenantSettings.ReadWrite.All" in remediate.error.message


async def test_a_refused_patch_surfaces_graphs_message_and_changes_nothing(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, {})
    before = settings(cloud, tenant)
    cloud.add_fault(
        Fault(
            service="graph",
            kind="graph_error",
            status=400,
            code="Request_BadRequest",
            tenant_id=tenant,
            method="PATCH",
            path_contains="/admin/sharepoint/settings",
        )
    )

    result = await run(graph_pool, tenant, "apply")

    assert result.status is Status.FAILED
    assert result.error is not None
    assert result.error.error_class == "graph_error"
    assert result.error.message.startswith("HTTP 400 Request_BadRequest")
    assert settings(cloud, tenant) == before
