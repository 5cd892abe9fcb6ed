"""The floor: a bare `httpx` client sending the requests a guest-cleanup sends, nothing more.

No SDK, no retries, no records: one MI request, then per tenant a token request, the guest page
(parsed with `json`, which any client needs to find the ids) and one `$batch` of PATCHes. Its
CPU per request, `f`, is what an HTTPS request to this fake cloud costs a Python client here.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from devtools.bench.probe import PhaseResult, Probe

_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_SELECT = "id,userPrincipalName,mail,accountEnabled,createdDateTime,signInActivity"
STALE_DAYS = 90


class BareClient:
    def __init__(self, env: Mapping[str, str], *, concurrency: int) -> None:
        self.env = env
        context = ssl.create_default_context(cafile=env["SSL_CERT_FILE"])
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        # one pool per origin (login, Graph), each as large as the concurrency: no request
        # waits for a connection, none is closed to make room for the other origin's
        self.login = httpx.AsyncClient(verify=context, limits=limits, timeout=60)
        self.http = httpx.AsyncClient(verify=context, limits=limits, timeout=60)
        self.graph = env["GRAPH_ENDPOINT"]
        self.assertion = ""
        self.requests = 0

    async def managed_identity(self) -> None:
        response = await self.http.get(
            self.env["IDENTITY_ENDPOINT"],
            params={
                "api-version": "2019-08-01",
                "resource": "api://AzureADTokenExchange",
                "client_id": self.env["AZURE_CLIENT_ID"],
            },
            headers={"X-IDENTITY-HEADER": self.env["IDENTITY_HEADER"]},
        )
        self.requests += 1
        self.assertion = response.raise_for_status().json()["access_token"]

    async def token(self, tenant_id: str) -> str:
        form = {
            "client_assertion": self.assertion,
            "client_assertion_type": _ASSERTION_TYPE,
            "client_id": self.env["APP_CLIENT_ID"],
            "grant_type": "client_credentials",
            "scope": f"{self.graph}/.default",
        }
        url = f"{self.env['AZURE_AUTHORITY_HOST']}/{tenant_id}/oauth2/v2.0/token"
        response = await self.login.post(url, data=form)
        self.requests += 1
        return str(response.raise_for_status().json()["access_token"])

    async def guest_cleanup(self, tenant_id: str, now: datetime) -> int:
        auth = {"Authorization": f"Bearer {await self.token(tenant_id)}"}
        page = await self.http.get(
            f"{self.graph}/v1.0/users",
            params={"$filter": "userType eq 'Guest'", "$select": _SELECT, "$top": "999"},
            headers=auth,
        )
        self.requests += 1
        users = page.raise_for_status().json()["value"]
        stale = [u["id"] for u in users if u["accountEnabled"] and _stale(u, now)]
        if stale:
            response = await self.http.post(
                f"{self.graph}/v1.0/$batch", json={"requests": _patches(stale)}, headers=auth
            )
            self.requests += 1
            response.raise_for_status()
        return len(users)

    async def close(self) -> None:
        await self.login.aclose()
        await self.http.aclose()


def _stale(user: dict[str, Any], now: datetime) -> bool:
    activity = user.get("signInActivity") or {}
    seen = activity.get("lastSignInDateTime") or user.get("createdDateTime")
    return bool(seen) and datetime.fromisoformat(str(seen)) < now - timedelta(days=STALE_DAYS)


def _patches(ids: Sequence[str]) -> list[dict[str, Any]]:
    return [
        {
            "id": str(n),
            "method": "PATCH",
            "url": f"/users/{user_id}",
            "body": {"accountEnabled": False},
            "headers": {"Content-Type": "application/json"},
        }
        for n, user_id in enumerate(ids)
    ]


async def run_bare(
    env: Mapping[str, str],
    tenants: Sequence[str],
    concurrency: int,
    *,
    warmup: str,
    mark: Callable[[str], None],
) -> PhaseResult:
    client = BareClient(env, concurrency=concurrency)
    gate = asyncio.Semaphore(concurrency)
    now = datetime.now(UTC)
    await client.managed_identity()
    await client.guest_cleanup(warmup, now)
    mark("warm")
    client.requests = 0
    users = 0

    async def one(tenant_id: str) -> None:
        nonlocal users
        async with gate:
            read = await client.guest_cleanup(tenant_id, now)
            users += read

    with Probe() as probe:
        await asyncio.gather(*(one(t) for t in tenants))
    mark("end")
    await client.close()
    return probe.result(tenants=len(tenants), client_requests=client.requests, users_read=users)
