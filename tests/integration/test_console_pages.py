"""The console's pages through the local host without a browser: each page an operator uses
renders what the API knows, and each action does what its API route does.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator

import pytest

from devtools.fakecloud import FakeCloud
from tests.integration.console_support import (
    APPROVER,
    CONSOLE,
    OPERATOR,
    csrf,
    operators,
    post,
    signed_in,
)
from tests.integration.stack_fixture import Stack, new_tenant

pytestmark = pytest.mark.integration

BASELINE = "tenant-baseline"
INVITES = "authorizationPolicy.allowInvitesFrom"


@pytest.fixture
def people(cloud: FakeCloud, stack: Stack) -> FakeCloud:
    operators(cloud, stack)
    return cloud


@pytest.fixture
async def four_eyes(stack: Stack) -> AsyncIterator[None]:
    """An apply over more than one tenant waits for approval (as tests/integration/test_rollout)."""
    await stack.call("GET", "/api/health")
    import function_app

    services = function_app._services
    assert services is not None
    before = services.settings
    services.settings = dataclasses.replace(before, approval_above=1)
    try:
        yield
    finally:
        services.settings = before


def run_id_of(location: str) -> str:
    found = re.search(r"/runs/([^/?]+)", location)
    assert found is not None, location
    return found.group(1)


async def test_a_plan_run_started_in_the_console_shows_its_rows_and_a_failures_remediation(
    people: FakeCloud, stack: Stack
) -> None:
    healthy, broken = new_tenant(people), new_tenant(people, state="consent_missing")
    for tenant in (healthy, broken):
        await stack.register(tenant)
    async with signed_in(people, stack, OPERATOR) as browser:
        tenants = await browser.get(f"{CONSOLE}/tenants")
        form = await post(browser, "/runs/new", {"tenant": [healthy, broken]}, token=csrf(tenants))
        started = await post(
            browser,
            "/runs",
            {"job": BASELINE, "mode": "plan", "scope": "picked", "tenant": [healthy, broken]},
            token=csrf(form),
        )
        run_id = run_id_of(started.headers["Location"])
        await stack.host.drain(timeout_s=60)
        run = await browser.get(f"{CONSOLE}/runs/{run_id}")
        row = await browser.get(f"{CONSOLE}/runs/{run_id}/rows/{broken}/{BASELINE}")
        listed = await browser.get(f"{CONSOLE}/runs")

    assert form.status_code == 200
    assert "2 tenants picked" in form.text
    assert started.status_code == 303
    assert "partially failed" in run.text
    assert "Re-run failed rows" in run.text
    assert "consent_missing" in run.text
    assert row.status_code == 200
    assert "Remediation" in row.text
    assert run_id in listed.text


async def test_an_apply_over_several_tenants_waits_and_another_admin_approves_it(
    people: FakeCloud, stack: Stack, four_eyes: None
) -> None:
    tenants = [new_tenant(people) for _ in range(3)]
    for tenant in tenants:
        await stack.register(tenant)
    async with signed_in(people, stack, OPERATOR) as requester:
        page = await requester.get(f"{CONSOLE}/runs/new")
        started = await post(
            requester,
            "/runs",
            {"job": BASELINE, "mode": "apply", "scope": "picked", "tenant": tenants},
            token=csrf(page),
        )
        run_id = run_id_of(started.headers["Location"])
        own = await requester.get(f"{CONSOLE}/runs/{run_id}")
        own_approval = await post(requester, f"/runs/{run_id}/approve", {}, token=csrf(own))
    async with signed_in(people, stack, APPROVER) as approver:
        waiting = await approver.get(f"{CONSOLE}/runs/{run_id}")
        approved = await post(approver, f"/runs/{run_id}/approve", {}, token=csrf(waiting))
        await stack.host.drain(timeout_s=60)
        done = await approver.get(approved.headers["Location"])

    assert "awaiting approval" in own.text
    assert ">Approve<" not in own.text
    assert own_approval.status_code == 403
    assert "four eyes" in own_approval.text
    assert ">Approve<" in waiting.text
    assert approved.status_code == 303
    assert "Approved: the run goes." in done.text
    assert "succeeded" in done.text


async def test_an_accepted_deviation_shows_in_the_matrix_after_the_next_evaluation(
    people: FakeCloud, stack: Stack
) -> None:
    tenant = new_tenant(people)
    await stack.register(tenant)
    await stack.run(BASELINE, [tenant], mode="plan")
    await stack.host.drain(timeout_s=60)
    async with signed_in(people, stack, OPERATOR) as browser:
        before = await browser.get(f"{CONSOLE}/compliance")
        settings = await browser.get(f"{CONSOLE}/compliance/{tenant}?standard={BASELINE}")
        accepted = await post(
            browser,
            f"/compliance/{tenant}/{BASELINE}/{INVITES}/accept",
            {
                "value": '"everyone"',
                "reason": "the customer invites partners",
                "expires": "2099-01-01",
            },
            token=csrf(settings),
        )
        evaluated = await post(
            browser,
            "/runs",
            {"job": BASELINE, "mode": "plan", "scope": "picked", "tenant": tenant},
            token=csrf(settings),
        )
        await stack.host.drain(timeout_s=60)
        after = await browser.get(f"{CONSOLE}/compliance")
        drift = await browser.get(f"{CONSOLE}/drift")

    assert "5 drifted" in before.text
    assert "Accept this deviation" in settings.text
    assert accepted.status_code == 303
    assert evaluated.status_code == 303
    assert "4 drifted, 1 accepted" in after.text
    assert "accepted" in drift.text


async def test_the_tenant_audit_and_onboarding_pages_render(
    people: FakeCloud, stack: Stack
) -> None:
    tenant = new_tenant(people)
    await stack.register(tenant)
    async with signed_in(people, stack, OPERATOR) as browser:
        page = await browser.get(f"{CONSOLE}/tenants/{tenant}")
        checked = await post(browser, f"/tenants/{tenant}/check", {}, token=csrf(page))
        onboard = await browser.get(f"{CONSOLE}/onboard")
        link = await post(browser, "/onboard", {"tenant": tenant, "name": "x"}, token=csrf(onboard))
        audit = await browser.get(f"{CONSOLE}/audit?tenant={tenant}")

    assert page.status_code == 200
    assert "Check the connection" in page.text
    assert checked.status_code == 200
    assert "Connection check: passed" in checked.text
    assert link.status_code == 200
    assert "adminconsent" in link.text
    assert f"{CONSOLE}/tenants/{tenant}/check" in audit.text
