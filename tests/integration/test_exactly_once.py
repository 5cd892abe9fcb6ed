"""The run is the authority and every write happens once: forged, tampered and duplicated
messages, two runs at once, a tenant removed mid-run, sizes, Idempotency-Key, app-wide
outages, the poison queue and the sweeper — through the local host, on Azurite and the fake
cloud."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devtools.fakecloud import FakeCloud, Fault
from tests.integration.stack_fixture import Stack, new_tenant

pytestmark = pytest.mark.integration

GROUP = {"mail_nickname": "xt-helpdesk", "display_name": "Helpdesk", "members": []}


def message(run_id: str, tenant_id: str, job: str, **overrides: Any) -> str:
    body: dict[str, Any] = {
        "v": 2,
        "run_id": run_id,
        "tenant_id": tenant_id,
        "job": job,
        "mode": "plan",
        "params": {},
        "origin": "manual",
        "requested_at": "2026-11-28T00:00:00+00:00",
        "requested_by": "someone",
    }
    return json.dumps(body | overrides)


async def send(stack: Stack, *bodies: str, queue: str = "tenant-jobs") -> None:
    async with stack.queue(queue) as client:
        for body in bodies:
            await client.send_message(body)


async def rejected(stack: Stack, marker: str) -> list[dict[str, Any]]:
    listed = (await stack.call("GET", "/api/bad-messages?limit=100")).json()["bad_messages"]
    return [m for m in listed if marker in m["body"]]


def groups_named(cloud: FakeCloud, tenant_id: str, nickname: str) -> int:
    return sum(1 for g in cloud.directory(tenant_id).groups() if g.mail_nickname == nickname)


async def test_a_hand_written_message_cannot_put_another_tenant_into_a_run(
    cloud: FakeCloud, stack: Stack
) -> None:
    # given a plan run started for tenant A only
    a, b = new_tenant(cloud), new_tenant(cloud)
    await stack.register(a)
    await stack.register(b)
    run_id = await stack.run("tenant-baseline", [a], mode="plan")
    await stack.host.drain(timeout_s=60)
    policy_before = dict(cloud.directory(b).authorization_policy())

    # when someone with queue access adds tenant B, in apply mode with weak params
    forged = message(
        run_id, b, "tenant-baseline", mode="apply", params={"allow_invites_from": "everyone"}
    )
    await send(stack, forged)
    await stack.host.drain(timeout_s=60)

    # then B is untouched, the run still has A only, and the message is on record
    assert cloud.directory(b).authorization_policy() == policy_before
    assert cloud.requests(service="token", tenant_id=b) == []
    assert [r["tenant_id"] for r in (await stack.status(run_id))["rows"]] == [a]
    [record] = await rejected(stack, b)
    assert record["error_class"] == "rejected_message"
    assert "no such row" in record["message"]


async def test_a_message_with_other_params_than_its_run_recorded_is_rejected(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenant = new_tenant(cloud)
    await stack.register(tenant)
    run_id = await stack.run("guest-cleanup", [tenant], mode="plan", days=365)
    await stack.host.drain(timeout_s=60)
    row = (await stack.status(run_id))["rows"][0]
    marker = f"x{uuid.uuid4().hex[:6]}.example"

    tampered = message(
        run_id, tenant, "guest-cleanup", params={"days": 1, "exclude_domains": [marker]}
    )
    await send(stack, tampered)
    await stack.host.drain(timeout_s=60)

    [record] = await rejected(stack, marker)
    assert "params differ" in record["message"]
    assert (await stack.status(run_id))["rows"][0] == row


async def test_the_same_message_delivered_twice_at_once_creates_one_group(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenant = new_tenant(cloud)
    await stack.register(tenant)
    cloud.add_fault(Fault(service="graph", kind="latency", latency_ms=300, tenant_id=tenant))
    run_id = await stack.run("ensure-group", [tenant], mode="apply", **GROUP)
    duplicate = message(run_id, tenant, "ensure-group", mode="apply", params=GROUP)
    await send(stack, duplicate, duplicate)

    await stack.host.drain(timeout_s=90)
    row = (await stack.status(run_id))["rows"][0]

    assert groups_named(cloud, tenant, GROUP["mail_nickname"]) == 1
    assert row["status"] == "changed"
    assert row["attempts"] == 1


async def test_two_runs_at_once_apply_one_after_the_other_and_create_one_group(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenant = new_tenant(cloud)
    await stack.register(tenant)
    cloud.add_fault(Fault(service="graph", kind="latency", latency_ms=200, tenant_id=tenant))

    runs = await asyncio.gather(
        stack.run("ensure-group", [tenant], mode="apply", **GROUP),
        stack.run("ensure-group", [tenant], mode="apply", **GROUP),
    )
    await stack.host.drain(timeout_s=90)
    rows = [(await stack.status(run_id))["rows"][0] for run_id in runs]

    assert groups_named(cloud, tenant, GROUP["mail_nickname"]) == 1
    assert sorted(r["status"] for r in rows if r["status"] != "failed") in (
        ["changed", "no_changes"],
        ["changed"],
    )
    for row in rows:
        if row["status"] == "failed":  # the test host delivers three times, at once
            assert row["error_class"] == "apply_in_progress"


async def test_a_tenant_removed_after_its_run_started_is_never_acted_on(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenant = new_tenant(cloud)
    await stack.register(tenant)
    cloud.add_fault(Fault(service="token", kind="latency", latency_ms=1, tenant_id=tenant))
    stack.host.pause_queues()
    try:
        run_id = await stack.run("tenant-baseline", [tenant], mode="apply")
        await stack.call("DELETE", f"/api/tenants/{tenant}")
    finally:
        stack.host.resume_queues()
    await stack.host.drain(timeout_s=60)
    row = (await stack.status(run_id))["rows"][0]

    assert (row["status"], row["error_class"]) == ("skipped", "tenant_not_registered")
    assert cloud.requests(service="graph", tenant_id=tenant) == []


async def test_an_idempotency_key_returns_the_same_run_and_sends_nothing_more(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenant = new_tenant(cloud)
    await stack.register(tenant)
    body = {"job": "tenant-baseline", "mode": "plan", "tenants": [tenant]}
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}

    first = await stack.call("POST", "/api/runs", body, headers=key)
    again = await stack.call("POST", "/api/runs", body, headers=key)
    other = await stack.call("POST", "/api/runs", {**body, "mode": "apply"}, headers=key)
    await stack.host.drain(timeout_s=60)
    tenant_runs = (await stack.call("GET", f"/api/tenants/{tenant}/runs")).json()["rows"]

    assert first.status_code == 202
    assert (again.status_code, again.json()["run_id"]) == (200, first.json()["run_id"])
    assert again.json()["replayed"] is True
    assert other.status_code == 409
    assert [r["run_id"] for r in tenant_runs] == [first.json()["run_id"]]


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({**GROUP, "members": [f"u{n}@contoso.com" for n in range(1001)]}, "at most 1000 items"),
        ({**GROUP, "description": "d" * 2000}, "at most 1024 characters"),
        ({**GROUP, "display_name": "n" * 300}, "at most 256 characters"),
    ],
)
async def test_limits_are_checked_before_anything_is_written(
    cloud: FakeCloud, stack: Stack, params: dict[str, Any], problem: str
) -> None:
    tenant = new_tenant(cloud)
    await stack.register(tenant)

    response = await stack.call(
        "POST",
        "/api/runs",
        {"job": "ensure-group", "mode": "plan", "tenants": [tenant], "params": params},
    )

    assert response.status_code == 400
    assert problem in response.text
    assert (await stack.call("GET", f"/api/tenants/{tenant}/runs")).json()["rows"] == []


async def test_bodies_that_break_parsers_are_4xx_never_500(stack: Stack) -> None:
    nested = b"[" * 100_000 + b"]" * 100_000
    huge = b'{"job": "' + b"x" * 1_100_000 + b'"}'
    wrong_types = {"job": ["x"], "mode": {"a": 1}, "tenants": {"b": 2}, "params": [1]}

    answers = [
        await stack.http.post("/api/runs", content=nested),
        await stack.http.post("/api/runs", content=huge),
        await stack.call("POST", "/api/runs", wrong_types),
        await stack.call("PUT", f"/api/tenants/{uuid.uuid4()}", {"enrolments": {"x": [1]}}),
        await stack.http.patch(f"/api/tenants/{uuid.uuid4()}", content=nested),
    ]

    assert [a.status_code for a in answers] == [400, 413, 400, 400, 400]


async def test_an_app_wide_outage_blocks_rows_without_touching_any_tenants_health(
    cloud: FakeCloud, stack: Stack
) -> None:
    # given two healthy tenants, and the managed identity endpoint down
    tenants = [new_tenant(cloud), new_tenant(cloud)]
    for tenant in tenants:
        await stack.register(tenant)
    await stack.host.drain(timeout_s=30)
    import function_app

    assertion = function_app._services.credentials.assertion  # type: ignore[union-attr]
    assert assertion is not None
    await assertion._drop_credential()  # its cached assertion is gone: the next needs the MSI
    assertion._token = None
    cloud.add_fault(Fault(service="msi", kind="status", status=500, count=1000))
    try:
        run_id = await stack.run("tenant-baseline", tenants, mode="plan")
        await stack.host.drain(timeout_s=60)
        health = (await stack.call("GET", "/api/health")).json()
    finally:
        cloud.clear_faults()
    rows = (await stack.status(run_id))["rows"]
    listed = {
        t["tenant_id"]: t for t in (await stack.call("GET", "/api/tenants")).json()["tenants"]
    }

    # then the rows end blocked with the app-level error, the app says it is paused, and no
    # tenant's health moved
    assert {r["status"] for r in rows} == {"blocked"}
    assert {r["error_class"] for r in rows} == {"managed_identity_unavailable"}
    assert health["app"]["status"] == "paused"
    assert health["app"]["error"]["error_class"] == "managed_identity_unavailable"
    assert all(listed[t]["health"]["status"] == "healthy" for t in tenants)
    await _end_outage()


async def test_the_app_disabled_at_home_pauses_the_work_and_blames_no_tenant(
    cloud: FakeCloud, stack: Stack
) -> None:
    # given two healthy tenants, and the app disabled in its home tenant: every tenant's token
    # endpoint, the home tenant's included, answers AADSTS7000112
    tenants = [new_tenant(cloud), new_tenant(cloud)]
    for tenant in tenants:
        await stack.register(tenant)
    await stack.host.drain(timeout_s=30)
    import function_app

    services = function_app._services
    assert services is not None
    for tenant in tenants:
        await services.credentials.forget_token(tenant)
    cloud.add_fault(Fault(service="token", kind="aadsts", code=7000112, count=1000))
    try:
        run_id = await stack.run("tenant-baseline", tenants, mode="plan")
        await stack.host.drain(timeout_s=60)
        health = (await stack.call("GET", "/api/health")).json()
    finally:
        cloud.clear_faults()
    rows = (await stack.status(run_id))["rows"]
    listed = {
        t["tenant_id"]: t for t in (await stack.call("GET", "/api/tenants")).json()["tenants"]
    }

    # then the rows end blocked by the app's own failure, which says where to fix it
    assert {r["status"] for r in rows} == {"blocked"}
    assert {r["error_class"] for r in rows} == {"app_disabled_at_home"}
    assert "home tenant" in rows[0]["remediation"]
    assert health["app"]["status"] == "paused"
    assert health["app"]["error"]["error_class"] == "app_disabled_at_home"
    assert all(listed[t]["health"]["status"] == "healthy" for t in tenants)
    await _end_outage()


async def test_one_tenant_disabling_the_app_is_that_tenants_failure_alone(
    cloud: FakeCloud, stack: Stack
) -> None:
    disabled, fine = new_tenant(cloud, state="app_disabled"), new_tenant(cloud)
    for tenant in (disabled, fine):
        await stack.register(tenant)
    await stack.host.drain(timeout_s=30)

    run_id = await stack.run("tenant-baseline", [disabled, fine], mode="plan")
    await stack.host.drain(timeout_s=60)
    rows = {r["tenant_id"]: r for r in (await stack.status(run_id))["rows"]}
    health = (await stack.call("GET", "/api/health")).json()
    tenant = (await stack.call("GET", f"/api/tenants/{disabled}")).json()

    assert (rows[disabled]["status"], rows[disabled]["error_class"]) == ("failed", "app_disabled")
    assert rows[fine]["status"] == "planned"
    assert health["app"]["status"] != "paused"
    assert tenant["health"]["status"] != "healthy"


async def _end_outage() -> None:
    import function_app

    services = function_app._services
    assert services is not None
    from azure.core.exceptions import ResourceNotFoundError

    with contextlib.suppress(ResourceNotFoundError):
        await services.registry.table.delete_entity("app", "identity")
    services.app_breaker._cached = None
    services.app_breaker._read_at = float("-inf")
    services.home_check._verdict = None  # the home tenant's verdict is reused for 30 s


async def test_garbage_on_the_poison_queue_is_recorded_and_never_raises(stack: Stack) -> None:
    marker = f"poison-{uuid.uuid4().hex[:8]}"
    await send(stack, f"{marker} " + "{" * 5000, queue="tenant-jobs-poison")
    await stack.host.drain(timeout_s=60)

    [record] = await rejected(stack, marker)
    assert record["error_class"] == "bad_message"


async def test_the_sweeper_sends_a_lost_message_again_and_the_row_finishes(
    cloud: FakeCloud, stack: Stack
) -> None:
    # given a row whose message was lost an hour and more ago
    tenant = new_tenant(cloud)
    await stack.register(tenant)
    stack.host.pause_queues()
    try:
        run_id = await stack.run("tenant-baseline", [tenant], mode="plan")
        async with stack.queue("tenant-jobs") as queue:
            await queue.clear_messages()
    finally:
        stack.host.resume_queues()
    import function_app

    services = function_app._services
    assert services is not None
    from shared.sweeper import sweep

    # when the sweeper looks, an hour later
    report = await sweep(services, datetime.now(UTC) + timedelta(hours=2))
    await stack.host.drain(timeout_s=60)
    row = (await stack.status(run_id))["rows"][0]

    # then it sent the message again, and the row finished
    assert report.resent >= 1
    assert row["status"] == "planned"


class HalfBrokenQueue:
    """Sends every other message; the others fail as a storage outage would."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls = 0

    async def send_message(self, content: str) -> Any:
        self.calls += 1
        if self.calls % 2 == 0:
            from azure.core.exceptions import ServiceRequestError

            raise ServiceRequestError("connection refused")
        return await self.real.send_message(content)


async def test_rows_whose_message_could_not_be_sent_end_failed_and_the_run_does_not_hang(
    cloud: FakeCloud, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import function_app

    tenants = [new_tenant(cloud) for _ in range(4)]
    for tenant in tenants:
        await stack.register(tenant)
    services = function_app._services
    assert services is not None
    monkeypatch.setattr(services, "queue", HalfBrokenQueue(services.queue))

    response = await stack.call(
        "POST", "/api/runs", {"job": "tenant-baseline", "mode": "plan", "tenants": tenants}
    )
    monkeypatch.undo()
    await stack.host.drain(timeout_s=60)
    run = await stack.status(response.json()["run_id"])

    assert response.status_code == 202
    assert (response.json()["messages"], response.json()["not_queued"]) == (2, 2)
    assert run["totals"] == {"planned": 2, "failed": 2}
    assert run["status"] == "partially_failed"
    failed = [r for r in run["rows"] if r["status"] == "failed"]
    assert {r["error_class"] for r in failed} == {"not_queued"}
