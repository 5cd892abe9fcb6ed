"""`stack` (session): function_app in the local host (devtools/devhost) on Azurite and the fake
cloud, as an operator sees it: its HTTP API, its queues, the host's counters. One per test run,
shared by every end-to-end test module (the app module and its process-wide clients are global).

The API is called as an operator holding all four app roles, with a bearer token the fake cloud
issued in the home tenant; `call(..., token=...)` calls it as someone else (`token=""`: no
token at all).

`receiver` (session): a local webhook receiver (devtools/receiver.py) both notification sinks
of the stack point at, the generic webhook and Teams, each URL with a token-like query that must
never show anywhere; it answers 200 unless a test tells it otherwise (and resets it after).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.azurite import Azurite, free_ports
from devtools.devhost.host import DevHost
from devtools.fakecloud import FakeCloud
from devtools.fakecloud.scenario import DEMO_ROLES
from devtools.receiver import TEAMS_PATH, WEBHOOK_PATH, Receiver

HOST_JSON = Path(__file__).with_name("host.test.json")
#: Every Graph permission a consented demo tenant grants (the fake cloud's demo roles).
ROLES = list(DEMO_ROLES)
GUESTS = {"generate": {"members": 2, "guests": 6, "stale_guests": 2, "seed": 7}}
OPERATOR = "operator@contoso.example"
#: In both sink URLs: what a webhook's token looks like, so tests can look for it everywhere.
SINK_SECRET = f"sig-{uuid.uuid4().hex}"
ALL_ROLES = ("xtenant.read", "xtenant.plan", "xtenant.apply", "xtenant.admin")


class Stack:
    """The running app as an operator sees it: its HTTP API, its queue, the host's counters."""

    def __init__(self, host: DevHost, azurite: Azurite, operator_token: str) -> None:
        self.host = host
        self.azurite = azurite
        self.http = httpx.AsyncClient(
            base_url=host.http_base_url, headers={"Authorization": f"Bearer {operator_token}"}
        )

    async def call(
        self, method: str, path: str, body: Any = None, *, token: str | None = None, **kw: Any
    ) -> httpx.Response:
        """Call the API as the operator, or with `token` (`""`: without any token)."""
        request = self.http.build_request(method, path, json=body, **kw)
        if token is not None:
            del request.headers["Authorization"]
            if token:
                request.headers["Authorization"] = f"Bearer {token}"
        return await self.http.send(request)

    async def register(self, tenant_id: str, enrolments: dict[str, Any] | None = None) -> None:
        body = {"name": f"t-{tenant_id[:8]}", "enabled": True, "enrolments": enrolments or {}}
        response = await self.call("PUT", f"/api/tenants/{tenant_id}", body)
        assert response.status_code in (200, 201), response.text

    async def clear_registry(self) -> None:
        for tenant in (await self.call("GET", "/api/tenants")).json()["tenants"]:
            await self.call("DELETE", f"/api/tenants/{tenant['tenant_id']}")

    async def run(self, job: str, tenants: list[str], mode: str = "apply", **params: Any) -> str:
        body = {"job": job, "mode": mode, "tenants": tenants, "params": params}
        response = await self.call("POST", "/api/runs", body)
        assert response.status_code == 202, response.text
        return str(response.json()["run_id"])

    async def status(self, run_id: str) -> dict[str, Any]:
        response = await self.call("GET", f"/api/runs/{run_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def queue(self, name: str) -> Any:
        from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy
        from azure.storage.queue.aio import QueueClient

        return QueueClient.from_connection_string(
            self.azurite.connection_string,
            name,
            message_encode_policy=TextBase64EncodePolicy(),
            message_decode_policy=TextBase64DecodePolicy(),
        )


@pytest.fixture(scope="session")
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as running:
        yield running


@pytest.fixture(scope="session")
async def stack(fakecloud: FakeCloud, azurite: Azurite, receiver: Receiver) -> AsyncIterator[Stack]:
    [port] = free_ports(1)
    settings = fakecloud.app_env() | {
        "AzureWebJobsStorage": azurite.connection_string,
        "SCHEDULE": "0 0 2 * * *",
        # most tests start apply runs over a few tenants without a second operator; the
        # approval tests lower it (tests/integration/test_rollout.py)
        "XTENANT_APPROVAL_ABOVE": "1000",
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "XTENANT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "XTENANT_WEBHOOK_URL": f"{receiver.url(WEBHOOK_PATH)}?sig={SINK_SECRET}",
        "XTENANT_TEAMS_WEBHOOK_URL": f"{receiver.url(TEAMS_PATH)}?sig={SINK_SECRET}",
        "XTENANT_WEBHOOK_TIMEOUT_SECONDS": "1",
    }
    host = DevHost("function_app", settings=settings, host_json=HOST_JSON, http_port=port)
    token = fakecloud.operator_token(OPERATOR, ALL_ROLES)
    async with host:
        running = Stack(host, azurite, token)
        yield running
        await running.http.aclose()
        import function_app

        await function_app.shutdown()


def new_tenant(cloud: FakeCloud, state: str = "consented", **graph: Any) -> str:
    tenant_id = str(uuid.uuid4())
    cloud.set_tenant(tenant_id, state=state, roles=ROLES, graph=graph or dict(GUESTS))
    return tenant_id
