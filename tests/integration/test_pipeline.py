"""The pipeline end to end: function_app in the local host, on Azurite and the fake cloud.

timer -> queue -> worker -> ledger, the poison queue, redelivery, bad messages, and every HTTP
endpoint, all through the app's own triggers and real SDKs.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from devtools.fakecloud import FakeCloud, Fault
from tests.integration.stack_fixture import Stack, new_tenant

pytestmark = pytest.mark.integration


async def test_scheduled_run_isolates_each_failing_tenant_and_changes_the_healthy_ones(
    cloud: FakeCloud, stack: Stack
) -> None:
    # given 20 enrolled tenants: 12 healthy, 3 throttled by Graph (then fine), 5 broken
    await stack.clear_registry()
    healthy = [new_tenant(cloud) for _ in range(12)]
    throttled = [new_tenant(cloud) for _ in range(3)]
    for tenant_id in throttled:
        cloud.add_fault(
            Fault(
                service="graph",
                kind="status",
                status=429,
                retry_after="1",
                count=2,
                tenant_id=tenant_id,
            )
        )
    broken = {
        new_tenant(cloud, "not_installed"): ("tenant_not_onboarded", "admin consent"),
        new_tenant(cloud, "consent_missing"): ("consent_missing", "admin consent"),
        new_tenant(cloud, "deleted"): ("tenant_not_found", "Check the tenant id"),
        new_tenant(cloud, "blocked_by_policy"): ("blocked_by_policy", "blocking policy"),
        new_tenant(cloud, "app_disabled"): ("app_disabled", "enable the xtenant"),
    }
    enrol = {"guest-cleanup": {"mode": "apply", "params": {"days": 90}}}
    for tenant_id in healthy + throttled + list(broken):
        await stack.register(tenant_id, enrol)

    # when the schedule fires and every message is processed
    await stack.host.fire_timers()
    run_id = (await stack.call("GET", "/api/runs")).json()["runs"][0]["run_id"]
    await stack.host.drain(timeout_s=120)
    run = await stack.status(run_id)

    # then
    rows = {row["tenant_id"]: row for row in run["rows"]}
    assert len(rows) == 20
    for tenant_id in healthy + throttled:
        assert rows[tenant_id]["status"] == "changed", rows[tenant_id]
        assert rows[tenant_id]["changes_applied"] == 2
    for tenant_id, (error_class, remedy) in broken.items():
        assert rows[tenant_id]["status"] == "failed"
        assert rows[tenant_id]["error_class"] == error_class
        assert remedy in rows[tenant_id]["remediation"]
    assert run["status"] == "partially_failed"
    assert run["totals"] == {"changed": 15, "failed": 5}
    assert cloud.counters().get("graph.early_retries", 0) == 0


async def test_a_tenant_that_needs_consent_is_skipped_by_the_next_schedule_with_the_reason(
    cloud: FakeCloud, stack: Stack
) -> None:
    await stack.clear_registry()
    tenant_id = new_tenant(cloud, "consent_missing")
    await stack.register(tenant_id, {"tenant-baseline": {"mode": "plan", "params": {}}})

    for _ in range(2):
        await stack.host.fire_timers()
        await stack.host.drain(timeout_s=60)
    runs = (await stack.call("GET", "/api/runs")).json()["runs"]
    second = await stack.status(runs[0]["run_id"])
    tenant = (await stack.call("GET", f"/api/tenants/{tenant_id}")).json()

    assert tenant["health"]["status"] == "needs_consent"
    assert second["rows"][0]["status"] == "skipped"
    assert second["rows"][0]["error_class"] == "needs_consent"
    assert "admin consent" in second["rows"][0]["remediation"]
    assert len(cloud.requests(service="token", tenant_id=tenant_id)) == 1


async def test_a_manual_run_cannot_pass_as_scheduled(cloud: FakeCloud, stack: Stack) -> None:
    # given a tenant the schedule skips because it needs consent
    await stack.clear_registry()
    tenant_id = new_tenant(cloud, "consent_missing")
    await stack.register(tenant_id, {"tenant-baseline": {"mode": "plan", "params": {}}})
    await stack.host.fire_timers()
    await stack.host.drain(timeout_s=60)
    body = {"job": "tenant-baseline", "mode": "plan", "tenants": [tenant_id]}

    # when a caller claims to be the schedule, and then asks plainly
    forged = await stack.call("POST", "/api/runs", {**body, "requested_by": "schedule"})
    run_id = await stack.run("tenant-baseline", [tenant_id], mode="plan")
    await stack.host.drain(timeout_s=60)
    run = await stack.status(run_id)

    # then the claim is refused, and the manual run tries the tenant instead of skipping it
    assert forged.status_code == 400
    assert "unknown field 'requested_by'" in forged.text
    assert run["origin"] == "manual"
    assert run["rows"][0]["status"] == "failed"
    assert run["rows"][0]["error_class"] == "consent_missing"


async def test_a_redelivered_message_is_not_applied_twice(cloud: FakeCloud, stack: Stack) -> None:
    tenant_id = new_tenant(cloud)
    await stack.register(tenant_id)
    run_id = await stack.run("guest-cleanup", [tenant_id], days=90)
    await stack.host.drain(timeout_s=60)
    patches = cloud.counters().get("graph.batch_subrequests", 0)

    # the same message again, as the queue does after a lost acknowledgement
    message = {
        "v": 2,
        "run_id": run_id,
        "tenant_id": tenant_id,
        "job": "guest-cleanup",
        "mode": "apply",
        "params": {"days": 90},
        "requested_at": "2026-11-28T00:00:00Z",
        "origin": "manual",
        "requested_by": "api",
    }
    async with stack.queue("tenant-jobs") as queue:
        await queue.send_message(json.dumps(message))
    await stack.host.drain(timeout_s=60)
    row = (await stack.status(run_id))["rows"][0]

    assert row["status"] == "changed"
    assert row["attempts"] == 1
    assert cloud.counters().get("graph.batch_subrequests", 0) == patches


async def test_a_message_that_keeps_failing_ends_in_the_poison_queue_and_the_ledger(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenant_id = new_tenant(cloud)
    await stack.register(tenant_id)
    cloud.add_fault(
        Fault(service="graph", kind="status", status=503, retry_after="0", tenant_id=tenant_id)
    )

    run_id = await stack.run("tenant-baseline", [tenant_id], mode="plan")
    report = await stack.host.drain(timeout_s=120)
    row = (await stack.status(run_id))["rows"][0]

    assert report.poisoned == 1
    assert row["status"] == "failed"
    assert row["attempts"] == 3  # maxDequeueCount in host.test.json
    assert row["error_class"] == "transient"
    assert "gave up after 3 attempts" in row["message"]
    assert "HTTP 503" in row["message"]


async def test_a_malformed_message_is_recorded_and_not_retried(stack: Stack) -> None:
    before = stack.host.counts()
    async with stack.queue("tenant-jobs") as queue:
        await queue.send_message('{"v": 9, "run_id": "x"}')
    report = await stack.host.drain(timeout_s=60)

    assert report.processed == 1
    assert report.succeeded == 1
    assert report.poisoned == 0
    assert stack.host.counts().processed == before.processed + 1


async def test_run_is_running_while_its_rows_are_queued(cloud: FakeCloud, stack: Stack) -> None:
    tenant_id = new_tenant(cloud)
    await stack.register(tenant_id)
    cloud.add_fault(Fault(service="graph", kind="latency", latency_ms=300, tenant_id=tenant_id))

    run_id = await stack.run("tenant-baseline", [tenant_id], mode="plan")
    early = await stack.status(run_id)
    await stack.host.drain(timeout_s=60)
    done = await stack.status(run_id)

    assert early["status"] == "running"
    assert done["status"] == "succeeded"
    assert done["rows"][0]["status"] == "planned"
    assert done["rows"][0]["changes_planned"] > 0


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "invalid_json"),
        (b"[]", "invalid_request"),
        ({"job": "wipe", "mode": "apply", "tenants": "all"}, "unknown job 'wipe'"),
        ({"job": "guest-cleanup", "mode": "yolo", "tenants": "all"}, "mode must be plan or apply"),
        ({"job": "guest-cleanup", "mode": "plan", "tenants": ["../x"]}, "is not a GUID"),
        ({"job": "guest-cleanup", "mode": "plan", "tenants": []}, "non-empty list"),
        (
            {"job": "guest-cleanup", "mode": "plan", "tenants": [str(uuid.uuid4())]},
            "is not registered",
        ),
        (
            {"job": "guest-cleanup", "mode": "plan", "tenants": "all", "params": {"days": "x"}},
            "days must be an integer",
        ),
    ],
)
async def test_post_runs_refuses_bad_input_with_a_json_error(
    stack: Stack, body: Any, problem: str
) -> None:
    if isinstance(body, bytes):
        response = await stack.http.post("/api/runs", content=body)
    else:
        response = await stack.call("POST", "/api/runs", body)

    assert response.status_code == 400
    assert problem in response.text
    assert "error" in response.json()


async def test_post_runs_answers_202_with_a_status_url_that_works(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenant_id = new_tenant(cloud)
    await stack.register(tenant_id)

    response = await stack.call(
        "POST", "/api/runs", {"job": "tenant-baseline", "mode": "plan", "tenants": [tenant_id]}
    )
    await stack.host.drain(timeout_s=60)
    status = await stack.http.get(response.json()["status_url"])

    assert response.status_code == 202
    assert status.status_code == 200
    assert status.json()["rows"][0]["tenant_id"] == tenant_id


async def test_unknown_and_malformed_run_ids(stack: Stack) -> None:
    assert (await stack.call("GET", "/api/runs/20200101T000000Z-00000000")).status_code == 404
    assert (await stack.call("GET", "/api/runs/not_valid!")).status_code in (400, 404)
    newline = await stack.call("GET", "/api/runs/20200101T000000Z-00000000%0A")
    assert newline.status_code in (400, 404)


async def test_tenant_registry_endpoints(stack: Stack) -> None:
    tenant_id = str(uuid.uuid4())
    body = {
        "name": "Contoso",
        "enabled": True,
        "enrolments": {"guest-cleanup": {"mode": "plan", "params": {"days": 30}}},
    }

    created = await stack.call("PUT", f"/api/tenants/{tenant_id}", body)
    replaced = await stack.call("PUT", f"/api/tenants/{tenant_id}", body | {"name": "Contoso Ltd"})
    fetched = await stack.call("GET", f"/api/tenants/{tenant_id}")
    listed = await stack.call("GET", "/api/tenants")
    deleted = await stack.call("DELETE", f"/api/tenants/{tenant_id}")
    gone = await stack.call("GET", f"/api/tenants/{tenant_id}")

    assert created.status_code == 201
    assert replaced.status_code == 200
    assert fetched.json()["name"] == "Contoso Ltd"
    assert fetched.json()["health"]["status"] == "healthy"
    assert fetched.json()["enrolments"]["guest-cleanup"] == {"mode": "plan", "params": {"days": 30}}
    assert tenant_id in {t["tenant_id"] for t in listed.json()["tenants"]}
    assert deleted.status_code == 200
    assert gone.status_code == 404


@pytest.mark.parametrize(
    ("tenant_id", "body", "problem"),
    [
        ("not-a-guid", {"name": "x"}, "tenant id must be a GUID"),
        (None, b"{", "not valid JSON"),
        (None, {"name": "x", "enrolments": {"guest-cleanup": {"mode": "now"}}}, "mode must be"),
        (None, {"enrolments": {"ensure-group": {"mode": "plan", "params": {}}}}, "is required"),
        (None, {"enabled": "yes", "colour": 1}, "unknown field 'colour'"),
    ],
)
async def test_put_tenant_refuses_bad_input(
    stack: Stack, tenant_id: str | None, body: Any, problem: str
) -> None:
    path = f"/api/tenants/{tenant_id or uuid.uuid4()}"
    if isinstance(body, bytes):
        response = await stack.http.put(path, content=body)
    else:
        response = await stack.call("PUT", path, body)

    assert response.status_code == 400
    assert problem in response.json()["error"]["message"]


async def test_health_answers_ok_and_every_endpoint_needs_a_bearer_token(stack: Stack) -> None:
    health = await stack.call("GET", "/api/health")
    anonymous = await httpx.AsyncClient(base_url=stack.host.http_base_url).get("/api/runs")

    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"


async def test_jobs_endpoint_lists_each_job_with_its_params_schema(stack: Stack) -> None:
    response = await stack.call("GET", "/api/jobs")

    assert response.status_code == 200
    jobs = {job["name"]: job for job in response.json()["jobs"]}
    assert set(jobs) == {
        "guest-cleanup",
        "ensure-group",
        "tenant-baseline",
        "conditional-access-baseline",
        "security-defaults",
        "authentication-methods",
        "sharepoint-sharing",
        "emergency-access-check",
    }
    assert jobs["tenant-baseline"]["permissions"] == ["Policy.ReadWrite.Authorization"]
    for job in jobs.values():
        assert job["description"]
        assert job["params_schema"]["type"] == "object"
        assert all(field["description"] for field in job["params_schema"]["properties"].values())
    assert jobs["guest-cleanup"]["params_schema"]["properties"]["days"]["default"] == 90
    assert jobs["ensure-group"]["params_schema"]["required"] == ["mail_nickname", "display_name"]
    user_consent = jobs["tenant-baseline"]["params_schema"]["properties"]["user_consent"]
    assert user_consent["default"] == "low_risk"


async def end_cooldown(stack: Stack, tenant_id: str) -> None:
    """Move the tenant's quarantine into the past, as if its cool-down had elapsed."""
    from azure.data.tables.aio import TableClient

    async with TableClient.from_connection_string(
        stack.azurite.connection_string, "xtenanttenants"
    ) as table:
        entity = await table.get_entity("tenant", tenant_id)
        health = json.loads(entity["health"])
        health["quarantined_until"] = "2000-01-01T00:00:00+00:00"
        entity["health"] = json.dumps(health)
        await table.update_entity(entity)


async def test_repeated_transient_failures_quarantine_then_one_trial_heals_the_tenant(
    cloud: FakeCloud, stack: Stack
) -> None:
    # given a tenant enrolled in two jobs whose Graph keeps answering 503 until poisoned
    await stack.clear_registry()
    tenant_id = new_tenant(cloud)
    plan = {"mode": "plan", "params": {}}
    await stack.register(tenant_id, {"tenant-baseline": plan, "guest-cleanup": plan})
    cloud.add_fault(
        Fault(service="graph", kind="status", status=503, retry_after="0", tenant_id=tenant_id)
    )
    first = await stack.run("tenant-baseline", [tenant_id], mode="plan")
    await stack.host.drain(timeout_s=120)
    quarantined = (await stack.call("GET", f"/api/tenants/{tenant_id}")).json()["health"]
    first_row = (await stack.status(first))["rows"][0]

    # when it recovers, and after the cool-down the schedule sends both jobs at once
    # (the trial is slowed so the other message arrives while it runs)
    cloud.clear_faults(tenant_id)
    refused = await stack.run("tenant-baseline", [tenant_id], mode="plan")
    await stack.host.drain(timeout_s=60)
    await end_cooldown(stack, tenant_id)
    cloud.add_fault(Fault(service="graph", kind="latency", latency_ms=1000, tenant_id=tenant_id))
    await stack.host.fire_timers()
    await stack.host.drain(timeout_s=60)
    scheduled = (await stack.call("GET", "/api/runs")).json()["runs"][0]["run_id"]

    # then it was quarantined, refused during the cool-down, and one trial decided
    assert quarantined["status"] == "quarantined"
    assert quarantined["consecutive_failures"] == 3
    # (the test host delivers three times, so the third failure also poisons the message)
    assert (first_row["status"], first_row["attempts"]) == ("failed", 3)
    assert (await stack.status(refused))["rows"][0]["error_class"] == "quarantined"
    rows = (await stack.status(scheduled))["rows"]
    assert sorted(row["status"] for row in rows) == ["planned", "skipped"]
    skipped = next(row for row in rows if row["status"] == "skipped")
    assert skipped["error_class"] == "quarantined"
    healed = (await stack.call("GET", f"/api/tenants/{tenant_id}")).json()["health"]
    assert healed["status"] == "healthy"
