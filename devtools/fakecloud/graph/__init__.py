"""Microsoft Graph v1.0 emulator (the subset xtenant's jobs use). STUB: filled in by the Graph work.

Contract with the server (devtools/fakecloud/server.py):
- `directory_from_scenario(spec)` turns a tenant's optional "graph" object from the scenario file
  into that tenant's directory (users, groups, authorization policy, licence flags).
- `create_graph_app(ctx)` returns the aiohttp application served on the Graph listener; it checks
  each request's bearer token with `ctx.signing_key.verify(token, audience=ctx.audience)`, isolates
  data by the token's `tid`, authorises by its `roles`, consults `ctx.faults` (service "graph") and
  records every request in `ctx.log` (service "graph").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from devtools.fakecloud.faults import FaultBook
from devtools.fakecloud.requestlog import RequestLog
from devtools.fakecloud.tokens import SigningKey


@dataclass
class TenantDirectory:
    """One tenant's Graph data. STUB."""

    spec: dict[str, Any] = field(default_factory=dict)


@dataclass
class GraphContext:
    signing_key: SigningKey
    audience: str
    faults: FaultBook
    log: RequestLog
    directories: dict[str, TenantDirectory]


def directory_from_scenario(spec: Mapping[str, Any]) -> TenantDirectory:
    return TenantDirectory(spec=dict(spec))


def create_graph_app(ctx: GraphContext) -> web.Application:
    async def not_implemented(request: web.Request) -> web.Response:
        return web.json_response(
            {"error": {"code": "NotImplemented", "message": "fake Graph not built yet"}}, status=501
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", not_implemented)
    return app
