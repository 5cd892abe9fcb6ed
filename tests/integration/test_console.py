"""The operator console's security, through the local host without a browser: sign-in through
the fake Entra (auth code + PKCE), the session cookie, CSRF, expiry, sign-out, roles checked
on the server whatever the page shows, and the Content Security Policy on every answer.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from devtools.azurite import Azurite
from devtools.fakecloud import FakeCloud
from devtools.fakecloud.operators import operator_object_id
from shared.console.sessions import TABLE as SESSIONS
from shared.console.web import CSP
from tests.integration.console_support import (
    CONSOLE,
    OPERATOR,
    PLANNER,
    READER,
    client,
    csrf,
    operators,
    post,
    sign_in,
    signed_in,
)
from tests.integration.stack_fixture import Stack, new_tenant

pytestmark = pytest.mark.integration


@pytest.fixture
def people(cloud: FakeCloud, stack: Stack) -> FakeCloud:
    operators(cloud, stack)
    return cloud


async def audit_records(stack: Stack, principal: str) -> list[dict[str, object]]:
    response = await stack.call("GET", "/api/audit", params={"principal": principal})
    assert response.status_code == 200, response.text
    return list(response.json()["records"])


# -- sign-in and the cookie --------------------------------------------------------------------


async def test_a_page_without_a_session_redirects_to_sign_in(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.host.http_base_url) as browser:
        page = await browser.get(f"{CONSOLE}/tenants?cursor=50")

    assert page.status_code == 303
    location = urlsplit(page.headers["Location"])
    assert location.path == f"{CONSOLE}/auth/signin"
    assert parse_qs(location.query) == {"next": [f"{CONSOLE}/tenants?cursor=50"]}


async def test_sign_in_goes_to_entra_with_pkce_and_comes_back_to_the_page_asked_for(
    people: FakeCloud, stack: Stack
) -> None:
    async with client(people, stack) as browser:
        started = await browser.get(f"{CONSOLE}/auth/signin?next={CONSOLE}/tenants")
        authorize = parse_qs(urlsplit(started.headers["Location"]).query)
        landed = await sign_in(browser, READER, "/tenants")

    assert started.status_code == 302
    assert started.headers["Location"].startswith(people.authority_url)
    assert authorize["code_challenge_method"] == ["S256"]
    assert authorize["redirect_uri"] == [f"{stack.host.http_base_url}{CONSOLE}/auth/callback"]
    assert landed.status_code == 200
    assert str(landed.url).endswith(f"{CONSOLE}/tenants")
    assert READER in landed.text


async def test_the_session_cookie_is_http_only_same_site_and_holds_only_an_id(
    people: FakeCloud, stack: Stack
) -> None:
    async with client(people, stack) as browser:
        await sign_in(browser, READER)
        cookie = next(iter(browser.cookies.jar))

    assert cookie.name == "xtenant-console"  # http://127.0.0.1: no Secure, so no __Host-
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.get_nonstandard_attr("SameSite") == "Lax"
    assert cookie.path == "/"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie.value or "")


async def test_a_sign_in_is_written_to_the_audit_trail(people: FakeCloud, stack: Stack) -> None:
    async with signed_in(people, stack, PLANNER):
        pass

    records = await audit_records(stack, operator_object_id("user", PLANNER))

    assert records[0]["path"] == f"{CONSOLE}/auth/callback"
    assert records[0]["summary"] == "console sign-in; xtenant.plan, xtenant.read"


async def test_a_callback_without_its_sign_in_is_refused(people: FakeCloud, stack: Stack) -> None:
    async with client(people, stack) as browser:
        answer = await browser.get(f"{CONSOLE}/auth/callback?code=stolen&state=guessed")

    assert answer.status_code == 400
    assert "Sign-in failed" in answer.text


async def test_a_sign_in_is_completed_once(people: FakeCloud, stack: Stack) -> None:
    async with client(people, stack) as browser:
        first = await browser.get(f"{CONSOLE}/runs", follow_redirects=True)
        fields = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', first.text))
        picked = await browser.post(str(first.url), data=fields | {"operator": READER})
        callback = picked.headers["Location"]
        flow_cookie = dict(browser.cookies)
        used = await browser.get(callback)
        browser.cookies.clear()
        browser.cookies.update(flow_cookie)
        replayed = await browser.get(callback)

    assert used.status_code == 303
    assert replayed.status_code == 400


# -- CSRF, expiry, sign-out ---------------------------------------------------------------------


async def test_a_form_without_the_sessions_csrf_token_is_refused(
    people: FakeCloud, stack: Stack
) -> None:
    tenant = new_tenant(people)
    await stack.register(tenant)
    async with signed_in(people, stack, OPERATOR) as browser:
        form = {"job": "tenant-baseline", "mode": "plan", "scope": "picked", "tenant": tenant}
        missing = await post(browser, "/runs", form, token="")
        forged = await post(browser, "/runs", form, token="x" * 43)
        page = await browser.get(f"{CONSOLE}/runs/new")
        elsewhere = await browser.post(
            f"{CONSOLE}/runs",
            data={"csrf": csrf(page), **form},
            headers={"Origin": "https://evil.example"},
        )
        rows = (await stack.call("GET", f"/api/tenants/{tenant}/runs")).json()["rows"]

    assert [r.status_code for r in (missing, forged, elsewhere)] == [403, 403, 403]
    assert rows == []


async def test_signing_out_ends_the_session(people: FakeCloud, stack: Stack) -> None:
    async with signed_in(people, stack, READER) as browser:
        page = await browser.get(f"{CONSOLE}/runs")
        kept = dict(browser.cookies)
        signed_out = await post(browser, "/auth/signout", {}, token=csrf(page))
        browser.cookies.update(kept)  # a copy of the cookie is worth nothing now
        after = await browser.get(f"{CONSOLE}/runs")

    assert signed_out.status_code == 200
    assert "Max-Age=0" in signed_out.headers["set-cookie"]
    assert after.status_code == 303
    assert urlsplit(after.headers["Location"]).path == f"{CONSOLE}/auth/signin"


@pytest.mark.parametrize("deadline", ["idle_until", "expires_at"])
async def test_an_idle_or_old_session_has_ended(
    people: FakeCloud, stack: Stack, azurite: Azurite, deadline: str
) -> None:
    from azure.data.tables.aio import TableClient

    async with signed_in(people, stack, READER) as browser:
        table = TableClient.from_connection_string(azurite.connection_string, SESSIONS)
        async with table:
            past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
            async for entity in table.query_entities("PartitionKey eq 'session'"):
                await table.update_entity(dict(entity) | {deadline: past})
        after = await browser.get(f"{CONSOLE}/runs")

    assert after.status_code == 303


# -- roles ---------------------------------------------------------------------------------------


async def test_a_reader_sees_no_action_and_the_server_refuses_them_anyway(
    people: FakeCloud, stack: Stack
) -> None:
    tenant = new_tenant(people)
    await stack.register(tenant)
    async with signed_in(people, stack, READER) as browser:
        runs = await browser.get(f"{CONSOLE}/runs")
        tenants = await browser.get(f"{CONSOLE}/tenants")
        form = {"job": "tenant-baseline", "mode": "plan", "scope": "picked", "tenant": tenant}
        started = await post(browser, "/runs", form, token=csrf(runs))
        new_form = await browser.get(f"{CONSOLE}/runs/new")

    assert "Start a run" not in runs.text
    assert 'type="checkbox"' not in tenants.text
    assert started.status_code == 403
    assert "xtenant.plan" in started.text
    assert new_form.status_code == 403


async def test_a_planner_may_plan_but_is_refused_an_apply(people: FakeCloud, stack: Stack) -> None:
    tenant = new_tenant(people)
    await stack.register(tenant)
    async with signed_in(people, stack, PLANNER) as browser:
        form_page = await browser.get(f"{CONSOLE}/runs/new")
        form = {"job": "tenant-baseline", "mode": "apply", "scope": "picked", "tenant": tenant}
        refused = await post(browser, "/runs", form, token=csrf(form_page))
        planned = await post(browser, "/runs", form | {"mode": "plan"}, token=csrf(form_page))

    assert "Start plan run" in form_page.text
    assert "Start apply run" not in form_page.text
    assert refused.status_code == 403
    assert "xtenant.apply" in refused.text
    assert planned.status_code == 303
    assert "/runs/" in planned.headers["Location"]


# -- headers -------------------------------------------------------------------------------------


async def test_every_console_answer_carries_the_content_security_policy(
    people: FakeCloud, stack: Stack
) -> None:
    async with client(people, stack) as browser:
        anonymous = [
            await browser.get(f"{CONSOLE}/runs"),
            await browser.get(f"{CONSOLE}/auth/callback"),
            await browser.get(f"{CONSOLE}/no-such-page"),
        ]
        await sign_in(browser, READER)
        signed = [
            await browser.get(f"{CONSOLE}/runs"),
            await browser.get(f"{CONSOLE}/static/console.css"),
            await browser.get(f"{CONSOLE}/static/console.js"),
            await browser.get(f"{CONSOLE}/runs/not-a-run"),
            await browser.get(f"{CONSOLE}/audit"),
        ]

    answers = anonymous + signed
    assert [a.headers.get("Content-Security-Policy") for a in answers] == [CSP] * len(answers)
    assert all(a.headers["X-Content-Type-Options"] == "nosniff" for a in answers)
    assert [a.status_code for a in signed] == [200, 200, 200, 404, 403]
