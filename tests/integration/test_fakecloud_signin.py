"""The fake Entra's authorization endpoint and authorization_code grant, seen over HTTPS by
MSAL (as the console uses it) and by a plain client that misbehaves on purpose.
"""

from __future__ import annotations

import html
import re
import ssl
import warnings
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import msal
import pytest

from devtools.fakecloud.server import FakeCloud
from shared.auth.principal import Principal
from shared.auth.roles import Role
from shared.auth.tokens import OperatorTokens
from shared.settings import Settings

pytestmark = pytest.mark.integration

REDIRECT = "http://127.0.0.1:7071/api/console/auth/callback"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ADA = "ada@contoso.example"


@pytest.fixture
async def entra(cloud: FakeCloud) -> AsyncIterator[httpx.AsyncClient]:
    cloud.set_app(redirect_uris=[REDIRECT])
    cloud.set_operators([{"name": ADA, "roles": ["xtenant.plan"]}])
    trust = ssl.create_default_context(cafile=str(cloud.ca_bundle))
    async with httpx.AsyncClient(verify=trust) as client:
        yield client


def msal_app(cloud: FakeCloud) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        cloud.app_client_id,
        authority=f"{cloud.authority_url}/{cloud.home_tenant_id}",
        client_credential={"client_assertion": cloud.mint_assertion},
        instance_discovery=False,
    )


def flow_for(app: msal.ConfidentialClientApplication, cloud: FakeCloud) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scope = f"api://{cloud.app_client_id}/user_impersonation"
        flow: dict[str, Any] = app.initiate_auth_code_flow([scope], redirect_uri=REDIRECT)
    return flow


async def pick(entra: httpx.AsyncClient, auth_uri: str, name: str) -> dict[str, str]:
    """The answer Entra redirects the browser back with after `name` is picked."""
    page = await entra.get(auth_uri)
    fields = {
        k: html.unescape(v) for k, v in re.findall(r'name="(\w+)" value="([^"]*)"', page.text)
    }
    picked = await entra.post(auth_uri.split("?")[0], data=fields | {"operator": name})
    assert picked.status_code == 302, picked.text
    return {k: v[0] for k, v in parse_qs(urlsplit(picked.headers["Location"]).query).items()}


async def test_msal_redeems_a_picked_operators_code_for_a_token_the_app_accepts(
    cloud: FakeCloud, entra: httpx.AsyncClient
) -> None:
    app = msal_app(cloud)
    flow = flow_for(app, cloud)
    answer = await pick(entra, flow["auth_uri"], ADA)

    result = app.acquire_token_by_auth_code_flow(flow, answer)
    tokens = OperatorTokens(Settings.from_env())
    principal = Principal.from_claims(await tokens.verify(result["access_token"]))
    await tokens.close()

    assert result["id_token_claims"]["preferred_username"] == ADA
    assert (principal.name, principal.roles) == (ADA, frozenset({Role.PLAN, Role.READ}))


async def test_a_code_needs_its_pkce_verifier_and_is_redeemed_once(
    cloud: FakeCloud, entra: httpx.AsyncClient
) -> None:
    app = msal_app(cloud)
    flow = flow_for(app, cloud)
    answer = await pick(entra, flow["auth_uri"], ADA)
    form = {
        "grant_type": "authorization_code",
        "client_id": cloud.app_client_id,
        "code": answer["code"],
        "redirect_uri": REDIRECT,
        "client_assertion_type": JWT_BEARER,
        "client_assertion": cloud.mint_assertion(),
    }
    token_url = cloud.token_endpoint(cloud.home_tenant_id)

    wrong = await entra.post(token_url, data=form | {"code_verifier": "not-the-verifier"})
    again = await entra.post(token_url, data=form | {"code_verifier": flow["code_verifier"]})

    assert wrong.json()["error_codes"] == [501481]
    assert again.json()["error_codes"] == [54005]


async def test_an_unregistered_redirect_uri_gets_an_error_page_never_a_redirect(
    cloud: FakeCloud, entra: httpx.AsyncClient
) -> None:
    query = {
        "client_id": cloud.app_client_id,
        "response_type": "code",
        "redirect_uri": "https://evil.example/callback",
        "scope": f"api://{cloud.app_client_id}/user_impersonation",
        "code_challenge": "x" * 43,
        "code_challenge_method": "S256",
    }

    answer = await entra.get(
        f"{cloud.authority_url}/{cloud.home_tenant_id}/oauth2/v2.0/authorize", params=query
    )

    assert answer.status_code == 400
    assert "AADSTS50011" in answer.text
    assert "Location" not in answer.headers


async def test_a_request_without_pkce_goes_back_with_an_error(
    cloud: FakeCloud, entra: httpx.AsyncClient
) -> None:
    query = {
        "client_id": cloud.app_client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": f"api://{cloud.app_client_id}/user_impersonation",
        "state": "s1",
    }

    answer = await entra.get(
        f"{cloud.authority_url}/{cloud.home_tenant_id}/oauth2/v2.0/authorize", params=query
    )
    back = parse_qs(urlsplit(answer.headers["Location"]).query)

    assert answer.status_code == 302
    assert back["error"] == ["invalid_request"]
    assert back["state"] == ["s1"]
    assert "AADSTS9002325" in back["error_description"][0]
