"""The operator console in headless Chromium, against the app in the local host, Azurite and
the fake cloud: what an operator sees and does, page by page. Each test saves the pages it
passes through to docs/console/.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, expect

from devtools.fakecloud import FakeCloud
from tests.browser.conftest import SignIn, shot
from tests.integration.console_support import APPROVER, CONSOLE, OPERATOR, READER
from tests.integration.stack_fixture import Stack, new_tenant

pytestmark = [pytest.mark.integration, pytest.mark.browser]

BASELINE = "tenant-baseline"
INVITES = "authorizationPolicy.allowInvitesFrom"
#: Long enough for a run through the local host, the fake cloud and Azurite on a busy machine.
RUN_TIMEOUT_MS = 60_000


@pytest.fixture
async def four_eyes(stack: Stack) -> AsyncIterator[None]:
    """An apply over more than one tenant waits for approval (the product's default)."""
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


async def registered(cloud: FakeCloud, stack: Stack, name: str, state: str = "consented") -> str:
    tenant = new_tenant(cloud, state=state)
    body = {"name": name, "enabled": True, "enrolments": {}}
    response = await stack.call("PUT", f"/api/tenants/{tenant}", body)
    assert response.status_code in (200, 201), response.text
    return tenant


async def start_run(page: Page, tenants: list[str], *, button: str) -> None:
    """Tick `tenants` on the tenants page, pick the baseline, press `button`."""
    await page.get_by_role("link", name="Tenants", exact=True).click()
    for tenant in tenants:
        await page.locator(f"#pick-{tenant}").check()
    await page.get_by_role("button", name="Start a run for the ticked tenants…").click()
    await page.get_by_role("radio", name=re.compile(BASELINE)).check()
    await page.get_by_role("button", name=button).click()
    await page.wait_for_url(re.compile(r"/runs/[^/]+\?notice=started"))


async def test_a_read_only_operator_sees_no_button_that_changes_anything(
    chromium: object, people: FakeCloud, stack: Stack, visit: SignIn
) -> None:
    await registered(people, stack, "Fabrikam")

    page = await visit(READER)
    await shot(page, "runs-reader")
    await page.get_by_role("link", name="Tenants", exact=True).click()

    await expect(page.get_by_role("link", name="Start a run")).to_have_count(0)
    await expect(page.get_by_role("button", name=re.compile("Start"))).to_have_count(0)
    await expect(page.get_by_role("checkbox")).to_have_count(0)
    await expect(page.get_by_role("link", name="Onboard a tenant")).to_have_count(0)
    await page.goto(page.url.replace("/tenants", "/runs/new"))
    await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    await expect(page.get_by_role("button", name="Start apply run")).to_have_count(0)


async def test_an_operator_starts_a_plan_run_watches_it_finish_and_reads_a_remediation(
    people: FakeCloud, stack: Stack, visit: SignIn
) -> None:
    healthy = await registered(people, stack, "Contoso")
    broken = await registered(people, stack, "Northwind", state="consent_missing")

    page = await visit(OPERATOR)
    await page.get_by_role("link", name="Tenants", exact=True).click()
    await shot(page, "tenants")
    await start_run(page, [healthy, broken], button="Start plan run")

    await expect(page.locator("h1 + .status")).to_have_text(
        "partially failed", timeout=RUN_TIMEOUT_MS
    )
    await shot(page, "run")
    await page.get_by_role("link", name="Northwind").click()
    await expect(page.get_by_role("heading", name="Remediation")).to_be_visible()
    await expect(page.locator(".remediation")).to_contain_text("consent")
    await shot(page, "row-remediation")


async def test_an_apply_over_several_tenants_waits_for_a_second_operator_who_approves_it(
    people: FakeCloud, stack: Stack, visit: SignIn, four_eyes: None
) -> None:
    tenants = [await registered(people, stack, f"Tailspin {n}") for n in range(1, 4)]

    requester = await visit(OPERATOR)
    await start_run(requester, tenants, button="Start apply run")
    await expect(requester.locator("h1 + .status")).to_have_text("awaiting approval")
    await expect(requester.get_by_role("button", name="Approve")).to_have_count(0)
    run_url = requester.url.split("?")[0]

    approver = await visit(APPROVER)
    await approver.goto(run_url)
    await shot(approver, "run-awaiting-approval")
    await approver.get_by_role("button", name="Approve").click()
    await expect(approver.get_by_role("status")).to_have_text("Approved: the run goes.")
    await approver.reload()
    await expect(approver.locator("h1 + .status")).to_have_text("succeeded", timeout=RUN_TIMEOUT_MS)
    await shot(approver, "run-approved")


async def test_accepting_a_deviation_changes_the_compliance_matrix(
    people: FakeCloud, stack: Stack, visit: SignIn
) -> None:
    tenant = await registered(people, stack, "Adatum")
    await stack.run(BASELINE, [tenant], mode="plan")
    await stack.host.drain(timeout_s=60)

    page = await visit(OPERATOR, "/compliance")
    row = page.get_by_role("row", name=re.compile("Adatum"))
    await expect(row).to_contain_text("5 drifted")
    await shot(page, "compliance")
    await row.get_by_role("link", name="5 drifted").click()
    setting = page.get_by_role("row", name=re.compile(re.escape(INVITES)))
    await setting.get_by_text("Accept this deviation").click()
    await setting.get_by_label("Reason").fill("Partners invite their own guests")
    await shot(page, "settings-accept")
    await setting.get_by_role("button", name="Accept deviation").click()
    await expect(page.get_by_role("status")).to_contain_text("Deviation accepted")
    await page.get_by_role("button", name=f"Evaluate {BASELINE} now").click()
    await expect(page.locator("h1 + .status")).to_have_text("succeeded", timeout=RUN_TIMEOUT_MS)

    await page.get_by_role("link", name="Compliance", exact=True).click()
    row = page.get_by_role("row", name=re.compile("Adatum"))
    await expect(row).to_contain_text("4 drifted, 1 accepted")
    await shot(page, "compliance-after")
    await page.get_by_role("link", name="Drift", exact=True).click()
    await expect(page.get_by_role("cell", name="accepted").first).to_be_visible()
    await shot(page, "drift")
    await page.get_by_role("link", name="Audit", exact=True).click()
    await expect(page.get_by_role("cell", name=re.compile(r"POST .*accept")).first).to_be_visible()
    await shot(page, "audit")


async def test_the_sign_in_page_offers_the_home_tenants_operators(
    chromium: object, people: FakeCloud, stack: Stack
) -> None:
    from playwright.async_api import Browser

    assert isinstance(chromium, Browser)
    context = await chromium.new_context(
        ignore_https_errors=True, viewport={"width": 1280, "height": 600}
    )
    page = await context.new_page()
    await page.goto(f"{stack.host.http_base_url}{CONSOLE}/runs")

    await expect(page.get_by_role("heading", name="Pick an account")).to_be_visible()
    await shot(page, "sign-in")
    await context.close()
