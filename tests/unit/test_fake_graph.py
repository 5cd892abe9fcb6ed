"""The Graph v1.0 emulator, seen from a client: shapes, queries, permissions, faults, $batch."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from devtools.fakecloud.faults import Fault, FaultBook, FaultKind
from devtools.fakecloud.graph import GraphContext, create_graph_app, directory_from_scenario
from devtools.fakecloud.graph.filter_parser import Comparison, Junction, parse_filter
from devtools.fakecloud.graph.pipeline import parse_retry_after
from devtools.fakecloud.requestlog import RequestLog
from devtools.fakecloud.tokens import SigningKey
from tests.unit.fake_graph_support import (
    AS_OF,
    AUDIENCE,
    DOMAIN_A,
    READ_ROLES,
    SPEC_A,
    SPEC_B,
    SPEC_BIG,
    TENANT_A,
    TENANT_B,
    TENANT_BIG,
    GraphClient,
)

GUEST_UPN = f"grady_fabrikam.com#EXT#@{DOMAIN_A}"


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return SigningKey()


@pytest.fixture
async def graph(signing_key: SigningKey) -> AsyncIterator[GraphClient]:
    directories = {
        TENANT_A: directory_from_scenario(SPEC_A),
        TENANT_B: directory_from_scenario(SPEC_B),
        TENANT_BIG: directory_from_scenario(SPEC_BIG),
    }
    ctx = GraphContext(signing_key, AUDIENCE, FaultBook(), RequestLog(), directories)
    async with TestClient(TestServer(create_graph_app(ctx))) as client:
        yield GraphClient(client, signing_key, ctx)


def add_fault(graph: GraphClient, kind: FaultKind, **fields: Any) -> None:
    graph.ctx.faults.add(Fault(service="graph", kind=kind, tenant_id=TENANT_A, **fields))


# --- listing users --------------------------------------------------------------------------


async def test_paging_2500_users_with_select_filter_and_top_returns_each_guest_once(
    graph: GraphClient,
) -> None:
    pages = await graph.pages(
        "/v1.0/users?$select=id,userPrincipalName&$filter=userType eq 'Guest'&$top=999",
        tenant=TENANT_BIG,
    )

    assert [len(p.body["value"]) for p in pages] == [999, 999, 2]
    users = [u for p in pages for u in p.body["value"]]
    assert len({u["id"] for u in users}) == 2000
    assert all(set(u) == {"id", "userPrincipalName"} for u in users)
    assert all("#EXT#" in u["userPrincipalName"] for u in users)
    assert "$select=id,userPrincipalName" in pages[0].body["@odata.nextLink"]
    assert "$filter=userType%20eq%20'Guest'" in pages[0].body["@odata.nextLink"]


async def test_default_page_is_100_users_with_graphs_default_properties(
    graph: GraphClient,
) -> None:
    answer = await graph.get("/v1.0/users", tenant=TENANT_BIG)

    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.headers["request-id"]
    assert answer.body["@odata.context"] == f"{AUDIENCE}/v1.0/$metadata#users"
    assert len(answer.body["value"]) == 100
    assert set(answer.body["value"][0]) == {
        "id", "businessPhones", "displayName", "givenName", "jobTitle", "mail",
        "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName",
    }  # fmt: skip


async def test_select_returns_exactly_the_selected_properties(graph: GraphClient) -> None:
    answer = await graph.get("/v1.0/users?$select=displayName,accountEnabled,createdDateTime")

    assert answer.body["@odata.context"].endswith(
        "#users(displayName,accountEnabled,createdDateTime)"
    )
    alex = next(u for u in answer.body["value"] if u["displayName"] == "Alex Wilber")
    assert alex == {
        "displayName": "Alex Wilber",
        "accountEnabled": False,
        "createdDateTime": "2025-06-01T00:00:00Z",
    }


async def test_top_beyond_999_is_refused(graph: GraphClient) -> None:
    answer = await graph.get("/v1.0/users?$top=1000")

    assert answer.status == 400
    assert answer.code == "Request_UnsupportedQuery"


@pytest.mark.parametrize(
    ("expression", "expected_upns"),
    [
        ("accountEnabled eq false", {"alex"}),
        ("startswith(displayName,'a')", {"adele", "alex"}),
        ("userType eq 'guest' and createdDateTime ge 2026-01-01T00:00:00Z", {"megan"}),
        ("displayName eq 'Adele Vance' or mail eq 'grady@fabrikam.com'", {"adele", "grady"}),
        (f"userPrincipalName in ('alex@{DOMAIN_A}', 'nobody@x.test')", {"alex"}),
        ("createdDateTime le 2024-01-10T08:00:00Z", {"adele", "grady"}),
        ("signInActivity/lastSignInDateTime le 2026-02-01T00:00:00Z", {"alex", "grady"}),
    ],
)
async def test_filter_selects_matching_users(
    graph: GraphClient, expression: str, expected_upns: set[str]
) -> None:
    answer = await graph.get(f"/v1.0/users?$select=userPrincipalName&$filter={expression}")

    assert answer.status == 200, answer.body
    found = {u["userPrincipalName"].split("_")[0].split("@")[0] for u in answer.body["value"]}
    assert found == expected_upns


@pytest.mark.parametrize(
    ("expression", "code"),
    [
        ("contains(displayName,'a')", "Request_UnsupportedQuery"),
        ("createdDateTime gt 2024-01-01T00:00:00Z", "Request_UnsupportedQuery"),
        ("userType ne 'Guest'", "Request_UnsupportedQuery"),
        ("endswith(mail,'@fabrikam.com')", "Request_UnsupportedQuery"),
        ("businessPhones eq '1'", "Request_UnsupportedQuery"),
        (
            "userType eq 'Guest' and signInActivity/lastSignInDateTime le 2026-01-01",
            "Request_UnsupportedQuery",
        ),
        ("shoeSize eq 42", "BadRequest"),
        ("displayName eq", "BadRequest"),
        ("createdDateTime le '2024-01-01T00:00:00Z'", "BadRequest"),
        ("frobnicate(displayName,'a')", "BadRequest"),
    ],
)
async def test_filter_graph_does_not_support_is_a_400(
    graph: GraphClient, expression: str, code: str
) -> None:
    answer = await graph.get(f"/v1.0/users?$filter={expression}")

    assert answer.status == 400
    assert answer.code == code
    assert answer.body["error"]["innerError"]["request-id"] == answer.headers["request-id"]


async def test_ne_works_as_an_advanced_query_and_counts_matches(graph: GraphClient) -> None:
    answer = await graph.get(
        "/v1.0/users?$filter=userType ne 'Guest'&$count=true&$select=displayName",
        headers={"ConsistencyLevel": "eventual"},
    )

    assert answer.status == 200
    assert answer.body["@odata.count"] == 2
    assert {u["displayName"] for u in answer.body["value"]} == {"Adele Vance", "Alex Wilber"}


async def test_sign_in_activity_filter_pages_at_most_120_users(graph: GraphClient) -> None:
    pages = await graph.pages(
        "/v1.0/users?$select=id,signInActivity"
        "&$filter=signInActivity/lastSignInDateTime le 2026-05-01T00:00:00Z&$top=999",
        tenant=TENANT_BIG,
    )

    assert [len(p.body["value"]) for p in pages] == [120, 120, 60]
    last = {u["signInActivity"]["lastSignInDateTime"] for p in pages for u in p.body["value"]}
    assert max(last) < "2026-05-01"


async def test_never_signed_in_users_have_null_sign_in_activity(graph: GraphClient) -> None:
    answer = await graph.get(
        f"/v1.0/users/megan_fabrikam.com%23EXT%23@{DOMAIN_A}?$select=signInActivity"
    )

    assert answer.status == 200
    assert answer.body["signInActivity"] is None


# --- authentication, authorisation, isolation -------------------------------------------------


@pytest.mark.parametrize(
    ("token_kind", "message"),
    [
        ("none", "Access token is empty."),
        ("garbage", "Access token validation failure."),
        ("foreign key", "Access token validation failure."),
        ("expired", "Lifetime validation failed, the token is expired."),
        ("other audience", "Access token validation failure. Invalid audience."),
        ("unknown tenant", "Access token validation failure: tenant not known."),
    ],
)
async def test_bad_tokens_are_refused_with_401(
    graph: GraphClient, token_kind: str, message: str
) -> None:
    token = {
        "none": "",
        "garbage": "not-a-jwt",
        "foreign key": graph.token(key=SigningKey()),
        "expired": graph.token(lifetime_s=-60),
        "other audience": graph.token(audience="https://graph.microsoft.com"),
        "unknown tenant": graph.token(tenant="dddddddd-4444-4444-8444-444444444444"),
    }[token_kind]

    answer = await graph.get("/v1.0/users", token=token)

    assert answer.status == 401
    assert answer.code == "InvalidAuthenticationToken"
    assert answer.message == message
    assert "WWW-Authenticate" in answer.headers


async def test_missing_permission_is_403_authorization_request_denied(graph: GraphClient) -> None:
    answer = await graph.get("/v1.0/users", roles=["Group.Read.All"])

    assert answer.status == 403
    assert answer.code == "Authorization_RequestDenied"
    assert answer.message == "Insufficient privileges to complete the operation."


async def test_sign_in_activity_needs_audit_log_permission(graph: GraphClient) -> None:
    answer = await graph.get("/v1.0/users?$select=signInActivity", roles=["User.Read.All"])

    assert answer.status == 403
    assert answer.code == "Authorization_RequestDenied"


async def test_a_tenant_sees_only_its_own_directory(graph: GraphClient) -> None:
    mine = await graph.get("/v1.0/users?$select=userPrincipalName", tenant=TENANT_B)
    adele = await graph.get(f"/v1.0/users/adele@{DOMAIN_A}", tenant=TENANT_B)

    assert [u["userPrincipalName"] for u in mine.body["value"]] == ["bob@fabrikam.test"]
    assert adele.status == 404
    assert adele.code == "Request_ResourceNotFound"


async def test_unlicensed_tenant_refuses_sign_in_activity_until_licensed(
    graph: GraphClient,
) -> None:
    refused = await graph.get("/v1.0/users?$select=signInActivity", tenant=TENANT_B)
    graph.ctx.directories[TENANT_B].set_sign_in_licensed(True)
    allowed = await graph.get("/v1.0/users?$select=signInActivity", tenant=TENANT_B)

    assert refused.status == 403
    assert refused.code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
    assert refused.message == "Neither tenant is B2C or tenant doesn't have premium license"
    assert allowed.status == 200


async def test_no_sign_in_licence_fault_refuses_sign_in_activity_only(graph: GraphClient) -> None:
    add_fault(graph, kind="no_sign_in_licence", count=2)

    plain = await graph.get("/v1.0/users?$select=displayName")
    refused = await graph.get("/v1.0/users?$select=signInActivity")

    assert plain.status == 200
    assert refused.code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"


# --- single users ---------------------------------------------------------------------------


async def test_user_is_found_by_upn_and_updated_by_id(graph: GraphClient) -> None:
    grady = await graph.get(f"/v1.0/users/{GUEST_UPN.replace('#', '%23')}")

    patched = await graph.call(
        "PATCH", f"/v1.0/users/{grady.body['id']}", json={"accountEnabled": False}
    )
    after = await graph.get(f"/v1.0/users/{grady.body['id']}?$select=accountEnabled")

    assert grady.body["@odata.context"] == f"{AUDIENCE}/v1.0/$metadata#users/$entity"
    assert grady.body["userPrincipalName"] == GUEST_UPN
    assert patched.status == 204
    assert after.body["accountEnabled"] is False
    assert graph.ctx.log.snapshot()["graph.patches"] == 1
    assert not graph.ctx.directories[TENANT_A].users_by_upn()[GUEST_UPN].account_enabled


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"favouriteColour": "blue"}, "Request_BadRequest"),
        ({"accountEnabled": "no"}, "Request_BadRequest"),
        ({"createdDateTime": "2020-01-01T00:00:00Z"}, "Request_BadRequest"),
    ],
)
async def test_patching_a_user_with_bad_properties_is_a_400(
    graph: GraphClient, body: dict[str, object], code: str
) -> None:
    answer = await graph.call("PATCH", f"/v1.0/users/alex@{DOMAIN_A}", json=body)

    assert answer.status == 400
    assert answer.code == code


async def test_unknown_user_is_404(graph: GraphClient) -> None:
    answer = await graph.call(
        "PATCH", "/v1.0/users/00000000-0000-0000-0000-000000000000", json={"displayName": "x"}
    )

    assert answer.status == 404
    assert answer.code == "Request_ResourceNotFound"


async def test_patching_needs_a_write_permission(graph: GraphClient) -> None:
    answer = await graph.call(
        "PATCH", f"/v1.0/users/alex@{DOMAIN_A}", json={"displayName": "A"}, roles=READ_ROLES
    )

    assert answer.status == 403


async def test_unknown_segments_and_methods_answer_like_graph(graph: GraphClient) -> None:
    unknown = await graph.get("/v1.0/usres")
    wrong_method = await graph.call("DELETE", "/v1.0/users")
    beta = await graph.get("/beta/users")

    assert (unknown.status, unknown.message) == (400, "Resource not found for the segment 'usres'.")
    assert wrong_method.status == 405
    assert beta.status == 400


# --- groups and membership --------------------------------------------------------------------

NEW_GROUP = {
    "displayName": "Guests - stale",
    "mailNickname": "guests-stale",
    "description": "Created by a job",
    "securityEnabled": True,
    "mailEnabled": False,
}


async def test_creating_a_group_answers_201_with_the_group(graph: GraphClient) -> None:
    created = await graph.call("POST", "/v1.0/groups", json=NEW_GROUP)
    found = await graph.get("/v1.0/groups?$filter=mailNickname eq 'guests-stale'&$select=id")

    assert created.status == 201
    assert created.body["@odata.context"] == f"{AUDIENCE}/v1.0/$metadata#groups/$entity"
    assert created.body["mailNickname"] == "guests-stale"
    assert created.body["securityEnabled"] is True
    assert found.body["value"] == [{"id": created.body["id"]}]
    counters = graph.ctx.log.snapshot()
    assert counters["graph.creates.groups"] == 1
    assert "graph.duplicate_creates" not in counters


async def test_creating_a_group_with_a_taken_mail_nickname_succeeds_but_is_counted(
    graph: GraphClient,
) -> None:
    first = await graph.call("POST", "/v1.0/groups", json=NEW_GROUP)
    second = await graph.call("POST", "/v1.0/groups", json=NEW_GROUP)

    assert (first.status, second.status) == (201, 201)
    assert first.body["id"] != second.body["id"]
    assert graph.ctx.log.snapshot()["graph.duplicate_creates"] == 1
    assert len(graph.ctx.directories[TENANT_A].groups()) == 3


@pytest.mark.parametrize("missing", ["displayName", "mailNickname", "securityEnabled"])
async def test_creating_a_group_without_a_required_property_is_a_400(
    graph: GraphClient, missing: str
) -> None:
    body = {k: v for k, v in NEW_GROUP.items() if k != missing}

    answer = await graph.call("POST", "/v1.0/groups", json=body)

    assert answer.status == 400
    assert (
        answer.message == f"Invalid value specified for property '{missing}' of resource 'Group'."
    )


async def test_group_create_permission_allows_creating_but_not_updating(graph: GraphClient) -> None:
    created = await graph.call("POST", "/v1.0/groups", json=NEW_GROUP, roles=["Group.Create"])
    update = await graph.call(
        "PATCH",
        f"/v1.0/groups/{created.body['id']}",
        json={"description": "x"},
        roles=["Group.Create"],
    )

    assert created.status == 201
    assert update.status == 403


async def test_group_update_changes_description(graph: GraphClient) -> None:
    created = await graph.call("POST", "/v1.0/groups", json=NEW_GROUP)
    group_url = f"/v1.0/groups/{created.body['id']}"

    patched = await graph.call("PATCH", group_url, json={"description": "Reviewed"})
    after = await graph.get(f"{group_url}?$select=description")

    assert patched.status == 204
    assert after.body["description"] == "Reviewed"


async def test_members_are_added_listed_and_removed_by_ref(graph: GraphClient) -> None:
    group = (await graph.call("POST", "/v1.0/groups", json=NEW_GROUP)).body
    grady = graph.ctx.directories[TENANT_A].users_by_upn()[GUEST_UPN]
    ref = {"@odata.id": f"{AUDIENCE}/v1.0/directoryObjects/{grady.id}"}
    members_url = f"/v1.0/groups/{group['id']}/members"

    added = await graph.call("POST", f"{members_url}/$ref", json=ref)
    again = await graph.call("POST", f"{members_url}/$ref", json=ref)
    listed = await graph.get(f"{members_url}?$select=id,userPrincipalName")
    removed = await graph.call("DELETE", f"{members_url}/{grady.id}/$ref")
    absent = await graph.call("DELETE", f"{members_url}/{grady.id}/$ref")

    assert added.status == 204
    assert again.status == 400
    assert again.message == (
        "One or more added object references already exist for the following modified "
        "properties: 'members'."
    )
    assert listed.body["value"] == [
        {"@odata.type": "#microsoft.graph.user", "id": grady.id, "userPrincipalName": GUEST_UPN}
    ]
    assert removed.status == 204
    assert absent.status == 404


async def test_members_are_paged_as_directory_objects(graph: GraphClient) -> None:
    group = await graph.get("/v1.0/groups?$filter=mailNickname eq 'sales'&$select=id")
    members_url = f"/v1.0/groups/{group.body['value'][0]['id']}/members?$top=1"

    pages = await graph.pages(members_url)

    assert [len(p.body["value"]) for p in pages] == [1, 1]
    assert pages[0].body["@odata.context"] == f"{AUDIENCE}/v1.0/$metadata#directoryObjects"
    names = {p.body["value"][0]["displayName"] for p in pages}
    assert names == {"Adele Vance", "Alex Wilber"}


async def test_group_created_with_bound_members_lists_them(graph: GraphClient) -> None:
    adele = graph.ctx.directories[TENANT_A].users_by_upn()[f"adele@{DOMAIN_A}"]
    body = NEW_GROUP | {"members@odata.bind": [f"{AUDIENCE}/v1.0/directoryObjects/{adele.id}"]}

    created = await graph.call("POST", "/v1.0/groups", json=body)
    members = await graph.get(f"/v1.0/groups/{created.body['id']}/members?$select=displayName")

    assert created.status == 201
    assert members.body["value"] == [
        {"@odata.type": "#microsoft.graph.user", "displayName": "Adele Vance"}
    ]


async def test_members_without_user_read_permission_show_only_type_and_id(
    graph: GraphClient,
) -> None:
    group = await graph.get("/v1.0/groups?$filter=displayName eq 'Sales'&$select=id")

    members = await graph.get(
        f"/v1.0/groups/{group.body['value'][0]['id']}/members", roles=["GroupMember.Read.All"]
    )

    assert members.status == 200
    assert all(set(m) == {"@odata.type", "id"} for m in members.body["value"])


async def test_member_write_permission_is_needed_to_add_members(graph: GraphClient) -> None:
    group = (await graph.call("POST", "/v1.0/groups", json=NEW_GROUP)).body
    ref = {"@odata.id": f"{AUDIENCE}/v1.0/directoryObjects/{group['id']}"}

    answer = await graph.call(
        "POST", f"/v1.0/groups/{group['id']}/members/$ref", json=ref, roles=READ_ROLES
    )

    assert answer.code == "Authorization_RequestDenied"


# --- authorization policy ---------------------------------------------------------------------


async def test_authorization_policy_patch_merges_nested_permissions(graph: GraphClient) -> None:
    before = await graph.get("/v1.0/policies/authorizationPolicy")
    patched = await graph.call(
        "PATCH",
        "/v1.0/policies/authorizationPolicy",
        json={
            "allowInvitesFrom": "adminsAndGuestInviters",
            "defaultUserRolePermissions": {"allowedToCreateSecurityGroups": False},
        },
    )
    after = await graph.get("/v1.0/policies/authorizationPolicy")

    assert before.body["id"] == "authorizationPolicy"
    assert before.body["allowInvitesFrom"] == "everyone"
    assert patched.status == 204
    assert after.body["allowInvitesFrom"] == "adminsAndGuestInviters"
    permissions = after.body["defaultUserRolePermissions"]
    assert permissions["allowedToCreateSecurityGroups"] is False
    assert permissions["allowedToCreateApps"] is True
    assert (
        permissions["permissionGrantPoliciesAssigned"]
        == before.body["defaultUserRolePermissions"]["permissionGrantPoliciesAssigned"]
    )


async def test_authorization_policy_refuses_unknown_values(graph: GraphClient) -> None:
    answer = await graph.call(
        "PATCH", "/v1.0/policies/authorizationPolicy", json={"allowInvitesFrom": "anyone"}
    )

    assert answer.status == 400
    policy = graph.ctx.directories[TENANT_A].authorization_policy()
    assert policy["allowInvitesFrom"] == "everyone"


async def test_authorization_policy_read_permission_cannot_patch(graph: GraphClient) -> None:
    read = await graph.get("/v1.0/policies/authorizationPolicy", roles=["Policy.Read.All"])
    write = await graph.call(
        "PATCH",
        "/v1.0/policies/authorizationPolicy",
        json={"blockMsolPowerShell": True},
        roles=["Policy.Read.All"],
    )

    assert read.status == 200
    assert write.code == "Authorization_RequestDenied"


# --- $batch ------------------------------------------------------------------------------------


def batch_get(request_id: str, url: str, depends_on: list[str] | None = None) -> dict[str, object]:
    request: dict[str, object] = {"id": request_id, "method": "GET", "url": url}
    if depends_on:
        request["dependsOn"] = depends_on
    return request


async def test_batch_with_more_than_20_requests_is_refused(graph: GraphClient) -> None:
    requests = [batch_get(str(i), "/users") for i in range(21)]

    answer = await graph.call("POST", "/v1.0/$batch", json={"requests": requests})

    assert answer.status == 400
    assert answer.code == "BadRequest"


async def test_batch_answers_each_request_and_424_when_a_dependency_failed(
    graph: GraphClient,
) -> None:
    requests = [
        batch_get("1", "users/00000000-0000-0000-0000-000000000000"),
        batch_get("2", "/users?$select=displayName", depends_on=["1"]),
        batch_get("3", f"/users/alex@{DOMAIN_A}?$select=displayName"),
    ]

    answer = await graph.call("POST", "/v1.0/$batch", json={"requests": requests})

    assert answer.status == 200
    by_id = {r["id"]: r for r in answer.body["responses"]}
    assert by_id["1"]["status"] == 404
    assert by_id["2"]["status"] == 424
    assert by_id["3"]["status"] == 200
    assert by_id["3"]["body"]["displayName"] == "Alex Wilber"
    assert graph.ctx.log.snapshot()["graph.batch_subrequests"] == 3


async def test_batch_throttles_only_the_sub_request_the_fault_targets(graph: GraphClient) -> None:
    add_fault(graph, kind="status", status=429, retry_after="7", path_contains="/groups", count=1)
    requests = [batch_get("users", "/users?$select=id"), batch_get("groups", "/groups")]

    answer = await graph.call("POST", "/v1.0/$batch", json={"requests": requests})

    by_id = {r["id"]: r for r in answer.body["responses"]}
    assert answer.status == 200
    assert by_id["users"]["status"] == 200
    assert by_id["groups"]["status"] == 429
    assert by_id["groups"]["headers"]["Retry-After"] == "7"
    assert by_id["groups"]["body"]["error"]["code"] == "TooManyRequests"


async def test_batch_runs_writes_with_their_own_permissions(graph: GraphClient) -> None:
    alex = graph.ctx.directories[TENANT_A].users_by_upn()[f"alex@{DOMAIN_A}"]
    patch = {
        "id": "p",
        "method": "PATCH",
        "url": f"/users/{alex.id}",
        "headers": {"Content-Type": "application/json"},
        "body": {"displayName": "Alex W."},
    }

    denied = await graph.call("POST", "/v1.0/$batch", json={"requests": [patch]}, roles=READ_ROLES)
    done = await graph.call("POST", "/v1.0/$batch", json={"requests": [patch]})

    assert denied.body["responses"][0]["status"] == 403
    assert done.body["responses"][0]["status"] == 204
    assert graph.ctx.directories[TENANT_A].users_by_upn()[
        alex.user_principal_name
    ].display_name == ("Alex W.")


async def test_batch_write_without_content_type_is_refused(graph: GraphClient) -> None:
    patch = {"id": "p", "method": "PATCH", "url": "/users/x", "body": {"displayName": "x"}}

    answer = await graph.call("POST", "/v1.0/$batch", json={"requests": [patch]})

    assert answer.status == 400
    assert answer.message == "Write request id : p does not contain Content-Type header or body."


# --- faults ------------------------------------------------------------------------------------


async def test_throttled_tenant_gets_429_with_retry_after_and_early_retry_is_counted(
    graph: GraphClient,
) -> None:
    add_fault(graph, kind="status", status=429, retry_after="30", count=1)

    throttled = await graph.get("/v1.0/users")
    too_soon = await graph.get("/v1.0/users")
    other_tenant = await graph.get("/v1.0/users", tenant=TENANT_B)

    assert throttled.status == 429
    assert throttled.headers["Retry-After"] == "30"
    assert throttled.code == "TooManyRequests"
    assert too_soon.status == 200
    assert other_tenant.status == 200
    assert graph.ctx.log.snapshot()["graph.early_retries"] == 1
    assert [r.early_retry for r in graph.ctx.log.select(tenant_id=TENANT_A)] == [False, True]


async def test_graph_error_fault_answers_its_status_and_code(graph: GraphClient) -> None:
    add_fault(graph, kind="graph_error", status=503, code="serviceNotAvailable", count=1)

    answer = await graph.get("/v1.0/users")

    assert answer.status == 503
    assert answer.code == "serviceNotAvailable"
    assert "Retry-After" not in answer.headers


async def test_dropped_connection_gets_no_answer(graph: GraphClient) -> None:
    add_fault(graph, kind="drop", count=1)

    with pytest.raises(aiohttp.ServerDisconnectedError):
        await graph.get("/v1.0/users")
    recovered = await graph.get("/v1.0/users")

    assert recovered.status == 200
    assert graph.ctx.log.snapshot()["graph.status.0"] == 1


async def test_latency_fault_delays_the_answer(graph: GraphClient) -> None:
    add_fault(graph, kind="latency", latency_ms=150, count=1)

    started = time.monotonic()
    answer = await graph.get("/v1.0/users?$top=1")

    assert answer.status == 200
    assert time.monotonic() - started >= 0.15


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("2", 2.0), ("2.128", 2.128), ("soon", None)],
)
def test_retry_after_is_read_as_integer_fraction_or_nothing(
    value: str, seconds: float | None
) -> None:
    assert parse_retry_after(value) == seconds


def test_retry_after_http_date_is_read_as_seconds_from_now() -> None:
    value = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)

    seconds = parse_retry_after(value)

    assert seconds is not None
    assert 55 <= seconds <= 60


# --- scenario and parser ------------------------------------------------------------------------


def test_generated_tenant_is_deterministic_and_mixes_stale_and_never_signed_in_guests() -> None:
    first = directory_from_scenario(SPEC_BIG, tenant_id=TENANT_BIG).users()
    second = directory_from_scenario(SPEC_BIG, tenant_id=TENANT_BIG).users()

    guests = [u for u in first if u.user_type == "Guest"]
    cutoff = datetime.fromisoformat(AS_OF) - timedelta(days=200)
    assert [u.id for u in first] == [u.id for u in second]
    assert len(first) == 2500
    assert sum(1 for g in guests if g.sign_in is None) == 100
    last_sign_ins = [g.sign_in.last_sign_in for g in guests if g.sign_in]
    assert sum(1 for last in last_sign_ins if last and last <= cutoff) == 300
    assert guests[0].user_principal_name.endswith("#EXT#@tcccccccc.onmicrosoft.com")


def test_unknown_scenario_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="usres"):
        directory_from_scenario({"usres": []})


def test_and_binds_tighter_than_or() -> None:
    tree = parse_filter("a eq 1 or b eq 2 and c eq 3")

    assert isinstance(tree, Junction)
    assert tree.op == "or"
    assert isinstance(tree.left, Comparison)
    assert isinstance(tree.right, Junction)
    assert tree.right.op == "and"
