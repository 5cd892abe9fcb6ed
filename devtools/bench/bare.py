"""The floor: a bare client sending the requests a guest-cleanup sends, nothing more.

No SDK, no retries, no records: one MI request, then per tenant a token request, the guest page
(parsed with `json`, which any client needs to find the ids) and one `$batch` of PATCHes.
`bare` (httpx) gives f, the CPU per request the issue's limit is defined with; `bare-aiohttp`
the same with aiohttp, the cheapest Python HTTPS client here, for a tighter floor beside it.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import httpx

from devtools.bench.probe import PhaseResult, Probe

_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_SELECT = "id,userPrincipalName,mail,accountEnabled,createdDateTime,signInActivity"
STALE_DAYS = 90


class BareClient:
    """The requests themselves; a subclass says which HTTP client sends them."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.graph = env["GRAPH_ENDPOINT"]
        self.assertion = ""
        self.requests = 0

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        body: Any = None,
        login: bool = False,
    ) -> Any:
        """Send one request on the login or the Graph pool; its JSON answer (None if empty)."""
        raise NotImplementedError

    async def _json(self, method: str, url: str, **options: Any) -> Any:
        self.requests += 1
        return await self.send(method, url, **options)

    async def managed_identity(self) -> None:
        answer = await self._json(
            "GET",
            self.env["IDENTITY_ENDPOINT"],
            params={
                "api-version": "2019-08-01",
                "resource": "api://AzureADTokenExchange",
                "client_id": self.env["AZURE_CLIENT_ID"],
            },
            headers={"X-IDENTITY-HEADER": self.env["IDENTITY_HEADER"]},
        )
        self.assertion = answer["access_token"]

    async def token(self, tenant_id: str) -> str:
        form = {
            "client_assertion": self.assertion,
            "client_assertion_type": _ASSERTION_TYPE,
            "client_id": self.env["APP_CLIENT_ID"],
            "grant_type": "client_credentials",
            "scope": f"{self.graph}/.default",
        }
        url = f"{self.env['AZURE_AUTHORITY_HOST']}/{tenant_id}/oauth2/v2.0/token"
        answer = await self._json("POST", url, form=form, headers={}, login=True)
        return str(answer["access_token"])

    async def guest_cleanup(self, tenant_id: str, now: datetime) -> int:
        auth = {"Authorization": f"Bearer {await self.token(tenant_id)}"}
        query = {"$filter": "userType eq 'Guest'", "$select": _SELECT, "$top": "999"}
        page = await self._json("GET", f"{self.graph}/v1.0/users", params=query, headers=auth)
        users = page["value"]
        stale = [u["id"] for u in users if u["accountEnabled"] and _stale(u, now)]
        if stale:
            batch = {"requests": _patches(stale)}
            await self._json("POST", f"{self.graph}/v1.0/$batch", body=batch, headers=auth)
        return len(users)

    async def close(self) -> None:
        raise NotImplementedError


class BareHttpx(BareClient):
    """httpx with one pool per origin (login, Graph), each as large as the concurrency: no
    request waits for a connection, none is closed to make room for the other origin's."""

    def __init__(self, env: Mapping[str, str], *, concurrency: int) -> None:
        super().__init__(env)
        context = ssl.create_default_context(cafile=env["SSL_CERT_FILE"])
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.login = httpx.AsyncClient(verify=context, limits=limits, timeout=60)
        self.http = httpx.AsyncClient(verify=context, limits=limits, timeout=60)

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        body: Any = None,
        login: bool = False,
    ) -> Any:
        client = self.login if login else self.http
        response = await client.request(
            method, url, params=params, data=form, json=body, headers=headers
        )
        content = response.raise_for_status().content
        return json.loads(content) if content else None

    async def close(self) -> None:
        await self.login.aclose()
        await self.http.aclose()


class BareAiohttp(BareClient):
    """aiohttp, one pool of `concurrency` connections per host: the cheapest Python client."""

    def __init__(self, env: Mapping[str, str], *, concurrency: int) -> None:
        super().__init__(env)
        context = ssl.create_default_context(cafile=env["SSL_CERT_FILE"])
        connector = aiohttp.TCPConnector(ssl=context, limit=0, limit_per_host=concurrency)
        self.session = aiohttp.ClientSession(connector=connector)

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        body: Any = None,
        login: bool = False,
    ) -> Any:
        async with self.session.request(
            method, url, params=params, data=form, json=body, headers=headers
        ) as response:
            response.raise_for_status()
            content = await response.read()
        return json.loads(content) if content else None

    async def close(self) -> None:
        await self.session.close()


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
    client_kind: str = "httpx",
) -> PhaseResult:
    kind = BareAiohttp if client_kind == "aiohttp" else BareHttpx
    client: BareClient = kind(env, concurrency=concurrency)
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
