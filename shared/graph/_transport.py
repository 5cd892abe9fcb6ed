"""httpx's transport interface on aiohttp's connection pool, for Graph traffic.

Why: httpcore 1.0's pool re-examines every pooled connection on each request it adds or removes
(`_assign_requests_to_connections`: `has_expired()` per idle connection, which builds anyio's
socket attribute dict and polls the socket, plus an O(n^2) idle count). With 32-64 tenants in
flight that costs 5-10 ms of CPU per request here, more than everything else xtenant does for a
request (docs/benchmarks.md). aiohttp keeps idle connections per host in a queue and parses HTTP
in C. The SDKs still only see httpx: kiota's middleware wraps this transport like any other
(docs/decisions.md#aiohttp-transport).

The contract is httpcore's, so the retry policy (_retry.py) decides exactly as over httpcore:
- failures before the request left (connect, TLS, refused, waiting for a pooled connection) are
  httpx.ConnectError / httpx.ConnectTimeout: safe to retry, even a create;
- failures after it left (disconnect, reset, bad answer, read timeout) are other
  httpx.TransportError subclasses: ambiguous, retried only when idempotent;
- no transport-level retry: aiohttp's silent re-send of an idempotent request on a dropped
  keep-alive connection is switched off (one retry layer, _retry.py);
- no redirects, cookies or decompression here: kiota's RedirectHandler, httpx's cookie jar and
  httpx's decoders do those, as they do over httpcore.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping

import aiohttp
import httpx

from shared import telemetry

_HTTP_11 = {"http_version": b"HTTP/1.1"}
#: An idle connection is closed after this long, as httpx's pool does (its keepalive_expiry).
_KEEPALIVE_S = 5.0


def _client_timeout(timeout: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
    """httpx's per-request timeouts in aiohttp's terms (pool wait + connect = `connect`)."""
    return aiohttp.ClientTimeout(
        total=None,
        connect=timeout.get("pool"),
        sock_connect=timeout.get("connect"),
        sock_read=timeout.get("read"),
    )


#: aiohttp's failures in httpcore's terms, first match wins (see the module docstring).
#: ConnectionTimeoutError (pool wait or connect) is a TimeoutError too, so it comes first;
#: every TimeoutError is an OSError, so the TimeoutError row comes before the OSError row.
_ERRORS: tuple[
    tuple[type[BaseException] | tuple[type[BaseException], ...], type[httpx.TransportError]], ...
] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (TimeoutError, httpx.ReadTimeout),
    (
        (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError),
        httpx.RemoteProtocolError,
    ),
    (OSError, httpx.ReadError),
)


def _mapped(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx error httpcore raises for the same failure."""
    kind = next((k for types, k in _ERRORS if isinstance(exc, types)), httpx.TransportError)
    return kind(str(exc) or type(exc).__name__, request=request)


def _headers(request: httpx.Request) -> list[tuple[str, str]]:
    return [
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw
    ]


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp pool (made on first use, on the running loop) behind httpx's interface."""

    def __init__(self, *, ssl_context: ssl.SSLContext, max_connections: int) -> None:
        self._ssl = ssl_context
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                ssl=self._ssl,
                limit=self._max_connections,
                keepalive_timeout=_KEEPALIVE_S,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            )
            # aiohttp (3.10+) re-sends an idempotent request once when a kept-alive connection
            # turns out closed; retries are _retry.py's alone: two layers multiply
            # (docs/decisions.md#one-retry-layer).
            if hasattr(self._session, "_retry_connection"):
                self._session._retry_connection = False
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = _client_timeout(request.extensions.get("timeout", {}))
        try:
            async with self._client_session().request(
                request.method,
                str(request.url),
                headers=_headers(request),
                data=await request.aread() or None,
                allow_redirects=False,
                timeout=timeout,
            ) as answer:
                body = await answer.read()
                headers = list(answer.raw_headers)
                status = answer.status
        except (aiohttp.ClientError, OSError) as exc:  # OSError covers TimeoutError
            raise _mapped(exc, request) from exc
        telemetry.http_status(status)
        return httpx.Response(status, headers=headers, content=body, extensions=_HTTP_11)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
