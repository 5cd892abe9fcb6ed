"""The Graph emulator's /admin/sharepoint/settings, seen from a client: a new tenant's values,
partial updates answered with the settings, Graph's validation, permissions, and the answer of a
tenant without a SharePoint Online plan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from devtools.fakecloud.faults import FaultBook
from devtools.fakecloud.graph import GraphContext, create_graph_app, directory_from_scenario
from devtools.fakecloud.requestlog import RequestLog
from devtools.fakecloud.tokens import SigningKey
from tests.unit.fake_graph_support import AUDIENCE, TENANT_A, TENANT_B, GraphClient

SETTINGS = "/v1.0/admin/sharepoint/settings"
READ = ["SharePointTenantSettings.Read.All"]
WRITE = ["SharePointTenantSettings.ReadWrite.All"]


@pytest.fixture
async def graph() -> AsyncIterator[GraphClient]:
    key = SigningKey()
    directories = {
        TENANT_A: directory_from_scenario({"sharepoint_settings": {"isLoopEnabled": False}}),
        TENANT_B: directory_from_scenario({"skus": ["EXCHANGESTANDARD"]}),
    }
    ctx = GraphContext(key, AUDIENCE, FaultBook(), RequestLog(), directories)
    async with TestClient(TestServer(create_graph_app(ctx))) as client:
        yield GraphClient(client, key, ctx)


async def patch(graph: GraphClient, body: Any, **kwargs: Any) -> Any:
    return await graph.call(
        "PATCH", SETTINGS, json=body, roles=kwargs.pop("roles", WRITE), **kwargs
    )


async def test_a_new_tenant_shares_with_anyone_and_allows_legacy_authentication(
    graph: GraphClient,
) -> None:
    answer = await graph.get(SETTINGS, roles=READ)

    assert answer.status == 200
    assert answer.body["@odata.type"] == "#microsoft.graph.sharepointSettings"
    assert answer.body["sharingCapability"] == "externalUserAndGuestSharing"
    assert answer.body["sharingDomainRestrictionMode"] == "none"
    assert answer.body["isResharingByExternalUsersEnabled"] is True
    assert answer.body["isLegacyAuthProtocolsEnabled"] is True
    assert answer.body["isLoopEnabled"] is False  # the scenario's


async def test_a_patch_changes_what_it_names_and_answers_200_with_the_settings(
    graph: GraphClient,
) -> None:
    body = {
        "sharingCapability": "existingExternalUserSharingOnly",
        "sharingDomainRestrictionMode": "allowList",
        "sharingAllowedDomainList": ["fabrikam.com"],
        "isResharingByExternalUsersEnabled": False,
    }

    answer = await patch(graph, body)
    after = (await graph.get(SETTINGS, roles=READ)).body

    assert answer.status == 200
    assert answer.body["sharingCapability"] == "existingExternalUserSharingOnly"
    assert after["sharingAllowedDomainList"] == ["fabrikam.com"]
    assert after["isLegacyAuthProtocolsEnabled"] is True  # untouched
    assert graph.ctx.log.snapshot()["graph.patches"] == 1
    assert [w.target for w in graph.ctx.writes.writes()] == ["sharepointSettings"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            {"sharingCapability": "anyone"},
            "Invalid value specified for property 'sharingCapability'",
        ),
        ({"sharingCapability": "unknownFutureValue"}, "Invalid value"),
        ({"sharingDomainRestrictionMode": "allowlist"}, "Invalid value"),
        ({"isResharingByExternalUsersEnabled": "false"}, "Invalid value"),
        ({"sharingBlockedDomainList": "contoso.com"}, "Invalid value"),
        ({"availableManagedPathsForSiteCreation": ["/x/"]}, "read-only"),
        ({"colour": "blue"}, "does not exist"),
    ],
)
async def test_a_bad_patch_is_a_400_and_changes_nothing(
    graph: GraphClient, body: dict[str, Any], words: str
) -> None:
    before = graph.ctx.directories[TENANT_A].sharepoint_settings()

    answer = await patch(graph, {"isLegacyAuthProtocolsEnabled": False, **body})

    assert (answer.status, answer.code) == (400, "Request_BadRequest")
    assert words in answer.message
    assert graph.ctx.directories[TENANT_A].sharepoint_settings() == before


async def test_reading_needs_a_sharepoint_settings_permission_and_writing_the_readwrite_one(
    graph: GraphClient,
) -> None:
    unread = await graph.get(SETTINGS, roles=["Sites.Read.All"])
    read_only = await patch(graph, {"isLoopEnabled": True}, roles=READ)

    assert (unread.status, unread.code) == (403, "Authorization_RequestDenied")
    assert (read_only.status, read_only.code) == (403, "Authorization_RequestDenied")


async def test_a_tenant_without_a_sharepoint_plan_gets_graphs_no_spo_licence_answer(
    graph: GraphClient,
) -> None:
    read = await graph.get(SETTINGS, roles=READ, tenant=TENANT_B)
    written = await patch(graph, {"isLoopEnabled": True}, tenant=TENANT_B)

    for answer in (read, written):
        assert (answer.status, answer.code) == (400, "BadRequest")
        assert answer.message == "Tenant does not have a SPO license."


@pytest.mark.parametrize(
    "spec",
    [
        {"sharepoint_settings": {"sharingCapability": "anyone"}},
        {"sharepoint_settings": {"isLoopEnabled": True}, "skus": ["AAD_PREMIUM"]},
    ],
)
def test_a_bad_sharepoint_scenario_is_refused_at_load(spec: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="sharepoint_settings"):
        directory_from_scenario(spec)
