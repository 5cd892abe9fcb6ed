"""The HTTP client msgraph-sdk sends through, and the requests it builds, reaching it cheaply.

Every tenant's GraphServiceClient shares one httpx client (one aiohttp pool, _transport.py;
docs/decisions.md#shared-connection-pool) with a short middleware chain. Each choice here
removes CPU the SDK spends per request without changing what goes on the wire
(docs/benchmarks.md has the measurements):
- the URI template of a list request is expanded once per distinct request, not three times per
  send, and its query parameter names are decoded (`%24select` -> `$select`) once, by kiota's own
  ParametersNameDecodingHandler logic, instead of by that middleware re-parsing every URL;
- no cookie jar: Graph's API needs no cookies, and one client serves every tenant, so a cookie
  one tenant's answer sets must not ride along with another tenant's request.
Requests are built here, with the SDK's own builders and query encoding (a UPN carries `#EXT#`,
which must never reach a URL raw), and handed out as opaque `GraphRequest`s.
msgraph is imported lazily: `import function_app` must not pay for it
(docs/decisions.md#lazy-msgraph-import).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

#: Expanded URLs by (template, path parameters, query parameters): every tenant lists the same.
_EXPANDED: dict[str, str] = {}
_EXPANDED_MAX = 256
_ERROR_MAP: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class GraphRequest:
    """A request the SDK built (kiota's RequestInformation), ready for `GraphSession.send`.

    Opaque to callers on purpose: they get one from the session's typed methods
    (`list_users`, `request`...), so no job navigates msgraph's untyped builders.
    """

    info: Any

    @property
    def method(self) -> str:
        return str(getattr(self.info.http_method, "value", self.info.http_method))

    @property
    def url(self) -> str:
        """The URL that goes on the wire (expanded and encoded by the SDK)."""
        return str(self.info.url)


class _NoCookies(CookieJar):
    """A jar that keeps nothing and sends nothing (see the module docstring)."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def add_cookie_header(self, request: Any) -> None:
        return None


def error_map() -> dict[str, Any]:
    """Every 4XX/5XX answer becomes an ODataError (its status and headers drive retries)."""
    global _ERROR_MAP
    if _ERROR_MAP is None:
        from msgraph.generated.models.o_data_errors.o_data_error import ODataError

        _ERROR_MAP = {"4XX": ODataError, "5XX": ODataError}
    return _ERROR_MAP


def middleware() -> list[Any]:
    """msgraph's default middleware less what never acts on our requests (each costs CPU).

    Kept, in the default order: redirects, the User-Agent, Graph's telemetry headers
    (client-request-id, SdkVersion). Left out: kiota's RetryHandler (_retry.py is the one
    retry layer, docs/decisions.md#one-retry-layer), ParametersNameDecodingHandler
    (its decoding is done once per URL by `expand_once`), UrlReplaceHandler (rewrites only
    `/users/me-token-to-replace`), and the inspection handlers (they act only when a request
    asks for inspection).
    """
    from kiota_http.middleware import RedirectHandler, UserAgentHandler
    from msgraph_core.middleware import GraphTelemetryHandler

    return [RedirectHandler(), UserAgentHandler(), GraphTelemetryHandler()]


def http_client(
    *, timeout: httpx.Timeout, transport: httpx.AsyncBaseTransport
) -> httpx.AsyncClient:
    """The client every tenant's GraphServiceClient sends through: httpx on `transport` (the
    pool's AiohttpTransport), no cookie jar, and `middleware()`. kiota's middleware wraps the
    transport without closing it: its owner closes it."""
    from msgraph_core import GraphClientFactory

    client = httpx.AsyncClient(timeout=timeout, transport=transport, cookies=_NoCookies())
    wrapped: httpx.AsyncClient = GraphClientFactory.create_with_custom_middleware(
        middleware(), client=client
    )
    return wrapped


def _decoded_names(url: str) -> str:
    """`%24select=` -> `$select=` in query names, exactly as ParametersNameDecodingHandler."""
    from kiota_http.middleware import ParametersNameDecodingHandler
    from kiota_http.middleware.options import ParametersNameDecodingHandlerOption

    parts = urlsplit(url)
    if "%" not in parts.query:
        return url
    characters = ParametersNameDecodingHandlerOption().characters_to_decode
    query = ParametersNameDecodingHandler().decode_uri_encoded_string(parts.query, characters)
    return urlunsplit(parts._replace(query=query))


def expand_once(info: Any, adapter: Any) -> Any:
    """Fix `info.url` to its expansion, with query names decoded (see the module docstring).

    kiota expands the URI template in pure Python (about a millisecond) on every read of
    `info.url`, and a send reads it three times.
    """
    # The SDK hands every request the client's own path-parameter dict, and setting `url`
    # clears it: give this request a copy, so the client's stays as it was.
    info.path_parameters = dict(info.path_parameters)
    adapter.set_base_url_for_request_information(info)  # what the adapter does before sending
    key = repr(
        (
            info.url_template,
            sorted(info.path_parameters.items()),
            sorted(info.query_parameters.items()),
        )
    )
    url = _EXPANDED.get(key)
    if url is None:
        if len(_EXPANDED) >= _EXPANDED_MAX:
            _EXPANDED.clear()
        url = _EXPANDED[key] = _decoded_names(info.url)
    info.url = url
    return info


def request_at(method: str, url: str, body: dict[str, Any] | None = None) -> GraphRequest:
    """A request for `url` (absolute), with a JSON body."""
    from kiota_abstractions.method import Method
    from kiota_abstractions.request_information import RequestInformation

    info = RequestInformation(Method[method.upper()])
    info.url = url
    info.headers.try_add("Accept", "application/json")
    if body is not None:
        info.set_stream_content(json.dumps(body).encode(), "application/json")
    return GraphRequest(info)


def list_request(
    builder: Any,
    adapter: Any,
    *,
    filter: str | None = None,
    select: Sequence[str] = (),
    top: int | None = None,
) -> GraphRequest:
    """A GET from an SDK collection builder (`client.users`...), with OData query options.

    The SDK encodes the query: UPNs carry `#EXT#`, which must never reach a URL raw.
    """
    from kiota_abstractions.base_request_configuration import RequestConfiguration

    kind = type(builder)
    query_type = getattr(kind, f"{kind.__name__}GetQueryParameters")
    query = query_type(filter=filter, select=list(select) or None, top=top)
    config = RequestConfiguration(query_parameters=query)
    return GraphRequest(expand_once(builder.to_get_request_information(config), adapter))
