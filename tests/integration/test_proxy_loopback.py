"""The proxy against a real HTTP server on 127.0.0.1: refused by default, reachable when the
operator allows it, and never led elsewhere by a redirect.

Every connection goes through a recording network backend that only lets 127.0.0.1 through,
so the tests can assert that refused targets were refused before any connection attempt.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpcore
import pytest
from aiohttp import web
from dependency_injector import providers

from app.adapters.dns import SystemResolver
from app.adapters.http import HttpxOutboundHttp
from app.domain.errors import ProxyRefused, ProxyTimeout
from app.domain.proxy import (
    ProxyCall,
    ProxyFailed,
    ProxyPolicy,
    ProxyResponseTooLarge,
    ProxyService,
)
from app.entrypoints.asgi import Application, create_app
from app.settings import Settings
from app.testing.fakes import FakeBackend
from tests.support.app import AUTH, http_client, make_container, make_settings
from tests.unit.test_proxy_guard import StubResolver

LOOPBACK = "127.0.0.1"


class LoopbackOnlyBackend(httpcore.AsyncNetworkBackend):
    """The real socket backend, but it records every attempt and opens only 127.0.0.1."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()
        self.attempts: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> Any:
        self.attempts.append(host)
        if host != LOOPBACK:
            raise AssertionError(f"test tried to connect to {host}")
        return await self.inner.connect_tcp(host, port, timeout=timeout)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


@dataclass
class Upstream:
    port: int
    seen: list[dict[str, Any]] = field(default_factory=list)
    streamed: int = 0
    stream_ended: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return f"http://{LOOPBACK}:{self.port}{path}"


def upstream_app(state: Upstream) -> web.Application:
    async def record(request: web.Request) -> None:
        state.seen.append(
            {
                "method": request.method,
                "path": request.path_qs,
                "headers": dict(request.headers),
                "body": await request.read(),
            }
        )

    async def json_route(request: web.Request) -> web.Response:
        await record(request)
        return web.json_response({"hello": "world"})

    async def status_route(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(status=int(request.match_info["code"]), text="upstream says no")

    async def redirect_route(request: web.Request) -> web.Response:
        await record(request)
        raise web.HTTPFound(request.query["to"])

    async def slow_route(request: web.Request) -> web.Response:
        await record(request)
        await asyncio.sleep(5)
        return web.Response(text="late")

    async def stream_route(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        chunk = b"s" * 65536
        try:
            for _ in range(1600):  # bounded: 100 MB if the proxy never stopped reading
                await response.write(chunk)
                state.streamed += len(chunk)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            state.stream_ended.set()
        return response

    app = web.Application()
    app.router.add_get("/json", json_route)
    app.router.add_get("/status/{code}", status_route)
    app.router.add_get("/redirect", redirect_route)
    app.router.add_get("/slow", slow_route)
    app.router.add_get("/stream", stream_route)
    return app


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """An aiohttp server on 127.0.0.1 in its own thread and loop (Litestar's test client
    blocks the test's loop while the app runs, so the upstream cannot share it)."""
    state = Upstream(port=0)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(upstream_app(state), shutdown_timeout=1)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, LOOPBACK, 0)
        loop.run_until_complete(site.start())
        state.port = runner.addresses[0][1]
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, name="upstream", daemon=True)
    thread.start()
    assert ready.wait(10), "upstream server did not start"
    try:
        yield state
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture
async def backend() -> LoopbackOnlyBackend:
    return LoopbackOnlyBackend()


@pytest.fixture
async def adapter(backend: LoopbackOnlyBackend) -> AsyncIterator[HttpxOutboundHttp]:
    http = HttpxOutboundHttp(backend=backend)
    yield http
    await http.aclose()


def make_service(adapter: HttpxOutboundHttp, resolver: Any = None, **policy: Any) -> ProxyService:
    return ProxyService(adapter, resolver or SystemResolver(), ProxyPolicy.build(**policy))


async def test_loopback_is_refused_by_default_before_any_connection(
    upstream: Upstream, adapter: HttpxOutboundHttp, backend: LoopbackOnlyBackend
) -> None:
    with pytest.raises(ProxyRefused, match=r"127\.0\.0\.1 is in a blocked range \(loopback\)"):
        await make_service(adapter).forward(ProxyCall(url=upstream.url("/json")))
    assert backend.attempts == []
    assert upstream.seen == []


async def test_loopback_is_reachable_once_the_operator_allows_it(
    upstream: Upstream, adapter: HttpxOutboundHttp, backend: LoopbackOnlyBackend
) -> None:
    service = make_service(adapter, allow=[LOOPBACK])
    result = await service.forward(ProxyCall(url=upstream.url("/json?x=1"), headers={"X-Key": "k"}))
    assert (result.status, result.success, result.data) == (200, True, {"hello": "world"})
    assert upstream.seen[0]["path"] == "/json?x=1"
    assert upstream.seen[0]["headers"]["X-Key"] == "k"
    assert backend.attempts == [LOOPBACK]


async def test_a_redirect_to_an_unlisted_loopback_address_is_refused_before_connecting(
    upstream: Upstream, adapter: HttpxOutboundHttp, backend: LoopbackOnlyBackend
) -> None:
    service = make_service(adapter, allow=[LOOPBACK])
    target = f"http://127.0.0.2:{upstream.port}/json"
    with pytest.raises(ProxyRefused, match=r"127\.0\.0\.2 is in a blocked range \(loopback\)"):
        await service.forward(ProxyCall(url=upstream.url(f"/redirect?to={target}")))
    assert [seen["path"].split("?")[0] for seen in upstream.seen] == ["/redirect"]
    assert backend.attempts == [LOOPBACK]


async def test_a_redirect_to_an_allowed_address_is_followed(
    upstream: Upstream, adapter: HttpxOutboundHttp
) -> None:
    service = make_service(adapter, allow=[LOOPBACK])
    result = await service.forward(ProxyCall(url=upstream.url("/redirect?to=/json")))
    assert result.data == {"hello": "world"}
    assert [seen["path"] for seen in upstream.seen] == ["/redirect?to=/json", "/json"]


async def test_the_connection_goes_to_the_vetted_address_without_a_second_lookup(
    upstream: Upstream, adapter: HttpxOutboundHttp, backend: LoopbackOnlyBackend
) -> None:
    """pinned.test exists only in the stub resolver: had the client resolved it again, it fails."""
    resolver = StubResolver({"pinned.test": [LOOPBACK]})
    service = make_service(adapter, resolver, allow=[LOOPBACK])
    result = await service.forward(ProxyCall(url=f"http://pinned.test:{upstream.port}/json"))
    assert result.data == {"hello": "world"}
    assert upstream.seen[0]["headers"]["Host"] == f"pinned.test:{upstream.port}"
    assert resolver.calls == ["pinned.test"]
    assert backend.attempts == [LOOPBACK]


async def test_an_endless_body_is_cut_at_the_cap_and_the_connection_closed(
    upstream: Upstream, adapter: HttpxOutboundHttp
) -> None:
    service = make_service(adapter, allow=[LOOPBACK], max_response_bytes=256 * 1024)
    with pytest.raises(ProxyResponseTooLarge, match=r"limit of 262144 bytes"):
        await service.forward(ProxyCall(url=upstream.url("/stream")))
    assert await asyncio.to_thread(upstream.stream_ended.wait, 10)
    assert upstream.streamed < 50 * 1024 * 1024  # stopped long before the 100 MB on offer


async def test_a_slow_upstream_times_out_at_the_requested_timeout(
    upstream: Upstream, adapter: HttpxOutboundHttp
) -> None:
    service = make_service(adapter, allow=[LOOPBACK])
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ProxyTimeout, match="Request timed out after 300ms"):
        await service.forward(ProxyCall(url=upstream.url("/slow"), timeout_ms=300))
    assert loop.time() - started < 2


# -- end to end through the Litestar app -----------------------------------------------------


def proxy_app(settings: Settings) -> Application:
    """The real app, but its resolver is a stub: an unexpected DNS lookup fails the test."""
    container = make_container(settings, [FakeBackend()])
    container.resolver.override(providers.Object(StubResolver({})))
    return create_app(settings, container)


async def post(client: Any, body: Any) -> Any:
    return await client.post("/api/proxy/request", json=body, headers=AUTH)


async def test_end_to_end_refused_then_allowed_with_mirrored_status(upstream: Upstream) -> None:
    async with http_client(proxy_app(make_settings())) as client:
        refused = await post(client, {"url": upstream.url("/json")})
        assert refused.status_code == 400
        assert refused.json() == {
            "error": "Proxy request failed",
            "details": "Target address 127.0.0.1 is in a blocked range (loopback)",
            "errorType": "ProxyRefused",
        }
    assert upstream.seen == []

    settings = make_settings(proxy={"allow": [LOOPBACK], "max_response_bytes": 100_000})
    async with http_client(proxy_app(settings)) as client:
        ok = await post(client, {"url": upstream.url("/json")})
        assert ok.status_code == 200
        body = ok.json()
        assert {key: body[key] for key in ("success", "status", "statusText", "data")} == {
            "success": True,
            "status": 200,
            "statusText": "OK",
            "data": {"hello": "world"},
        }
        assert body["headers"]["content-type"].startswith("application/json")

        missing = await post(client, {"url": upstream.url("/status/404")})
        assert missing.status_code == 404
        assert missing.json()["success"] is False
        assert missing.json()["data"] == "upstream says no"

        bodyless = await post(client, {"url": upstream.url("/status/204")})
        assert bodyless.status_code == 200
        assert bodyless.json()["status"] == 204

        slow = await post(client, {"url": upstream.url("/slow"), "timeout": 200})
        assert slow.status_code == 408
        assert slow.json() == {
            "error": "Request timeout",
            "details": "Request timed out after 200ms",
            "errorType": "ProxyTimeout",
        }

        big = await post(client, {"url": upstream.url("/stream")})
        assert big.status_code == 502
        assert big.json()["error"] == "Proxy request failed"
        assert "limit of 100000 bytes" in big.json()["details"]

        redirected = await post(
            client, {"url": upstream.url(f"/redirect?to=http://127.0.0.2:{upstream.port}/")}
        )
        assert redirected.status_code == 400
        assert "127.0.0.2 is in a blocked range (loopback)" in redirected.json()["details"]


@pytest.mark.parametrize(
    ("body", "error", "details"),
    [
        ({}, "URL is required", "URL is required"),
        ({"url": ""}, "URL is required", "URL is required"),
        ({"url": None}, "URL is required", "URL is required"),
        ({"url": 42}, "Proxy request failed", "url"),
        ({"url": "http://x.test/", "headers": {"a": 1}}, "Proxy request failed", "headers"),
        ({"url": "http://x.test/", "headers": ["a"]}, "Proxy request failed", "headers"),
        ({"url": "http://x.test/", "timeout": "soon"}, "Proxy request failed", "timeout"),
        ([1, 2], "Proxy request failed", ""),
        ("just a string", "Proxy request failed", ""),
        ({"url": "ftp://x.test/"}, "Proxy request failed", "Scheme 'ftp' is not allowed"),
        (
            {"url": "http://x.test/", "method": "TRACE"},
            "Proxy request failed",
            "Method TRACE is not allowed",
        ),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "Proxy request failed", "link-local"),
    ],
)
async def test_end_to_end_bad_bodies_and_refusals_answer_400(
    body: Any, error: str, details: str
) -> None:
    async with http_client(proxy_app(make_settings())) as client:
        response = await post(client, body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["error"] == error
    assert details in (answer["details"] or "")


async def test_end_to_end_needs_the_token() -> None:
    async with http_client(proxy_app(make_settings())) as client:
        response = await client.post("/api/proxy/request", json={"url": "http://x.test/"})
    assert response.status_code == 401


async def test_openapi_documents_the_proxy_bodies_and_errors() -> None:
    async with http_client(proxy_app(make_settings())) as client:
        schema = (await client.get("/schema/openapi.json", headers=AUTH)).json()
    operation = schema["paths"]["/api/proxy/request"]["post"]
    assert set(operation["responses"]) >= {"200", "400", "408", "500", "502"}
    components = schema["components"]["schemas"]
    assert {"url", "method", "headers", "body", "timeout"} <= set(
        components["ProxyRequestBody"]["properties"]
    )
    assert "statusText" in components["ProxyResponseBody"]["properties"]


async def test_the_system_resolver_reads_numeric_hosts_and_reports_failures(
    monkeypatch: Any,
) -> None:
    resolver = SystemResolver()
    assert await resolver.resolve(LOOPBACK) == [LOOPBACK]  # numeric: no lookup happens

    async def no_such_host(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_such_host)
    with pytest.raises(ProxyFailed, match=r"Could not resolve host nowhere\.test"):
        await resolver.resolve("nowhere.test")
