"""Signing in to the console without a browser: an httpx client that follows the redirects a
browser follows (console -> fake Entra's account picker -> callback) and keeps the cookie.

`operators(cloud, stack)` registers the console's redirect URI on the app (as infra/ does) and
the people the picker offers; `signed_in(...)` is a client signed in as one of them.
"""

from __future__ import annotations

import html
import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from devtools.fakecloud import FakeCloud
from shared.console.signin import CALLBACK_PATH
from tests.integration.stack_fixture import Stack

READ, PLAN, APPLY, ADMIN = "xtenant.read", "xtenant.plan", "xtenant.apply", "xtenant.admin"
READER = "rita.reader@contoso.example"
PLANNER = "pat.planner@contoso.example"
OPERATOR = "olga.operator@contoso.example"
APPROVER = "grace.approver@contoso.example"
PEOPLE = {
    READER: [READ],
    PLANNER: [PLAN],
    OPERATOR: [READ, PLAN, APPLY, ADMIN],
    APPROVER: [READ, ADMIN],
}
CONSOLE = "/api/console"
_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


def operators(cloud: FakeCloud, stack: Stack) -> None:
    """The console's redirect URI registered, and PEOPLE offered by the sign-in page."""
    cloud.set_app(redirect_uris=[*cloud.state.redirect_uris(), callback_url(stack)])
    cloud.set_operators([{"name": name, "roles": roles} for name, roles in PEOPLE.items()])


def callback_url(stack: Stack) -> str:
    return f"{stack.host.http_base_url}{CALLBACK_PATH}"


def client(cloud: FakeCloud, stack: Stack) -> httpx.AsyncClient:
    trust = ssl.create_default_context(cafile=str(cloud.ca_bundle))
    return httpx.AsyncClient(base_url=stack.host.http_base_url, verify=trust)


async def sign_in(browser: httpx.AsyncClient, name: str, start: str = "/runs") -> httpx.Response:
    """Open a console page, pick `name` on the fake Entra's page; the page reached at the end."""
    answer = await browser.get(f"{CONSOLE}{start}", follow_redirects=True)
    assert "Pick an account" in answer.text, answer.text[:500]
    fields = {k: html.unescape(v) for k, v in _HIDDEN.findall(answer.text)}
    picked = await browser.post(str(answer.url), data=fields | {"operator": name})
    assert picked.status_code == 302, picked.text[:500]
    return await browser.get(picked.headers["Location"], follow_redirects=True)


@asynccontextmanager
async def signed_in(
    cloud: FakeCloud, stack: Stack, name: str, start: str = "/runs"
) -> AsyncIterator[httpx.AsyncClient]:
    async with client(cloud, stack) as browser:
        landed = await sign_in(browser, name, start)
        assert landed.status_code == 200, landed.text[:500]
        yield browser


def csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


async def post(
    browser: httpx.AsyncClient, path: str, form: dict[str, Any], *, token: str
) -> httpx.Response:
    """A form POST as the console's own page sends it (its origin, its CSRF token)."""
    origin = str(browser.base_url).rstrip("/")
    data = {"csrf": token, **form}
    return await browser.post(f"{CONSOLE}{path}", data=data, headers={"Origin": origin})
