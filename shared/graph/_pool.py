"""The process-wide Graph pool: one connection pool for every tenant, one SDK client per tenant.

One pool serves every tenant (docs/decisions.md#shared-connection-pool), made on first use on
the running event loop (docs/decisions.md#event-loop). msgraph is imported when the first
tenant's client is built, not at import (docs/decisions.md#lazy-msgraph-import).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from shared.graph._retry import RetryBudget, RetryPolicy, ThrottleGate
from shared.graph._sdk import http_client
from shared.graph._session import GraphSession
from shared.identity import MAX_CACHED_TENANTS, TenantCredentialCache
from shared.ids import validate_tenant_id
from shared.settings import Settings
from shared.tls import client_ssl_context

if TYPE_CHECKING:
    from shared.graph._transport import AiohttpTransport


@dataclass(frozen=True)
class GraphOptions:
    timeout_s: float = 30.0
    connect_timeout_s: float = 10.0
    max_connections: int = 100
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class GraphPool:
    """Process-wide: one HTTP pool for every tenant, one GraphServiceClient per tenant."""

    def __init__(
        self,
        settings: Settings,
        credentials: TenantCredentialCache,
        options: GraphOptions | None = None,
    ) -> None:
        self.settings = settings
        self.credentials = credentials
        self.options = options or GraphOptions()
        self._http: httpx.AsyncClient | None = None
        self._transport: AiohttpTransport | None = None
        self._clients: OrderedDict[str, Any] = OrderedDict()
        self._gates: dict[str, ThrottleGate] = {}
        self._ssl = client_ssl_context()

    def _http_client(self) -> httpx.AsyncClient:
        if self._http is None:
            from shared.graph._transport import AiohttpTransport  # aiohttp on first use

            o = self.options
            self._transport = AiohttpTransport(
                ssl_context=self._ssl, max_connections=o.max_connections
            )
            self._http = http_client(
                timeout=httpx.Timeout(o.timeout_s, connect=o.connect_timeout_s),
                transport=self._transport,
            )
        return self._http

    def client_for(self, tenant_id: str) -> Any:
        """The tenant's GraphServiceClient (typed Any: msgraph is not analysed by mypy,
        docs/decisions.md#mypy-msgraph)."""
        tid = validate_tenant_id(tenant_id)
        client = self._clients.get(tid)
        if client is None:
            client = self._build_client(tid)
            self._clients[tid] = client
            while len(self._clients) > MAX_CACHED_TENANTS:  # least recently used first
                self._clients.popitem(last=False)
        self._clients.move_to_end(tid)
        return client

    def _build_client(self, tenant_id: str) -> Any:
        from kiota_authentication_azure.azure_identity_authentication_provider import (
            AzureIdentityAuthenticationProvider,
        )
        from msgraph.graph_request_adapter import GraphRequestAdapter
        from msgraph.graph_service_client import GraphServiceClient

        graph = self.settings.graph_endpoint
        auth = AzureIdentityAuthenticationProvider(
            self.credentials.for_tenant(tenant_id),
            scopes=[self.settings.graph_scope],
            # The bearer token goes to the Graph host only: kiota checks every request
            # (docs/decisions.md#allowed-hosts).
            allowed_hosts=[urlsplit(graph).hostname or ""],
        )
        adapter = GraphRequestAdapter(auth, client=self._http_client())
        adapter.base_url = f"{graph}/v1.0"  # setting httpx base_url instead gives `//`
        return GraphServiceClient(request_adapter=adapter)

    def session(
        self,
        tenant_id: str,
        *,
        permissions: Sequence[str] = (),
        budget: RetryBudget | None = None,
    ) -> GraphSession:
        """A session for one tenant job: its client, its retry budget, its declared permissions."""
        tid = validate_tenant_id(tenant_id)
        return GraphSession(
            tenant_id=tid,
            client=self.client_for(tid),
            budget=budget or RetryBudget(self.options.retry.budget_s),
            policy=self.options.retry,
            permissions=tuple(permissions),
            gate=self._gates.setdefault(tid, ThrottleGate()),
        )

    async def forget_token(self, tenant_id: str) -> None:
        """The tenant's next request gets a new token (its roles as granted now)."""
        await self.credentials.forget_token(tenant_id)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._transport is not None:  # kiota's wrapper transport does not close the one inside
            await self._transport.aclose()
            self._transport = None
        self._clients.clear()
