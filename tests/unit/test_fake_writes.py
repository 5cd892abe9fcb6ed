"""The Graph emulator counts every applied write per object, so duplicate writes show."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from devtools.fakecloud.faults import Fault, FaultBook
from devtools.fakecloud.graph import GraphContext, create_graph_app, directory_from_scenario
from devtools.fakecloud.requestlog import RequestLog
from devtools.fakecloud.tokens import SigningKey
from tests.unit.fake_graph_support import AUDIENCE, DOMAIN_A, SPEC_A, TENANT_A, GraphClient

GROUP = {
    "displayName": "Helpdesk",
    "mailNickname": "helpdesk",
    "securityEnabled": True,
    "mailEnabled": False,
}
POLICY = "/v1.0/policies/authorizationPolicy"


@pytest.fixture
async def graph() -> AsyncIterator[GraphClient]:
    key = SigningKey()
    directories = {TENANT_A: directory_from_scenario(SPEC_A)}
    ctx = GraphContext(key, AUDIENCE, FaultBook(), RequestLog(), directories)
    async with TestClient(TestServer(create_graph_app(ctx))) as client:
        yield GraphClient(client, key, ctx)


async def test_a_second_create_of_the_same_mail_nickname_is_a_duplicate_write(
    graph: GraphClient,
) -> None:
    await graph.call("POST", "/v1.0/groups", json=GROUP)
    await graph.call("POST", "/v1.0/groups", json=GROUP | {"mailNickname": "HELPDESK"})
    await graph.call("POST", "/v1.0/groups", json=GROUP | {"mailNickname": "other"})

    writes = graph.ctx.writes.summary()

    assert writes["creates"] == 3
    assert writes["duplicate_writes"] == 1
    assert writes["duplicates"] == [
        {
            "tenant_id": TENANT_A,
            "kind": "create",
            "target": "group:helpdesk",
            "body": "",
            "count": 2,
        }
    ]


async def test_the_same_patch_applied_twice_is_a_duplicate_and_a_new_body_is_not(
    graph: GraphClient,
) -> None:
    await graph.call("PATCH", POLICY, json={"allowInvitesFrom": "none"})
    await graph.call("PATCH", POLICY, json={"allowInvitesFrom": "none"})
    await graph.call("PATCH", POLICY, json={"allowInvitesFrom": "everyone"})
    await graph.call("PATCH", f"/v1.0/users/alex@{DOMAIN_A}", json={"accountEnabled": False})

    writes = graph.ctx.writes.summary()

    assert writes["patches"] == 4
    assert [(d["target"], d["body"], d["count"]) for d in writes["duplicates"]] == [
        ("authorizationPolicy", '{"allowInvitesFrom":"none"}', 2)
    ]


async def test_a_refused_write_is_not_counted(graph: GraphClient) -> None:
    graph.ctx.faults.add(Fault(service="graph", kind="status", status=503, count=1))

    refused = await graph.call("PATCH", POLICY, json={"allowInvitesFrom": "none"})
    applied = await graph.call("PATCH", POLICY, json={"allowInvitesFrom": "none"})

    assert (refused.status, applied.status) == (503, 204)
    assert graph.ctx.writes.summary()["duplicate_writes"] == 0


async def test_writes_are_counted_when_they_arrive_and_when_they_are_answered(
    graph: GraphClient,
) -> None:
    await graph.call("PATCH", POLICY, json={"allowInvitesFrom": "none"})
    await graph.get(POLICY)

    counters = graph.ctx.log.snapshot()

    assert counters["graph.writes.started"] == counters["graph.writes.answered"] == 1
