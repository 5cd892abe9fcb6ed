"""HTTP triggers on aiohttp: `/<routePrefix>/<route>`, methods and auth levels as the host has them.

Route templates follow ASP.NET Core routing as the host uses it: literal segments match without
regard to case; `{name}` takes one segment, `{name?}` may be absent, `{name:int}` (also long,
bool, guid, alpha) constrains it, `{*name}` takes the rest of the path. Literal segments win over
parameters. A method the function does not accept gets 404, as on Azure (azure-functions-host
issue #10098). `function` and `admin` auth levels need the dev host's key in `?code=` or the
`x-functions-key` header, else 401; the one key stands for function, host and master keys.

`POST /admin/functions/{name}` (master key) runs a timer function now and answers 202 at once,
as the host's admin endpoint does for a non-HTTP function ("Manually run a non HTTP-triggered
function"): https://learn.microsoft.com/azure/azure-functions/functions-manually-run-non-http
The dev host runs timers this way; other triggers answer 400.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import azure.functions as func
from aiohttp import web
from multidict import CIMultiDict

from devtools.devhost.functions import HttpFunction
from devtools.devhost.ledger import logger

MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the host's request size limit
ADMIN_FUNCTIONS = "/admin/functions/"
_PARAMETER = re.compile(r"^\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?(\?)?\}$")
_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "bool": r"(?i:true|false)",
    "guid": r"[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}",
    "alpha": r"[A-Za-z]+",
}


@dataclass(frozen=True)
class Route:
    spec: HttpFunction
    pattern: re.Pattern[str]
    precedence: tuple[int, ...]

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {k: unquote(v) for k, v in found.groupdict().items() if v is not None}


def compile_route(spec: HttpFunction) -> Route:
    """A regex for the route template, and its rank (lower tries first: literals win)."""
    pieces: list[str] = []
    ranks: list[int] = []
    for segment in spec.route.strip("/").split("/") if spec.route.strip("/") else []:
        piece, rank = _segment(segment, spec.route)
        pieces.append(piece)
        ranks.append(rank)
    pattern = "".join(pieces)
    return Route(spec, re.compile(pattern or "", re.IGNORECASE), tuple(ranks))


def _segment(segment: str, route: str) -> tuple[str, int]:
    parameter = _PARAMETER.match(segment)
    if parameter is None:
        if "{" in segment or "}" in segment:
            raise ValueError(f"route {route!r}: segment {segment!r} is not supported")
        return "/" + re.escape(segment), 0
    catch_all, name, constraint, optional = parameter.groups()
    if catch_all:
        return f"(?:/(?P<{name}>.*))?", 4
    if constraint is not None and constraint not in _CONSTRAINTS:
        raise ValueError(f"route {route!r}: constraint {constraint!r} is not supported")
    value = _CONSTRAINTS.get(constraint or "", r"[^/]+")
    if optional:
        return f"(?:/(?P<{name}>{value}))?", 3
    return f"/(?P<{name}>{value})", 1 if constraint else 2


class HttpFront:
    """Routes requests to HTTP functions; `function_key` guards function and admin levels.

    `run_timer(name)` starts a timer function for the admin endpoint (False: no such timer).
    """

    def __init__(
        self,
        routes: Sequence[Route],
        *,
        route_prefix: str,
        function_key: str,
        executor: Executor,
        function_timeout_s: float | None,
        run_timer: Callable[[str], bool] | None = None,
    ) -> None:
        self._routes = sorted(routes, key=lambda r: r.precedence)
        self._prefix = "/" + route_prefix.lower() if route_prefix else ""
        self._key = function_key
        self._executor = executor
        self._timeout_s = function_timeout_s
        self._run_timer = run_timer

    def application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_route("*", "/{path:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.lower().startswith(ADMIN_FUNCTIONS):
            return self._admin(request)
        found = self._find(request.method.upper(), request.path)
        if found is None:
            return web.Response(status=404)
        route, route_params = found
        if route.spec.auth_level != "anonymous" and not self._authorized(request):
            return web.Response(status=401)
        started = time.monotonic()
        response = await self._invoke(route.spec, request, route_params)
        logger.info(
            "%s (http) %s %s -> %d %.0f ms",
            route.spec.function.name,
            request.method,
            request.path,
            response.status,
            (time.monotonic() - started) * 1000,
        )
        return response

    def _admin(self, request: web.Request) -> web.Response:
        """POST /admin/functions/{name}: run a timer function now (202), as the host does."""
        if request.method.upper() != "POST":
            return web.Response(status=405)
        if not self._authorized(request):
            return web.Response(status=401)
        name = unquote(request.path[len(ADMIN_FUNCTIONS) :]).strip("/")
        if self._run_timer is None or not self._run_timer(name):
            text = f"no timer function named {name!r} (the dev host runs only timers this way)"
            return web.Response(status=400 if name else 404, text=text)
        logger.info("%s (timer) run by the admin endpoint", name)
        return web.Response(status=202)

    def _find(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        if self._prefix:
            if path.lower() != self._prefix and not path.lower().startswith(self._prefix + "/"):
                return None
            path = path[len(self._prefix) :]
        path = path.rstrip("/")
        for route in self._routes:
            methods = route.spec.methods
            params = route.match(path)
            if params is not None and (methods is None or method in methods):
                return route, params
        return None

    def _authorized(self, request: web.Request) -> bool:
        offered = request.query.get("code") or request.headers.get("x-functions-key") or ""
        return hmac.compare_digest(offered.encode(), self._key.encode())

    async def _invoke(
        self, spec: HttpFunction, request: web.Request, route_params: dict[str, str]
    ) -> web.Response:
        function_request = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers={k: ", ".join(request.headers.getall(k)) for k in request.headers},
            params=dict(request.query),
            route_params=route_params,
            body=await request.read(),
        )
        try:
            result = await spec.function.call(function_request, self._executor, self._timeout_s)
        except Exception:
            logger.warning("%s (http) raised", spec.function.name, exc_info=True)
            return web.Response(status=500)
        return to_response(result)


def to_response(result: Any) -> web.Response:
    """The function's return value as the host would send it: an HttpResponse or a str.

    The worker's http output converter (azure.functions.http) encodes nothing else: for None,
    bytes or any other value the invocation fails with "TypeError: unable to encode outgoing
    TypedData" and the host answers 500.
    """
    if isinstance(result, str):
        result = func.HttpResponse(result)
    if not isinstance(result, func.HttpResponse):
        logger.warning(
            "an HTTP function returned %s, not an HttpResponse or str: the worker cannot encode "
            "it (TypeError), the host answers 500",
            type(result).__name__,
        )
        return web.Response(status=500)
    headers = CIMultiDict((str(k), str(v)) for k, v in result.headers.items())
    headers.setdefault("Content-Type", f"{result.mimetype}; charset={result.charset}")
    return web.Response(status=result.status_code, body=result.get_body(), headers=headers)


def new_function_key() -> str:
    """A random per-run key, url-safe like the host's."""
    return secrets.token_urlsafe(32)
