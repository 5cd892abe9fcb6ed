"""The HTTP client msgraph-sdk sends through, and how requests reach it cheaply.

Every tenant's GraphServiceClient shares one httpx client (one aiohttp pool, shared/transport.py)
with a short middleware chain. Each choice here removes CPU the SDK spends per request without
changing what goes on the wire (docs/benchmarks.md has the measurements):
- the URI template of a list request is expanded once per distinct request, not three times per
  send, and its query parameter names are decoded (`%24select` -> `$select`) once, by kiota's own
  ParametersNameDecodingHandler logic, instead of by that middleware re-parsing every URL;
- no cookie jar: Graph's API needs no cookies, and one client serves every tenant, so a cookie
  one tenant's answer sets must not ride along with another tenant's request.
msgraph is imported lazily: `import function_app` must not pay for it.
"""

from __future__ import annotations

import ssl
from http.cookiejar import CookieJar
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

if TYPE_CHECKING:
    from shared.transport import AiohttpTransport

#: Expanded URLs by (template, path parameters, query parameters): every tenant lists the same.
_EXPANDED: dict[str, str] = {}
_EXPANDED_MAX = 256
_ERROR_MAP: dict[str, Any] | None = None


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
    (client-request-id, SdkVersion). Left out: kiota's RetryHandler (shared.retry is the one
    retry layer, docs/decisions.md#one-retry-layer; it was configured with max_retries=0),
    ParametersNameDecodingHandler
    (its decoding is done once per URL by `expand_once`), UrlReplaceHandler (rewrites only
    `/users/me-token-to-replace`), and the inspection handlers (they act only when a request
    asks for inspection).
    """
    from kiota_http.middleware import RedirectHandler, UserAgentHandler
    from msgraph_core.middleware import GraphTelemetryHandler

    return [RedirectHandler(), UserAgentHandler(), GraphTelemetryHandler()]


def http_client(
    *, ssl_context: ssl.SSLContext, timeout: httpx.Timeout, max_connections: int
) -> tuple[httpx.AsyncClient, AiohttpTransport]:
    """The shared client, and its transport (kiota's wrapper does not close the one inside)."""
    from msgraph_core import GraphClientFactory

    from shared.transport import AiohttpTransport  # aiohttp on first use, not at import

    transport = AiohttpTransport(ssl_context=ssl_context, max_connections=max_connections)
    client = httpx.AsyncClient(timeout=timeout, transport=transport, cookies=_NoCookies())
    return GraphClientFactory.create_with_custom_middleware(middleware(), client=client), transport


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
