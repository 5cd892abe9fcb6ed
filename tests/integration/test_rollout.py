"""Safe rollout through the API of function_app in the local host: an apply over many tenants
waits for a second operator (with its plan attached), rings halt on a failing canary and resume.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devtools.fakecloud import FakeCloud
from devtools.receiver import WEBHOOK_PATH, Receiver
from tests.integration.stack_fixture import Stack, new_tenant

pytestmark = pytest.mark.integration

BASELINE = "tenant-baseline"
APPROVER = "grace@contoso.example"


@pytest.fixture
async def four_eyes(stack: Stack) -> AsyncIterator[None]:
    """The product's default: an apply over more than one tenant needs approval."""
    await stack.call("GET", "/api/health")  # the app's services exist after its first call
    import function_app

    services = function_app._services
    assert services is not None
    before = services.settings
    services.settings = dataclasses.replace(before, approval_above=1)
    try:
        yield
    finally:
        services.settings = before


def events_about(receiver: Receiver, run_id: str, kind: str) -> list[dict[str, Any]]:
    """The events of `kind` about the run the webhook took, each id once."""
    taken = {
        r.event["id"]: r.event
        for r in receiver.received
        if r.path == WEBHOOK_PATH and r.event and r.event["subject"] == run_id
    }
    return [e for e in taken.values() if e["kind"] == kind]


def policies(cloud: FakeCloud, tenants: list[str]) -> list[Any]:
    return [cloud.directory(t).authorization_policy() for t in tenants]


async def registered(cloud: FakeCloud, stack: Stack, count: int) -> list[str]:
    tenants = [new_tenant(cloud) for _ in range(count)]
    for tenant in tenants:
        await stack.register(tenant)
    return tenants


async def start(stack: Stack, tenants: list[str], **extra: Any) -> dict[str, Any]:
    body = {"job": BASELINE, "mode": "apply", "tenants": tenants, "params": {}, **extra}
    response = await stack.call("POST", "/api/runs", body)
    assert response.status_code == 202, response.text
    return dict(response.json())


@pytest.mark.usefixtures("four_eyes")
async def test_an_apply_over_many_tenants_waits_for_a_second_operator(
    cloud: FakeCloud, stack: Stack, receiver: Receiver
) -> None:
    tenants = await registered(cloud, stack, 3)
    before = policies(cloud, tenants)
    approver = cloud.operator_token(APPROVER, ["xtenant.admin"])

    # the apply waits, its plan runs at once, and nothing is written
    started = await start(stack, tenants)
    await stack.host.drain(timeout_s=60)
    waiting = await stack.status(started["run_id"])
    plan = await stack.status(started["plan_run_id"])
    assert started["state"] == waiting["status"] == "awaiting_approval"
    assert {r["status"] for r in waiting["rows"]} == {"held"}
    assert (plan["status"], plan["mode"], len(plan["rows"])) == ("succeeded", "plan", 3)
    assert all(r["changes_planned"] == 5 for r in plan["rows"])
    assert policies(cloud, tenants) == before
    [asked] = events_about(receiver, started["run_id"], "approval_requested")
    assert (asked["data"]["tenants"], asked["data"]["job"]) == (3, BASELINE)

    # the requester may not approve their own run; another admin may
    own = await stack.call("POST", f"/api/runs/{started['run_id']}/approve")
    other = await stack.call("POST", f"/api/runs/{started['run_id']}/approve", token=approver)
    await stack.host.drain(timeout_s=60)
    done = await stack.status(started["run_id"])
    again = await stack.call("POST", f"/api/runs/{started['run_id']}/approve", token=approver)
    audit = (await stack.call("GET", "/api/audit")).json()["records"]

    assert own.status_code == 403
    assert own.json()["error"]["code"] == "own_run"
    assert other.status_code == 200, other.text
    assert (done["status"], done["approval"]["approved_by"]) == ("succeeded", APPROVER)
    assert {r["status"] for r in done["rows"]} == {"changed"}
    assert policies(cloud, tenants) != before
    assert again.status_code == 409
    approvals = [e for e in audit if e["path"] == f"/api/runs/{started['run_id']}/approve"]
    assert {(e["principal"]["name"], e["status"]) for e in approvals} == {
        (APPROVER, 200),
        (APPROVER, 409),
        ("operator@contoso.example", 403),
    }


@pytest.mark.usefixtures("four_eyes")
async def test_a_rejected_or_expired_run_never_goes(cloud: FakeCloud, stack: Stack) -> None:
    tenants = await registered(cloud, stack, 2)
    before = policies(cloud, tenants)
    approver = cloud.operator_token(APPROVER, ["xtenant.admin"])
    rejected, expiring = await start(stack, tenants), await start(stack, tenants)

    answer = await stack.call(
        "POST",
        f"/api/runs/{rejected['run_id']}/reject",
        {"reason": "not this week"},
        token=approver,
    )
    import function_app

    services = function_app._services
    assert services is not None
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    await services.ledger.table.update_entity(
        {"PartitionKey": expiring["run_id"], "RowKey": "run", "approval_expires_at": past}
    )
    late = await stack.call("POST", f"/api/runs/{expiring['run_id']}/approve", token=approver)
    await stack.host.drain(timeout_s=60)
    first, second = await stack.status(rejected["run_id"]), await stack.status(expiring["run_id"])

    assert answer.status_code == 200, answer.text
    assert (first["status"], first["approval"]["reject_reason"]) == ("rejected", "not this week")
    assert {r["status"] for r in first["rows"]} == {"cancelled"}
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "approval_expired"
    assert second["status"] == "expired"
    assert {r["status"] for r in second["rows"]} == {"cancelled"}
    assert policies(cloud, tenants) == before


async def test_a_failing_canary_halts_the_rings_and_resume_goes_on(
    cloud: FakeCloud, stack: Stack, receiver: Receiver
) -> None:
    canary = new_tenant(cloud, state="consent_missing")
    await stack.register(canary)
    rest = await registered(cloud, stack, 3)
    before = policies(cloud, rest)
    rings = [{"tenants": [canary]}, {"percent": 50}, {"rest": True}]

    started = await start(stack, [canary, *rest], rings=rings)
    await stack.host.drain(timeout_s=60)
    halted = await stack.status(started["run_id"])

    assert started["state"] == "rolling"
    assert halted["status"] == "halted"
    assert "ring 1 of 3" in halted["halt"]["reason"]
    assert halted["halt"]["failing"] == [
        {"tenant_id": canary, "job": BASELINE, "status": "failed", "error_class": "consent_missing"}
    ]
    assert sorted(r["status"] for r in halted["rows"]) == ["failed", "held", "held", "held"]
    assert policies(cloud, rest) == before
    [stopped] = events_about(receiver, started["run_id"], "run_halted")
    assert stopped["data"]["failing_tenants"] == [canary]
    assert stopped["data"]["ring"] == "2 of 3"

    reader = cloud.operator_token("reader@contoso.example", ["xtenant.read", "xtenant.plan"])
    refused = await stack.call("POST", f"/api/runs/{started['run_id']}/resume", token=reader)
    resumed = await stack.call("POST", f"/api/runs/{started['run_id']}/resume")
    await stack.host.drain(timeout_s=60)
    done = await stack.status(started["run_id"])

    assert refused.status_code == 403
    assert resumed.status_code == 200, resumed.text
    assert done["rings"]["current"] == 2
    assert sorted(r["status"] for r in done["rows"]) == ["changed", "changed", "changed", "failed"]
    assert done["status"] == "partially_failed"
    assert all(p != b for p, b in zip(policies(cloud, rest), before, strict=True))


async def test_healthy_rings_roll_on_by_themselves_and_abort_stops_the_rest(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenants = await registered(cloud, stack, 4)
    rolled = await start(stack, tenants, rings=[{"percent": 25}, {"rest": True}])
    await stack.host.drain(timeout_s=60)
    done = await stack.status(rolled["run_id"])

    canary = new_tenant(cloud, state="consent_missing")
    await stack.register(canary)
    halted = await start(
        stack, [canary, *tenants[:2]], rings=[{"tenants": [canary]}, {"rest": True}]
    )
    await stack.host.drain(timeout_s=60)
    aborted = await stack.call("POST", f"/api/runs/{halted['run_id']}/abort")
    after = await stack.status(halted["run_id"])

    assert (done["status"], done["rings"]) == (
        "succeeded",
        {"total": 2, "current": 1, "max_failure_rate": 0.0},
    )
    assert [r["ring"] for r in done["rows"]].count(0) == 1
    assert aborted.json() == {"run_id": halted["run_id"], "state": "aborted", "cancelled": 2}
    assert sorted(r["status"] for r in after["rows"]) == ["cancelled", "cancelled", "failed"]


async def test_a_ring_may_be_a_tenant_group(cloud: FakeCloud, stack: Stack) -> None:
    tenants = await registered(cloud, stack, 3)
    name = f"canary-{tenants[1][:8]}"
    answer = await stack.call("PUT", f"/api/groups/{name}", {"tenants": [tenants[1]]})
    assert answer.status_code in (200, 201), answer.text

    try:
        started = await start(stack, tenants, rings=[{"group": name}, {"rest": True}])
        await stack.host.drain(timeout_s=60)
        done = await stack.status(started["run_id"])
        unknown = await stack.call(
            "POST",
            "/api/runs",
            {
                "job": BASELINE,
                "mode": "apply",
                "tenants": tenants,
                "params": {},
                "rings": [{"group": "no-such-group"}, {"rest": True}],
            },
        )
    finally:
        await stack.call("DELETE", f"/api/groups/{name}")

    assert {r["tenant_id"]: r["ring"] for r in done["rows"]} == {
        tenants[0]: 1,
        tenants[1]: 0,
        tenants[2]: 1,
    }
    assert done["status"] == "succeeded"
    assert unknown.status_code == 400
    assert "group 'no-such-group' does not exist" in str(unknown.json()["error"]["problems"])


async def test_bad_rings_are_refused_with_every_problem(cloud: FakeCloud, stack: Stack) -> None:
    tenants = await registered(cloud, stack, 2)
    stranger = new_tenant(cloud)
    cases = [
        ({"rings": [{"percent": 50}], "mode": "apply"}, "rings must be a list of 2-10 rings"),
        ({"rings": [{"rest": True}, {"percent": 5}], "mode": "apply"}, "only the last ring"),
        ({"rings": [{"percent": 0}, {"rest": True}], "mode": "apply"}, "percent 1-100"),
        ({"rings": [{"tenants": [stranger]}, {"rest": True}], "mode": "apply"}, "not in the run"),
        ({"rings": [{"percent": 50}, {"rest": True}], "mode": "plan"}, "a plan run needs none"),
        ({"max_failure_rate": 2, "mode": "apply"}, "max_failure_rate must be a number"),
    ]
    for extra, problem in cases:
        body = {"job": BASELINE, "tenants": tenants, "params": {}, **extra}
        answer = await stack.call("POST", "/api/runs", body)
        assert answer.status_code == 400, (extra, answer.text)
        assert any(problem in p for p in answer.json()["error"]["problems"]), answer.text
