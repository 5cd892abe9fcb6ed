"""One tenant job's view of Graph: typed request builders, and every call behind the retry policy.

msgraph-sdk builds the requests (URLs, query encoding, auth, middleware, error mapping); the
session's typed methods (`list_users`, `list_groups`, `request`...) are the only way in, so no
job navigates msgraph's untyped builders. Results are read as bytes and parsed with `json` into
the caller's own small records, because msgraph's typed models cost ~17.6 ms of CPU per object
(docs/decisions.md#bytes-not-typed-models; msgraph-sdk-python issue #584).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from shared import telemetry
from shared.errors import TransientError, XtenantError, status_of
from shared.graph._batch import BatchItem, BatchResult, run_batch
from shared.graph._errors import classify_graph_failure, error_from_graph_answer
from shared.graph._retry import (
    RetryBudget,
    RetryPolicy,
    ThrottleGate,
    call_with_retry,
    fits,
    retry_after_of,
)
from shared.graph._sdk import GraphRequest, error_map, list_request, request_at

R = TypeVar("R")

#: Graph's largest page for users and groups (https://learn.microsoft.com/graph/paging).
MAX_PAGE = 999


@dataclass
class GraphSession:
    """One tenant job's view of Graph. Every call goes through the retry policy and comes back
    either as data or as a typed XtenantError (never a raw SDK exception)."""

    tenant_id: str
    #: the tenant's GraphServiceClient (untyped): used inside shared.graph only
    client: Any
    budget: RetryBudget
    policy: RetryPolicy
    permissions: tuple[str, ...] = ()
    requests_sent: int = 0
    #: shared by every session of this tenant in the pool (see ThrottleGate)
    gate: ThrottleGate = field(default_factory=ThrottleGate)

    # --- building requests ------------------------------------------------------------------

    def resource_url(self, path: str) -> str:
        """The absolute URL of `path` under the version root (`/directoryObjects/{id}`...)."""
        return f"{self.client.request_adapter.base_url}{path}"

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> GraphRequest:
        """A request for `path` under the version root, with a JSON body."""
        return request_at(method, self.resource_url(path), body)

    def list_users(
        self, *, filter: str | None = None, select: Sequence[str] = (), top: int | None = None
    ) -> GraphRequest:
        """GET /users with OData query options, encoded by the SDK."""
        return self._list(self.client.users, filter=filter, select=select, top=top)

    def list_groups(
        self, *, filter: str | None = None, select: Sequence[str] = (), top: int | None = None
    ) -> GraphRequest:
        """GET /groups with OData query options, encoded by the SDK."""
        return self._list(self.client.groups, filter=filter, select=select, top=top)

    def list_group_members(
        self, group_id: str, *, select: Sequence[str] = (), top: int | None = None
    ) -> GraphRequest:
        """GET /groups/{id}/members with OData query options, encoded by the SDK."""
        members = self.client.groups.by_group_id(group_id).members
        return self._list(members, select=select, top=top)

    def _list(
        self,
        builder: Any,
        *,
        filter: str | None = None,
        select: Sequence[str] = (),
        top: int | None = None,
    ) -> GraphRequest:
        adapter = self.client.request_adapter
        return list_request(builder, adapter, filter=filter, select=select, top=top)

    # --- sending ----------------------------------------------------------------------------

    async def send(
        self, request: GraphRequest, *, idempotent: bool, describe: str = ""
    ) -> dict[str, Any]:
        """Send a request under the retry policy; return its JSON body ({} if none)."""

        sent = 0

        async def attempt() -> bytes | None:
            nonlocal sent
            sent += 1
            return await self._attempt(request, resend=sent - 1)

        try:
            raw = await call_with_retry(
                attempt,
                idempotent=idempotent,
                budget=self.budget,
                policy=self.policy,
                describe=describe or f"{request.method} for tenant {self.tenant_id}",
            )
        except Exception as exc:
            raise self._typed(exc) from exc
        return json.loads(raw) if raw else {}

    async def _attempt(self, request: GraphRequest, *, resend: int = 0) -> bytes | None:
        await self._wait_at_gate()
        self.requests_sent += 1
        adapter = self.client.request_adapter
        with telemetry.graph_request(
            request.method, request.url, tenant_id=self.tenant_id, resend=resend
        ) as call:
            try:
                raw: bytes | None = await adapter.send_primitive_async(
                    request.info, "bytes", error_map()
                )
            except Exception as exc:
                status, retry_after = status_of(exc), retry_after_of(exc)
                call.failed(status, retry_after, exc)
                self.gate.note(status, retry_after)
                raise
        return raw

    async def _wait_at_gate(self) -> None:
        """Wait while Graph throttles this tenant; fail now if that outlasts cap or budget."""
        delay = self.gate.closed_for()
        if delay <= 0:
            return
        if not fits(delay, self.policy, self.budget):
            raise TransientError(
                f"Graph throttles tenant {self.tenant_id} for another {delay:.1f}s",
                tenant_id=self.tenant_id,
                remediation="None: the message is redelivered after the throttling ends.",
            )
        self.budget.spend(delay, retry=False)
        telemetry.waited(delay, "tenant_throttled")
        await asyncio.sleep(delay)

    async def get(self, request: GraphRequest) -> dict[str, Any]:
        return await self.send(request, idempotent=True)

    async def get_path(self, path: str) -> dict[str, Any]:
        """GET `path` under the version root (e.g. `/policies/authorizationPolicy`)."""
        return await self.get(self.request("GET", path))

    async def pages(self, request: GraphRequest) -> AsyncIterator[list[dict[str, Any]]]:
        """Each page's `value`, following `@odata.nextLink` until there is none."""
        while True:
            page = await self.get(request)
            yield list(page.get("value", []))
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return
            request = request_at("GET", str(next_link))

    async def collect(self, request: GraphRequest, parse: Callable[[dict[str, Any]], R]) -> list[R]:
        """Every item of every page, parsed into the caller's own record type."""
        records: list[R] = []
        async for page in self.pages(request):
            records.extend(parse(item) for item in page)
        return records

    async def batch(self, items: Sequence[BatchItem]) -> list[BatchResult]:
        """Run sub-requests in `$batch` calls of at most 20, retried by the same policy."""
        return await run_batch(self, items)

    # --- typed errors -----------------------------------------------------------------------

    def _typed(self, exc: BaseException) -> XtenantError:
        return classify_graph_failure(
            exc,
            tenant_id=self.tenant_id,
            permissions=self.permissions,
        )

    def answer_error(self, status: int, body: dict[str, Any] | None) -> XtenantError:
        """The typed error for a Graph error answer's status and body (`$batch` sub-responses)."""
        error = (body or {}).get("error") or {}
        return error_from_graph_answer(
            status,
            error.get("code"),
            str(error.get("message", "")),
            tenant_id=self.tenant_id,
            permissions=self.permissions,
        )
