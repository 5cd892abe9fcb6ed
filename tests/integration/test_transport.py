"""The aiohttp-backed httpx transport answers and fails as httpcore does, so retries decide alike.

A small aiohttp server on 127.0.0.1 plays the service; the client is a plain httpx.AsyncClient
on the transport, as GraphPool builds it (kiota's middleware only wraps it).
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from shared.graph import NOT_SENT, AiohttpTransport, is_retryable

pytestmark = pytest.mark.integration


class Service:
    def __init__(self) -> None:
        self.hits: dict[str, int] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{name}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits[name] = self.hits.get(name, 0) + 1
        if name == "echo":
            body = await request.read()
            headers = {"X-Method": request.method, "X-Agent": request.headers["User-Agent"]}
            return web.Response(body=body, headers=headers, content_type="application/json")
        if name == "gzip":
            body = gzip.compress(b'{"value": [1, 2, 3]}')
            return web.Response(body=body, headers={"Content-Encoding": "gzip"})
        if name == "redirect":
            return web.Response(status=302, headers={"Location": "/echo"})
        if name == "slow":
            await asyncio.sleep(1.0)
            return web.Response(text="late")
        assert request.transport is not None  # "drop": close without an answer
        request.transport.abort()
        return web.Response()


@pytest.fixture
async def service() -> AsyncIterator[tuple[Service, str]]:
    service = Service()
    async with TestServer(service.app(), host="127.0.0.1") as server:
        yield service, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = AiohttpTransport(ssl_context=ssl.create_default_context(), max_connections=4)
    async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(0.3)) as http:
        yield http
    await transport.aclose()


async def test_a_request_goes_out_and_comes_back_as_httpx_sent_it(
    service: tuple[Service, str], client: httpx.AsyncClient
) -> None:
    _, base = service
    response = await client.post(f"{base}/echo", content=b'{"a": 1}', headers={"User-Agent": "x/1"})

    assert response.status_code == 200
    assert response.json() == {"a": 1}
    assert response.headers["X-Method"] == "POST"
    assert response.headers["X-Agent"] == "x/1"


async def test_a_compressed_answer_is_decoded_once_by_httpx(
    service: tuple[Service, str], client: httpx.AsyncClient
) -> None:
    _, base = service
    response = await client.get(f"{base}/gzip")

    assert response.json() == {"value": [1, 2, 3]}


async def test_redirects_are_left_to_the_caller(
    service: tuple[Service, str], client: httpx.AsyncClient
) -> None:
    _, base = service
    response = await client.get(f"{base}/redirect")

    assert response.status_code == 302
    assert response.headers["Location"] == "/echo"


async def test_a_dropped_answer_is_an_ambiguous_transport_error_sent_once(
    service: tuple[Service, str], client: httpx.AsyncClient
) -> None:
    # given a kept-alive connection (aiohttp would silently re-send a GET on it once)
    hits, base = service
    await client.get(f"{base}/echo")

    with pytest.raises(httpx.TransportError) as raised:
        await client.get(f"{base}/drop")

    assert hits.hits["drop"] == 1
    assert not isinstance(raised.value, NOT_SENT)
    assert not is_retryable(raised.value, idempotent=False)
    assert is_retryable(raised.value, idempotent=True)


async def test_a_refused_connection_is_a_connect_error_safe_to_retry(
    client: httpx.AsyncClient,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed

    with pytest.raises(httpx.ConnectError) as raised:
        await client.get(f"http://127.0.0.1:{port}/echo")

    assert is_retryable(raised.value, idempotent=False)


async def test_a_slow_answer_is_a_read_timeout(
    service: tuple[Service, str], client: httpx.AsyncClient
) -> None:
    _, base = service
    with pytest.raises(httpx.ReadTimeout):
        await client.get(f"{base}/slow")
