"""security-defaults end to end: the runner, real msgraph-sdk over HTTPS, the fake cloud's Graph.

A tenant without Entra ID P1 gets security defaults; a tenant with P1 is governed by Conditional
Access once a policy is enabled, and keeps security defaults until then; the two are never
planned on together; report writes nothing and a second remediate writes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from devtools.fakecloud import FakeCloud
from shared.graph import GraphPool
from shared.results import Status, TenantResult
from shared.runner import run_tenant_job
from tests.integration.graph_support import ALL_ROLES, DOMAIN, add_tenant, writes

pytestmark = pytest.mark.integration

JOB = "security-defaults"
NO_P1 = ["O365_BUSINESS_ESSENTIALS"]


def enforced_policy(state: str = "enabled") -> dict[str, Any]:
    return {
        "displayName": "Require MFA",
        "state": state,
        "conditions": {
            "users": {"includeUsers": ["All"]},
            "applications": {"includeApplications": ["All"]},
            "clientAppTypes": ["all"],
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
    }


async def run(
    pool: GraphPool, tenant_id: str, mode: str, params: dict[str, Any] | None = None
) -> TenantResult:
    return await run_tenant_job(pool, tenant_id=tenant_id, job=JOB, mode=mode, params=params)


def finding(result: TenantResult) -> dict[str, Any]:
    [only] = result.findings
    return dict(only)


def security_defaults(cloud: FakeCloud, tenant_id: str) -> bool:
    return cloud.directory(tenant_id).security.security_defaults


async def test_report_without_p1_wants_security_defaults_and_writes_nothing(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, {"domain": DOMAIN, "skus": NO_P1})

    result = await run(graph_pool, tenant, "plan")

    assert result.status is Status.PLANNED
    assert finding(result)["desired"] == {"isEnabled": True, "governs": "security_defaults"}
    assert finding(result)["observed"] == {"isEnabled": False, "governs": "none"}
    assert writes(cloud, tenant) == []
    assert security_defaults(cloud, tenant) is False


async def test_remediate_without_p1_turns_security_defaults_on_then_writes_nothing(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, {"domain": DOMAIN, "skus": NO_P1})

    first = await run(graph_pool, tenant, "apply")
    cloud.reset_log()
    second = await run(graph_pool, tenant, "apply")

    assert first.status is Status.CHANGED
    assert finding(first)["state"] == "compliant"
    assert security_defaults(cloud, tenant) is True
    assert second.status is Status.NO_CHANGES
    assert writes(cloud, tenant) == []


async def test_with_p1_and_no_enabled_policy_security_defaults_stay_on(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    graph = {
        "security_defaults": True,
        "conditional_access_policies": [enforced_policy("disabled")],
    }
    tenant = add_tenant(cloud, graph)

    result = await run(graph_pool, tenant, "apply")

    assert result.status is Status.NO_CHANGES
    assert finding(result)["desired"] == {"isEnabled": True, "governs": "security_defaults"}


async def test_with_p1_and_an_enabled_policy_conditional_access_governs(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, {"conditional_access_policies": [enforced_policy()]})

    result = await run(graph_pool, tenant, "apply")

    assert result.status is Status.NO_CHANGES
    assert finding(result)["observed"] == {"isEnabled": False, "governs": "conditional_access"}
    assert security_defaults(cloud, tenant) is False


async def test_with_p1_and_neither_security_defaults_are_turned_on(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, {})

    result = await run(graph_pool, tenant, "apply")

    assert result.status is Status.CHANGED
    assert security_defaults(cloud, tenant) is True


async def test_off_turns_security_defaults_off_for_the_switch_to_conditional_access(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, {"security_defaults": True})

    result = await run(graph_pool, tenant, "apply", {"with_entra_id_p1": "off"})

    assert result.status is Status.CHANGED
    assert finding(result)["desired"] == {"isEnabled": False, "governs": "none"}
    assert security_defaults(cloud, tenant) is False


async def test_off_is_ignored_without_p1(cloud: FakeCloud, graph_pool: GraphPool) -> None:
    tenant = add_tenant(cloud, {"skus": NO_P1, "security_defaults": True})

    result = await run(graph_pool, tenant, "apply", {"with_entra_id_p1": "off"})

    assert result.status is Status.NO_CHANGES
    assert security_defaults(cloud, tenant) is True


async def test_security_defaults_are_not_turned_on_over_an_enabled_policy(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    graph = {"conditional_access_policies": [enforced_policy()]}
    tenant = add_tenant(cloud, graph)

    result = await run(graph_pool, tenant, "apply", {"with_entra_id_p1": "security_defaults"})

    assert result.status is Status.NO_CHANGES  # nothing Entra would accept to do
    assert finding(result)["state"] == "drifted"
    assert any("Require MFA" in note for note in result.notes)
    assert writes(cloud, tenant) == []


async def test_turned_off_by_someone_else_is_drift_and_remediate_turns_it_back_on(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, {"skus": NO_P1, "security_defaults": True})
    cloud.directory(tenant).security.set_security_defaults(False)

    report = await run(graph_pool, tenant, "plan")
    fixed = await run(graph_pool, tenant, "apply")

    assert finding(report)["state"] == "drifted"
    assert fixed.status is Status.CHANGED
    assert security_defaults(cloud, tenant) is True


async def test_without_the_write_permission_it_fails_with_permission_missing(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    roles = [r for r in ALL_ROLES if r != "Policy.ReadWrite.SecurityDefaults"]
    tenant = add_tenant(cloud, {"skus": NO_P1}, roles=roles)

    result = await run(graph_pool, tenant, "apply")

    assert result.status is Status.FAILED
    assert result.error is not None
    assert result.error.error_class == "permission_missing"
    assert "Policy.ReadWrite.SecurityDefaults" in result.error.message
    assert security_defaults(cloud, tenant) is False
