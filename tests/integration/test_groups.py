"""Tenant groups through the API of function_app in the local host (Azurite, the fake cloud):
static and dynamic groups (by tag, by the service plans a run read), runs that target a group,
precedence tenant > group > all shown with its source, and the schedule using it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

import function_app
from devtools.fakecloud import FakeCloud
from shared.graph import GraphPool
from shared.pipeline import start_scheduled_run
from shared.runner import run_tenant_job
from shared.tenants import TenantPlans
from tests.integration.stack_fixture import GUESTS, Stack, new_tenant

pytestmark = pytest.mark.integration

BASELINE = "tenant-baseline"
CLEANUP = "guest-cleanup"
ENSURE = "ensure-group"
SPB_PLANS = ["AAD_PREMIUM", "EXCHANGE_S_STANDARD", "SHAREPOINTSTANDARD"]


@pytest.fixture(autouse=True)
async def no_groups(stack: Stack) -> AsyncIterator[None]:
    """Each test starts with no tenant and no group, and leaves no group behind (an `all` with
    enrolments would enrol every other test's tenants on the schedule)."""
    await stack.clear_registry()
    await clear_groups(stack)
    yield
    await clear_groups(stack)


async def clear_groups(stack: Stack) -> None:
    for group in (await stack.call("GET", "/api/groups")).json()["groups"]:
        if group["name"] != "all":
            await stack.call("DELETE", f"/api/groups/{group['name']}")
    await stack.call("PUT", "/api/groups/all", {"enrolments": {}})


async def put_group(stack: Stack, name: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await stack.call("PUT", f"/api/groups/{name}", body)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def members(stack: Stack, name: str) -> list[str]:
    response = await stack.call("GET", f"/api/groups/{name}")
    assert response.status_code == 200, response.text
    return [m["tenant_id"] for m in response.json()["members"]]


async def tenant(stack: Stack, tenant_id: str) -> dict[str, Any]:
    response = await stack.call("GET", f"/api/tenants/{tenant_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def rows(run: dict[str, Any]) -> dict[tuple[str, str], tuple[str, Any]]:
    return {(r["tenant_id"], r["job"]): (r["mode"], r["params"]) for r in run["rows"]}


def plan(**params: Any) -> dict[str, Any]:
    return {"mode": "plan", "params": params}


def apply(**params: Any) -> dict[str, Any]:
    return {"mode": "apply", "params": params}


async def test_a_run_targeting_a_static_group_runs_exactly_its_enabled_members(
    cloud: FakeCloud, stack: Stack
) -> None:
    # given three tenants, two of them in the group `pilot`, one of those disabled
    first, second, outside = sorted(new_tenant(cloud) for _ in range(3))
    for tenant_id in (first, second, outside):
        await stack.register(tenant_id)
    await put_group(stack, "pilot", {"description": "try first", "tenants": [first, second]})
    await stack.call("PATCH", f"/api/tenants/{second}", {"enabled": False})

    # when a plan run names the group
    body = {"job": BASELINE, "mode": "plan", "tenants": {"group": "pilot"}}
    answer = await stack.call("POST", "/api/runs", body)
    assert answer.status_code == 202, answer.text
    await stack.host.drain(timeout_s=60)
    run = await stack.status(answer.json()["run_id"])

    # then the group shows both members, and the run ran the enabled one only
    assert await members(stack, "pilot") == [first, second]
    assert [(r["tenant_id"], r["status"]) for r in run["rows"]] == [(first, "planned")]
    assert (await tenant(stack, first))["groups"] == ["pilot"]
    assert (await tenant(stack, outside))["groups"] == []


async def test_a_dynamic_group_by_tag_follows_the_tenants_tags(
    cloud: FakeCloud, stack: Stack
) -> None:
    gold, silver = new_tenant(cloud), new_tenant(cloud)
    for tenant_id in (gold, silver):
        await stack.register(tenant_id)
    patched = await stack.call("PATCH", f"/api/tenants/{gold}", {"tags": ["tier:gold", "eu"]})
    await stack.call("PATCH", f"/api/tenants/{silver}", {"tags": ["tier:silver", "eu"]})
    await put_group(stack, "gold-eu", {"rule": {"tags_all": ["tier:gold", "eu"]}})
    before = await members(stack, "gold-eu")

    await stack.call("PATCH", f"/api/tenants/{gold}", {"tags": ["tier:silver", "eu"]})
    await stack.call("PATCH", f"/api/tenants/{silver}", {"tags": ["tier:gold", "eu"]})

    assert patched.json()["tags"] == ["eu", "tier:gold"]
    assert before == [gold]
    assert await members(stack, "gold-eu") == [silver]


async def test_a_dynamic_group_by_plan_fills_once_a_run_read_the_tenants_licences(
    cloud: FakeCloud, stack: Stack
) -> None:
    # given a tenant with Entra ID P2 (Microsoft 365 E5) and one with P1 only (Business Premium)
    e5 = new_tenant(cloud, skus=["SPE_E5"], generate=GUESTS["generate"])
    premium = new_tenant(cloud)
    for tenant_id in (e5, premium):
        await stack.register(tenant_id)
    await put_group(stack, "p2", {"rule": {"plans_any": ["AAD_PREMIUM_P2"]}})
    unread = await members(stack, "p2")

    # when a run of a job that reads licences (guest-cleanup needs P1) goes over both
    await stack.run(CLEANUP, [e5, premium], mode="plan", days=90)
    await stack.host.drain(timeout_s=60)

    # then each tenant shows the plans read, and the group holds the one with P2
    assert unread == []
    assert (await tenant(stack, premium))["plans"]["service_plans"] == SPB_PLANS
    assert "AAD_PREMIUM_P2" in (await tenant(stack, e5))["plans"]["service_plans"]
    assert await members(stack, "p2") == [e5]


async def test_the_tenants_own_enrolment_wins_over_its_groups_which_wins_over_alls(
    cloud: FakeCloud, stack: Stack
) -> None:
    # given defaults for every tenant, a group that applies guest-cleanup, and a gold tenant
    # enrolled in ensure-group itself
    gold, plain = new_tenant(cloud), new_tenant(cloud)
    own = apply(mail_nickname="gold-staff", display_name="Gold staff")
    await stack.register(gold, {ENSURE: own})
    await stack.register(plain)
    await stack.call("PATCH", f"/api/tenants/{gold}", {"tags": ["tier:gold"]})
    defaults = {
        CLEANUP: plan(days=180),
        BASELINE: plan(),
        ENSURE: plan(mail_nickname="all-staff", display_name="All staff"),
    }
    await put_group(stack, "all", {"enrolments": defaults})
    await put_group(
        stack,
        "gold",
        {"rule": {"tags_any": ["tier:gold"]}, "enrolments": {CLEANUP: apply(days=90)}},
    )

    # when the tenants are read
    shown, other = await tenant(stack, gold), await tenant(stack, plain)

    # then each effective enrolment says which rule gave it
    assert shown["enrolments"] == {ENSURE: own}  # the tenant's own, as PUT and PATCH take them
    assert shown["groups"] == ["gold"]
    assert shown["effective_enrolments"] == {
        BASELINE: plan() | {"source": "all"},
        ENSURE: own | {"source": "tenant"},
        CLEANUP: apply(days=90) | {"source": "group:gold"},
    }
    assert {job: e["source"] for job, e in other["effective_enrolments"].items()} == {
        BASELINE: "all",
        ENSURE: "all",
        CLEANUP: "all",
    }


async def test_the_schedule_runs_each_tenants_effective_enrolments(
    cloud: FakeCloud, stack: Stack
) -> None:
    # given a group that applies guest-cleanup to its two tenants, one of them with its own
    # report enrolment, a default baseline report for every tenant, and a disabled member
    member, own, disabled = new_tenant(cloud), new_tenant(cloud), new_tenant(cloud)
    await stack.register(member)
    await stack.register(own, {CLEANUP: plan(days=365)})
    await stack.register(disabled)
    await stack.call("PATCH", f"/api/tenants/{disabled}", {"enabled": False})
    await put_group(stack, "all", {"enrolments": {BASELINE: plan()}})
    await put_group(
        stack, "cleanup", {"tenants": [member, own, disabled], "enrolments": {CLEANUP: apply()}}
    )

    # when the schedule starts a run
    started = await start_scheduled_run(await function_app.services())
    await stack.host.drain(timeout_s=120)
    run = await stack.status(started.run_id)

    # then each enabled tenant got its effective enrolments, the disabled one nothing
    assert rows(run) == {
        (member, BASELINE): ("plan", {}),
        (member, CLEANUP): ("apply", {}),
        (own, BASELINE): ("plan", {}),
        (own, CLEANUP): ("plan", {"days": 365}),
    }
    assert run["origin"] == "schedule"
    assert run["status"] == "succeeded"


async def test_a_manual_apply_is_refused_where_a_group_enrols_the_tenant_in_report_mode(
    cloud: FakeCloud, stack: Stack
) -> None:
    cautious, other = new_tenant(cloud), new_tenant(cloud)
    for tenant_id in (cautious, other):
        await stack.register(tenant_id)
    await put_group(stack, "careful", {"tenants": [cautious], "enrolments": {CLEANUP: plan()}})

    body = {"job": CLEANUP, "mode": "apply", "tenants": [cautious, other], "params": {}}
    refused = await stack.call("POST", "/api/runs", body)

    assert refused.status_code == 400
    assert refused.json()["error"]["problems"] == [
        f"tenant {cautious} is enrolled in {CLEANUP} in plan (report) mode (source: "
        "group:careful): a manual run may not apply (remediate) there; change that enrolment "
        "to apply first"
    ]


async def test_a_run_naming_an_unknown_or_empty_group_is_refused(
    cloud: FakeCloud, stack: Stack
) -> None:
    await put_group(stack, "nobody", {"rule": {"tags_any": ["none"]}})

    answers = [
        await stack.call(
            "POST", "/api/runs", {"job": BASELINE, "mode": "plan", "tenants": {"group": name}}
        )
        for name in ("missing", "nobody")
    ]

    assert [a.status_code for a in answers] == [400, 400]
    assert [a.json()["error"]["problems"] for a in answers] == [
        ["group 'missing' does not exist (GET /api/groups lists them)"],
        ["group nobody has no enabled tenant"],
    ]


async def test_group_changes_that_let_the_schedule_apply_need_the_apply_role(
    cloud: FakeCloud, stack: Stack
) -> None:
    # given an admin without the apply role, and a group that applies to gold tenants
    admin = cloud.operator_token("ada@contoso.example", ["xtenant.read", "xtenant.admin"])
    tenant_id = new_tenant(cloud)
    await stack.register(tenant_id)
    await put_group(
        stack, "gold", {"rule": {"tags_any": ["gold"]}, "enrolments": {CLEANUP: apply()}}
    )
    applying = {"rule": {"tags_any": ["x"]}, "enrolments": {CLEANUP: apply()}}

    # when the admin makes a group that applies, a report one, and tags a tenant gold
    new_apply = await stack.call("PUT", "/api/groups/new", applying, token=admin)
    report = await stack.call(
        "PUT", "/api/groups/reports", {"tenants": [], "enrolments": {CLEANUP: plan()}}, token=admin
    )
    tagged = await stack.call("PATCH", f"/api/tenants/{tenant_id}", {"tags": ["gold"]}, token=admin)
    removed = await stack.call("DELETE", "/api/groups/gold", token=admin)

    # then only the report group is made; tagging the tenant into `gold` needs apply; removing
    # a group never makes anything apply
    assert [new_apply.status_code, report.status_code, tagged.status_code] == [403, 201, 403]
    assert new_apply.json()["error"]["required_role"] == "xtenant.apply"
    assert removed.status_code == 200
    assert (await tenant(stack, tenant_id))["tags"] == []


async def test_group_requests_are_checked_and_answered_clearly(
    cloud: FakeCloud, stack: Stack
) -> None:
    registered, stranger = new_tenant(cloud), "33333333-3333-4333-8333-333333333333"
    await stack.register(registered)

    unregistered = await stack.call("PUT", "/api/groups/pilot", {"tenants": [registered, stranger]})
    bad = await stack.call(
        "PUT", "/api/groups/Pilot", {"rule": {"cloud": "mars"}, "enrolments": {"wipe": plan()}}
    )
    missing = await stack.call("GET", "/api/groups/pilot")
    gone = await stack.call("DELETE", "/api/groups/pilot")
    everyone = await stack.call("DELETE", "/api/groups/all")
    not_json = await stack.call("PUT", "/api/groups/pilot", content=b"{", headers={})

    assert unregistered.status_code == 400
    assert unregistered.json()["error"]["code"] == "invalid_group"
    assert unregistered.json()["error"]["problems"] == [
        f"tenants: {stranger} is not registered (PUT /api/tenants/{stranger} first)"
    ]
    assert bad.status_code == 400
    assert bad.json()["error"]["problems"] == [
        "group name 'Pilot' must be 1-64 lower-case letters, digits or -",
        "rule.cloud must be one of public, usgov, china",
        "rule needs a clause: tags_all, tags_any, plans_any, cloud (all holds everyone)",
        "enrolments.wipe: unknown job 'wipe'",
    ]
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "group_not_found")
    assert gone.status_code == 404
    assert everyone.status_code == 400
    assert not_json.status_code == 400


async def test_a_large_groups_members_come_in_pages(cloud: FakeCloud, stack: Stack) -> None:
    tenants = sorted(new_tenant(cloud) for _ in range(3))
    for tenant_id in tenants:
        await stack.register(tenant_id)
    await put_group(stack, "three", {"tenants": tenants})

    first = (await stack.call("GET", "/api/groups/three", params={"limit": "2"})).json()
    cursor = first["members_next"]
    second = (
        await stack.call("GET", "/api/groups/three", params={"limit": "2", "cursor": cursor})
    ).json()
    listed = (await stack.call("GET", "/api/groups")).json()["groups"]

    assert [m["tenant_id"] for m in first["members"]] == tenants[:2]
    assert [m["tenant_id"] for m in second["members"]] == tenants[2:]
    assert (first["members_total"], second["members_next"]) == (3, None)
    assert {g["name"]: g["members_total"] for g in listed} == {"all": 3, "three": 3}


async def test_a_groups_change_and_a_run_over_it_are_in_the_audit_trail_under_its_tenants(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenant_id = new_tenant(cloud)
    await stack.register(tenant_id)
    await put_group(stack, "audited", {"tenants": [tenant_id]})
    body = {"job": BASELINE, "mode": "plan", "tenants": {"group": "audited"}}
    assert (await stack.call("POST", "/api/runs", body)).status_code == 202
    await stack.host.drain(timeout_s=60)

    trail = (await stack.call("GET", "/api/audit", params={"tenant": tenant_id})).json()

    found = {(r["method"], r["path"]) for r in trail["records"]}
    assert {("PUT", "/api/groups/audited"), ("POST", "/api/runs")} <= found


async def test_the_runner_says_which_service_plans_it_read(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant_id = new_tenant(cloud)

    licensed = await run_tenant_job(
        graph_pool, tenant_id=tenant_id, job=CLEANUP, mode="plan", params={"days": 90}
    )
    unlicensed = await run_tenant_job(graph_pool, tenant_id=tenant_id, job=BASELINE, mode="plan")

    assert licensed.service_plans == frozenset(SPB_PLANS)
    assert unlicensed.service_plans is None  # the baseline needs no licence: none read


async def test_service_plans_are_written_only_when_they_change(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenant_id = new_tenant(cloud)
    await stack.register(tenant_id)
    registry = (await function_app.services()).registry
    first, later = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)

    await registry.record_plans(tenant_id, ["AAD_PREMIUM"], first)
    read = await registry.read(tenant_id)
    await registry.record_plans(tenant_id, ["AAD_PREMIUM"], later, stored=read)
    same = await registry.read(tenant_id)
    await registry.record_plans(tenant_id, ["AAD_PREMIUM", "AAD_PREMIUM_P2"], later, stored=same)
    changed = await registry.read(tenant_id)

    assert read is not None
    assert same is not None
    assert changed is not None
    assert same.etag == read.etag  # nothing written
    assert same.tenant.plans == TenantPlans(("AAD_PREMIUM",), first)
    assert changed.tenant.plans == TenantPlans(("AAD_PREMIUM", "AAD_PREMIUM_P2"), later)
