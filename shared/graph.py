"""Per-tenant Graph sessions on one shared connection pool, behind the one retry policy.

msgraph-sdk builds the requests (URLs, query parameters, auth, middleware, error mapping); bulk
results are read as bytes and parsed with `json` into our own small records, because its typed
models cost ~17.6 ms of CPU per object (docs/decisions.md#bytes-not-typed-models).
msgraph is imported lazily: `import function_app` must not pay its ~0.4 s and 32 MiB.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import httpx

from shared.batch import BatchItem, BatchResult, run_batch
from shared.errors import TransientError, XtenantError, classify_graph, graph_error
from shared.graph_http import error_map, expand_once, http_client
from shared.identity import TenantCredentials
from shared.ids import validate_tenant_id
from shared.retry import (
    NOT_PROCESSED_STATUS,
    RetryBudget,
    RetryPolicy,
    ThrottleGate,
    call_with_retry,
    retry_after_of,
    status_of,
)
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.transport import AiohttpTransport

R = TypeVar("R")

#: Graph's largest page for users and groups (https://learn.microsoft.com/graph/paging).
MAX_PAGE = 999


@dataclass(frozen=True)
class GraphOptions:
    timeout_s: float = 30.0
    connect_timeout_s: float = 10.0
    max_connections: int = 100
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class GraphPool:
    """Process-wide: one httpx pool for every tenant, one GraphServiceClient per tenant."""

    def __init__(
        self,
        settings: Settings,
        credentials: TenantCredentials,
        options: GraphOptions | None = None,
    ) -> None:
        self.settings = settings
        self.credentials = credentials
        self.options = options or GraphOptions()
        self._http: httpx.AsyncClient | None = None
        self._transport: AiohttpTransport | None = None
        self._clients: dict[str, Any] = {}
        self._gates: dict[str, ThrottleGate] = {}
        # Made now so the CA bundle in the environment at start-up is the one trusted.
        self._ssl = ssl.create_default_context()

    def _http_client(self) -> httpx.AsyncClient:
        if self._http is None:
            o = self.options
            self._http, self._transport = http_client(
                ssl_context=self._ssl,
                timeout=httpx.Timeout(o.timeout_s, connect=o.connect_timeout_s),
                max_connections=o.max_connections,
            )
        return self._http

    def client_for(self, tenant_id: str) -> Any:
        """The tenant's GraphServiceClient (typed Any: msgraph is not analysed by mypy)."""
        tid = validate_tenant_id(tenant_id)
        client = self._clients.get(tid)
        if client is None:
            client = self._build_client(tid)
            self._clients[tid] = client
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
            # The bearer token goes to the Graph host only (kiota checks every request).
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
            consent_url=self.settings.admin_consent_url(tid),
            gate=self._gates.setdefault(tid, ThrottleGate()),
        )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._transport is not None:  # kiota's wrapper transport does not close the one inside
            await self._transport.aclose()
            self._transport = None
        self._clients.clear()


@dataclass
class GraphSession:
    """One tenant job's view of Graph. Every call goes through the retry policy and comes back
    either as data or as a typed XtenantError (never a raw SDK exception)."""

    tenant_id: str
    client: Any
    budget: RetryBudget
    policy: RetryPolicy
    permissions: tuple[str, ...] = ()
    consent_url: str | None = None
    requests_sent: int = 0
    #: shared by every session of this tenant in the pool (see ThrottleGate)
    gate: ThrottleGate = field(default_factory=ThrottleGate)

    @property
    def adapter(self) -> Any:
        return self.client.request_adapter

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """A kiota RequestInformation for `path` under the version root, with a JSON body."""
        from kiota_abstractions.method import Method
        from kiota_abstractions.request_information import RequestInformation

        info = RequestInformation(Method[method.upper()])
        info.url = f"{self.adapter.base_url}{path}"
        info.headers.try_add("Accept", "application/json")
        if body is not None:
            info.set_stream_content(json.dumps(body).encode(), "application/json")
        return info

    def list_request(
        self,
        builder: Any,
        *,
        filter: str | None = None,
        select: Sequence[str] = (),
        top: int | None = None,
    ) -> Any:
        """A GET RequestInformation from an SDK collection builder, with OData query options.

        The SDK encodes the query (UPNs carry `#EXT#`, which must never reach a URL raw).
        """
        from kiota_abstractions.base_request_configuration import RequestConfiguration

        kind = type(builder)
        query_type = getattr(kind, f"{kind.__name__}GetQueryParameters")
        query = query_type(filter=filter, select=list(select) or None, top=top)
        config = RequestConfiguration(query_parameters=query)
        return expand_once(builder.to_get_request_information(config), self.adapter)

    async def send(self, info: Any, *, idempotent: bool, describe: str = "") -> dict[str, Any]:
        """Send a request built by the SDK or by `request()`; return its JSON body ({} if none)."""
        method = str(getattr(info.http_method, "value", info.http_method))

        async def attempt() -> bytes | None:
            await self.wait_at_gate()
            self.requests_sent += 1
            try:
                raw: bytes | None = await self.adapter.send_primitive_async(
                    info, "bytes", error_map()
                )
            except Exception as exc:
                if status_of(exc) in NOT_PROCESSED_STATUS:
                    self.gate.hold(retry_after_of(exc) or 0.0)
                raise
            return raw

        try:
            raw = await call_with_retry(
                attempt,
                idempotent=idempotent,
                budget=self.budget,
                policy=self.policy,
                describe=describe or f"{method} for tenant {self.tenant_id}",
            )
        except Exception as exc:
            raise self._typed(exc) from exc
        return json.loads(raw) if raw else {}

    async def wait_at_gate(self) -> None:
        """Wait while Graph throttles this tenant; fail now if that outlasts cap or budget."""
        delay = self.gate.closed_for()
        if delay <= 0:
            return
        if delay > self.policy.max_wait_s or delay >= self.budget.remaining():
            raise TransientError(
                f"Graph throttles tenant {self.tenant_id} for another {delay:.1f}s",
                tenant_id=self.tenant_id,
                remediation="None: the message is redelivered after the throttling ends.",
            )
        await asyncio.sleep(delay)

    async def get(self, info: Any) -> dict[str, Any]:
        return await self.send(info, idempotent=True)

    async def pages(self, info: Any) -> AsyncIterator[list[dict[str, Any]]]:
        """Each page's `value`, following `@odata.nextLink` until there is none."""
        while True:
            page = await self.get(info)
            yield list(page.get("value", []))
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return
            info = self.request("GET", "")
            info.url = next_link

    async def collect(self, info: Any, parse: Callable[[dict[str, Any]], R]) -> list[R]:
        """Every item of every page, parsed into the caller's own record type."""
        records: list[R] = []
        async for page in self.pages(info):
            records.extend(parse(item) for item in page)
        return records

    async def batch(self, items: Sequence[BatchItem]) -> list[BatchResult]:
        """Run sub-requests in `$batch` calls of at most 20 (see shared.batch)."""
        return await run_batch(self, items)

    def _typed(self, exc: BaseException) -> XtenantError:
        return classify_graph(
            exc,
            tenant_id=self.tenant_id,
            permissions=self.permissions,
            consent_url=self.consent_url,
        )

    def sub_error(self, status: int, body: dict[str, Any] | None) -> XtenantError:
        error = (body or {}).get("error") or {}
        return graph_error(
            status,
            error.get("code"),
            str(error.get("message", "")),
            tenant_id=self.tenant_id,
            permissions=self.permissions,
            consent_url=self.consent_url,
        )
