"""authentication-methods end to end: the runner, real msgraph-sdk over HTTPS, the fake cloud's
Graph. Report writes nothing; remediate converges with one PATCH per differing method (each
with its @odata.type); a second remediate writes nothing; a change by someone else is drift;
the same meaning written differently is not; failures come back classified.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from devtools.fakecloud import FakeCloud, Fault
from shared.graph import GraphPool
from shared.results import Status, TenantResult
from shared.runner import run_tenant_job
from tests.integration.graph_support import ALL_ROLES, add_tenant, writes

pytestmark = pytest.mark.integration

JOB = "authentication-methods"
GROUP = "6f1c1a55-7a4e-4d2b-9c55-0a1fa6ec0d11"
OTHER = "0b3e3f5c-1d2e-4f60-8a7b-9c0d1e2f3a4b"
MIGRATION = "authenticationMethodsPolicy.policyMigrationState"
TYPE = "#microsoft.graph.{}AuthenticationMethodConfiguration"


async def run(
    pool: GraphPool, tenant_id: str, mode: str, params: dict[str, Any] | None = None
) -> TenantResult:
    return await run_tenant_job(pool, tenant_id=tenant_id, job=JOB, mode=mode, params=params)


def states(cloud: FakeCloud, tenant_id: str) -> dict[str, str]:
    policy = cloud.directory(tenant_id).authentication_methods_policy()
    return {c["id"]: c["state"] for c in policy["authenticationMethodConfigurations"]}


def configuration(cloud: FakeCloud, tenant_id: str, method_id: str) -> dict[str, Any]:
    policy = cloud.directory(tenant_id).authentication_methods_policy()
    return next(c for c in policy["authenticationMethodConfigurations"] if c["id"] == method_id)


def findings(result: TenantResult) -> dict[str, dict[str, Any]]:
    return {f["setting"]: f for f in result.findings}


def patched(cloud: FakeCloud, tenant_id: str) -> dict[str, dict[str, Any]]:
    """The PATCHes the fake Graph applied in the tenant: target -> body."""
    mine = [w for w in cloud.write_log.writes() if w.tenant_id == tenant_id.lower()]
    return {w.target: json.loads(w.body) for w in mine}


async def test_report_shows_each_method_and_the_migration_state_and_writes_nothing(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, {})
    before = cloud.directory(tenant).authentication_methods_policy()

    result = await run(graph_pool, tenant, "plan")

    assert result.status is Status.PLANNED
    assert {s: f["compliant"] for s, f in findings(result).items()} == {
        "authenticationMethods.microsoftAuthenticator": False,
        "authenticationMethods.fido2": False,
        "authenticationMethods.sms": False,
        "authenticationMethods.voice": True,
        MIGRATION: False,
    }
    sms = findings(result)["authenticationMethods.sms"]
    assert sms["observed"] == {
        "state": "enabled",
        "includeTargets": [{"targetType": "group", "id": "all_users"}],
    }
    assert [c["action"] for c in result.changes] == ["enable", "enable", "disable"]
    assert cloud.directory(tenant).authentication_methods_policy() == before
    assert writes(cloud, tenant) == []


async def test_remediate_patches_only_the_differing_methods_with_their_type_then_nothing(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, {})

    first = await run(graph_pool, tenant, "apply")
    applied = patched(cloud, tenant)
    cloud.reset_log()
    second = await run(graph_pool, tenant, "apply")

    assert first.status is Status.CHANGED
    assert (first.changes_planned, first.changes_applied) == (3, 3)
    assert applied == {
        "authenticationMethodConfigurations/MicrosoftAuthenticator": {
            "@odata.type": TYPE.format("microsoftAuthenticator"),
            "state": "enabled",
        },
        "authenticationMethodConfigurations/Fido2": {
            "@odata.type": TYPE.format("fido2"),
            "state": "enabled",
        },
        "authenticationMethodConfigurations/Sms": {
            "@odata.type": TYPE.format("sms"),
            "state": "disabled",
        },
    }
    found = states(cloud, tenant)
    assert (found["MicrosoftAuthenticator"], found["Fido2"]) == ("enabled", "enabled")
    assert (found["Sms"], found["Voice"], found["Email"]) == ("disabled", "disabled", "enabled")
    policy = cloud.directory(tenant).authentication_methods_policy()
    assert policy["policyMigrationState"] == "preMigration"  # reported, not changed
    assert second.status is Status.NO_CHANGES
    assert findings(second)[MIGRATION]["compliant"] is False
    assert writes(cloud, tenant) == []


async def test_targets_given_as_groups_replace_all_users_and_converge(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, {})
    params = {"enable": ["fido2"], "disable": [], "include_targets": [GROUP, OTHER]}

    first = await run(graph_pool, tenant, "apply", params)
    second = await run(graph_pool, tenant, "plan", params)

    assert first.status is Status.CHANGED
    fido2 = configuration(cloud, tenant, "Fido2")
    assert {t["id"] for t in fido2["includeTargets"]} == {GROUP, OTHER}
    assert second.status is Status.NO_CHANGES


async def test_a_method_turned_back_on_by_someone_else_is_drift(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, {})
    await run(graph_pool, tenant, "apply")

    cloud.directory(tenant).update_authentication_method("sms", {"state": "enabled"})
    result = await run(graph_pool, tenant, "plan")

    assert result.status is Status.PLANNED
    drifted = [s for s, f in findings(result).items() if not f["compliant"]]
    assert drifted == ["authenticationMethods.sms", MIGRATION]


async def test_the_same_meaning_written_differently_is_not_drift(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    # given methods on for two groups, listed the other way round, one id in upper case, with
    # settings of their own (registration required, the Authenticator's mode) Graph added or an
    # admin chose, and a policy modified since
    targets = [
        {"targetType": "group", "id": OTHER.upper(), "isRegistrationRequired": True},
        {"id": GROUP},
    ]
    methods = {
        "fido2": {"state": "enabled", "includeTargets": targets},
        "microsoftAuthenticator": {
            "state": "enabled",
            "includeTargets": [t | {"authenticationMode": "push"} for t in targets],
        },
        "sms": {"state": "disabled"},
    }
    tenant = add_tenant(cloud, {"authentication_methods": {"methods": methods}})
    params = {"include_targets": [GROUP, OTHER]}

    result = await run(graph_pool, tenant, "apply", params)

    assert result.status is Status.NO_CHANGES
    drifted = [s for s, f in findings(result).items() if not f["compliant"]]
    assert drifted == [MIGRATION]
    assert writes(cloud, tenant) == []


async def test_completing_the_migration_is_an_opt_in_sent_after_the_methods(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, {})

    result = await run(graph_pool, tenant, "apply", {"complete_migration": True})

    assert result.status is Status.CHANGED
    assert result.changes[-1]["target"] == MIGRATION
    policy = cloud.directory(tenant).authentication_methods_policy()
    assert policy["policyMigrationState"] == "migrationComplete"
    again = await run(graph_pool, tenant, "plan", {"complete_migration": True})
    assert all(f["compliant"] for f in again.findings)


async def test_with_read_only_policy_permission_report_works_and_remediate_names_the_missing_one(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    roles = [r for r in ALL_ROLES if r != "Policy.ReadWrite.AuthenticationMethod"]
    assert "Policy.Read.All" in roles
    tenant = add_tenant(cloud, {}, roles=roles)

    report = await run(graph_pool, tenant, "plan")
    remediate = await run(graph_pool, tenant, "apply")

    assert report.status is Status.PLANNED
    assert remediate.status is Status.FAILED
    assert remediate.error is not None
    assert remediate.error.error_class == "permission_missing"
    assert "Policy.ReadWrite.AuthenticationMethod" in remediate.error.message
    assert states(cloud, tenant)["Sms"] == "enabled"


async def test_without_any_policy_permission_the_report_fails_naming_it(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, {}, roles=["User.ReadWrite.All"])

    result = await run(graph_pool, tenant, "plan")

    assert result.status is Status.FAILED
    assert result.error is not None
    assert result.error.error_class == "permission_missing"
    assert "Policy.ReadWrite.AuthenticationMethod" in result.error.message


async def test_a_refused_enable_surfaces_graphs_message_and_keeps_sms_on(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    # given Graph refusing the PATCH that turns FIDO2 on
    tenant = add_tenant(cloud, {})
    cloud.add_fault(
        Fault(
            service="graph",
            kind="graph_error",
            status=400,
            code="Request_BadRequest",
            tenant_id=tenant,
            method="PATCH",
            path_contains="Fido2",
        )
    )

    # when the standard is applied
    result = await run(graph_pool, tenant, "apply")

    # then the row fails with Graph's answer, and SMS is not turned off while a method that was
    # to replace it is not on
    assert result.status is Status.FAILED
    assert result.error is not None
    assert result.error.error_class == "graph_error"
    assert result.error.message.startswith("HTTP 400 Request_BadRequest")
    assert [c["outcome"] for c in result.changes] == ["ok", "graph_error", "graph_error"]
    assert states(cloud, tenant)["Sms"] == "enabled"
    assert set(patched(cloud, tenant)) == {
        "authenticationMethodConfigurations/MicrosoftAuthenticator"
    }
