"""Onboarding end to end: GET /api/onboard -> Entra's admin consent (the fake cloud's, with the
administrator's answer scripted) -> the redirect to /api/consent/callback -> check + registry,
and what a stranger holding a link, or none, can do with the anonymous callback.

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
from devtools.fakecloud.faults import Fault
from devtools.fakecloud.scenario import APP_REQUIRED_ROLES
from shared.jobs import JOBS
from tests.integration.stack_fixture import OPERATOR, Stack

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
    response = await stack.call("GET", "/api/onboard", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def state_of(link: dict[str, Any]) -> str:
    return parse_qs(urlsplit(link["consent_url"]).query)["state"][0]


async def consent(browser: httpx.AsyncClient, consent_url: str) -> httpx.Response:
    """Open the consent link; Entra answers with a redirect, which the browser follows."""
    at_entra = await browser.get(consent_url)
    assert at_entra.status_code == 302, at_entra.text
    return await browser.get(at_entra.headers["location"])


async def registered(stack: Stack, tenant_id: str) -> dict[str, Any] | None:
    response = await stack.call("GET", f"/api/tenants/{tenant_id}")
    return dict(response.json()) if response.status_code == 200 else None


async def callback_records(stack: Stack, tenant_id: str) -> list[dict[str, Any]]:
    """The audit trail's records of the consent callback for a tenant, newest first."""
    response = await stack.call("GET", "/api/audit", params={"tenant": tenant_id})
    assert response.status_code == 200, response.text
    records = response.json()["records"]
    return [r for r in records if r["path"] == "/api/consent/callback"]


async def forge_callback(stack: Stack, **query: str) -> httpx.Response:
    """What anyone can send: the callback takes no token."""
    async with httpx.AsyncClient(base_url=stack.host.http_base_url) as stranger:
        return await stranger.get("/api/consent/callback", params=query)


async def test_onboarding_gives_an_admin_consent_link_for_one_tenant(
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
    assert link["tenant"] == tenant_id
    lifetime = datetime.fromisoformat(link["expires_at"]) - datetime.now(UTC)
    assert timedelta(days=6, hours=23) < lifetime <= timedelta(days=7)


async def test_a_link_for_no_tenant_or_another_host_is_not_issued(stack: Stack) -> None:
    without_tenant = await stack.call("GET", "/api/onboard")
    spoofed_host = await stack.call(
        "GET", "/api/onboard", params={"tenant": str(uuid.uuid4())}, headers={"Host": "evil.test"}
    )

    assert without_tenant.status_code == 400
    assert without_tenant.json()["error"]["code"] == "tenant_required"
    assert spoofed_host.status_code == 200
    assert "evil.test" not in spoofed_host.text  # the redirect URI comes from the settings


async def test_a_consenting_tenant_is_registered_disabled_and_its_connection_checked(
    cloud: FakeCloud, stack: Stack, browser: httpx.AsyncClient
) -> None:
    # given a customer tenant where the app is not installed
    tenant_id = customer(cloud)
    link = await onboard(stack, tenant=tenant_id, name="Contoso <Ltd>")

    # when its administrator grants consent
    cloud.answer_admin_consent()
    page = await consent(browser, link["consent_url"])

    # then the tenant is registered, disabled, enrolled in nothing, healthy; the page says done
    tenant = await registered(stack, tenant_id)
    [record] = await callback_records(stack, tenant_id)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "Done" in page.text
    assert tenant_id not in page.text
    assert tenant is not None
    assert tenant["name"] == "Contoso <Ltd>"
    assert tenant["enabled"] is False
    assert tenant["enrolments"] == {}
    assert tenant["health"]["status"] == "healthy"
    assert cloud.state.tenant(tenant_id).roles == APP_REQUIRED_ROLES  # type: ignore[union-attr]
    assert len(cloud.requests(service="graph", tenant_id=tenant_id)) == 1
    assert record["status"] == 200
    assert record["principal"]["kind"] == "anonymous"
    assert f"link issued by {OPERATOR}" in record["summary"]
    assert "registered, disabled, enrolled in nothing; check ok" in record["summary"]


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
    assert "not completed" in again.text


async def test_an_expired_consent_link_is_refused_and_registers_nothing(
    cloud: FakeCloud, stack: Stack, browser: httpx.AsyncClient
) -> None:
    tenant_id = customer(cloud)
    link = await onboard(stack, tenant=tenant_id)
    await expire(stack, state_of(link))

    cloud.answer_admin_consent()
    page = await consent(browser, link["consent_url"])

    assert page.status_code == 400
    assert "not completed" in page.text
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


async def test_a_forged_callback_for_another_tenant_registers_nothing_and_spends_nothing(
    cloud: FakeCloud, stack: Stack, browser: httpx.AsyncClient
) -> None:
    # given a link for a customer, and a stranger who copied it
    tenant_id = customer(cloud)
    link = await onboard(stack, tenant=tenant_id)
    stranger_tenant = customer(cloud, state="consented", roles=APP_REQUIRED_ROLES)

    # when the stranger answers for a tenant of their own, then the real administrator consents
    forged = await forge_callback(
        stack, admin_consent="True", tenant=stranger_tenant, state=state_of(link)
    )
    cloud.answer_admin_consent()
    real = await consent(browser, link["consent_url"])

    # then the stranger's tenant is not registered and never asked for a token; the link still
    # worked for the real administrator; the trail says what the stranger tried
    records = await callback_records(stack, tenant_id)
    assert forged.status_code == 400
    assert await registered(stack, stranger_tenant) is None
    assert cloud.requests(service="token", tenant_id=stranger_tenant) == []
    assert real.status_code == 200
    assert await registered(stack, tenant_id) is not None
    assert [r["status"] for r in records] == [200, 400]
    assert f"names tenant '{stranger_tenant}'" in records[1]["summary"]
    assert "the link was not spent" in records[1]["summary"]


async def test_the_callback_page_tells_a_stranger_nothing(cloud: FakeCloud, stack: Stack) -> None:
    # whatever is wrong, the answer is the same: unknown state, another tenant, a known
    # customer, a declined consent, garbage
    known = customer(cloud, state="consented", roles=APP_REQUIRED_ROLES)
    await stack.register(known)
    link = await onboard(stack, tenant=customer(cloud))
    state = state_of(link)
    answers = [
        await forge_callback(stack, admin_consent="True", tenant=known, state="A" * 43),
        await forge_callback(stack, admin_consent="True", tenant=str(uuid.uuid4()), state=state),
        await forge_callback(stack, admin_consent="True", tenant=known, state=state),
        await forge_callback(stack, error="access_denied", state=state),
        await forge_callback(stack, state="<script>"),
    ]

    assert {a.status_code for a in answers} == {400}
    assert len({a.text for a in answers}) == 1
    assert known not in answers[0].text
    assert "<script>" not in answers[-1].text


async def test_onboarding_links_need_the_admin_role(cloud: FakeCloud, stack: Stack) -> None:
    tenant = {"tenant": str(uuid.uuid4())}
    anonymous = await stack.call("GET", "/api/onboard", params=tenant, token="")
    reader = cloud.operator_token("rita@contoso.example", ["xtenant.read", "xtenant.apply"])
    not_admin = await stack.call("GET", "/api/onboard", params=tenant, token=reader)

    assert anonymous.status_code == 401
    assert not_admin.status_code == 403
    assert not_admin.json()["error"]["required_role"] == "xtenant.admin"


async def test_states_expired_for_over_a_day_are_deleted_when_a_link_is_issued(
    stack: Stack,
) -> None:
    from azure.core.exceptions import ResourceNotFoundError
    from azure.data.tables.aio import TableClient

    expired = "2000-01-01T00:00:00+00:00"
    old = {"PartitionKey": "onboarding", "RowKey": "o" * 43, "expires_at": expired}
    await onboard(stack, tenant=str(uuid.uuid4()))  # the app creates its tables on first use
    async with TableClient.from_connection_string(
        stack.azurite.connection_string, "xtenanttenants"
    ) as table:
        await table.upsert_entity(old)
        await onboard(stack, tenant=str(uuid.uuid4()))
        with pytest.raises(ResourceNotFoundError):
            await table.get_entity("onboarding", old["RowKey"])


async def test_a_declined_consent_registers_nothing_and_the_trail_says_why(
    cloud: FakeCloud, stack: Stack, browser: httpx.AsyncClient
) -> None:
    tenant_id = customer(cloud)
    link = await onboard(stack, tenant=tenant_id)

    cloud.decline_admin_consent("AADSTS65004: User declined <b>consent</b>.")
    page = await consent(browser, link["consent_url"])

    [record] = await callback_records(stack, tenant_id)
    assert page.status_code == 400
    assert "not completed" in page.text
    assert "AADSTS65004" not in page.text
    assert await registered(stack, tenant_id) is None
    assert cloud.state.tenant(tenant_id).state == "not_installed"  # type: ignore[union-attr]
    assert "consent not granted: access_denied: AADSTS65004" in record["summary"]


async def test_consent_again_keeps_the_tenant_as_it_was_and_shows_the_same_page(
    cloud: FakeCloud, stack: Stack, browser: httpx.AsyncClient
) -> None:
    tenant_id = customer(cloud, state="consent_missing")
    enrolment = {"tenant-baseline": {"mode": "plan", "params": {}}}
    await stack.register(tenant_id, enrolment)
    link = await onboard(stack, tenant=tenant_id, name="ignored for a known tenant")
    newcomer = customer(cloud)
    new_link = await onboard(stack, tenant=newcomer)

    cloud.answer_admin_consent()
    page = await consent(browser, link["consent_url"])
    cloud.answer_admin_consent()
    new_page = await consent(browser, new_link["consent_url"])
    tenant = await registered(stack, tenant_id)

    assert tenant is not None
    assert tenant["enrolments"] == enrolment
    assert tenant["name"] == f"t-{tenant_id[:8]}"
    assert tenant["enabled"] is True
    assert (page.status_code, page.text) == (new_page.status_code, new_page.text)
    assert (
        "already registered; check ok" in (await callback_records(stack, tenant_id))[0]["summary"]
    )


async def test_no_token_from_the_tenant_registers_nothing_and_the_link_can_be_tried_again(
    cloud: FakeCloud, stack: Stack, browser: httpx.AsyncClient
) -> None:
    # given consent that has not reached the token endpoint yet (AADSTS65001 for a while)
    tenant_id = customer(cloud)
    link = await onboard(stack, tenant=tenant_id)
    cloud.answer_admin_consent()
    callback = (await browser.get(link["consent_url"])).headers["location"]
    cloud.add_fault(Fault(service="token", kind="aadsts", code=65001, tenant_id=tenant_id))

    # when the administrator lands on the callback, and again once consent took effect
    first = await browser.get(callback)
    cloud.clear_faults(tenant_id)
    again = await browser.get(callback)

    # then the first try registered nothing and kept the link; the second one completed
    records = await callback_records(stack, tenant_id)
    assert first.status_code == 400
    assert again.status_code == 200
    assert await registered(stack, tenant_id) is not None
    assert "no token from the tenant: consent_missing" in records[1]["summary"]


async def test_a_deleted_tenant_is_not_brought_back_by_a_stale_link_but_by_an_admin(
    cloud: FakeCloud, stack: Stack, browser: httpx.AsyncClient
) -> None:
    # given a tenant onboarded, then deleted while a second link for it was still out
    tenant_id = customer(cloud)
    cloud.answer_admin_consent()
    await consent(browser, (await onboard(stack, tenant=tenant_id))["consent_url"])
    stale = await onboard(stack, tenant=tenant_id)
    deleted = await stack.call("DELETE", f"/api/tenants/{tenant_id}")

    # when the stale link is used, and a new link is asked for
    cloud.answer_admin_consent()
    page = await consent(browser, stale["consent_url"])
    new_link = await stack.call("GET", "/api/onboard", params={"tenant": tenant_id})

    # then neither brings it back; an admin's PUT does, and then a link works again
    assert deleted.status_code == 200
    assert page.status_code == 400
    assert await registered(stack, tenant_id) is None
    assert new_link.status_code == 409
    assert new_link.json()["error"]["code"] == "tenant_deleted"
    await stack.register(tenant_id)
    assert (await stack.call("GET", "/api/onboard", params={"tenant": tenant_id})).is_success
    assert (
        "deleted after the link was issued"
        in (await callback_records(stack, tenant_id))[0]["summary"]
    )


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
    assert page.status_code == 200
    assert result["ok"] is True
    assert result["graph_read"] == "GET /policies/authorizationPolicy"
    assert result["granted_permissions"] == ["Policy.ReadWrite.Authorization"]
    assert set(result["missing_permissions"]) == set(JOBS) - {"tenant-baseline"}
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
