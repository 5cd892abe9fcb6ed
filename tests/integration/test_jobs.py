"""The three jobs end to end: the runner, real msgraph-sdk over HTTPS, the fake cloud's Graph.

Each job plans without writing, applies until the tenant matches, and applies again with no
change; a run cut short converges on the next one and never creates anything twice.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import pytest

from devtools.fakecloud import FakeCloud, Fault
from shared.errors import PermissionMissing
from shared.graph import GraphPool
from shared.jobs.tenant_baseline import CONSENT_POLICIES
from shared.results import Status, TenantResult
from shared.runner import run_tenant_job
from tests.integration.graph_support import (
    KEPT_GUESTS,
    NICKNAME,
    STALE_GUESTS,
    add_tenant,
    contoso,
    enabled_guests,
    everything,
    graph_requests,
    groups_named,
    helpdesk_params,
    member_upns,
    upn,
    user,
    writes,
)

pytestmark = pytest.mark.integration

GUESTS = {"days": 90}


async def run(
    pool: GraphPool, tenant_id: str, job: str, mode: str, params: dict[str, Any]
) -> TenantResult:
    return await run_tenant_job(pool, tenant_id=tenant_id, job=job, mode=mode, params=params)


# --- guest-cleanup ------------------------------------------------------------------------------


async def test_guest_cleanup_plan_lists_the_stale_guests_and_writes_nothing(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso())
    before = everything(cloud, tenant)

    result = await run(graph_pool, tenant, "guest-cleanup", "plan", GUESTS)

    assert result.status is Status.PLANNED
    assert sorted(c["target"] for c in result.changes) == sorted(upn(g) for g in STALE_GUESTS)
    assert {c["action"] for c in result.changes} == {"disable"}
    assert everything(cloud, tenant) == before
    assert writes(cloud, tenant) == []


async def test_guest_cleanup_apply_disables_exactly_the_stale_guests(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso())

    result = await run(graph_pool, tenant, "guest-cleanup", "apply", GUESTS)

    assert result.status is Status.CHANGED
    assert (result.changes_planned, result.changes_applied) == (3, 3)
    assert enabled_guests(cloud, tenant) == set(KEPT_GUESTS) - {"off_fabrikam.com#EXT#"}
    assert all(user(cloud, tenant, name).account_enabled for name in ("adele", "bianca"))


async def test_guest_cleanup_applied_twice_changes_nothing_the_second_time(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso())
    await run(graph_pool, tenant, "guest-cleanup", "apply", GUESTS)
    cloud.reset_log()

    again = await run(graph_pool, tenant, "guest-cleanup", "apply", GUESTS)

    assert again.status is Status.NO_CHANGES
    assert (again.changes_planned, again.changes_applied) == (0, 0)
    assert writes(cloud, tenant) == []


# --- ensure-group -------------------------------------------------------------------------------


async def test_ensure_group_plan_lists_the_create_and_the_members_and_writes_nothing(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso())
    before = everything(cloud, tenant)

    result = await run(
        graph_pool, tenant, "ensure-group", "plan", helpdesk_params("adele", "bianca", "nobody")
    )

    assert result.status is Status.PLANNED
    assert [(c["action"], c["target"]) for c in result.changes] == [
        ("create", NICKNAME),
        ("add_member", upn("adele")),
        ("add_member", upn("bianca")),
    ]
    assert any(upn("nobody") in note for note in result.notes)
    assert everything(cloud, tenant) == before
    assert writes(cloud, tenant) == []


async def test_ensure_group_apply_creates_the_group_with_exactly_its_members(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso())

    result = await run(
        graph_pool, tenant, "ensure-group", "apply", helpdesk_params("adele", "bianca")
    )

    assert result.status is Status.CHANGED
    assert (result.changes_planned, result.changes_applied) == (3, 3)
    [group] = groups_named(cloud, tenant)
    assert group.display_name == "Helpdesk (managed by xtenant)"
    assert group.security_enabled
    assert not group.mail_enabled
    assert member_upns(cloud, tenant, group) == {upn("adele"), upn("bianca")}


async def test_ensure_group_corrects_a_drifted_group_in_place(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    drifted = {"displayName": "Helpdesk", "mailNickname": NICKNAME, "description": "old"}
    tenant = add_tenant(cloud, contoso(groups=[{**drifted, "members": ["carol", "adele"]}]))

    result = await run(
        graph_pool, tenant, "ensure-group", "apply", helpdesk_params("adele", "bianca")
    )

    assert result.status is Status.CHANGED
    assert sorted(c["action"] for c in result.changes) == [
        "add_member",
        "remove_member",
        "update",
    ]
    [group] = groups_named(cloud, tenant)
    assert group.description == "Members are set by xtenant; changes here are undone."
    assert member_upns(cloud, tenant, group) == {upn("adele"), upn("bianca")}


async def test_ensure_group_with_only_unknown_members_keeps_the_group_as_it_is(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    existing = {"displayName": "Helpdesk", "mailNickname": NICKNAME, "description": "old"}
    tenant = add_tenant(cloud, contoso(groups=[{**existing, "members": ["carol", "adele"]}]))
    params = helpdesk_params() | {"members": ["adele@wrong.example", "bianca@wrong.example"]}

    result = await run(graph_pool, tenant, "ensure-group", "apply", params)

    assert "remove_member" not in {c["action"] for c in result.changes}
    assert any("removals held back" in note for note in result.notes)
    assert any("unknown UPNs" in note for note in result.notes)
    [group] = groups_named(cloud, tenant)
    assert member_upns(cloud, tenant, group) == {upn("carol"), upn("adele")}


async def test_ensure_group_applied_twice_changes_nothing_the_second_time(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso())
    params = helpdesk_params("adele", "bianca")
    await run(graph_pool, tenant, "ensure-group", "apply", params)
    cloud.reset_log()

    again = await run(graph_pool, tenant, "ensure-group", "apply", params)

    assert again.status is Status.NO_CHANGES
    assert writes(cloud, tenant) == []
    assert len(groups_named(cloud, tenant)) == 1


async def test_ensure_group_refuses_to_pick_between_two_groups_sharing_the_nickname(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    twins = [{"displayName": name, "mailNickname": NICKNAME} for name in ("One", "Two")]
    tenant = add_tenant(cloud, contoso(groups=twins))
    before = everything(cloud, tenant)

    result = await run(graph_pool, tenant, "ensure-group", "apply", helpdesk_params("adele"))

    assert result.status is Status.FAILED
    assert result.error is not None
    assert result.error.error_class == "ambiguous_target"
    assert all(g.id in result.error.message for g in groups_named(cloud, tenant))
    assert everything(cloud, tenant) == before


# --- tenant-baseline ----------------------------------------------------------------------------


async def test_tenant_baseline_plan_shows_current_and_desired_and_writes_nothing(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso())
    before = everything(cloud, tenant)

    result = await run(graph_pool, tenant, "tenant-baseline", "plan", {})

    assert result.status is Status.PLANNED
    invites = next(c for c in result.changes if c["target"].endswith("allowInvitesFrom"))
    assert (invites["before"], invites["after"]) == ("everyone", "adminsAndGuestInviters")
    assert everything(cloud, tenant) == before
    assert writes(cloud, tenant) == []


async def test_tenant_baseline_apply_sets_the_policy_to_the_baseline(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso())

    result = await run(graph_pool, tenant, "tenant-baseline", "apply", {})

    assert result.status is Status.CHANGED
    policy = cloud.directory(tenant).authorization_policy()
    roles = policy["defaultUserRolePermissions"]
    assert policy["allowInvitesFrom"] == "adminsAndGuestInviters"
    assert not roles["allowedToCreateApps"]
    assert not roles["allowedToCreateSecurityGroups"]
    assert not roles["allowedToCreateTenants"]
    assert roles["permissionGrantPoliciesAssigned"] == CONSENT_POLICIES["low_risk"]
    assert policy["allowedToUseSSPR"] is True  # an unmanaged setting is left alone


async def test_tenant_baseline_changes_user_consent_but_keeps_team_and_chat_owner_consent(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    # given a tenant whose consent policies include resource-specific consent for teams and
    # chats, as real tenants' do; a PATCH of the list replaces all of it (Entra docs,
    # "Configure group owner consent to apps accessing group data")
    owned = [
        "ManagePermissionGrantsForOwnedResource.microsoft-dynamically-managed-permissions-for-team",
        "ManagePermissionGrantsForOwnedResource.microsoft-dynamically-managed-permissions-for-chat",
    ]
    policies = [*CONSENT_POLICIES["all"], *owned]
    tenant = add_tenant(
        cloud,
        contoso(
            authorization_policy={
                "defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": policies}
            }
        ),
    )

    # when the baseline (user consent: low risk only) is applied
    result = await run(graph_pool, tenant, "tenant-baseline", "apply", {"user_consent": "low_risk"})

    # then only the user consent entry changed
    assert result.status is Status.CHANGED
    roles = cloud.directory(tenant).authorization_policy()["defaultUserRolePermissions"]
    assert sorted(roles["permissionGrantPoliciesAssigned"]) == sorted(
        [*CONSENT_POLICIES["low_risk"], *owned]
    )


async def test_tenant_baseline_applied_twice_changes_nothing_the_second_time(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso())
    await run(graph_pool, tenant, "tenant-baseline", "apply", {})
    cloud.reset_log()

    again = await run(graph_pool, tenant, "tenant-baseline", "apply", {})

    assert again.status is Status.NO_CHANGES
    assert writes(cloud, tenant) == []


# --- a run cut short converges on the next ------------------------------------------------------


async def test_group_created_but_members_batch_failing_converges_on_the_next_run(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    # given a run whose every member $batch is dropped, after the group was created
    tenant = add_tenant(cloud, contoso())
    params = helpdesk_params("adele", "bianca")
    cloud.add_fault(Fault(service="graph", kind="drop", tenant_id=tenant, path_contains="/$batch"))
    first = await run(graph_pool, tenant, "ensure-group", "apply", params)
    assert first.status is Status.FAILED
    assert first.retryable
    assert first.changes_applied == 1  # the create; the result must not hide it
    assert [c.get("outcome") for c in first.changes] == ["ok", "transient", "transient"]
    assert [member_upns(cloud, tenant, g) for g in groups_named(cloud, tenant)] == [set()]

    # when the service recovers and the job runs again
    cloud.clear_faults()
    second = await run(graph_pool, tenant, "ensure-group", "apply", params)

    # then the same group gets its members
    assert second.status is Status.CHANGED
    assert [c["action"] for c in second.changes] == ["add_member", "add_member"]
    [group] = groups_named(cloud, tenant)
    assert member_upns(cloud, tenant, group) == {upn("adele"), upn("bianca")}
    assert cloud.counters().get("graph.duplicate_creates", 0) == 0


async def test_members_batch_failing_once_is_retried_within_the_run(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso())
    cloud.add_fault(
        Fault(
            service="graph",
            kind="status",
            status=500,
            count=1,
            tenant_id=tenant,
            path_contains="/$batch",
        )
    )

    result = await run(
        graph_pool, tenant, "ensure-group", "apply", helpdesk_params("adele", "bianca")
    )

    assert result.status is Status.CHANGED
    [group] = groups_named(cloud, tenant)
    assert member_upns(cloud, tenant, group) == {upn("adele"), upn("bianca")}
    assert cloud.counters().get("graph.duplicate_creates", 0) == 0


async def test_members_batch_whose_answer_is_lost_is_resent_and_counts_added_members_as_done(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    # given a member $batch that Graph serves but whose answer never arrives
    tenant = add_tenant(cloud, contoso())
    cloud.add_fault(
        Fault(
            service="graph",
            kind="lose_answer",
            count=1,
            tenant_id=tenant,
            path_contains="/$batch",
        )
    )

    # when the job applies
    result = await run(
        graph_pool, tenant, "ensure-group", "apply", helpdesk_params("adele", "bianca")
    )

    # then the re-sent batch finds both members there already, which is what was wanted
    assert result.status is Status.CHANGED
    assert result.changes_applied == 3
    [group] = groups_named(cloud, tenant)
    assert member_upns(cloud, tenant, group) == {upn("adele"), upn("bianca")}


async def test_create_dropped_before_graph_served_it_is_not_resent_and_the_next_run_creates_one(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    # given a POST /groups whose connection drops: Graph may or may not have created the group
    tenant = add_tenant(cloud, contoso())
    params = helpdesk_params("adele", "bianca")
    cloud.add_fault(
        Fault(
            service="graph",
            kind="drop",
            count=1,
            tenant_id=tenant,
            method="POST",
            path_contains="/groups",
        )
    )
    first = await run(graph_pool, tenant, "ensure-group", "apply", params)
    creates = [
        r for r in graph_requests(cloud, tenant) if (r.method, r.path) == ("POST", "/v1.0/groups")
    ]
    assert first.status is Status.FAILED
    assert first.retryable
    assert len(creates) == 1  # not re-sent blindly
    assert groups_named(cloud, tenant) == []

    # when the job runs again
    second = await run(graph_pool, tenant, "ensure-group", "apply", params)

    # then it creates the group once
    assert second.status is Status.CHANGED
    [group] = groups_named(cloud, tenant)
    assert member_upns(cloud, tenant, group) == {upn("adele"), upn("bianca")}
    assert cloud.counters().get("graph.duplicate_creates", 0) == 0


async def test_create_whose_answer_is_lost_is_found_by_re_reading_not_created_again(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    # given a POST /groups that Graph serves but whose answer never arrives
    tenant = add_tenant(cloud, contoso())
    cloud.add_fault(
        Fault(
            service="graph",
            kind="lose_answer",
            count=1,
            tenant_id=tenant,
            method="POST",
            path_contains="/groups",
        )
    )

    # when the job applies
    result = await run(
        graph_pool, tenant, "ensure-group", "apply", helpdesk_params("adele", "bianca")
    )

    # then it re-reads, finds the group it created, and finishes it
    creates = [
        r for r in graph_requests(cloud, tenant) if (r.method, r.path) == ("POST", "/v1.0/groups")
    ]
    assert result.status is Status.CHANGED
    assert len(creates) == 1
    [group] = groups_named(cloud, tenant)
    assert member_upns(cloud, tenant, group) == {upn("adele"), upn("bianca")}
    assert cloud.counters().get("graph.duplicate_creates", 0) == 0


async def test_create_refused_as_throttled_is_retried_and_creates_one_group(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso())
    cloud.add_fault(
        Fault(
            service="graph",
            kind="status",
            status=503,
            retry_after="0.2",
            count=1,
            tenant_id=tenant,
            method="POST",
            path_contains="/groups",
        )
    )

    result = await run(
        graph_pool, tenant, "ensure-group", "apply", helpdesk_params("adele", "bianca")
    )

    assert result.status is Status.CHANGED
    assert len(groups_named(cloud, tenant)) == 1
    counters = cloud.counters()
    assert counters.get("graph.duplicate_creates", 0) == 0
    assert counters.get("graph.early_retries", 0) == 0


async def test_guest_cleanup_with_half_its_updates_failing_converges_on_the_next_run(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    # given a run in which the updates of two of the three stale guests keep failing
    tenant = add_tenant(cloud, contoso())
    for name in STALE_GUESTS[:2]:
        cloud.add_fault(
            Fault(
                service="graph",
                kind="status",
                status=500,
                tenant_id=tenant,
                path_contains=user(cloud, tenant, name).id,
            )
        )
    first = await run(graph_pool, tenant, "guest-cleanup", "apply", GUESTS)
    assert first.status is Status.FAILED
    assert (first.changes_planned, first.changes_applied) == (3, 1)
    assert first.error is not None
    assert first.error.retryable

    # when Graph recovers and the job runs again
    cloud.clear_faults()
    second = await run(graph_pool, tenant, "guest-cleanup", "apply", GUESTS)

    # then only what is left is done, and a third run finds nothing to do
    assert second.status is Status.CHANGED
    assert sorted(c["target"] for c in second.changes) == sorted(upn(g) for g in STALE_GUESTS[:2])
    assert not enabled_guests(cloud, tenant) & set(STALE_GUESTS)
    third = await run(graph_pool, tenant, "guest-cleanup", "apply", GUESTS)
    assert third.status is Status.NO_CHANGES


async def test_guest_cleanup_whose_second_batch_fails_reports_the_first_and_converges_next_run(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    # given 30 stale guests (two $batch calls of 20 and 10) and the second call always dropped
    tenant = add_tenant(cloud, {"generate": {"guests": 30, "stale_guests": 30, "seed": 5}})
    guest_ids = sorted(u.id for u in cloud.directory(tenant).users())
    cloud.add_fault(
        Fault(service="graph", kind="drop", tenant_id=tenant, path_contains=guest_ids[20])
    )
    first = await run(graph_pool, tenant, "guest-cleanup", "apply", GUESTS)
    assert first.status is Status.FAILED
    assert first.retryable
    assert (first.changes_planned, first.changes_applied) == (30, 20)
    assert len(enabled_guests(cloud, tenant)) == 10

    # when Graph recovers and the job runs again
    cloud.clear_faults()
    second = await run(graph_pool, tenant, "guest-cleanup", "apply", GUESTS)

    # then it does the other 10
    assert second.status is Status.CHANGED
    assert (second.changes_planned, second.changes_applied) == (10, 10)
    assert enabled_guests(cloud, tenant) == set()


async def test_throttled_batch_items_alone_are_resent_and_every_change_is_applied(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    # given one stale guest's update throttled once inside the $batch
    tenant = add_tenant(cloud, contoso())
    throttled = user(cloud, tenant, STALE_GUESTS[1])
    cloud.add_fault(
        Fault(
            service="graph",
            kind="status",
            status=429,
            retry_after="1",
            count=1,
            tenant_id=tenant,
            path_contains=throttled.id,
        )
    )

    # when guest-cleanup applies
    result = await run(graph_pool, tenant, "guest-cleanup", "apply", GUESTS)

    # then the second $batch carries that one update only, after its Retry-After
    counters = cloud.counters()
    batches = [r for r in graph_requests(cloud, tenant) if r.path == "/v1.0/$batch"]
    assert result.status is Status.CHANGED
    assert result.changes_applied == 3
    assert len(batches) == 2
    assert counters["graph.batch_subrequests"] == 3 + 1
    assert counters.get("graph.early_retries", 0) == 0
    assert not enabled_guests(cloud, tenant) & set(STALE_GUESTS)


async def test_a_retry_after_for_one_job_holds_the_other_jobs_in_the_same_tenant(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    # given tenant-baseline and guest-cleanup in one tenant: at 0.2 s the baseline's read is
    # throttled for 1 s (Graph throttles per app and tenant), and at 0.3 s guest-cleanup has
    # read its guests and is about to write
    tenant = add_tenant(cloud, contoso())
    for path, delay_ms in (("/policies", 200), ("/users", 300)):
        cloud.add_fault(
            Fault(
                service="graph",
                kind="latency",
                latency_ms=delay_ms,
                count=1,
                tenant_id=tenant,
                path_contains=path,
            )
        )
    cloud.add_fault(
        Fault(
            service="graph",
            kind="status",
            status=429,
            retry_after="1",
            count=1,
            tenant_id=tenant,
            path_contains="/policies",
        )
    )

    # when both apply at once
    results = await asyncio.gather(
        run(graph_pool, tenant, "guest-cleanup", "apply", GUESTS),
        run(graph_pool, tenant, "tenant-baseline", "apply", {}),
    )

    # then both succeed and neither sends anything before the Retry-After has passed
    assert [r.status for r in results] == [Status.CHANGED, Status.CHANGED]
    assert cloud.counters().get("graph.early_retries", 0) == 0


# --- permissions --------------------------------------------------------------------------------


async def test_tenant_without_user_write_permission_gets_permission_missing_naming_it(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso(), roles=["User.Read.All", "AuditLog.Read.All"])
    before = everything(cloud, tenant)

    result = await run(graph_pool, tenant, "guest-cleanup", "apply", GUESTS)

    assert result.status is Status.FAILED
    assert isinstance(result.error, PermissionMissing)
    assert result.error.error_class == "permission_missing"
    assert "User.ReadWrite.All" in result.error.message
    assert "User.ReadWrite.All" in result.error.remediation
    assert f"GET /api/onboard?tenant={tenant}" in result.error.remediation
    assert everything(cloud, tenant) == before


async def test_tenant_without_group_permissions_fails_the_plan_naming_what_the_job_declares(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso(), roles=["User.Read.All"])

    result = await run(graph_pool, tenant, "ensure-group", "plan", helpdesk_params("adele"))

    assert result.status is Status.FAILED
    assert result.error is not None
    assert result.error.error_class == "permission_missing"
    for permission in ("Group.ReadWrite.All", "GroupMember.ReadWrite.All", "User.Read.All"):
        assert permission in result.error.remediation
    # a 403 is not retried as such: the job runs once more, with a token issued now
    assert len(graph_requests(cloud, tenant)) == 2
    assert len(cloud.requests(service="token", tenant_id=tenant)) == 2


async def test_a_permission_granted_after_the_token_was_issued_takes_effect_in_the_same_job(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    # given a token cached before the admin granted the group permissions
    tenant = add_tenant(cloud, contoso(), roles=["User.Read.All"])
    await graph_pool.credentials.token(tenant)
    cloud.set_tenant(
        tenant, roles=["User.Read.All", "Group.ReadWrite.All", "GroupMember.ReadWrite.All"]
    )

    # when the job runs
    result = await run(graph_pool, tenant, "ensure-group", "plan", helpdesk_params("adele"))

    # then the refused read is asked again with a new token, and the plan succeeds
    assert result.status is Status.PLANNED, result.error
    assert len(cloud.requests(service="token", tenant_id=tenant)) == 2


# --- many tenants -------------------------------------------------------------------------------


async def test_fifty_tenants_on_one_pool_all_converge_with_one_token_each(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    # given 50 tenants like Contoso
    tenants = [add_tenant(cloud, contoso()) for _ in range(50)]
    jobs = [
        ("guest-cleanup", GUESTS),
        ("ensure-group", helpdesk_params("adele", "bianca")),
        ("tenant-baseline", {}),
    ]

    async def every_job(tenant: str) -> list[TenantResult]:
        return [await run(graph_pool, tenant, job, "apply", params) for job, params in jobs]

    # when every job is applied in all of them at once
    results = [r for rs in await asyncio.gather(*(every_job(t) for t in tenants)) for r in rs]

    # then all succeed, on one MI token and one token per tenant, with the same Graph cost each
    counters = cloud.counters()
    assert {r.status for r in results} == {Status.CHANGED}
    assert counters["msi.requests"] == 1
    assert counters["token.requests"] == 50
    assert counters.get("graph.duplicate_creates", 0) == 0
    requests_per_job: dict[str, set[int]] = defaultdict(set)
    for r in results:
        requests_per_job[r.job].add(r.graph_requests)
    assert requests_per_job == {
        "guest-cleanup": {3},  # the licences (Entra ID P1?), list the guests, one $batch
        "ensure-group": {5},  # find, resolve the UPNs, re-read before creating, create, $batch
        "tenant-baseline": {2},  # read the policy, one PATCH
    }
    assert counters["graph.requests"] == 50 * (3 + 5 + 2)
