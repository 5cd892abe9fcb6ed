"""Notifications end to end: function_app in the local host on Azurite and the fake cloud, its
two sinks (the generic webhook and Teams) pointing at a local receiver (devtools/receiver.py).

One event per state change however many runs see the state; each event to both sinks, with a
stable id; a sink that answers 500 is tried again; a sink that never answers leaves the runs as
they were and shows in GET /api/health; the sinks' URLs never show in logs, health or runs.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devtools.fakecloud import FakeCloud, Fault
from devtools.receiver import TEAMS_PATH, WEBHOOK_PATH, Receiver, describe
from tests.integration.stack_fixture import SINK_SECRET, Stack, new_tenant

pytestmark = pytest.mark.integration

BASELINE = "tenant-baseline"
INVITES = "authorizationPolicy.allowInvitesFrom"


@pytest.fixture
async def quiet(stack: Stack, receiver: Receiver) -> AsyncIterator[int]:
    """Earlier tests' events delivered; yields where this test's requests start in `received`.
    Afterwards the receiver answers 200 again and what is left is delivered."""
    await stack.host.drain(timeout_s=120)
    yield len(receiver.received)
    receiver.reset()
    await stack.host.drain(timeout_s=120)


async def sweep(stack: Stack) -> None:
    """The sweeper's timer, now: it closes finished runs (run_finished); then deliver."""
    import function_app
    from shared.sweeper import sweep as sweep_runs

    await sweep_runs(await function_app.services(), datetime.now(UTC))
    await stack.host.drain(timeout_s=120)


def delivered(receiver: Receiver, since: int, path: str = WEBHOOK_PATH) -> list[dict[str, Any]]:
    """Events a sink took (answered 2xx) since `since`, each id once."""
    taken = {}
    for request in receiver.received[since:]:
        if request.path == path and 200 <= request.status < 300 and request.event:
            taken.setdefault(request.event["id"], request.event)
    return list(taken.values())


def kinds(events: list[dict[str, Any]], subject: str) -> Counter[str]:
    return Counter(e["kind"] for e in events if e["subject"] == subject)


async def evaluate(stack: Stack, tenant_id: str, mode: str) -> str:
    run_id = await stack.run(BASELINE, [tenant_id], mode=mode)
    await stack.host.drain(timeout_s=120)
    return run_id


async def test_a_quarantined_tenant_is_reported_once_in_three_runs_and_again_on_recovery(
    cloud: FakeCloud, stack: Stack, receiver: Receiver, quiet: int
) -> None:
    # given a tenant whose Graph answers 503 to everything
    tenant = new_tenant(cloud)
    await stack.register(tenant)
    cloud.add_fault(
        Fault(service="graph", kind="status", status=503, retry_after="0", tenant_id=tenant)
    )

    # when three runs find it failing, then quarantined, and a check finds it well again
    runs = [await evaluate(stack, tenant, "plan") for _ in range(3)]
    cloud.clear_faults()
    checked = await stack.call("POST", f"/api/tenants/{tenant}/check")
    await sweep(stack)

    # then the quarantine was told once, the poisoned row once, the recovery once
    events = delivered(receiver, quiet)
    assert checked.json()["health"]["status"] == "healthy"
    assert kinds(events, tenant) == {
        "poison_message": 1,
        "tenant_quarantined": 1,
        "tenant_recovered": 1,
    }
    finished = {e["subject"]: e for e in events if e["kind"] == "run_finished"}
    assert [finished[r]["data"]["status"] for r in runs] == ["failed"] * 3
    assert finished[runs[0]]["data"]["failed_tenants"] == [tenant]
    quarantined = next(e for e in events if e["kind"] == "tenant_quarantined")
    assert quarantined["data"]["error"]["error_class"] == "transient"
    assert quarantined["links"]["tenant"] == f"{stack.host.http_base_url}/api/tenants/{tenant}"
    # and Teams got a card for each of them, with the event's id
    cards = {e["id"]: e for e in delivered(receiver, quiet, TEAMS_PATH)}
    assert {e["id"] for e in events} <= set(cards)
    assert cards[quarantined["id"]]["kind"] == "tenant_quarantined"


async def test_a_tenant_that_needs_consent_is_reported_once_until_consent_is_granted(
    cloud: FakeCloud, stack: Stack, receiver: Receiver, quiet: int
) -> None:
    tenant = new_tenant(cloud, "consent_missing")
    await stack.register(tenant)

    for _ in range(3):
        await evaluate(stack, tenant, "plan")
    cloud.set_tenant(tenant, state="consented")
    await stack.call("POST", f"/api/tenants/{tenant}/check")
    await stack.host.drain(timeout_s=60)

    events = delivered(receiver, quiet)
    assert kinds(events, tenant) == {"tenant_needs_consent": 1, "tenant_recovered": 1}
    [needs] = [e for e in events if e["kind"] == "tenant_needs_consent"]
    assert needs["data"]["error"]["error_class"] == "consent_missing"
    assert needs["severity"] == "error"


async def test_drift_is_reported_when_it_appears_and_when_it_is_fixed_not_while_it_lasts(
    cloud: FakeCloud, stack: Stack, receiver: Receiver, quiet: int
) -> None:
    # given a tenant off the baseline: two report runs (the first sets each setting's baseline),
    # a remediate run, someone's change in the tenant, and two more report runs
    tenant = new_tenant(cloud)
    await stack.register(tenant)
    for _ in range(2):
        await evaluate(stack, tenant, "plan")
    fixing = await evaluate(stack, tenant, "apply")
    cloud.directory(tenant).update_authorization_policy({"allowInvitesFrom": "everyone"})
    drifting = await evaluate(stack, tenant, "plan")
    await evaluate(stack, tenant, "plan")

    events = [e for e in delivered(receiver, quiet) if e["subject"] == tenant]
    told = [(e["kind"], e["data"]["run_id"], e["data"]["count"]) for e in events]

    assert sorted(told) == [("drift_fixed", fixing, 5), ("drift_new", drifting, 1)]
    last = next(e for e in events if e["data"]["run_id"] == drifting)
    assert last["data"]["settings"] == [INVITES]
    assert last["data"]["standard"] == BASELINE


async def test_an_app_wide_outage_is_reported_when_it_starts_and_when_it_ends(
    cloud: FakeCloud, stack: Stack, receiver: Receiver, quiet: int
) -> None:
    import function_app

    services = await function_app.services()
    tenant = new_tenant(cloud)
    await stack.register(tenant)
    # given the managed identity endpoint down, and no assertion cached
    assertion = services.credentials.assertion
    assert assertion is not None
    await assertion._drop_credential()
    assertion._token = None
    cloud.add_fault(Fault(service="msi", kind="status", status=500, count=1000))
    try:
        blocked = await evaluate(stack, tenant, "plan")
    finally:
        cloud.clear_faults()
    # when the pause is over (its end moved to now) and the next job gets through
    outage = await services.registry.table.get_entity("app", "identity")
    outage["until"] = datetime.now(UTC).isoformat()
    await services.registry.table.upsert_entity(outage)
    services.app_breaker._read_at = float("-inf")  # this process read it a moment ago
    await evaluate(stack, tenant, "plan")

    app_events = [e for e in delivered(receiver, quiet) if e["subject"] == "app"]
    assert [e["kind"] for e in app_events] == ["app_outage", "app_recovered"]
    assert app_events[0]["data"]["error"]["error_class"] == "managed_identity_unavailable"
    assert app_events[1]["data"]["since"] == app_events[0]["data"]["since"]
    # the blocked row was the outage's doing: no poison_message of its own
    assert kinds(delivered(receiver, quiet), tenant) == Counter()
    assert (await stack.status(blocked))["rows"][0]["status"] == "blocked"


async def test_a_sink_that_answers_500_then_200_gets_the_event_again_with_the_same_id(
    cloud: FakeCloud, stack: Stack, receiver: Receiver, quiet: int
) -> None:
    tenant = new_tenant(cloud)
    await stack.register(tenant)
    run_id = await evaluate(stack, tenant, "plan")
    before = len(receiver.received)

    receiver.fail(1, status=500, matching=run_id)
    await sweep(stack)

    sent = [r for r in receiver.received[before:] if r.event and _about(r.event, run_id)]
    statuses = sorted((r.path, r.status) for r in sent)
    ids = {r.event["id"] for r in sent if r.event}
    assert len(ids) == 1
    assert statuses in (
        [(TEAMS_PATH, 200), (TEAMS_PATH, 500), (WEBHOOK_PATH, 200)],
        [(TEAMS_PATH, 200), (WEBHOOK_PATH, 200), (WEBHOOK_PATH, 500)],
    )


def _about(event: dict[str, Any], run_id: str) -> bool:
    """A run_finished event of `run_id`, as either sink shows it."""
    if "subject" in event:
        return bool(event["subject"] == run_id and event["kind"] == "run_finished")
    facts = {f["title"]: f["value"] for b in event["card"]["body"] for f in b.get("facts", [])}
    return facts.get("run id") == run_id and event["kind"] == "run_finished"


async def test_a_sink_that_never_answers_leaves_the_run_as_it_was_and_shows_in_health(
    cloud: FakeCloud,
    stack: Stack,
    receiver: Receiver,
    quiet: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="httpx")
    receiver.hang()
    fine, needs_consent = new_tenant(cloud), new_tenant(cloud, "consent_missing")
    for tenant in (fine, needs_consent):
        await stack.register(tenant)

    # when a run emits an event (a tenant needs consent) while no sink answers
    started = time.monotonic()
    run_id = await stack.run(BASELINE, [fine, needs_consent], mode="plan")
    await stack.host.drain(timeout_s=180)
    delivering_s = time.monotonic() - started
    run = await stack.status(run_id)
    health = (await stack.call("GET", "/api/health")).json()

    # then the run ended as it would have, in its own time, while every delivery timed out
    rows = {r["tenant_id"]: r for r in run["rows"]}
    assert (rows[fine]["status"], rows[needs_consent]["status"]) == ("planned", "failed")
    took = [
        datetime.fromisoformat(r["finished_at"]) - datetime.fromisoformat(r["queued_at"])
        for r in rows.values()
    ]
    assert max(took) < timedelta(seconds=10) < timedelta(seconds=delivering_s)
    last = health["notifications"]["last_failure"]
    assert health["notifications"]["sinks"] == ["teams", "webhook"]
    assert last["gave_up"] is True
    assert last["answer"].startswith("timeout")
    assert health["status"] == "ok"  # a sink's failure does not make the app unhealthy
    assert "not delivered to" in caplog.text
    # and the sinks' token is nowhere: logs, health, the run
    for shown in (caplog.text, json.dumps(health), json.dumps(run)):
        assert SINK_SECRET not in shown


async def test_the_receiver_describes_one_line_per_event_for_the_demo(
    cloud: FakeCloud, stack: Stack, receiver: Receiver, quiet: int
) -> None:
    tenant = new_tenant(cloud, "blocked_by_policy")
    await stack.register(tenant)
    await evaluate(stack, tenant, "plan")

    lines = [line for line in describe(receiver.received[quiet:]) if tenant in line]

    assert len(lines) == 1
    assert lines[0].startswith("tenant_misconfigured")
    assert lines[0].endswith("[teams x1, webhook x1]")
