"""What the shared Graph HTTP client sends: the SDK's URL, decoded once; never a cookie."""

from __future__ import annotations

import httpx
from kiota_abstractions.authentication import AnonymousAuthenticationProvider
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware import ParametersNameDecodingHandler
from kiota_http.middleware.options import ParametersNameDecodingHandlerOption
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient

from shared.graph import GraphSession, RetryBudget, RetryPolicy, http_client

BASE = "https://graph.example/v1.0"
TENANT = "00000000-0000-0000-0000-0000000000aa"


def sdk_session() -> GraphSession:
    """A session on the SDK's own client for BASE (nothing is sent)."""
    adapter = GraphRequestAdapter(AnonymousAuthenticationProvider())
    adapter.base_url = BASE
    client = GraphServiceClient(request_adapter=adapter)
    return GraphSession(TENANT, client, RetryBudget(60.0), RetryPolicy())


def as_the_sdk_sends(session: GraphSession, query: object) -> str:
    """The URL the SDK builds for GET /users, with kiota's ParametersNameDecodingHandler's
    decoding of the query names (`%24select` -> `$select`)."""
    info = session.client.users.to_get_request_information(
        RequestConfiguration(query_parameters=query)
    )
    session.client.request_adapter.set_base_url_for_request_information(info)
    characters = ParametersNameDecodingHandlerOption().characters_to_decode
    return str(ParametersNameDecodingHandler().decode_uri_encoded_string(info.url, characters))


def test_a_list_request_gets_the_url_the_sdk_expands_with_names_decoded() -> None:
    # given the SDK's own request for the guests of a tenant
    session = sdk_session()
    query = session.client.users.UsersRequestBuilderGetQueryParameters(
        filter="userType eq 'Guest'", select=["id", "mail"], top=999
    )

    # when the session builds it (twice: the second expansion comes from the cache)
    first = session.list_users(filter="userType eq 'Guest'", select=("id", "mail"), top=999)
    second = session.list_users(filter="userType eq 'Guest'", select=("id", "mail"), top=999)

    assert first.url == second.url == as_the_sdk_sends(session, query)
    assert first.url == f"{BASE}/users?$filter=userType%20eq%20%27Guest%27&$select=id,mail&$top=999"


def test_a_list_request_without_options_is_the_bare_collection() -> None:
    assert sdk_session().list_users().url == f"{BASE}/users"


def test_a_guest_upn_in_a_filter_never_reaches_the_url_raw() -> None:
    request = sdk_session().list_users(filter="userPrincipalName in ('bob_fabrikam.com#EXT#@x')")

    assert "#" not in request.url
    assert "bob_fabrikam.com%23EXT%23%40x" in request.url


def test_building_a_request_leaves_the_clients_own_parameters_alone() -> None:
    session = sdk_session()
    before = dict(session.client.path_parameters)

    session.list_users(select=("id",))
    session.list_group_members("7f3c1f4e-0000-0000-0000-000000000001", select=("id",))

    assert session.client.path_parameters == before


async def test_cookies_an_answer_sets_are_neither_kept_nor_sent() -> None:
    sent: list[str | None] = []

    def service(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("Cookie"))
        return httpx.Response(200, headers={"Set-Cookie": "affinity=tenant-a; Path=/"})

    client = http_client(timeout=httpx.Timeout(5.0), transport=httpx.MockTransport(service))
    async with client:
        await client.get(f"{BASE}/users")
        await client.get(f"{BASE}/users")

    assert sent == [None, None]
