"""emergency-access-check end to end: the runner, real msgraph-sdk over HTTPS, the fake cloud's
Graph. It reports, never writes (in apply mode too): each break-glass account exists, is enabled,
holds Global Administrator, is excluded from every policy that is on (directly or through a
group), and when it last signed in.
"""

from __future__ import annotations

from typing import Any

import pytest

from devtools.fakecloud import FakeCloud
from shared.graph import GraphPool
from shared.results import Status, TenantResult
from shared.runner import run_tenant_job
from tests.integration.graph_support import DOMAIN, add_tenant, days_ago, upn, user, writes

pytestmark = pytest.mark.integration

JOB = "emergency-access-check"
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
GLASS_GROUP = "7d1c6a2e-0000-4000-8000-00000000b1a5"


def ca_policy(name: str, *, exclude_users: list[str], exclude_groups: list[str]) -> dict[str, Any]:
    return {
        "displayName": name,
        "state": "enabledForReportingButNotEnforced",
        "conditions": {
            "clientAppTypes": ["all"],
            "users": {
                "includeUsers": ["All"],
                "excludeUsers": exclude_users,
                "excludeGroups": exclude_groups,
            },
            "applications": {"includeApplications": ["All"]},
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
    }


def tenant(cloud: FakeCloud, **extra: Any) -> str:
    users = [
        {"userPrincipalName": "glass1", "lastSignInDateTime": days_ago(400)},
        {"userPrincipalName": "glass2", "accountEnabled": False},
        {"userPrincipalName": "adele", "lastSignInDateTime": days_ago(1)},
    ]
    graph = {
        "domain": DOMAIN,
        "users": users,
        "groups": [
            {
                "displayName": "Break glass",
                "mailNickname": "breakglass",
                "id": GLASS_GROUP,
                "members": ["glass2"],
            }
        ],
        "role_assignments": [{"principal": "glass1", "roleDefinitionId": GLOBAL_ADMIN}],
        **extra,
    }
    tenant_id = add_tenant(cloud, graph)
    glass1 = user(cloud, tenant_id, "glass1").id
    cloud.directory(tenant_id).security.create(  # excludes glass1 directly, glass2 by group
        ca_policy("Require MFA", exclude_users=[glass1], exclude_groups=[GLASS_GROUP]),
        has_p2=False,
    )
    cloud.directory(tenant_id).security.create(
        ca_policy("Block legacy", exclude_users=[glass1], exclude_groups=[]), has_p2=False
    )
    return tenant_id


async def check(pool: GraphPool, tenant_id: str, mode: str, **params: Any) -> TenantResult:
    return await run_tenant_job(pool, tenant_id=tenant_id, job=JOB, mode=mode, params=params)


def findings(result: TenantResult) -> dict[str, tuple[Any, bool]]:
    return {f["setting"]: (f["observed"], f["compliant"]) for f in result.findings}


async def test_each_account_is_checked_and_nothing_is_written_even_in_apply_mode(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant_id = tenant(cloud)
    accounts = [upn("glass1"), upn("glass2"), upn("nobody")]

    result = await check(graph_pool, tenant_id, "apply", accounts=accounts, inactive_days=90)
    seen = findings(result)
    one, two = f"emergencyAccess.{upn('glass1')}", f"emergencyAccess.{upn('glass2')}"

    assert result.status is Status.NO_CHANGES
    assert result.changes_planned == 0
    assert writes(cloud, tenant_id) == []
    assert seen["emergencyAccess.accountsNamed"] == (True, True)
    assert seen[f"{one}.exists"] == (True, True)
    assert seen[f"{one}.enabled"] == (True, True)
    assert seen[f"{one}.globalAdministrator"] == (True, True)
    assert seen[f"{one}.excludedFromConditionalAccess"] == ([], True)
    assert seen[f"{one}.lastSignIn"][0]["withinDays"] is False
    assert seen[f"{one}.lastSignIn"][1] is True  # an unused emergency account is normal
    assert seen[f"{two}.enabled"] == (False, False)
    assert seen[f"{two}.globalAdministrator"] == (False, False)
    # excluded from "Require MFA" through the group, not from "Block legacy"
    assert seen[f"{two}.excludedFromConditionalAccess"] == (["Block legacy"], False)
    assert seen[f"{two}.lastSignIn"][0] == {"lastSignIn": "never", "withinDays": False}
    assert seen[f"emergencyAccess.{upn('nobody')}.exists"] == (False, False)
    assert f"emergencyAccess.{upn('nobody')}.enabled" not in seen


async def test_no_account_named_is_a_finding(cloud: FakeCloud, graph_pool: GraphPool) -> None:
    tenant_id = tenant(cloud)

    result = await check(graph_pool, tenant_id, "plan")

    assert findings(result) == {"emergencyAccess.accountsNamed": (False, False)}


async def test_without_p1_no_conditional_access_or_sign_in_is_read(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant_id = add_tenant(
        cloud,
        {
            "domain": DOMAIN,
            "skus": ["O365_BUSINESS_ESSENTIALS"],
            "users": [{"userPrincipalName": "glass1"}],
            "role_assignments": [{"principal": "glass1", "roleDefinitionId": GLOBAL_ADMIN}],
        },
    )

    result = await check(graph_pool, tenant_id, "plan", accounts=[upn("glass1")])
    seen = findings(result)
    paths = [r.path for r in cloud.requests(service="graph", tenant_id=tenant_id)]

    assert result.status is Status.NO_CHANGES
    assert seen[f"emergencyAccess.{upn('glass1')}.globalAdministrator"] == (True, True)
    assert seen[f"emergencyAccess.{upn('glass1')}.lastSignIn"][0]["lastSignIn"] is None
    assert not any("conditionalAccess" in p for p in paths)
