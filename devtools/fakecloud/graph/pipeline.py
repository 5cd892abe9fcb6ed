"""Serve one Graph request: authenticate, suffer injected faults, route, answer.

Order of checks, as Graph's front door does it: the bearer token (401), then the tenant's
faults (latency, throttling, errors, dropped connection), then the URL (400/405), then the
permission (403), then the request's own validation; a `lose_answer` fault drops the
connection after all that, once the request has been served. $batch sub-requests enter after the
token check and go through the same faults and routing, each on its own path.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from devtools.fakecloud.faults import Fault
from devtools.fakecloud.graph import (
    routes_auth_methods,
    routes_conditional_access,
    routes_groups,
    routes_licences,
    routes_policy,
    routes_role_assignments,
    routes_sharepoint,
    routes_users,
)
from devtools.fakecloud.graph.auth import Caller, bearer_token, verify_caller
from devtools.fakecloud.graph.batch import run_batch
from devtools.fakecloud.graph.call import Call, GraphResponse, Incoming, error_response
from devtools.fakecloud.graph.context import GraphContext
from devtools.fakecloud.graph.directory import TenantDirectory
from devtools.fakecloud.graph.errors import (
    GraphError,
    bad_request,
    invalid_token,
    unreadable_json,
)
from devtools.fakecloud.graph.router import resolve

ROUTES = (
    routes_users.ROUTES
    + routes_groups.ROUTES
    + routes_policy.ROUTES
    + routes_licences.ROUTES
    + routes_conditional_access.ROUTES
    + routes_role_assignments.ROUTES
    + routes_auth_methods.ROUTES
    + routes_sharepoint.ROUTES
)
_WRITE_METHODS = ("POST", "PATCH", "PUT")
_FAULT_CODES = {
    429: ("TooManyRequests", "Too many requests. Please retry again later."),
    500: ("generalException", "An unspecified error has occurred."),
    502: ("BadGateway", "The gateway received an invalid response."),
    503: ("serviceNotAvailable", "The service is temporarily unavailable. Retry later."),
    504: ("GatewayTimeout", "The gateway timed out waiting for the service."),
}


@dataclass(frozen=True)
class Served:
    response: GraphResponse | None  # None: the connection is to be dropped unanswered
    tenant_id: str | None
    early_retry: bool


async def serve(ctx: GraphContext, incoming: Incoming, arrived: float) -> Served:
    """Answer a top-level request; `arrived` is its time.monotonic() on arrival."""
    request_id = str(uuid.uuid4())
    try:
        caller, directory = authenticate(ctx, incoming.headers)
    except GraphError as error:
        return Served(error_response(error, request_id, incoming.headers), None, False)
    early = ctx.log.is_early("graph", caller.tenant_id, arrived, request_key(incoming))
    response = await run_call(ctx, caller, directory, incoming)
    return Served(response, caller.tenant_id, early)


def authenticate(ctx: GraphContext, headers: Mapping[str, str]) -> tuple[Caller, TenantDirectory]:
    caller = verify_caller(bearer_token(headers), ctx.signing_key, ctx.audience)
    directory = ctx.directory_for(caller.tenant_id)
    if directory is None:
        raise invalid_token("Access token validation failure: tenant not known.")
    return caller, directory


async def run_call(
    ctx: GraphContext,
    caller: Caller,
    directory: TenantDirectory,
    incoming: Incoming,
    *,
    in_batch: bool = False,
) -> GraphResponse | None:
    """Faults, then routing and the handler; None when a fault drops the connection."""
    request_id = str(uuid.uuid4())
    faults = ctx.faults.take(
        "graph", caller.tenant_id, incoming.path, incoming.method, in_batch=in_batch
    )
    await _delay(faults)
    blocking = next((f for f in faults if f.kind != "latency"), None)
    if blocking is not None and blocking.kind == "drop":
        return None
    try:
        if blocking is not None and blocking.kind in ("status", "graph_error"):
            raise fault_error(blocking)
        licensed = blocking is None or blocking.kind != "no_sign_in_licence"
        response = await _dispatch(_call(ctx, caller, directory, incoming, licensed))
    except GraphError as error:
        response = error_response(error, request_id, incoming.headers)
    if blocking is not None and blocking.kind == "lose_answer":
        return None  # served, but the answer never reaches the client
    if response is not None:
        _finish(ctx, caller, response, request_id, incoming)
    return response


async def _delay(faults: list[Fault]) -> None:
    delay_ms = sum(f.latency_ms for f in faults if f.kind == "latency")
    if delay_ms:
        await asyncio.sleep(delay_ms / 1000)


def fault_error(fault: Fault) -> GraphError:
    """The ODataError for an injected status; Retry-After as the fault says (may be absent)."""
    default_code, message = _FAULT_CODES.get(fault.status, ("generalException", "Injected error."))
    code = str(fault.code) if fault.code is not None else default_code
    headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
    return GraphError(fault.status, code, message, headers=headers)


def _call(
    ctx: GraphContext,
    caller: Caller,
    directory: TenantDirectory,
    incoming: Incoming,
    licensed: bool,
) -> Call:
    if not incoming.segments or incoming.segments[0] != "v1.0":
        version = incoming.segments[0] if incoming.segments else ""
        raise bad_request(f"Invalid version: {version}")
    return Call(
        ctx=ctx,
        caller=caller,
        directory=directory,
        method=incoming.method,
        path=incoming.path[len("/v1.0") :],
        segments=incoming.segments[1:],
        query=incoming.query,
        headers=incoming.headers,
        body=_parse_body(incoming),
        sign_in_licensed=licensed,
    )


def _parse_body(incoming: Incoming) -> Any:
    if not isinstance(incoming.body, bytes):
        return incoming.body
    if incoming.method not in _WRITE_METHODS or not incoming.body.strip():
        return None
    try:
        return json.loads(incoming.body)
    except (ValueError, UnicodeDecodeError):
        raise unreadable_json() from None


async def _dispatch(call: Call) -> GraphResponse | None:
    if len(call.segments) == 1 and call.segments[0].casefold() == "$batch":
        if call.method != "POST":
            raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed.")
        return await run_batch(call, _run_sub_request)
    route, params = resolve(ROUTES, call.method, call.segments)
    call.caller.require(route.permissions)
    call.caller.require(route.also)
    return route.handler(call, params)


async def _run_sub_request(parent: Call, incoming: Incoming) -> GraphResponse | None:
    if incoming.segments[1:2] and incoming.segments[1].casefold() == "$batch":
        request_id = str(uuid.uuid4())
        error = bad_request("Nested $batch requests are not supported.")
        return error_response(error, request_id, incoming.headers)
    return await run_call(parent.ctx, parent.caller, parent.directory, incoming, in_batch=True)


def _finish(
    ctx: GraphContext,
    caller: Caller,
    response: GraphResponse,
    request_id: str,
    incoming: Incoming,
) -> None:
    response.headers.setdefault("request-id", request_id)
    client_request_id = incoming.headers.get("client-request-id", request_id)
    response.headers.setdefault("client-request-id", client_request_id)
    retry_after = response.headers.get("Retry-After")
    seconds = parse_retry_after(retry_after) if retry_after else None
    if response.status in (429, 503) and seconds is not None:
        ctx.log.retry_after_sent("graph", caller.tenant_id, seconds, request_key(incoming))


def request_key(incoming: Incoming) -> str:
    """What was asked, to tell a request sent again from another one (early-retry counting)."""
    return f"{incoming.method} {incoming.path}?{incoming.query}"


def parse_retry_after(value: str) -> float | None:
    """Seconds from a Retry-After value: integer, fractional ("2.128") or an HTTP date."""
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
