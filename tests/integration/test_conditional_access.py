"""conditional-access-baseline end to end: the runner, real msgraph-sdk over HTTPS, the fake
cloud's Graph.

Report writes nothing; remediate creates the three policies, each excluding the emergency
accounts, and a second remediate writes nothing; a policy the customer renamed is found by the
id xtenant stored and not duplicated; a create whose answer is lost is not made twice; writes
are refused before sending when an emergency account is missing or when an enforced policy
would meet security defaults; a tenant without Entra ID P1 is not applicable.
"""

from __future__ import annotations

from typing import Any

import pytest

from devtools.fakecloud import FakeCloud, Fault
from shared.graph import GraphPool
from shared.jobs.applicability import LicenceCache
from shared.jobs.ca_policies import ADMIN_ROLES, BLOCK_LEGACY, MFA_ADMINS, MFA_ALL_USERS
from shared.results import Status, TenantResult
from shared.runner import run_tenant_job
from tests.integration.graph_support import (
    ALL_ROLES,
    DOMAIN,
    add_tenant,
    graph_requests,
    upn,
    user,
    writes,
)
from tests.integration.stack_fixture import Stack, new_tenant

pytestmark = pytest.mark.integration

JOB = "conditional-access-baseline"
POLICIES = "/v1.0/identity/conditionalAccess/policies"
SETTINGS = (BLOCK_LEGACY.setting, MFA_ADMINS.setting, MFA_ALL_USERS.setting)
PARAMS: dict[str, Any] = {"emergency_accounts": [upn("breakglass")]}


def tenant_graph(**extra: Any) -> dict[str, Any]:
    users = [{"userPrincipalName": name} for name in ("adele", "breakglass", "breakglass2")]
    return {"domain": DOMAIN, "users": users, **extra}


async def run(
    pool: GraphPool,
    tenant_id: str,
    mode: str,
    params: dict[str, Any] | None = None,
    **kwargs: Any,
) -> TenantResult:
    return await run_tenant_job(
        pool,
        tenant_id=tenant_id,
        job=JOB,
        mode=mode,
        params=PARAMS if params is None else params,
        **kwargs,
    )


def policies(cloud: FakeCloud, tenant_id: str) -> list[dict[str, Any]]:
    return cloud.directory(tenant_id).security.policies()


def refs(result: TenantResult) -> dict[str, str]:
    return {f["setting"]: f["ref"] for f in result.findings if f.get("ref")}


def states(result: TenantResult) -> dict[str, str]:
    return {f["setting"]: f["state"] for f in result.findings}


async def test_report_plans_three_creates_and_writes_nothing(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, tenant_graph())

    result = await run(graph_pool, tenant, "plan")

    assert result.status is Status.PLANNED
    assert [c["action"] for c in result.changes] == ["create"] * 3
    assert states(result) == dict.fromkeys(SETTINGS, "drifted")
    assert policies(cloud, tenant) == []
    assert writes(cloud, tenant) == []


async def test_remediate_creates_report_only_policies_excluding_the_emergency_accounts(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, tenant_graph())
    params = {"emergency_accounts": [upn("breakglass"), user(cloud, tenant, "breakglass2").id]}

    result = await run(graph_pool, tenant, "apply", params)

    assert result.status is Status.CHANGED
    assert states(result) == dict.fromkeys(SETTINGS, "compliant")
    written = {p["id"]: p for p in policies(cloud, tenant)}
    assert set(refs(result).values()) == set(written)
    excluded = {user(cloud, tenant, "breakglass").id, user(cloud, tenant, "breakglass2").id}
    for policy in written.values():
        assert policy["state"] == "enabledForReportingButNotEnforced"
        assert set(policy["conditions"]["users"]["excludeUsers"]) == excluded
        assert policy["displayName"].startswith("xtenant: ")
    admins = written[refs(result)[MFA_ADMINS.setting]]
    assert set(admins["conditions"]["users"]["includeRoles"]) == set(ADMIN_ROLES)
    legacy = written[refs(result)[BLOCK_LEGACY.setting]]
    assert legacy["conditions"]["clientAppTypes"] == ["exchangeActiveSync", "other"]
    assert legacy["grantControls"]["builtInControls"] == ["block"]


async def test_a_second_remediate_plans_nothing_and_writes_nothing(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, tenant_graph())
    first = await run(graph_pool, tenant, "apply")
    cloud.reset_log()

    again = await run(graph_pool, tenant, "apply", refs=refs(first))

    assert again.status is Status.NO_CHANGES
    assert writes(cloud, tenant) == []
    assert refs(again) == refs(first)


async def test_a_policy_the_customer_renamed_is_found_by_its_ref_and_not_duplicated(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, tenant_graph())
    first = await run(graph_pool, tenant, "apply")
    renamed = refs(first)[MFA_ALL_USERS.setting]
    cloud.directory(tenant).security.rename(renamed, "Contoso - MFA everyone")
    cloud.reset_log()

    again = await run(graph_pool, tenant, "apply", refs=refs(first))

    assert again.status is Status.NO_CHANGES
    assert len(policies(cloud, tenant)) == 3
    names = {p["id"]: p["displayName"] for p in policies(cloud, tenant)}
    assert names[renamed] == "Contoso - MFA everyone"  # the customer's name is kept
    assert writes(cloud, tenant) == []


async def test_without_its_ref_a_renamed_policy_is_not_recognised_and_one_is_created(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    """What the product never does (the compliance store hands the refs back), stated: with
    neither the stored id nor the name prefix xtenant cannot know the policy is its own."""
    tenant = add_tenant(cloud, tenant_graph())
    first = await run(graph_pool, tenant, "apply")
    cloud.directory(tenant).security.rename(refs(first)[MFA_ALL_USERS.setting], "MFA everyone")

    again = await run(graph_pool, tenant, "apply")

    assert [c["action"] for c in again.changes] == ["create"]
    assert len(policies(cloud, tenant)) == 4


async def test_a_policy_changed_by_someone_else_is_drift_and_remediate_puts_it_back(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, tenant_graph())
    first = await run(graph_pool, tenant, "apply")
    legacy = refs(first)[BLOCK_LEGACY.setting]
    cloud.directory(tenant).security.set_state(legacy, "disabled")

    report = await run(graph_pool, tenant, "plan", refs=refs(first))
    fixed = await run(graph_pool, tenant, "apply", refs=refs(first))

    assert states(report)[BLOCK_LEGACY.setting] == "drifted"
    assert [(c["action"], c["before"]["state"]) for c in report.changes] == [("update", "disabled")]
    assert fixed.status is Status.CHANGED
    assert cloud.directory(tenant).security.policy(legacy)["state"] == (
        "enabledForReportingButNotEnforced"
    )


async def test_the_same_policy_written_differently_is_no_drift(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, tenant_graph())
    first = await run(graph_pool, tenant, "apply")
    directory = cloud.directory(tenant)
    admins = refs(first)[MFA_ADMINS.setting]
    breakglass = user(cloud, tenant, "breakglass").id
    rewritten = {
        "conditions": {
            "users": {
                "includeRoles": [r.upper() for r in reversed(list(ADMIN_ROLES))],
                "excludeUsers": [breakglass.upper()],
            },
            "applications": {"includeApplications": ["all"]},
            "clientAppTypes": [],
        },
        "grantControls": {"operator": "AND", "builtInControls": ["mfa"]},
    }
    directory.security.update(admins, rewritten, has_p2=False)

    report = await run(graph_pool, tenant, "plan", refs=refs(first))

    assert report.status is Status.NO_CHANGES
    assert states(report) == dict.fromkeys(SETTINGS, "compliant")


async def test_without_emergency_accounts_remediate_refuses_and_sends_no_write(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, tenant_graph())

    report = await run(graph_pool, tenant, "plan", {})
    refused = await run(graph_pool, tenant, "apply", {})

    assert report.status is Status.PLANNED
    assert any("no emergency (break-glass) accounts" in note for note in report.notes)
    assert refused.status is Status.FAILED
    assert refused.error is not None
    assert refused.error.error_class == "emergency_access_unresolved"
    assert "emergency_accounts" in refused.error.remediation
    assert {c["outcome"] for c in refused.changes} == {"emergency_access_unresolved"}
    assert writes(cloud, tenant) == []
    assert policies(cloud, tenant) == []


async def test_an_emergency_account_not_in_the_tenant_refuses_every_write(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, tenant_graph())
    params = {"emergency_accounts": [upn("breakglass"), upn("ghost")]}

    result = await run(graph_pool, tenant, "apply", params)

    assert result.status is Status.FAILED
    assert result.error is not None
    assert result.error.error_class == "emergency_access_unresolved"
    assert upn("ghost") in result.error.message
    assert writes(cloud, tenant) == []


async def test_enforced_policies_are_refused_unsent_while_security_defaults_are_on(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, tenant_graph(security_defaults=True))

    enforced = await run(graph_pool, tenant, "apply", PARAMS | {"state": "enabled"})
    report_only = await run(graph_pool, tenant, "apply")

    assert enforced.status is Status.FAILED
    assert enforced.error is not None
    assert enforced.error.error_class == "security_defaults_on"
    assert "security-defaults" in enforced.error.remediation
    assert report_only.status is Status.CHANGED  # report-only policies are allowed
    assert len(policies(cloud, tenant)) == 3
    assert cloud.directory(tenant).security.security_defaults is True


async def test_the_enforced_refusal_sends_no_create(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, tenant_graph(security_defaults=True))

    await run(graph_pool, tenant, "apply", PARAMS | {"state": "enabled"})

    assert writes(cloud, tenant) == []


async def test_without_entra_id_p1_it_is_not_applicable_and_reads_no_policy(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, tenant_graph(skus=["O365_BUSINESS_ESSENTIALS"]))

    result = await run(graph_pool, tenant, "apply")

    assert result.status is Status.NOT_APPLICABLE
    assert [r.path for r in graph_requests(cloud, tenant)] == ["/v1.0/subscribedSkus"]


async def test_graph_refusing_for_want_of_p1_mid_run_ends_not_applicable(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    # given licences read (with P1) before the tenant lost it
    tenant = add_tenant(cloud, tenant_graph(skus=["O365_BUSINESS_ESSENTIALS"]))
    cache = LicenceCache()

    async def read_before() -> frozenset[str]:
        return frozenset({"AAD_PREMIUM"})

    await cache.plans("run-1", tenant, read_before)

    result = await run(graph_pool, tenant, "apply", run_id="run-1", licences=cache)

    assert result.status is Status.NOT_APPLICABLE
    assert result.error is not None
    assert result.error.error_class == "not_licensed"
    assert policies(cloud, tenant) == []


async def test_a_create_whose_answer_is_lost_is_found_again_not_created_twice(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, tenant_graph())
    cloud.add_fault(
        Fault(
            service="graph",
            kind="lose_answer",
            count=1,
            tenant_id=tenant,
            method="POST",
            path_contains="/conditionalAccess/policies",
        )
    )

    result = await run(graph_pool, tenant, "apply")

    posts = [r for r in graph_requests(cloud, tenant) if (r.method, r.path) == ("POST", POLICIES)]
    assert result.status is Status.CHANGED
    assert len(posts) == 3  # the lost one was not sent again
    assert len(policies(cloud, tenant)) == 3
    assert set(refs(result).values()) == {p["id"] for p in policies(cloud, tenant)}
    assert cloud.writes()["duplicate_writes"] == 0


async def test_without_the_write_permission_the_tenant_fails_with_permission_missing(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    roles = [r for r in ALL_ROLES if r != "Policy.ReadWrite.ConditionalAccess"]
    tenant = add_tenant(cloud, tenant_graph(), roles=roles)

    result = await run(graph_pool, tenant, "apply")

    assert result.status is Status.FAILED
    assert result.error is not None
    assert result.error.error_class == "permission_missing"
    assert "Policy.ReadWrite.ConditionalAccess" in result.error.message
    assert policies(cloud, tenant) == []


async def test_the_customers_own_policies_are_left_alone(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    own = {
        "displayName": "Block countries",
        "state": "enabled",
        "conditions": {
            "users": {"includeUsers": ["All"]},
            "applications": {"includeApplications": ["All"]},
            "clientAppTypes": ["all"],
        },
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
    }
    tenant = add_tenant(cloud, tenant_graph(conditional_access_policies=[own]))
    [before] = policies(cloud, tenant)

    await run(graph_pool, tenant, "apply")

    assert cloud.directory(tenant).security.policy(before["id"]) == before
    assert len(policies(cloud, tenant)) == 4


async def test_through_the_product_the_stored_ref_keeps_a_renamed_policy_from_duplication(
    cloud: FakeCloud, stack: Stack
) -> None:
    """The worker hands the compliance store's refs to the plan: no test-only plumbing."""
    tenant = new_tenant(cloud, **tenant_graph())
    await stack.register(tenant)

    async def remediate() -> dict[str, Any]:
        run_id = await stack.run(JOB, [tenant], mode="apply", **PARAMS)
        await stack.host.drain(timeout_s=60)
        return dict((await stack.status(run_id))["rows"][0])

    first = await remediate()
    renamed = next(f["ref"] for f in first["findings"] if f["setting"] == MFA_ADMINS.setting)
    cloud.directory(tenant).security.rename(renamed, "Admins must MFA")
    second = await remediate()

    assert first["status"] == "changed"
    assert second["status"] == "no_changes"
    assert len(policies(cloud, tenant)) == 3
    assert cloud.directory(tenant).security.policy(renamed)["displayName"] == "Admins must MFA"
