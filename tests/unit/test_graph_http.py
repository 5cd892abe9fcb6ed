"""What the shared Graph HTTP client sends: the SDK's URL, decoded once; never a cookie."""

from __future__ import annotations

from typing import Any

import httpx
from kiota_abstractions.authentication import AnonymousAuthenticationProvider
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient

from shared.graph_http import _decoded_names, _NoCookies, expand_once

BASE = "https://graph.example/v1.0"


def test_query_names_are_decoded_as_kiotas_handler_does_and_values_stay_encoded() -> None:
    url = f"{BASE}/users?%24filter=userType%20eq%20%27Guest%27&%24select=id,mail&%24top=999"

    assert _decoded_names(url) == (
        f"{BASE}/users?$filter=userType%20eq%20%27Guest%27&$select=id,mail&$top=999"
    )
    assert _decoded_names(f"{BASE}/users") == f"{BASE}/users"


def test_a_list_request_gets_the_url_the_sdk_expands_with_names_decoded() -> None:
    # given the SDK's own request for the guests of a tenant
    adapter = GraphRequestAdapter(AnonymousAuthenticationProvider())
    adapter.base_url = BASE
    users = GraphServiceClient(request_adapter=adapter).users
    query = users.UsersRequestBuilderGetQueryParameters(
        filter="userType eq 'Guest'", select=["id", "mail"], top=999
    )

    def build() -> Any:
        return users.to_get_request_information(RequestConfiguration(query_parameters=query))

    sdk = build()
    adapter.set_base_url_for_request_information(sdk)

    # when it is expanded once (twice: the second comes from the cache)
    first, second = expand_once(build(), adapter), expand_once(build(), adapter)

    assert first.url == second.url == _decoded_names(sdk.url)
    assert first.url.startswith(f"{BASE}/users?$filter=userType%20eq%20%27Guest%27")


async def test_cookies_an_answer_sets_are_neither_kept_nor_sent() -> None:
    sent: list[str | None] = []

    def service(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("Cookie"))
        return httpx.Response(200, headers={"Set-Cookie": "affinity=tenant-a; Path=/"})

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(service), cookies=_NoCookies()
    ) as client:
        await client.get(f"{BASE}/users")
        await client.get(f"{BASE}/users")

    assert sent == [None, None]


def test_expanding_a_request_leaves_the_clients_own_parameters_alone() -> None:
    adapter = GraphRequestAdapter(AnonymousAuthenticationProvider())
    adapter.base_url = BASE
    client = GraphServiceClient(request_adapter=adapter)
    before = dict(client.path_parameters)

    expand_once(client.users.to_get_request_information(), adapter)

    assert client.path_parameters == before
