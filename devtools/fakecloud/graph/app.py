"""The aiohttp face of the emulator: HTTP in, pipeline, HTTP out, one record per request.

Writes (POST, PATCH, PUT, DELETE, `$batch` included) are counted when they arrive
(`graph.writes.started`) and when they are answered or dropped (`graph.writes.answered`): the
difference is the writes in flight, which is how a test can stop a client in the middle of one.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qsl, unquote

from aiohttp import web

from devtools.fakecloud.graph.call import GraphResponse, Incoming
from devtools.fakecloud.graph.context import GraphContext
from devtools.fakecloud.graph.pipeline import Served, serve
from devtools.fakecloud.requestlog import RequestRecord

CONTEXT = web.AppKey("graph_context", GraphContext)
NO_ANSWER = 0  # RequestRecord.status of a request whose connection was dropped
_WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


def create_graph_app(ctx: GraphContext) -> web.Application:
    """The Graph listener's application; every path is routed by the emulator itself."""
    for tenant_id, directory in ctx.directories.items():
        directory.bind(tenant_id)
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[CONTEXT] = ctx
    app.router.add_route("*", "/{tail:.*}", _handle)
    return app


async def _handle(request: web.Request) -> web.StreamResponse:
    arrived = time.monotonic()
    ctx = request.app[CONTEXT]
    incoming = await _incoming(request)
    write = incoming.method in _WRITES
    if write:
        ctx.log.count("graph.writes.started")
    try:
        served = await serve(ctx, incoming, arrived)
    finally:
        if write:
            ctx.log.count("graph.writes.answered")
    _record(ctx, incoming, served, arrived)
    if served.response is None:
        return _drop(request)
    return _web_response(served.response)


async def _incoming(request: web.Request) -> Incoming:
    raw_path = request.rel_url.raw_path
    segments = tuple(unquote(s) for s in raw_path.split("/") if s)
    return Incoming(
        method=request.method.upper(),
        path="/" + "/".join(segments),
        segments=segments,
        query=tuple(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True)),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=await request.read(),
    )


def _record(ctx: GraphContext, incoming: Incoming, served: Served, arrived: float) -> None:
    status = served.response.status if served.response is not None else NO_ANSWER
    ctx.log.add(
        RequestRecord(
            service="graph",
            method=incoming.method,
            path=incoming.path,
            tenant_id=served.tenant_id,
            status=status,
            at=arrived,
            early_retry=served.early_retry,
        )
    )


def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without a byte of answer. aiohttp then fails to write the
    returned response to the closed transport and treats it as a client disconnect."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=444)  # nginx's "closed without response", for the access log


def _web_response(response: GraphResponse) -> web.Response:
    headers = dict(response.headers)
    if response.body is None:
        headers.pop("Content-Type", None)
        return web.Response(status=response.status, headers=headers)
    body = json.dumps(response.body, separators=(",", ":")).encode()
    return web.Response(status=response.status, body=body, headers=headers)
