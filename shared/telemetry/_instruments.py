"""The tracer and meters every span and metric goes through, the attribute names, and the one
place a URL becomes attribute values (path only, never the query).

The instruments are bound to OpenTelemetry's global providers, which are no-ops until
`configure()` sets real ones; `use()` binds them to other providers (the tests' in-memory ones)
without touching the globals, which a process can set only once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from opentelemetry import metrics, trace
from opentelemetry.trace import Span, SpanKind, StatusCode
from opentelemetry.util.types import AttributeValue

#: The instrumentation scope of every xtenant span and metric (the only tracer kept, _setup.py).
SCOPE = "xtenant"

RUN_ID = "xtenant.run_id"
TENANT_ID = "xtenant.tenant_id"
JOB = "xtenant.job"
MODE = "xtenant.mode"
STATUS = "xtenant.status"
ERROR_CLASS = "xtenant.error_class"
RETRIES = "xtenant.retries"
WAITED_S = "xtenant.waited_s"
GRAPH_REQUESTS = "xtenant.graph_requests"
RETRY_AFTER_S = "xtenant.retry_after_s"
#: OpenTelemetry's semantic conventions (HTTP client spans, errors)
HTTP_METHOD = "http.request.method"
HTTP_STATUS = "http.response.status_code"
RESEND_COUNT = "http.request.resend_count"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
URL_FULL = "url.full"
URL_PATH = "url.path"
URL_TEMPLATE = "url.template"
ERROR_TYPE = "error.type"


@dataclass(frozen=True)
class Instruments:
    tracer: trace.Tracer
    #: rows ended, by status and job
    rows: metrics.Counter
    #: seconds waited before a Graph request, by reason (retry_after, backoff, tenant_throttled)
    throttle_wait: metrics.Histogram
    #: token requests sent, by kind (tenant, managed_identity) and outcome (issued, refused, failed)
    token_requests: metrics.Counter
    #: messages the poison queue delivered
    poison_messages: metrics.Counter

    @classmethod
    def bound_to(
        cls,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> Instruments:
        meter = metrics.get_meter(SCOPE, meter_provider=meter_provider)
        return cls(
            tracer=trace.get_tracer(SCOPE, tracer_provider=tracer_provider),
            rows=meter.create_counter("xtenant.rows", unit="{row}"),
            throttle_wait=meter.create_histogram("xtenant.throttle_wait", unit="s"),
            token_requests=meter.create_counter("xtenant.token_requests", unit="{request}"),
            poison_messages=meter.create_counter("xtenant.poison_messages", unit="{message}"),
        )


_bound = Instruments.bound_to()


def current() -> Instruments:
    return _bound


def use(
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> None:
    """Send xtenant's spans and metrics to these providers (None: the global ones again)."""
    global _bound
    _bound = Instruments.bound_to(tracer_provider, meter_provider)


@contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue],
    passes: tuple[type[BaseException], ...] = (),
) -> Iterator[Span]:
    """A span, current while the block runs. An exception marks it failed by its class name
    only, never its text (which may quote what a tenant holds); `passes` are not failures."""
    with current().tracer.start_as_current_span(
        name,
        kind=kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as opened:
        try:
            yield opened
        except passes:
            raise
        except Exception as exc:
            failed(opened, type(exc).__qualname__)
            raise


def failed(opened: Span, error_type: str) -> None:
    """Mark a span failed with `error.type` (an HTTP status, or an exception's class)."""
    opened.set_attribute(ERROR_TYPE, error_type)
    opened.set_status(StatusCode.ERROR, error_type)


#: A path segment kept as it is: resource names, `$batch`, `v1.0`, object and tenant ids.
#: Anything else (a UPN, an OData key such as `users('ada@contoso.com')`, a name with spaces)
#: becomes `{redacted}`: attributes carry ids, never a person's name.
_PLAIN_SEGMENT = re.compile(r"^[A-Za-z0-9._~$-]*$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def safe_path(path: str) -> str:
    """The path with every segment that is not a plain name or id redacted."""
    segments = (unquote(s) for s in path.split("/"))
    return "/".join(s if _PLAIN_SEGMENT.match(s) else "{redacted}" for s in segments)


def route(path: str) -> str:
    """The safe path with ids as `{id}`: what a dependency is named and grouped by."""
    return "/".join("{id}" if _GUID.match(s) else s for s in safe_path(path).split("/"))


def first_guid(path: str) -> str | None:
    """The path's first segment when it is a GUID (a token endpoint's tenant)."""
    first = path.lstrip("/").split("/", 1)[0]
    return first.lower() if _GUID.match(first) else None


def http_attributes(method: str, url: str) -> dict[str, str | int]:
    """A client span's attributes for `url`: its host, its route and its safe path, no query.

    `url.full` is the route, ids as `{id}`: Application Insights names a dependency after its
    URL's path, and an operator groups by that name; `url.path` keeps the object ids.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    attributes: dict[str, str | int] = {
        HTTP_METHOD: method.upper(),
        SERVER_ADDRESS: host,
        URL_PATH: safe_path(parts.path),
        URL_TEMPLATE: route(parts.path),
        URL_FULL: f"{parts.scheme}://{host}{_port(parts.port)}{route(parts.path)}",
    }
    if parts.port is not None:
        attributes[SERVER_PORT] = parts.port
    return attributes


def _port(port: int | None) -> str:
    return f":{port}" if port is not None else ""
