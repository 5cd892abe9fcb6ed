"""Graph and token requests as dependency (CLIENT) spans, and the waits before Graph requests.

    tenant_job
      ├─ GET /v1.0/users                    one per Graph HTTP request; a resend is a span of
      │    └─ POST /{id}/oauth2/v2.0/token  its own (http.request.resend_count); the token
      │                                     request the SDK sent for it, if any, under it
      └─ event throttle_wait                a wait before a request: seconds, reason, the
                                            Retry-After Graph asked for

A token request is seen on the wire (an aiohttp TraceConfig on the token chain's session):
the SDK answers most token calls from its cache, and only the ones it sends count. Neither
a request's body nor its answer is ever read here: they hold the assertion and the token.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue

from shared.telemetry._instruments import (
    HTTP_METHOD,
    HTTP_STATUS,
    RESEND_COUNT,
    RETRY_AFTER_S,
    TENANT_ID,
    URL_TEMPLATE,
    current,
    failed,
    first_guid,
    http_attributes,
    span,
)

if TYPE_CHECKING:
    import aiohttp

_GRAPH_CALL: contextvars.ContextVar[Span | None] = contextvars.ContextVar(
    "xtenant_graph_call", default=None
)


class GraphCall:
    """The running span of one Graph HTTP request."""

    def __init__(self, opened: Span) -> None:
        self.span = opened

    def failed(self, status: int | None, retry_after: float | None, exc: BaseException) -> None:
        """The request failed: with an answer's status (and Retry-After), or without one."""
        if status is not None:
            self.span.set_attribute(HTTP_STATUS, status)
        if retry_after is not None:
            self.span.set_attribute(RETRY_AFTER_S, retry_after)
        failed(self.span, str(status) if status is not None else type(exc).__qualname__)


@contextmanager
def graph_request(method: str, url: str, *, tenant_id: str, resend: int) -> Iterator[GraphCall]:
    """The span of one Graph HTTP request; `resend` counts the sends of it before this one.

    Its failure is written by `GraphCall.failed`, with the answer's status, which the
    exception's class would not tell.
    """
    with span(
        method, kind=SpanKind.CLIENT, attributes={TENANT_ID: tenant_id}, passes=(Exception,)
    ) as opened:
        if opened.is_recording():  # telemetry off: no URL parsed for nothing
            attributes = http_attributes(method, url)
            if resend:
                attributes[RESEND_COUNT] = resend
            opened.set_attributes(attributes)
            opened.update_name(f"{attributes[HTTP_METHOD]} {attributes[URL_TEMPLATE]}")
        token = _GRAPH_CALL.set(opened)
        try:
            yield GraphCall(opened)
        finally:
            _GRAPH_CALL.reset(token)


def http_status(status: int) -> None:
    """The status Graph answered the running Graph request with (its transport sees it)."""
    opened = _GRAPH_CALL.get()
    if opened is not None:
        opened.set_attribute(HTTP_STATUS, status)


def waited(seconds: float, reason: str, *, retry_after: float | None = None) -> None:
    """A wait before a Graph request, as an event of the running span and in the histogram.

    reason: `retry_after` (Graph asked for it), `backoff` (a failure without Retry-After),
    `tenant_throttled` (another request of the tenant was told to wait, and still is).
    """
    attributes: dict[str, AttributeValue] = {
        "xtenant.wait_s": round(seconds, 3),
        "xtenant.wait_reason": reason,
    }
    if retry_after is not None:
        attributes[RETRY_AFTER_S] = retry_after
    trace.get_current_span().add_event("throttle_wait", attributes)
    current().throttle_wait.record(seconds, {"reason": reason})


def token_trace_config() -> aiohttp.TraceConfig:
    """Spans and counts for the token requests sent through an aiohttp session."""
    import aiohttp

    config = aiohttp.TraceConfig()
    config.on_request_start.append(_token_sent)
    config.on_request_end.append(_token_answered)
    config.on_request_exception.append(_token_failed)
    return config


async def _token_sent(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestStartParams,
) -> None:
    url = str(params.url)
    attributes = http_attributes(params.method, url)
    tenant_id = first_guid(urlsplit(url).path)
    if tenant_id is not None:
        attributes[TENANT_ID] = tenant_id
    name = f"{attributes[HTTP_METHOD]} {attributes[URL_TEMPLATE]}"
    context.span = current().tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)


async def _token_answered(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestEndParams,
) -> None:
    status = params.response.status
    opened: Span = context.span
    opened.set_attribute(HTTP_STATUS, status)
    if status >= 400:
        failed(opened, str(status))
    _counted("tenant", _outcome(status))
    opened.end()


async def _token_failed(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestExceptionParams,
) -> None:
    opened: Span = context.span
    failed(opened, type(params.exception).__qualname__)
    _counted("tenant", "failed")
    opened.end()


def _outcome(status: int) -> str:
    """issued; refused (Entra said no: consent, federation, a disabled app); failed (throttled,
    or Entra failed)."""
    if status < 400:
        return "issued"
    return "failed" if status == 429 or status >= 500 else "refused"


@contextmanager
def managed_identity_token() -> Iterator[None]:
    """The span of a managed identity token request (the assertion every tenant's token uses)."""
    attributes = {"xtenant.token": "managed_identity"}
    with span("managed identity token", kind=SpanKind.CLIENT, attributes=attributes):
        try:
            yield
        except Exception:
            _counted("managed_identity", "failed")
            raise
        _counted("managed_identity", "issued")


def _counted(kind: str, outcome: str) -> None:
    current().token_requests.add(1, {"kind": kind, "outcome": outcome})
