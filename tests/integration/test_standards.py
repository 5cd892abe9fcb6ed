"""Standards end to end: function_app in the local host, Azurite and the fake cloud's Graph.

A report run records findings and writes nothing; a remediate run converges; a change made in
the tenant by someone else shows as drift; an accepted deviation is left alone and still
watched; the compliance store keeps each setting's state and its history.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devtools.azurite import Azurite
from devtools.fakecloud import FakeCloud
from shared.compliance import TABLE, Acceptance, ComplianceStore, Standing
from tests.integration.graph_support import everything
from tests.integration.stack_fixture import OPERATOR, Stack, new_tenant

pytestmark = pytest.mark.integration

BASELINE = "tenant-baseline"
INVITES = "authorizationPolicy.allowInvitesFrom"
APPS = "authorizationPolicy.allowedToCreateApps"


@pytest.fixture
async def store(azurite: Azurite) -> AsyncIterator[ComplianceStore]:
    from azure.data.tables.aio import TableServiceClient

    async with TableServiceClient.from_connection_string(azurite.connection_string) as service:
        yield ComplianceStore(service.get_table_client(TABLE))


async def evaluate(stack: Stack, tenant_id: str, mode: str) -> dict[str, Any]:
    run_id = await stack.run(BASELINE, [tenant_id], mode=mode)
    await stack.host.drain(timeout_s=60)
    row = (await stack.status(run_id))["rows"][0]
    assert row["status"] in ("planned", "changed", "no_changes"), row
    return dict(row)


def states(row: dict[str, Any]) -> dict[str, str]:
    return {f["setting"]: f["state"] for f in row["findings"]}


def stored(settings: list[dict[str, Any]]) -> dict[str, str]:
    return {s["setting"]: s["state"] for s in settings}


async def history(store: ComplianceStore, tenant_id: str) -> list[tuple[str, str]]:
    """The tenant's transitions in the drift feed, newest first, read page by page."""
    since, found, cursor = datetime.now(UTC) - timedelta(days=365), [], ""
    while True:
        page, following = await store.transitions(since, limit=100, after=cursor)
        found += [(t["setting"], t["transition"]) for t in page if t["tenant_id"] == tenant_id]
        if following is None:
            return found
        cursor = following


async def test_report_records_findings_and_writes_nothing_in_the_tenant(
    cloud: FakeCloud, stack: Stack, store: ComplianceStore
) -> None:
    tenant = new_tenant(cloud)
    await stack.register(tenant)
    before = everything(cloud, tenant)

    row = await evaluate(stack, tenant, "plan")

    assert everything(cloud, tenant) == before
    invites = next(f for f in row["findings"] if f["setting"] == INVITES)
    assert (invites["desired"], invites["observed"], invites["compliant"]) == (
        "adminsAndGuestInviters",
        "everyone",
        False,
    )
    assert row["findings_total"] == 5
    assert sorted(row["drift"]["newly_drifted"]) == sorted(states(row))
    assert stored(await store.tenant(tenant)) == states(row)


async def test_three_runs_report_remediate_and_drift_by_someone_else(
    cloud: FakeCloud, stack: Stack, store: ComplianceStore
) -> None:
    tenant = new_tenant(cloud)
    await stack.register(tenant)

    first = await evaluate(stack, tenant, "plan")
    second = await evaluate(stack, tenant, "apply")
    cloud.directory(tenant).update_authorization_policy({"allowInvitesFrom": "everyone"})
    third = await evaluate(stack, tenant, "plan")

    assert set(states(first).values()) == {"drifted"}
    assert set(states(second).values()) == {"compliant"}
    assert sorted(second["drift"]["fixed"]) == sorted(states(first))
    assert third["drift"] == {"newly_drifted": [INVITES], "fixed": [], "still_drifted": []}
    moves = await history(store, tenant)
    assert moves[0] == (INVITES, "became_non_compliant")  # newest first
    assert sorted(moves[1:6]) == sorted((s, "fixed_by_xtenant") for s in states(first))
    assert {m for _, m in moves[6:]} == {"became_non_compliant"}

    # fixed by someone else: the admin puts it back in the tenant itself
    cloud.directory(tenant).update_authorization_policy(
        {"allowInvitesFrom": "adminsAndGuestInviters"}
    )
    fourth = await evaluate(stack, tenant, "plan")
    assert fourth["drift"]["fixed"] == [INVITES]
    assert (await history(store, tenant))[0] == (INVITES, "fixed_by_someone_else")


async def test_an_accepted_deviation_is_left_alone_still_watched_then_expires(
    cloud: FakeCloud, stack: Stack, store: ComplianceStore
) -> None:
    tenant = new_tenant(cloud)
    await stack.register(tenant)
    soon = datetime.now(UTC) + timedelta(days=30)
    await store.accept(tenant, BASELINE, INVITES, Acceptance("everyone", "B2B", "ops", soon))

    remediated = await evaluate(stack, tenant, "apply")
    assert states(remediated)[INVITES] == "accepted"
    assert cloud.directory(tenant).authorization_policy()["allowInvitesFrom"] == "everyone"

    # the live value moves away from the accepted one: drift again, and still not overwritten
    cloud.directory(tenant).update_authorization_policy({"allowInvitesFrom": "none"})
    moved = await evaluate(stack, tenant, "apply")
    assert states(moved)[INVITES] == "drifted"
    assert cloud.directory(tenant).authorization_policy()["allowInvitesFrom"] == "none"

    # expired: the desired value applies again
    past = datetime.now(UTC) - timedelta(seconds=1)
    await store.accept(tenant, BASELINE, INVITES, Acceptance("none", "B2B", "ops", past))
    expired = await evaluate(stack, tenant, "apply")
    assert states(expired)[INVITES] == "compliant"
    policy = cloud.directory(tenant).authorization_policy()
    assert policy["allowInvitesFrom"] == "adminsAndGuestInviters"


async def test_reordered_and_recased_values_give_no_false_drift(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenant = new_tenant(cloud)
    await stack.register(tenant)
    await evaluate(stack, tenant, "apply")
    # the same meaning, written differently: enum case, and the consent list's order
    directory = cloud.directory(tenant)
    low = "ManagePermissionGrantsForSelf.microsoft-user-default-low"
    owned = "ManagePermissionGrantsForOwnedResource.microsoft-dynamically-managed-permissions"
    consent = {"permissionGrantPoliciesAssigned": [owned, low.upper()]}
    directory.update_authorization_policy({"defaultUserRolePermissions": consent})

    row = await evaluate(stack, tenant, "plan")

    assert set(states(row).values()) == {"compliant"}
    assert row["drift"] == {"newly_drifted": [], "fixed": [], "still_drifted": []}


async def test_the_api_accepts_a_deviation_as_the_caller_and_shows_compliance_and_drift(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenant = new_tenant(cloud)
    await stack.register(tenant)
    started = datetime.now(UTC).isoformat()
    path = f"/api/tenants/{tenant}/exceptions/{BASELINE}/{INVITES}"
    expires = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    body = {"value": "everyone", "reason": "B2B with partners", "expires": expires}

    accepted = await stack.call("PUT", path, body)
    refused = await stack.call("PUT", path, {"value": 1, "expires": "tomorrow"})
    await evaluate(stack, tenant, "plan")
    settings = (await stack.call("GET", f"/api/tenants/{tenant}/compliance")).json()["settings"]
    cells = (await stack.call("GET", "/api/compliance", params={"tenant": tenant})).json()
    moves = (await stack.call("GET", "/api/drift", params={"since": started})).json()
    audit = (await stack.call("GET", "/api/audit", params={"tenant": tenant})).json()
    withdrawn = await stack.call("DELETE", path)
    again = await stack.call("DELETE", path)

    assert accepted.status_code == 200, accepted.text
    assert refused.status_code == 400
    assert len(refused.json()["error"]["problems"]) == 2
    invites = next(s for s in settings if s["setting"] == INVITES)
    assert invites["state"] == "accepted"
    assert invites["acceptance"]["accepted_by"] == OPERATOR
    assert invites["acceptance"]["reason"] == "B2B with partners"
    [cell] = cells["cells"]
    assert (cell["accepted"], cell["drifted"], cell["compliant"]) == (1, 4, 0)
    assert cell["last_evaluated"] >= started
    mine = [t for t in moves["transitions"] if t["tenant_id"] == tenant]
    assert sorted(t["transition"] for t in mine) == ["accepted"] + ["became_non_compliant"] * 4
    assert any(r["path"] == path and r["status"] == 200 for r in audit["records"])
    assert (withdrawn.status_code, again.status_code) == (200, 404)


async def test_enrolments_take_report_and_remediate_and_a_manual_run_may_only_lower_them(
    cloud: FakeCloud, stack: Stack
) -> None:
    reported, remediated = new_tenant(cloud), new_tenant(cloud)
    await stack.register(reported, {BASELINE: {"mode": "report", "params": {}}})
    await stack.register(remediated, {BASELINE: {"mode": "remediate", "params": {}}})
    body = {"job": BASELINE, "mode": "remediate", "tenants": [reported, remediated]}

    refused = await stack.call("POST", "/api/runs", body)
    lowered = await stack.call("POST", "/api/runs", body | {"mode": "report"})
    enrolled = (await stack.call("GET", f"/api/tenants/{reported}")).json()["enrolments"]

    assert refused.status_code == 400
    [problem] = refused.json()["error"]["problems"]
    assert reported in problem
    assert "plan (report) mode" in problem
    assert lowered.status_code == 202, lowered.text
    assert enrolled[BASELINE]["mode"] == "plan"
    await stack.host.drain(timeout_s=60)


async def test_a_standard_that_stops_applying_marks_its_settings_not_applicable(
    store: ComplianceStore,
) -> None:
    tenant = str(uuid.uuid4())
    first = datetime(2026, 11, 1, tzinfo=UTC)
    findings = [
        {"setting": INVITES, "desired": "none", "observed": "everyone", "state": "drifted"},
        {"setting": APPS, "desired": False, "observed": False, "state": "compliant"},
    ]
    await store.record(tenant, BASELINE, Standing(), findings, first)
    reason = "tenant-baseline does not apply: needs Entra ID P1 (service plan AAD_PREMIUM)"

    standing = await store.read(tenant, BASELINE)
    moves = await store.not_applicable(tenant, BASELINE, standing, reason, first + timedelta(1))
    again = await store.not_applicable(
        tenant, BASELINE, await store.read(tenant, BASELINE), reason, first + timedelta(2)
    )

    assert (moves, again) == (2, 0)
    assert stored(await store.tenant(tenant)) == {INVITES: "not_applicable", APPS: "not_applicable"}
    [cell] = await store.summaries(tenant=tenant, standard=BASELINE)
    assert (cell["not_applicable"], cell["drifted"], cell["compliant"]) == (2, 0, 0)
    assert cell["reason"] == reason
    assert cell["last_evaluated"] == (first + timedelta(2)).isoformat()
    moves = await history(store, tenant)
    assert sorted(m for m in moves if m[1] == "became_not_applicable") == sorted(
        [(APPS, "became_not_applicable"), (INVITES, "became_not_applicable")]
    )

    # the licence comes back: evaluated again, the reason goes
    await store.record(tenant, BASELINE, await store.read(tenant, BASELINE), findings, first)
    [cell] = await store.summaries(tenant=tenant, standard=BASELINE)
    assert (cell["not_applicable"], cell["drifted"], cell["reason"]) == (0, 1, None)
    assert stored(await store.tenant(tenant)) == {INVITES: "drifted", APPS: "compliant"}


async def test_the_drift_feed_pages_newest_first_across_tenants(
    cloud: FakeCloud, stack: Stack
) -> None:
    since = datetime.now(UTC).isoformat()
    tenants = [new_tenant(cloud) for _ in range(3)]
    for tenant in tenants:
        await stack.register(tenant)
        await evaluate(stack, tenant, "plan")  # five settings each become non-compliant

    pages, cursor = [], None
    while True:
        params = {"since": since, "limit": "4"} | ({"cursor": cursor} if cursor else {})
        answer = (await stack.call("GET", "/api/drift", params=params)).json()
        pages.append(answer["transitions"])
        cursor = answer["next"]
        if cursor is None:
            break
    moves = [m for page in pages for m in page]
    too_old = await stack.call("GET", "/api/drift", params={"since": "2020-01-01T00:00:00+00:00"})
    forged = await stack.call("GET", "/api/drift", params={"since": since, "cursor": "1999-01|x"})

    mine = [m for m in moves if m["tenant_id"] in tenants]
    assert len(mine) == 15
    assert {m["transition"] for m in mine} == {"became_non_compliant"}
    assert [m["at"] for m in moves] == sorted((m["at"] for m in moves), reverse=True)
    assert all(len(page) <= 4 for page in pages)
    assert len(pages) >= 4
    assert mine[0]["tenant_id"] == tenants[-1]  # the newest first
    assert too_old.status_code == forged.status_code == 400
