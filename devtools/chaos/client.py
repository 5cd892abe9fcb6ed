"""The app's HTTP API as the chaos suite calls it: every call goes through `AppClient`.

One class, so that how the suite authenticates is decided in one place: the function key
today, and an operator's bearer token when the API asks for one (`operator_token`, sent on
every call by `_headers`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx


class ApiError(RuntimeError):
    """The app answered a call with an error status (or not at all)."""


class AppClient:
    """The app's HTTP API (and the host's admin endpoint) on one worker's base URL."""

    def __init__(
        self,
        base_url: str,
        *,
        function_key: str,
        operator_token: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self._function_key = function_key
        self._operator_token = operator_token
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s)

    def _headers(self) -> dict[str, str]:
        headers = {"x-functions-key": self._function_key}
        # OPERATOR AUTHENTICATION: the one place a bearer token joins every call. Give the
        # client `operator_token=` (the fake cloud issues operators' tokens) and it is sent.
        if self._operator_token is not None:
            headers["Authorization"] = f"Bearer {self._operator_token}"
        return headers

    async def _call(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        try:
            response = await self._http.request(
                method, path, json=body, params=params or None, headers=self._headers()
            )
        except httpx.HTTPError as error:
            raise ApiError(f"{method} {path}: {type(error).__name__}: {error}") from error
        if response.status_code >= 400:
            raise ApiError(f"{method} {path} -> {response.status_code}: {response.text[:300]}")
        return response.json() if response.content else None

    async def put_tenant(self, tenant_id: str, body: dict[str, Any]) -> None:
        await self._call("PUT", f"/api/tenants/{quote(tenant_id, safe='')}", body)

    async def tenants(self) -> list[dict[str, Any]]:
        return list((await self._call("GET", "/api/tenants"))["tenants"])

    async def run_timer(self, function_name: str) -> None:
        """Run a timer function now (the host's admin endpoint; it answers 202 at once)."""
        await self._call("POST", f"/admin/functions/{quote(function_name)}", {"input": ""})

    async def runs(self, **filters: str) -> list[dict[str, Any]]:
        return list((await self._call("GET", "/api/runs", **filters))["runs"])

    async def run(self, run_id: str) -> dict[str, Any]:
        """The run with every row: its pages followed (`rows_next`) until the last."""
        path = f"/api/runs/{quote(run_id, safe='')}"
        run = dict(await self._call("GET", path))
        while run.get("rows_next"):
            after = quote(str(run["rows_next"]), safe="")
            page = dict(await self._call("GET", f"{path}?rows_after={after}"))
            run["rows"] = [*run["rows"], *page["rows"]]
            run["rows_next"] = page.get("rows_next")
        return run

    async def close(self) -> None:
        await self._http.aclose()
