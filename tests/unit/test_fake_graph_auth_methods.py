"""The Graph emulator's authentication methods policy, seen from a client: its shape, partial
updates, Graph's validation (the `@odata.type` a configuration's PATCH needs, enums, targets),
permissions and the write log."""

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

POLICY = "/v1.0/policies/authenticationMethodsPolicy"
CONFIGURATIONS = f"{POLICY}/authenticationMethodConfigurations"
WRITE = ["Policy.ReadWrite.AuthenticationMethod"]
GROUP = "6f1c1a55-7a4e-4d2b-9c55-0a1fa6ec0d11"
SMS_TYPE = "#microsoft.graph.smsAuthenticationMethodConfiguration"
FIDO2_TYPE = "#microsoft.graph.fido2AuthenticationMethodConfiguration"


@pytest.fixture
async def graph() -> AsyncIterator[GraphClient]:
    key = SigningKey()
    seeded = {"authentication_methods": {"methods": {"voice": {"state": "enabled"}}}}
    directories = {
        TENANT_A: directory_from_scenario({}),
        TENANT_B: directory_from_scenario(seeded),
    }
    ctx = GraphContext(key, AUDIENCE, FaultBook(), RequestLog(), directories)
    async with TestClient(TestServer(create_graph_app(ctx))) as client:
        yield GraphClient(client, key, ctx)


def states(document: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["state"] for c in document["authenticationMethodConfigurations"]}


async def read(graph: GraphClient, path: str, **kwargs: Any) -> Any:
    return await graph.get(path, roles=kwargs.pop("roles", WRITE), **kwargs)


async def patch(graph: GraphClient, path: str, body: Any, **kwargs: Any) -> Any:
    return await graph.call("PATCH", path, json=body, roles=kwargs.pop("roles", WRITE), **kwargs)


async def test_the_policy_comes_with_every_configuration_inline_in_a_new_tenants_states(
    graph: GraphClient,
) -> None:
    answer = await graph.get(POLICY, roles=["Policy.Read.All"])

    assert answer.status == 200
    assert answer.body["id"] == "authenticationMethodsPolicy"
    assert answer.body["policyMigrationState"] == "preMigration"
    assert states(answer.body) == {
        "Sms": "enabled",
        "Voice": "disabled",
        "Email": "enabled",
        "Fido2": "disabled",
        "MicrosoftAuthenticator": "disabled",
        "TemporaryAccessPass": "disabled",
        "SoftwareOath": "disabled",
        "X509Certificate": "disabled",
    }
    fido2 = answer.body["authenticationMethodConfigurations"][3]
    assert fido2["@odata.type"] == FIDO2_TYPE
    assert fido2["includeTargets"] == [
        {"isRegistrationRequired": False, "targetType": "group", "id": "all_users"}
    ]


async def test_a_configuration_is_read_by_its_id_in_any_case(graph: GraphClient) -> None:
    answer = await graph.get(f"{CONFIGURATIONS}/sms", roles=["Policy.Read.AuthenticationMethod"])

    assert answer.status == 200
    assert (answer.body["id"], answer.body["@odata.type"]) == ("Sms", SMS_TYPE)
    assert answer.body["includeTargets"][0]["isUsableForSignIn"] is True


async def test_patching_a_configuration_changes_only_what_it_names_and_is_logged(
    graph: GraphClient,
) -> None:
    body = {
        "@odata.type": FIDO2_TYPE,
        "state": "enabled",
        "includeTargets": [{"targetType": "group", "id": GROUP, "isRegistrationRequired": True}],
    }

    answer = await patch(graph, f"{CONFIGURATIONS}/fido2", body)
    after = (await read(graph, f"{CONFIGURATIONS}/Fido2")).body

    assert answer.status == 204
    assert after["state"] == "enabled"
    assert after["includeTargets"] == [
        {"isRegistrationRequired": True, "targetType": "group", "id": GROUP}
    ]
    assert after["isAttestationEnforced"] is True  # untouched
    assert graph.ctx.log.snapshot()["graph.patches"] == 1
    [write] = graph.ctx.writes.writes()
    assert write.target == "authenticationMethodConfigurations/Fido2"


async def test_a_configurations_patch_without_its_odata_type_is_refused(graph: GraphClient) -> None:
    missing = await patch(graph, f"{CONFIGURATIONS}/sms", {"state": "disabled"})
    wrong = await patch(
        graph, f"{CONFIGURATIONS}/sms", {"@odata.type": FIDO2_TYPE, "state": "disabled"}
    )

    assert (missing.status, missing.code) == (400, "BadRequest")
    assert "@odata.type" in missing.message
    assert wrong.status == 400
    assert (
        states(graph.ctx.directories[TENANT_A].authentication_methods_policy())["Sms"] == "enabled"
    )
    assert graph.ctx.writes.writes() == []


@pytest.mark.parametrize(
    "body",
    [
        {"state": "on"},
        {"state": "Enabled"},
        {"colour": "blue"},
        {"includeTargets": [{"targetType": "user", "id": GROUP}]},
        {"includeTargets": [{"targetType": "group", "id": "everyone"}]},
        {"includeTargets": [{"targetType": "group", "id": GROUP, "favourite": True}]},
        {"excludeTargets": [{"targetType": "group", "id": "all_users"}]},
        {"isUsableForSignIn": False},
        {"id": "Voice"},
    ],
)
async def test_a_bad_configuration_patch_is_a_400_and_changes_nothing(
    graph: GraphClient, body: dict[str, Any]
) -> None:
    before = graph.ctx.directories[TENANT_A].authentication_methods_policy()

    answer = await patch(graph, f"{CONFIGURATIONS}/sms", {"@odata.type": SMS_TYPE, **body})

    assert (answer.status, answer.code) == (400, "Request_BadRequest")
    assert graph.ctx.directories[TENANT_A].authentication_methods_policy() == before


async def test_an_unknown_method_is_a_404(graph: GraphClient) -> None:
    found = await read(graph, f"{CONFIGURATIONS}/carrierPigeon")
    written = await patch(graph, f"{CONFIGURATIONS}/carrierPigeon", {"state": "enabled"})

    assert (found.status, written.status) == (404, 404)


async def test_the_policys_patch_sets_the_migration_state_and_refuses_bad_values(
    graph: GraphClient,
) -> None:
    before = (await read(graph, POLICY)).body

    done = await patch(graph, POLICY, {"policyMigrationState": "migrationComplete"})
    future = await patch(graph, POLICY, {"policyMigrationState": "unknownFutureValue"})
    unknown = await patch(graph, POLICY, {"colour": "blue"})
    fixed = await patch(graph, POLICY, {"policyVersion": "9"})
    after = (await read(graph, POLICY)).body

    assert done.status == 204
    assert (future.status, unknown.status, fixed.status) == (400, 400, 400)
    assert after["policyMigrationState"] == "migrationComplete"
    assert after["lastModifiedDateTime"] > before["lastModifiedDateTime"]


async def test_the_registration_campaign_is_merged_and_checked(graph: GraphClient) -> None:
    campaign = "authenticationMethodsRegistrationCampaign"

    ok = await patch(graph, POLICY, {"registrationEnforcement": {campaign: {"state": "enabled"}}})
    bad = await patch(graph, POLICY, {"registrationEnforcement": {campaign: {"state": "maybe"}}})
    after = (await read(graph, POLICY)).body["registrationEnforcement"][campaign]

    assert (ok.status, bad.status) == (204, 400)
    assert (after["state"], after["snoozeDurationInDays"]) == ("enabled", 1)


async def test_reading_needs_a_policy_permission_and_writing_the_authentication_method_one(
    graph: GraphClient,
) -> None:
    unread = await graph.get(POLICY, roles=["User.Read.All"])
    read_only = await patch(
        graph,
        f"{CONFIGURATIONS}/sms",
        {"@odata.type": SMS_TYPE, "state": "disabled"},
        roles=["Policy.Read.All"],
    )

    assert (unread.status, unread.code) == (403, "Authorization_RequestDenied")
    assert (read_only.status, read_only.code) == (403, "Authorization_RequestDenied")


async def test_a_scenario_overrides_a_method_per_tenant(graph: GraphClient) -> None:
    seeded = await read(graph, POLICY, tenant=TENANT_B)
    plain = await read(graph, POLICY)

    assert states(seeded.body)["Voice"] == "enabled"
    assert states(plain.body)["Voice"] == "disabled"


@pytest.mark.parametrize(
    "spec",
    [
        {"methods": {"carrierPigeon": {"state": "enabled"}}},
        {"methods": {"sms": {"state": "on"}}},
        {"policy": {"policyMigrationState": "done"}},
        {"colour": "blue"},
    ],
)
def test_a_bad_authentication_methods_scenario_is_refused_at_load(spec: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="authentication"):
        directory_from_scenario({"authentication_methods": spec})
