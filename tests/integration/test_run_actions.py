"""Re-running a run's failed and skipped rows, and cancelling its queued ones, through the API
of function_app in the local host (Azurite, the fake cloud)."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.fakecloud import FakeCloud
from tests.integration.stack_fixture import Stack, new_tenant

pytestmark = pytest.mark.integration

BASELINE = "tenant-baseline"


def by_tenant(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["tenant_id"]: r for r in run["rows"]}


async def test_a_rerun_repeats_exactly_the_failed_and_skipped_rows(
    cloud: FakeCloud, stack: Stack
) -> None:
    # given a plan run where one tenant succeeds, one fails (consent missing) and one is
    # skipped (removed after the run started, registered again afterwards)
    good, failing, removed = new_tenant(cloud), new_tenant(cloud), new_tenant(cloud)
    cloud.set_tenant(failing, state="consent_missing")
    for tenant in (good, failing, removed):
        await stack.register(tenant)
    stack.host.pause_queues()
    try:
        first = await stack.run(BASELINE, [good, failing, removed], mode="plan")
        await stack.call("DELETE", f"/api/tenants/{removed}")
    finally:
        stack.host.resume_queues()
    await stack.host.drain(timeout_s=60)
    await stack.register(removed)
    cloud.set_tenant(failing, state="consented")
    statuses = {t: r["status"] for t, r in by_tenant(await stack.status(first)).items()}
    assert statuses == {good: "planned", failing: "failed", removed: "skipped"}

    # when the run is re-run
    answer = await stack.call("POST", f"/api/runs/{first}/rerun")
    assert answer.status_code == 202, answer.text
    second = answer.json()["run_id"]
    await stack.host.drain(timeout_s=60)
    rerun = await stack.status(second)

    # then the new run has exactly those two rows, same job and mode, linked to the first
    assert answer.json()["rows"] == 2
    assert answer.json()["left_out"] == []
    assert rerun["rerun_of"] == first
    assert {t: (r["job"], r["mode"], r["status"]) for t, r in by_tenant(rerun).items()} == {
        failing: (BASELINE, "plan", "planned"),
        removed: (BASELINE, "plan", "planned"),
    }
    assert (await stack.call("POST", f"/api/runs/{second}/rerun")).status_code == 409


async def test_rerunning_an_apply_run_needs_the_apply_role(cloud: FakeCloud, stack: Stack) -> None:
    failing = new_tenant(cloud, state="consent_missing")
    await stack.register(failing, {BASELINE: {"mode": "apply"}})
    run_id = await stack.run(BASELINE, [failing], mode="apply")
    await stack.host.drain(timeout_s=60)
    planner = cloud.operator_token("planner@contoso.example", ["xtenant.plan"])
    reader = cloud.operator_token("reader@contoso.example", ["xtenant.read"])

    as_planner = await stack.call("POST", f"/api/runs/{run_id}/rerun", token=planner)
    as_reader = await stack.call("POST", f"/api/runs/{run_id}/cancel", token=reader)
    missing = await stack.call("POST", "/api/runs/20261201T000000Z-00000000/rerun")
    garbage = await stack.call("POST", f"/api/runs/{'x' * 65}/cancel")

    assert as_planner.status_code == 403
    assert as_planner.json()["error"]["required_role"] == "xtenant.apply"
    assert as_reader.status_code == 403
    assert missing.status_code == 404
    assert garbage.status_code == 400


async def test_cancel_ends_queued_rows_and_the_worker_never_acts_on_them(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenants = [new_tenant(cloud) for _ in range(3)]
    for tenant in tenants:
        await stack.register(tenant)
    before = {t: cloud.directory(t).authorization_policy() for t in tenants}
    stack.host.pause_queues()
    try:
        run_id = await stack.run(BASELINE, tenants, mode="apply")
        answer = await stack.call("POST", f"/api/runs/{run_id}/cancel")
    finally:
        stack.host.resume_queues()
    await stack.host.drain(timeout_s=60)
    run = await stack.status(run_id)
    again = await stack.call("POST", f"/api/runs/{run_id}/cancel")

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"run_id": run_id, "cancelled": 3, "already_started": 0}
    assert run["status"] == "cancelled"
    assert {r["status"] for r in run["rows"]} == {"cancelled"}
    assert "operator@contoso.example" in run["rows"][0]["message"]
    assert {t: cloud.directory(t).authorization_policy() for t in tenants} == before
    assert all(cloud.requests(service="graph", tenant_id=t) == [] for t in tenants)
    assert again.json()["cancelled"] == 0
    assert (await stack.call("POST", f"/api/runs/{run_id}/rerun")).status_code == 409


async def test_cancel_leaves_finished_rows_as_they_are(cloud: FakeCloud, stack: Stack) -> None:
    tenant = new_tenant(cloud)
    await stack.register(tenant)
    run_id = await stack.run(BASELINE, [tenant], mode="plan")
    await stack.host.drain(timeout_s=60)

    answer = await stack.call("POST", f"/api/runs/{run_id}/cancel")
    run = await stack.status(run_id)

    assert answer.json()["cancelled"] == 0
    assert (run["status"], run["rows"][0]["status"]) == ("succeeded", "planned")
