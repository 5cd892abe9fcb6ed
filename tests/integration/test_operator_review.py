"""What an operator reads and changes through the API: reviewable rows, paged run lists, a
tenant's rows across runs, recorded bad messages, PATCH and PUT of tenants, and health that a
missing permission changes for one job only."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from devtools.fakecloud import FakeCloud
from tests.integration.stack_fixture import GUESTS, ROLES, Stack, new_tenant

pytestmark = pytest.mark.integration

GUEST_PARAMS = {"days": 30, "exclude_domains": ["partner.example"]}


async def test_a_row_shows_who_what_when_and_the_planned_changes(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenant_id = new_tenant(cloud)
    await stack.register(tenant_id)

    run_id = await stack.run("guest-cleanup", [tenant_id], mode="plan", **GUEST_PARAMS)
    await stack.host.drain(timeout_s=60)
    row = (await stack.status(run_id))["rows"][0]

    assert row["tenant_name"] == f"t-{tenant_id[:8]}"
    assert (row["mode"], row["params"]) == ("plan", GUEST_PARAMS)
    assert row["queued_at"] <= row["started_at"] <= row["finished_at"]
    assert row["status"] == "planned"
    assert row["changes_total"] == row["changes_planned"] == len(row["changes"]) > 0
    assert {c["action"] for c in row["changes"]} == {"disable"}


async def test_runs_are_listed_newest_first_in_pages_with_totals_and_filters(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenant_id = new_tenant(cloud)
    await stack.register(tenant_id)
    started = [
        await stack.run("tenant-baseline", [tenant_id], mode="plan"),
        await stack.run("guest-cleanup", [tenant_id], mode="plan", days=30),
        await stack.run("tenant-baseline", [tenant_id], mode="plan"),
    ]
    await stack.host.drain(timeout_s=60)

    first = (await stack.call("GET", "/api/runs?limit=2")).json()
    second = (await stack.call("GET", f"/api/runs?limit=2&cursor={first['next']}")).json()
    baseline = (await stack.call("GET", "/api/runs?job=tenant-baseline&limit=100")).json()
    bad = await stack.call("GET", "/api/runs?limit=0")

    assert [r["run_id"] for r in first["runs"]] == started[::-1][:2]
    assert second["runs"][0]["run_id"] == started[0]
    assert first["runs"][0]["totals"] == {"planned": 1}
    assert first["runs"][0]["status"] == "succeeded"
    assert {started[0], started[2]} <= {r["run_id"] for r in baseline["runs"]}
    assert started[1] not in {r["run_id"] for r in baseline["runs"]}
    assert bad.status_code == 400
    assert "limit must be" in bad.json()["error"]["message"]


async def test_a_tenants_rows_across_runs_are_listed(cloud: FakeCloud, stack: Stack) -> None:
    tenant_id = new_tenant(cloud)
    await stack.register(tenant_id)
    first = await stack.run("tenant-baseline", [tenant_id], mode="plan")
    second = await stack.run("guest-cleanup", [tenant_id], mode="plan", days=30)
    await stack.host.drain(timeout_s=60)

    listed = (await stack.call("GET", f"/api/tenants/{tenant_id}/runs")).json()
    unknown = await stack.call("GET", f"/api/tenants/{uuid.uuid4()}/runs")

    assert [(r["run_id"], r["job"]) for r in listed["rows"]] == [
        (second, "guest-cleanup"),
        (first, "tenant-baseline"),
    ]
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "tenant_not_registered"


async def test_a_bad_message_is_visible_through_the_api(stack: Stack) -> None:
    marker = f"garbage-{uuid.uuid4().hex[:8]}"
    async with stack.queue("tenant-jobs") as queue:
        await queue.send_message(f'{{"v": 2, "run_id": "{marker}"}}')
    await stack.host.drain(timeout_s=60)

    listed = (await stack.call("GET", "/api/bad-messages")).json()["bad_messages"]
    mine = [m for m in listed if marker in m["body"]]

    assert len(mine) == 1
    assert mine[0]["error_class"] == "bad_message"
    assert "tenant_id must be a non-empty string" in mine[0]["message"]


async def test_patch_pauses_a_tenant_without_touching_its_enrolments(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenant_id = new_tenant(cloud)
    enrolments = {"guest-cleanup": {"mode": "plan", "params": GUEST_PARAMS}}
    await stack.register(tenant_id, enrolments)

    patched = await stack.call("PATCH", f"/api/tenants/{tenant_id}", {"enabled": False})
    stored = (await stack.call("GET", f"/api/tenants/{tenant_id}")).json()

    assert patched.status_code == 200
    assert stored["enabled"] is False
    assert stored["name"] == f"t-{tenant_id[:8]}"
    assert stored["enrolments"] == enrolments


async def test_put_takes_back_what_get_returned_and_refuses_a_partial_replace(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenant_id = new_tenant(cloud)
    await stack.register(tenant_id, {"tenant-baseline": {"mode": "plan", "params": {}}})
    got = (await stack.call("GET", f"/api/tenants/{tenant_id}")).json()

    again = await stack.call("PUT", f"/api/tenants/{tenant_id}", got)
    partial = await stack.call("PUT", f"/api/tenants/{tenant_id}", {"enabled": False})
    after = (await stack.call("GET", f"/api/tenants/{tenant_id}")).json()

    assert again.status_code == 200
    assert again.json() == got
    assert partial.status_code == 400
    assert "PATCH changes only what it sends" in partial.text
    assert after == got


def tenant_without(cloud: FakeCloud, *missing: str) -> str:
    tenant_id = str(uuid.uuid4())
    roles = [r for r in ROLES if r not in missing]
    cloud.set_tenant(tenant_id, state="consented", roles=roles, graph=dict(GUESTS))
    return tenant_id


async def scheduled_rows(stack: Stack, tenant_id: str) -> dict[str, dict[str, Any]]:
    await stack.host.fire_timers()
    await stack.host.drain(timeout_s=60)
    run = (await stack.call("GET", "/api/runs?origin=schedule&limit=1")).json()["runs"][0]
    rows = (await stack.status(run["run_id"]))["rows"]
    return {r["job"]: r for r in rows if r["tenant_id"] == tenant_id}


async def test_a_missing_permission_holds_back_only_the_job_that_needs_it(
    cloud: FakeCloud, stack: Stack
) -> None:
    # given a tenant that granted everything but the baseline's policy permission (and
    # Policy.Read.All, with which Graph lets the baseline's plan read the policy)
    await stack.clear_registry()
    tenant_id = tenant_without(cloud, "Policy.ReadWrite.Authorization", "Policy.Read.All")
    await stack.register(
        tenant_id,
        {
            "tenant-baseline": {"mode": "plan", "params": {}},
            "guest-cleanup": {"mode": "plan", "params": {"days": 30}},
        },
    )

    # when the schedule runs twice
    first = await scheduled_rows(stack, tenant_id)
    second = await scheduled_rows(stack, tenant_id)
    tenant = (await stack.call("GET", f"/api/tenants/{tenant_id}")).json()

    # then only the baseline is held back, with its remediation; guest-cleanup goes on
    assert first["tenant-baseline"]["error_class"] == "permission_missing"
    assert second["tenant-baseline"]["status"] == "skipped"
    assert second["tenant-baseline"]["error_class"] == "needs_consent"
    assert "Policy.ReadWrite.Authorization" in second["tenant-baseline"]["message"]
    assert second["guest-cleanup"]["status"] == "planned"
    assert tenant["health"]["status"] == "healthy"
    assert tenant["job_health"]["tenant-baseline"]["status"] == "needs_consent"


async def test_a_runs_rows_come_in_pages_with_totals_from_every_row(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenants = sorted(new_tenant(cloud) for _ in range(3))
    for tenant in tenants:
        await stack.register(tenant)
    run_id = await stack.run("tenant-baseline", tenants, mode="plan")
    await stack.host.drain(timeout_s=60)

    first = (await stack.call("GET", f"/api/runs/{run_id}?rows_limit=2")).json()
    rest = await stack.call(
        "GET", f"/api/runs/{run_id}?rows_limit=2&rows_after={first['rows_next']}"
    )
    bad = await stack.call("GET", f"/api/runs/{run_id}?rows_limit=0")

    assert first["rows_total"] == 3
    assert first["totals"] == {"planned": 3}
    assert [r["tenant_id"] for r in first["rows"]] == tenants[:2]
    assert [r["tenant_id"] for r in rest.json()["rows"]] == tenants[2:]
    assert rest.json()["rows_next"] is None
    assert bad.status_code == 400
