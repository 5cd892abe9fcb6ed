"""Plumbing the emulated services share: request recording, fault application, Retry-After.

Each listener's aiohttp app gets `recording_middleware`, which records every answered request
(status 0 = the connection was dropped without an answer) and whether it arrived before a
Retry-After the fake had sent to that (service, tenant) elapsed.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from devtools.fakecloud.faults import Fault, FaultBook
from devtools.fakecloud.requestlog import RequestLog, RequestRecord

Route = Callable[[web.Request], tuple[str, str | None] | None]
DROPPED = 0  # the status recorded for a connection closed without an answer


class DropConnection(Exception):
    """Raised by a handler to close the connection without answering."""


def recording_middleware(log: RequestLog, route: Route) -> Middleware:
    """Record every request `route` maps to (service, tenant); drop on DropConnection."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        where = route(request)
        service, tenant_id = where or ("unrecorded", None)
        arrived = time.monotonic()
        early = log.is_early(service, tenant_id, arrived, request_identity(request))
        status = DROPPED
        try:
            response = await handler(request)
            status = response.status
            return response
        except DropConnection:
            if request.transport is not None:
                request.transport.abort()
            return web.Response()  # never reaches the client: the transport is gone
        except web.HTTPException as exc:
            status = exc.status
            raise
        except Exception:
            status = 500  # aiohttp answers an unhandled error with 500
            raise
        finally:
            if where is not None:
                log.add(
                    RequestRecord(
                        service, request.method, request.path, tenant_id, status, arrived, early
                    )
                )

    return middleware


async def suffer(
    faults: FaultBook, service: str, tenant_id: str | None, request: web.Request
) -> Fault | None:
    """Apply this request's faults: sleep for latency, drop, or return the fault to answer."""
    taken = faults.take(service, tenant_id, request.path, request.method)
    delay_ms = sum(f.latency_ms for f in taken if f.kind == "latency")
    if delay_ms:
        await asyncio.sleep(delay_ms / 1000)
    answer = next((f for f in taken if f.kind != "latency"), None)
    if answer is not None and answer.kind == "drop":
        raise DropConnection
    return answer


def retry_after_seconds(value: str) -> float:
    """Seconds a Retry-After value asks for: delta-seconds (maybe fractional) or an HTTP date."""
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, when.timestamp() - time.time())


def request_identity(request: web.Request) -> str | None:
    """Which logical request this is: azure-core sends the same x-ms-client-request-id on
    every try of one request (its retries), and a new one for another request. None when the
    client sends neither header (then every request to the service and tenant is "the same")."""
    return request.headers.get("x-ms-client-request-id") or request.headers.get("client-request-id")


def send_retry_after(
    response: web.StreamResponse,
    fault: Fault,
    *,
    log: RequestLog,
    service: str,
    tenant_id: str | None,
    request: web.Request | None = None,
) -> None:
    """Add the fault's Retry-After to `response` and tell the log when a retry is early."""
    if fault.retry_after is None:
        return
    response.headers["Retry-After"] = fault.retry_after
    told = request_identity(request) if request is not None else None
    log.retry_after_sent(service, tenant_id, retry_after_seconds(fault.retry_after), told)
