"""Onboarding end to end: GET /api/onboard -> Entra's admin consent (the fake cloud's, with the
administrator's answer scripted) -> the redirect to /api/consent/callback -> registry + check.

Everything goes through function_app in the local host, on Azurite and the fake cloud, with a
browser's part played by httpx: it follows the consent link to the fake login host and takes
the redirect back by hand, as a browser would.
"""

from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from devtools.fakecloud import FakeCloud
from devtools.fakecloud.scenario import APP_REQUIRED_ROLES
from shared.jobs import JOBS
from tests.integration.stack_fixture import Stack

pytestmark = pytest.mark.integration

USERS = {"generate": {"members": 2, "guests": 1, "stale_guests": 0, "seed": 3}}
GROUP = {"mail_nickname": "helpdesk", "display_name": "Helpdesk", "members": []}
GROUP_ROLES = ("Group.ReadWrite.All", "GroupMember.ReadWrite.All")


@pytest.fixture
async def browser(cloud: FakeCloud, stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """An administrator's browser; the app registration lists the dev host's callback."""
    cloud.set_app(redirect_uris=[f"{stack.host.http_base_url}/api/consent/callback"])
    trust = ssl.create_default_context(cafile=str(cloud.ca_bundle))
    async with httpx.AsyncClient(verify=trust, follow_redirects=False) as client:
        yield client


def customer(cloud: FakeCloud, state: str = "not_installed", roles: tuple[str, ...] = ()) -> str:
    """A customer tenant in the fake cloud that has not consented to the app yet."""
    tenant_id = str(uuid.uuid4())
    cloud.set_tenant(tenant_id, state=state, roles=list(roles), graph=dict(USERS))
    return tenant_id


async def onboard(stack: Stack, **params: str) -> dict[str, Any]:
    response = await stack.http.get("/api/onboard", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def consent(browser: httpx.AsyncClient, consent_url: str) -> httpx.Response:
    """Open the consent link; Entra answers with a redirect, which the browser follows."""
    at_entra = await browser.get(consent_url)
    assert at_entra.status_code == 302, at_entra.text
    return await browser.get(at_entra.headers["location"])


async def registered(stack: Stack, tenant_id: str) -> dict[str, Any] | None:
    response = await stack.call("GET", f"/api/tenants/{tenant_id}")
    return dict(response.json()) if response.status_code == 200 else None


async def test_onboarding_gives_an_admin_consent_link_for_this_app(
    cloud: FakeCloud, stack: Stack, browser: httpx.AsyncClient
) -> None:
    tenant_id = customer(cloud)

    link = await onboard(stack, tenant=tenant_id)
    url = urlsplit(link["consent_url"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}

    assert f"{url.scheme}://{url.netloc}" == cloud.authority_url
    assert url.path == f"/{tenant_id}/v2.0/adminconsent"
    assert query["client_id"] == cloud.app_client_id
    assert query["scope"] == f"{cloud.graph_url}/.default"
    assert query["redirect_uri"] == f"{stack.host.http_base_url}/api/consent/callback"
    assert len(query["state"]) >= 43
    assert link["redirect_uri"] == query["redirect_uri"]
    lifetime = datetime.fromisoformat(link["expires_at"]) - datetime.now(UTC)
    assert timedelta(days=6, hours=23) < lifetime <= timedelta(days=7)


async def test_a_consenting_tenant_is_registered_and_its_connection_checked(
    cloud: FakeCloud, stack: Stack, browser: httpx.AsyncClient
) -> None:
    # given a customer tenant where the app is not installed
    tenant_id = customer(cloud)
    link = await onboard(stack, tenant=tenant_id, name="Contoso <Ltd>")

    # when its administrator grants consent
    cloud.answer_admin_consent()
    page = await consent(browser, link["consent_url"])

    # then the tenant is registered, enrolled in nothing, healthy, and the page says so
    tenant = await registered(stack, tenant_id)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "the tenant is connected" in page.text
    assert "Contoso &lt;Ltd&gt;" not in page.text  # the name is stored, not echoed
    assert tenant is not None
    assert tenant["name"] == "Contoso <Ltd>"
    assert tenant["enabled"] is True
    assert tenant["enrolments"] == {}
    assert tenant["health"]["status"] == "healthy"
    assert cloud.state.tenant(tenant_id).roles == APP_REQUIRED_ROLES  # type: ignore[union-attr]
    assert len(cloud.requests(service="graph", tenant_id=tenant_id)) == 1


async def test_organizations_link_registers_whichever_tenant_consents(
    cloud: FakeCloud, stack: Stack, browser: httpx.AsyncClient
) -> None:
    tenant_id = customer(cloud, state="consent_missing")
    link = await onboard(stack)

    cloud.answer_admin_consent(tenant_id)
    page = await consent(browser, link["consent_url"])

    assert "/organizations/v2.0/adminconsent" in link["consent_url"]
    assert "the tenant is connected" in page.text
    assert (await registered(stack, tenant_id)) is not None


async def test_a_consent_link_works_once(
    cloud: FakeCloud, stack: Stack, browser: httpx.AsyncClient
) -> None:
    tenant_id = customer(cloud)
    link = await onboard(stack, tenant=tenant_id)
    cloud.answer_admin_consent()
    at_entra = await browser.get(link["consent_url"])
    callback = at_entra.headers["location"]

    first = await browser.get(callback)
    again = await browser.get(callback)

    assert first.status_code == 200
    assert again.status_code == 400
    assert "already been used" in again.text


async def test_an_expired_consent_link_is_refused_and_registers_nothing(
    cloud: FakeCloud, stack: Stack, browser: httpx.AsyncClient
) -> None:
    tenant_id = customer(cloud)
    link = await onboard(stack, tenant=tenant_id)
    state = parse_qs(urlsplit(link["consent_url"]).query)["state"][0]
    await expire(stack, state)

    cloud.answer_admin_consent()
    page = await consent(browser, link["consent_url"])

    assert page.status_code == 400
    assert "expired" in page.text
    assert await registered(stack, tenant_id) is None


async def expire(stack: Stack, state: str) -> None:
    """Move the state's expiry into the past, as if its hour had gone by."""
    from azure.data.tables.aio import TableClient

    async with TableClient.from_connection_string(
        stack.azurite.connection_string, "xtenanttenants"
    ) as table:
        entity = await table.get_entity("onboarding", state)
        entity["expires_at"] = "2000-01-01T00:00:00+00:00"
        await table.update_entity(entity)


async def test_states_expired_for_over_a_day_are_deleted_when_a_link_is_issued(
    stack: Stack,
) -> None:
    from azure.core.exceptions import ResourceNotFoundError
    from azure.data.tables.aio import TableClient

    expired = "2000-01-01T00:00:00+00:00"
    old = {"PartitionKey": "onboarding", "RowKey": "o" * 43, "expires_at": expired}
    await onboard(stack)  # the app creates its tables on first use
    async with TableClient.from_connection_string(
        stack.azurite.connection_string, "xtenanttenants"
    ) as table:
        await table.upsert_entity(old)
        await onboard(stack)
        with pytest.raises(ResourceNotFoundError):
            await table.get_entity("onboarding", old["RowKey"])


async def test_an_unknown_state_is_refused_without_the_function_key(stack: Stack) -> None:
    anonymous = httpx.AsyncClient(base_url=stack.host.http_base_url)
    tenant_id = str(uuid.uuid4())
    query = {"admin_consent": "True", "tenant": tenant_id, "state": "A" * 43}

    forged = await anonymous.get("/api/consent/callback", params=query)
    garbage = await anonymous.get("/api/consent/callback", params={"state": "<script>"})
    onboard_anonymously = await anonymous.get("/api/onboard")
    await anonymous.aclose()

    assert forged.status_code == 400
    assert "not one this app issued" in forged.text
    assert garbage.status_code == 400
    assert "<script>" not in garbage.text
    assert onboard_anonymously.status_code == 401
    assert await registered(stack, tenant_id) is None


async def test_a_declined_consent_shows_the_error_and_registers_nothing(
    cloud: FakeCloud, stack: Stack, browser: httpx.AsyncClient
) -> None:
    tenant_id = customer(cloud)
    link = await onboard(stack, tenant=tenant_id)

    cloud.decline_admin_consent("AADSTS65004: User declined <b>consent</b>.")
    page = await consent(browser, link["consent_url"])

    assert page.status_code == 200
    assert "Consent was not granted" in page.text
    assert "access_denied" in page.text
    assert "AADSTS65004: User declined &lt;b&gt;consent&lt;/b&gt;." in page.text
    assert await registered(stack, tenant_id) is None
    assert cloud.state.tenant(tenant_id).state == "not_installed"  # type: ignore[union-attr]


async def test_consent_again_keeps_the_tenants_enrolments(
    cloud: FakeCloud, stack: Stack, browser: httpx.AsyncClient
) -> None:
    tenant_id = customer(cloud, state="consent_missing")
    enrolment = {"tenant-baseline": {"mode": "plan", "params": {}}}
    await stack.register(tenant_id, enrolment)
    link = await onboard(stack, tenant=tenant_id, name="ignored for a known tenant")

    cloud.answer_admin_consent()
    await consent(browser, link["consent_url"])
    tenant = await registered(stack, tenant_id)

    assert tenant is not None
    assert tenant["enrolments"] == enrolment
    assert tenant["name"] == f"t-{tenant_id[:8]}"


async def test_the_check_reports_jobs_whose_permissions_were_not_granted(
    cloud: FakeCloud, stack: Stack, browser: httpx.AsyncClient
) -> None:
    # the administrator consented to an app deployed for tenant-baseline only
    tenant_id = customer(cloud)
    link = await onboard(stack, tenant=tenant_id)
    cloud.answer_admin_consent(roles=["Policy.ReadWrite.Authorization"])
    page = await consent(browser, link["consent_url"])

    check = await stack.call("POST", f"/api/tenants/{tenant_id}/check")

    result = check.json()
    assert "the tenant is connected" in page.text
    assert result["ok"] is True
    assert result["graph_read"] == "GET /policies/authorizationPolicy"
    assert result["granted_permissions"] == ["Policy.ReadWrite.Authorization"]
    assert set(result["missing_permissions"]) == {"guest-cleanup", "ensure-group"}
    assert result["missing_permissions"]["guest-cleanup"] == list(JOBS["guest-cleanup"].permissions)


async def test_the_check_heals_a_tenant_that_needed_consent_once_consent_is_granted(
    cloud: FakeCloud, stack: Stack
) -> None:
    # given a registered tenant whose admin has not consented
    tenant_id = customer(cloud, state="consent_missing")
    await stack.register(tenant_id)
    before = (await stack.call("POST", f"/api/tenants/{tenant_id}/check")).json()

    # when the admin consents (here, out of band) and the operator checks again
    cloud.set_tenant(tenant_id, state="consented", roles=list(APP_REQUIRED_ROLES))
    after = (await stack.call("POST", f"/api/tenants/{tenant_id}/check")).json()

    # then the first check recorded needs_consent and the second healed the tenant
    assert before["ok"] is False
    assert before["error"]["error_class"] == "consent_missing"
    assert before["health"]["status"] == "needs_consent"
    assert after["ok"] is True
    assert after["token_obtained"] is True
    assert after["graph_read"] == "GET /users?$top=1&$select=id"
    assert after["missing_permissions"] == {}
    assert after["health"]["status"] == "healthy"


async def test_the_check_refuses_a_tenant_that_is_not_registered(stack: Stack) -> None:
    unknown = await stack.call("POST", f"/api/tenants/{uuid.uuid4()}/check")
    malformed = await stack.call("POST", "/api/tenants/not-a-guid/check")

    assert unknown.status_code == 404
    assert malformed.status_code == 400


async def test_entra_refuses_a_redirect_uri_the_app_did_not_register(
    cloud: FakeCloud, stack: Stack, browser: httpx.AsyncClient
) -> None:
    cloud.set_app(redirect_uris=["https://elsewhere.example/api/consent/callback"])
    link = await onboard(stack, tenant=customer(cloud))
    cloud.answer_admin_consent()

    at_entra = await browser.get(link["consent_url"])

    assert at_entra.status_code == 400
    assert "AADSTS50011" in at_entra.text
    assert "location" not in at_entra.headers


async def test_the_fake_admin_consent_is_steerable_over_http(cloud: FakeCloud) -> None:
    trust = ssl.create_default_context(cafile=str(cloud.ca_bundle))
    async with httpx.AsyncClient(base_url=cloud.authority_url, verify=trust) as control:
        bad = await control.post("/_fake/consent", json={"grant": "yes"})
        good = await control.post("/_fake/consent", json={"grant": False, "description": "no"})
        app = await control.patch("/_fake/app", json={"redirect_uris": ["https://a/cb"]})

    assert bad.status_code == 400
    assert json.loads(good.text)["grant"] is False
    assert app.status_code == 200
    assert cloud.state.redirect_uris() == ("https://a/cb",)


async def test_a_permission_granted_later_takes_effect_within_one_check(
    cloud: FakeCloud, stack: Stack
) -> None:
    # given a tenant enrolled in ensure-group that granted only the users permissions
    tenant_id = customer(cloud, state="consented", roles=("User.ReadWrite.All",))
    await stack.register(tenant_id, {"ensure-group": {"mode": "plan", "params": GROUP}})
    before = (await stack.call("POST", f"/api/tenants/{tenant_id}/check")).json()

    # when the customer's admin grants the group permissions and the operator checks once
    cloud.set_tenant(tenant_id, roles=["User.ReadWrite.All", *GROUP_ROLES])
    after = (await stack.call("POST", f"/api/tenants/{tenant_id}/check")).json()

    # then the first check is not ok for the enrolled job, and the next one sees the grant
    assert before["ok"] is False
    assert before["missing_permissions"]["ensure-group"] == list(GROUP_ROLES)
    assert before["error"]["error_class"] == "permission_missing"
    assert before["job_health"]["ensure-group"]["status"] == "needs_consent"
    assert before["health"]["status"] == "healthy"
    assert after["ok"] is True
    assert "ensure-group" not in after["missing_permissions"]
    assert after["job_health"] == {}


async def test_a_broader_permission_granted_is_no_false_gap(cloud: FakeCloud, stack: Stack) -> None:
    roles = ("User.ReadWrite.All", *GROUP_ROLES)  # ensure-group declares User.Read.All
    tenant_id = customer(cloud, state="consented", roles=roles)
    await stack.register(tenant_id, {"ensure-group": {"mode": "plan", "params": GROUP}})

    result = (await stack.call("POST", f"/api/tenants/{tenant_id}/check")).json()

    assert result["ok"] is True
    assert "ensure-group" not in result["missing_permissions"]


async def test_the_remediation_of_a_consent_failure_works_when_followed(
    cloud: FakeCloud, stack: Stack, browser: httpx.AsyncClient
) -> None:
    # given a registered tenant whose admin never consented, and its recorded remediation
    tenant_id = customer(cloud, state="not_installed")
    await stack.register(tenant_id)
    failed = (await stack.call("POST", f"/api/tenants/{tenant_id}/check")).json()
    remediation = failed["error"]["remediation"]
    path = remediation.split("(GET ")[1].split(")")[0]

    # when the operator follows it and the admin consents through the link it gives
    link = (await stack.http.get(path)).json()
    cloud.answer_admin_consent(roles=list(APP_REQUIRED_ROLES))
    page = await consent(browser, link["consent_url"])
    health = (await stack.call("GET", f"/api/tenants/{tenant_id}")).json()["health"]

    # then the callback accepts the answer and the tenant is healthy
    assert path == f"/api/onboard?tenant={tenant_id}"
    assert page.status_code == 200
    assert health["status"] == "healthy"
