"""The Graph emulator's Conditional Access, security defaults and role assignments, seen from
a client."""

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

POLICIES = "/v1.0/identity/conditionalAccess/policies"
DEFAULTS = "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy"
ASSIGNMENTS = "/v1.0/roleManagement/directory/roleAssignments"
CA_ROLES = ("Policy.Read.All", "Policy.ReadWrite.ConditionalAccess")
DEFAULTS_ROLES = ("Policy.ReadWrite.SecurityDefaults",)
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
TENANT_P2 = "dddddddd-4444-4444-8444-444444444444"
BREAK_GLASS = "0b1c2d3e-0000-4000-8000-000000000001"

SPEC_A: dict[str, Any] = {
    "users": [
        {"userPrincipalName": "adele"},
        {"userPrincipalName": "breakglass", "id": BREAK_GLASS},
    ],
    "role_assignments": [
        {"principal": "adele", "roleDefinitionId": GLOBAL_ADMIN},
        {"principal": BREAK_GLASS, "roleDefinitionId": GLOBAL_ADMIN},
        {"principal": "adele", "roleDefinitionId": "fe930be7-5e62-47db-91af-98c3a49a38b1"},
    ],
}
SPEC_B: dict[str, Any] = {"skus": ["O365_BUSINESS_ESSENTIALS"], "security_defaults": True}


def policy(state: str = "enabledForReportingButNotEnforced", **changes: Any) -> dict[str, Any]:
    """A minimal valid policy: MFA for everyone, all apps."""
    body: dict[str, Any] = {
        "displayName": "Require MFA",
        "state": state,
        "conditions": {
            "clientAppTypes": ["all"],
            "users": {"includeUsers": ["All"], "excludeUsers": [BREAK_GLASS]},
            "applications": {"includeApplications": ["All"]},
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
    }
    return body | changes


@pytest.fixture(scope="module")
def signing_key() -> SigningKey:
    return SigningKey()


@pytest.fixture
async def graph(signing_key: SigningKey) -> AsyncIterator[GraphClient]:
    directories = {
        TENANT_A: directory_from_scenario(SPEC_A),
        TENANT_B: directory_from_scenario(SPEC_B),
        TENANT_P2: directory_from_scenario({"skus": ["SPE_E5"]}),
    }
    ctx = GraphContext(signing_key, AUDIENCE, FaultBook(), RequestLog(), directories)
    async with TestClient(TestServer(create_graph_app(ctx))) as client:
        yield GraphClient(client, signing_key, ctx)


async def create(graph: GraphClient, body: dict[str, Any], **kwargs: Any) -> Any:
    return await graph.call("POST", POLICIES, json=body, **{"roles": CA_ROLES, **kwargs})


# --- Conditional Access policies --------------------------------------------------------------


async def test_create_answers_201_with_the_whole_policy_as_graph_shapes_it(
    graph: GraphClient,
) -> None:
    answer = await create(graph, policy())

    assert answer.status == 201
    created = answer.body
    assert created["@odata.context"].endswith("#identity/conditionalAccess/policies/$entity")
    assert created["templateId"] is None
    assert created["modifiedDateTime"] is None
    assert created["createdDateTime"].endswith("Z")
    assert created["conditions"]["users"]["includeGroups"] == []
    assert created["conditions"]["applications"]["excludeApplications"] == []
    assert created["conditions"]["platforms"] is None
    assert created["grantControls"]["termsOfUse"] == []
    assert created["sessionControls"] is None
    listed = await graph.get(POLICIES, roles=["Policy.Read.All"])
    assert [p["id"] for p in listed.body["value"]] == [created["id"]]


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"displayName": None}, "displayName is required"),
        ({"conditions": None}, "conditions are required"),
        ({"state": "on"}, "state is an enumeration"),
        ({"colour": "blue"}, "unknown property"),
        ({"id": BREAK_GLASS}, "read-only property"),
        ({"grantControls": {"operator": "XOR", "builtInControls": ["mfa"]}}, "operator"),
        ({"grantControls": {"operator": "OR", "builtInControls": ["sms"]}}, "control"),
        ({"grantControls": {"operator": "OR", "builtInControls": ["block", "mfa"]}}, "block"),
    ],
)
async def test_an_invalid_create_is_a_400_and_creates_nothing(
    graph: GraphClient, changes: dict[str, Any], why: str
) -> None:
    body = {k: v for k, v in (policy() | changes).items() if v is not None}

    answer = await create(graph, body)

    assert answer.status == 400, why
    assert set(answer.body["error"]) == {"code", "message", "innerError"}
    assert graph.ctx.directories[TENANT_A].security.policies() == []


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("clientAppTypes", ["all", "imap"]),
        ("users", {"includeUsers": ["Everyone"]}),
        ("users", {"includeUsers": ["All"], "excludeUsers": ["alice@contoso.com"]}),
        ("users", {"includeRoles": ["Global Administrator"]}),
        ("applications", {"includeApplications": ["Outlook"]}),
        ("users", {"includeUsers": ["All"], "favourites": []}),
    ],
)
async def test_bad_conditions_are_a_400(graph: GraphClient, where: str, value: Any) -> None:
    body = policy()
    body["conditions"] = body["conditions"] | {where: value}

    answer = await create(graph, body)

    assert answer.status == 400


async def test_ids_and_documented_keywords_are_accepted_in_any_case(graph: GraphClient) -> None:
    body = policy()
    body["conditions"]["users"] = {
        "includeUsers": ["all"],
        "excludeUsers": [BREAK_GLASS.upper(), "GuestsOrExternalUsers"],
        "includeRoles": [GLOBAL_ADMIN],
    }

    answer = await create(graph, body)

    assert answer.status == 201


async def test_patch_merges_nested_objects_and_answers_204(graph: GraphClient) -> None:
    created = (await create(graph, policy())).body
    path = f"{POLICIES}/{created['id']}"

    patched = await graph.call(
        "PATCH",
        path,
        json={"state": "disabled", "conditions": {"users": {"excludeUsers": []}}},
        roles=CA_ROLES,
    )
    after = await graph.get(path, roles=CA_ROLES)

    assert patched.status == 204
    assert after.body["state"] == "disabled"
    assert after.body["conditions"]["users"]["excludeUsers"] == []
    assert after.body["conditions"]["users"]["includeUsers"] == ["All"]  # merged, not replaced
    assert after.body["conditions"]["clientAppTypes"] == ["all"]
    assert after.body["modifiedDateTime"] is not None
    assert after.body["createdDateTime"] == created["createdDateTime"]


async def test_an_invalid_patch_changes_nothing(graph: GraphClient) -> None:
    created = (await create(graph, policy())).body
    path = f"{POLICIES}/{created['id']}"

    answer = await graph.call("PATCH", path, json={"state": "paused"}, roles=CA_ROLES)

    assert answer.status == 400
    assert (await graph.get(path, roles=CA_ROLES)).body["state"] == created["state"]


async def test_delete_removes_the_policy_and_an_unknown_id_is_404(graph: GraphClient) -> None:
    created = (await create(graph, policy())).body
    path = f"{POLICIES}/{created['id']}"

    deleted = await graph.call("DELETE", path, roles=CA_ROLES)
    again = await graph.get(path, roles=CA_ROLES)

    assert deleted.status == 204
    assert again.status == 404


async def test_writes_need_the_write_permission_and_policy_read_all(graph: GraphClient) -> None:
    read_only = await create(graph, policy(), roles=["Policy.Read.All"])
    write_only = await create(graph, policy(), roles=["Policy.ReadWrite.ConditionalAccess"])
    with_apps = await create(
        graph, policy(), roles=["Policy.ReadWrite.ConditionalAccess", "Application.Read.All"]
    )

    assert (read_only.status, read_only.code) == (403, "Authorization_RequestDenied")
    assert (write_only.status, write_only.code) == (403, "Authorization_RequestDenied")
    assert with_apps.status == 201


async def test_creates_and_patches_are_in_the_write_log(graph: GraphClient) -> None:
    created = (await create(graph, policy())).body
    await graph.call(
        "PATCH", f"{POLICIES}/{created['id']}", json={"state": "disabled"}, roles=CA_ROLES
    )

    summary = graph.ctx.writes.summary()

    assert (summary["creates"], summary["patches"]) == (1, 1)


async def test_a_tenant_without_p1_reads_but_cannot_create_or_update(graph: GraphClient) -> None:
    listed = await graph.get(POLICIES, tenant=TENANT_B, roles=CA_ROLES)
    refused = await create(graph, policy(), tenant=TENANT_B)

    assert (listed.status, listed.body["value"]) == (200, [])
    assert refused.status == 403
    assert refused.code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"


async def test_risk_conditions_need_entra_id_p2(graph: GraphClient) -> None:
    body = policy()
    body["conditions"] = body["conditions"] | {"signInRiskLevels": ["high"]}

    without = await create(graph, body)
    with_p2 = await create(graph, body, tenant=TENANT_P2)

    assert without.status == 400
    assert without.message.startswith("1039: ")
    assert with_p2.status == 201


async def test_filter_and_select_on_the_policy_list(graph: GraphClient) -> None:
    await create(graph, policy())
    await create(graph, policy(displayName="Block legacy", state="disabled"))

    answer = await graph.get(
        f"{POLICIES}?$filter=startswith(displayName,'block')&$select=id,state", roles=CA_ROLES
    )

    assert [set(p) for p in answer.body["value"]] == [{"id", "state"}]
    assert answer.body["value"][0]["state"] == "disabled"


# --- security defaults -----------------------------------------------------------------------


async def test_security_defaults_read_and_update(graph: GraphClient) -> None:
    before = await graph.get(DEFAULTS, roles=["Policy.Read.All"])
    patched = await graph.call("PATCH", DEFAULTS, json={"isEnabled": True}, roles=DEFAULTS_ROLES)
    after = await graph.get(DEFAULTS, roles=DEFAULTS_ROLES)

    assert before.body["isEnabled"] is False
    assert before.body["id"] == "00000000-0000-0000-0000-000000000005"
    assert patched.status == 204
    assert after.body["isEnabled"] is True


@pytest.mark.parametrize(
    ("body", "roles"),
    [
        ({"displayName": "Mine"}, DEFAULTS_ROLES),
        ({"isEnabled": "yes"}, DEFAULTS_ROLES),
        ({"isEnforced": True}, DEFAULTS_ROLES),
    ],
)
async def test_security_defaults_refuse_other_properties(
    graph: GraphClient, body: dict[str, Any], roles: tuple[str, ...]
) -> None:
    answer = await graph.call("PATCH", DEFAULTS, json=body, roles=roles)

    assert answer.status == 400


async def test_security_defaults_need_their_write_permission(graph: GraphClient) -> None:
    answer = await graph.call("PATCH", DEFAULTS, json={"isEnabled": True}, roles=CA_ROLES)

    assert answer.code == "Authorization_RequestDenied"


async def test_an_enforced_policy_is_refused_while_security_defaults_are_on(
    graph: GraphClient,
) -> None:
    graph.ctx.directories[TENANT_A].security.set_security_defaults(True)

    enforced = await create(graph, policy("enabled"))
    report_only = await create(graph, policy())
    path = f"{POLICIES}/{report_only.body['id']}"
    enable = await graph.call("PATCH", path, json={"state": "enabled"}, roles=CA_ROLES)

    assert enforced.status == 400
    assert enforced.message.startswith("Security Defaults is enabled in the tenant")
    assert report_only.status == 201
    assert enable.status == 400


async def test_security_defaults_cannot_be_enabled_over_an_enforced_policy(
    graph: GraphClient,
) -> None:
    await create(graph, policy("enabled"))

    answer = await graph.call("PATCH", DEFAULTS, json={"isEnabled": True}, roles=DEFAULTS_ROLES)

    assert answer.status == 400
    assert graph.ctx.directories[TENANT_A].security.security_defaults is False


# --- role assignments ------------------------------------------------------------------------


async def test_role_assignments_filtered_by_role_definition(graph: GraphClient) -> None:
    answer = await graph.get(
        f"{ASSIGNMENTS}?$filter=roleDefinitionId eq '{GLOBAL_ADMIN}'",
        roles=["RoleManagement.Read.Directory"],
    )

    holders = {a["principalId"] for a in answer.body["value"]}
    adele = graph.ctx.directories[TENANT_A].find_user("adele@taaaaaaaa.onmicrosoft.com")
    assert adele is not None
    assert holders == {adele.id, BREAK_GLASS}
    assert set(answer.body["value"][0]) == {
        "id",
        "principalId",
        "roleDefinitionId",
        "directoryScopeId",
    }
    assert all(a["directoryScopeId"] == "/" for a in answer.body["value"])


async def test_role_assignments_filtered_by_principal(graph: GraphClient) -> None:
    answer = await graph.get(
        f"{ASSIGNMENTS}?$filter=principalId eq '{BREAK_GLASS}'", roles=["Directory.Read.All"]
    )

    assert [a["roleDefinitionId"] for a in answer.body["value"]] == [GLOBAL_ADMIN]


async def test_role_assignments_need_a_role_management_read_permission(
    graph: GraphClient,
) -> None:
    answer = await graph.get(ASSIGNMENTS, roles=["Policy.Read.All"])

    assert answer.code == "Authorization_RequestDenied"


async def test_role_assignments_refuse_a_filter_graph_does_not_support(
    graph: GraphClient,
) -> None:
    answer = await graph.get(
        f"{ASSIGNMENTS}?$filter=startswith(principalId,'0b')",
        roles=["Directory.Read.All"],
    )

    assert answer.status == 400


# --- scenario keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"conditional_access_policies": [{"displayName": "x"}]}, "conditional_access_policies"),
        ({"security_defaults": "yes"}, "security_defaults"),
        ({"role_assignments": [{"principal": "adele"}]}, "roleDefinitionId"),
        ({"role_assignments": [{"principal": "a", "roleDefinitionId": GLOBAL_ADMIN, "x": 1}]}, "x"),
    ],
)
def test_bad_security_scenario_keys_are_refused_when_read(
    spec: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        directory_from_scenario(spec)


def test_security_defaults_with_an_enforced_policy_are_refused_at_load() -> None:
    directory = directory_from_scenario(
        {"conditional_access_policies": [policy("enabled")], "security_defaults": True}
    )

    with pytest.raises(ValueError, match="security_defaults"):
        directory.security.policies()


def test_scenario_policies_get_stable_ids_and_graphs_defaults() -> None:
    first = directory_from_scenario({"conditional_access_policies": [policy()]}, tenant_id=TENANT_A)
    second = directory_from_scenario(
        {"conditional_access_policies": [policy()]}, tenant_id=TENANT_A
    )

    ids = [p["id"] for p in first.security.policies()]
    assert ids == [p["id"] for p in second.security.policies()]
    assert first.security.policies()[0]["conditions"]["users"]["includeRoles"] == []
