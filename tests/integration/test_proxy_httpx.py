"""The proxy service over the real httpx adapter, with respx in place of the network.

Addresses here are public ones (93.184.216.34, an IPv6 of the same block) that only ever
appear inside the stub resolver and respx routes: respx answers before any socket exists.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpcore
import httpx
import pytest
import respx

from app.adapters.http import HttpxOutboundHttp, PinnedNetworkBackend
from app.adapters.http.httpx_client import _PINS
from app.domain.errors import ProxyRefused, ProxyTimeout
from app.domain.proxy import (
    ProxyCall,
    ProxyFailed,
    ProxyPolicy,
    ProxyResponseTooLarge,
    ProxyService,
)
from app.ports.outbound_http import OutboundHttp, OutboundRequest
from tests.unit.test_proxy_guard import PUBLIC_V4, PUBLIC_V6, StubResolver

DNS = {
    "api.test": [PUBLIC_V4, PUBLIC_V6],
    "cdn.test": [PUBLIC_V4],
    "intranet.test": [PUBLIC_V4, "10.1.2.3"],
}


@pytest.fixture
async def http() -> AsyncIterator[HttpxOutboundHttp]:
    adapter = HttpxOutboundHttp()
    yield adapter
    await adapter.aclose()


@pytest.fixture
def mock() -> Any:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        yield router


def make_service(http: HttpxOutboundHttp, **policy: Any) -> ProxyService:
    return ProxyService(http, StubResolver(DNS), ProxyPolicy.build(**policy))


def test_the_adapter_satisfies_the_port(http: HttpxOutboundHttp) -> None:
    assert isinstance(http, OutboundHttp)


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
async def test_every_allowed_method_is_sent_as_asked(
    http: HttpxOutboundHttp, mock: Any, method: str
) -> None:
    body = {} if method == "HEAD" else {"json": {"m": method}}
    route = mock.route(method=method, url="https://api.test/v1/x?a=1").respond(200, **body)
    result = await make_service(http).forward(
        ProxyCall(url="https://api.test/v1/x?a=1", method=method.lower())
    )
    assert route.call_count == 1
    assert result.status == 200
    assert result.data == ("" if method == "HEAD" else {"m": method})


async def test_a_string_body_goes_as_is_without_a_content_type(
    http: HttpxOutboundHttp, mock: Any
) -> None:
    route = mock.post("https://api.test/raw").respond(200)
    await make_service(http).forward(
        ProxyCall(url="https://api.test/raw", method="POST", body="a=1&b=2")
    )
    request = route.calls.last.request
    assert request.content == b"a=1&b=2"
    assert "content-type" not in request.headers


@pytest.mark.parametrize("body", [{"symbol": "BTC/USDT", "qty": 1.5}, [1, "two"], 42, True])
async def test_other_bodies_go_as_json(http: HttpxOutboundHttp, mock: Any, body: Any) -> None:
    route = mock.put("https://api.test/json").respond(200)
    await make_service(http).forward(
        ProxyCall(url="https://api.test/json", method="PUT", body=body)
    )
    request = route.calls.last.request
    assert json.loads(request.content) == body
    assert request.headers["content-type"] == "application/json"


async def test_a_client_content_type_is_kept_for_json_bodies(
    http: HttpxOutboundHttp, mock: Any
) -> None:
    route = mock.post("https://api.test/json").respond(200)
    call = ProxyCall(
        url="https://api.test/json",
        method="POST",
        body={"a": 1},
        headers={"Content-Type": "application/vnd.api+json"},
    )
    await make_service(http).forward(call)
    assert route.calls.last.request.headers["content-type"] == "application/vnd.api+json"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_get_and_head_carry_no_body(http: HttpxOutboundHttp, mock: Any, method: str) -> None:
    route = mock.route(method=method, url="https://api.test/").respond(200)
    await make_service(http).forward(
        ProxyCall(url="https://api.test/", method=method, body={"ignored": 1})
    )
    request = route.calls.last.request
    assert request.content == b""
    assert "content-type" not in request.headers
    assert "content-length" not in request.headers


async def test_hop_by_hop_host_and_length_headers_are_dropped(
    http: HttpxOutboundHttp, mock: Any
) -> None:
    route = mock.post("https://api.test/h").respond(200)
    headers = {
        "Connection": "keep-alive, X-Private-Hop",
        "Keep-Alive": "timeout=5",
        "Proxy-Authorization": "Basic Zm9v",
        "Proxy-Connection": "keep-alive",
        "TE": "trailers",
        "Trailer": "X-T",
        "Transfer-Encoding": "chunked",
        "Upgrade": "websocket",
        "Host": "169.254.169.254",
        "Content-Length": "999",
        "X-Private-Hop": "dropped because Connection names it",
        "X-MBX-APIKEY": "kept",
        "Authorization": "Bearer kept",
        "Accept": "application/json",
    }
    await make_service(http).forward(
        ProxyCall(url="https://api.test/h", method="POST", body="xyz", headers=headers)
    )
    sent = route.calls.last.request.headers
    for name in (
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "x-private-hop",
    ):
        assert name not in sent, name
    assert sent["host"] == "api.test"
    assert sent["content-length"] == "3"
    assert sent["x-mbx-apikey"] == "kept"
    assert sent["authorization"] == "Bearer kept"
    assert sent["accept"] == "application/json"


async def test_json_text_status_and_headers_come_back(http: HttpxOutboundHttp, mock: Any) -> None:
    mock.get("https://api.test/json").respond(201, json={"id": 7}, headers={"X-Rate": "5"})
    mock.get("https://api.test/text").respond(
        503, text="maintenance", headers={"Retry-After": "30"}
    )
    mock.get("https://api.test/notjson").respond(
        200, text="{nope", headers={"Content-Type": "application/json"}
    )
    service = make_service(http)
    created = await service.forward(ProxyCall(url="https://api.test/json"))
    assert (created.status, created.status_text, created.success, created.data) == (
        201,
        "Created",
        True,
        {"id": 7},
    )
    assert created.headers["x-rate"] == "5"
    down = await service.forward(ProxyCall(url="https://api.test/text"))
    assert (down.status, down.status_text, down.success, down.data) == (
        503,
        "Service Unavailable",
        False,
        "maintenance",
    )
    assert down.headers["retry-after"] == "30"
    assert (await service.forward(ProxyCall(url="https://api.test/notjson"))).data == "{nope"


async def test_an_httpx_timeout_becomes_a_proxy_timeout(http: HttpxOutboundHttp, mock: Any) -> None:
    mock.get("https://api.test/slow").mock(side_effect=httpx.ReadTimeout("read timed out"))
    with pytest.raises(ProxyTimeout) as timeout:
        await make_service(http).forward(ProxyCall(url="https://api.test/slow", timeout_ms=5000))
    assert timeout.value.details == "Request timed out after 5000ms"


async def test_a_slow_upstream_is_cut_at_the_clamped_timeout(
    http: HttpxOutboundHttp, mock: Any
) -> None:
    async def never_in_time(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(10)
        return httpx.Response(200)

    mock.get("https://api.test/slow").mock(side_effect=never_in_time)
    service = make_service(http, min_timeout_ms=50, max_timeout_ms=100)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ProxyTimeout, match="after 100ms"):
        await asyncio.wait_for(
            service.forward(ProxyCall(url="https://api.test/slow", timeout_ms=60_000)), 5
        )
    assert loop.time() - started < 2


async def test_a_connection_error_is_a_proxy_failure(http: HttpxOutboundHttp, mock: Any) -> None:
    mock.get("https://api.test/down").mock(side_effect=httpx.ConnectError("Connection refused"))
    with pytest.raises(ProxyFailed) as failed:
        await make_service(http).forward(ProxyCall(url="https://api.test/down"))
    assert failed.value.details == "Connection failed: Connection refused"
    assert not isinstance(failed.value, ProxyResponseTooLarge)


async def test_a_declared_oversized_body_is_refused_unread(
    http: HttpxOutboundHttp, mock: Any
) -> None:
    mock.get("https://api.test/big").respond(200, content=b"x" * 2000)
    with pytest.raises(ProxyResponseTooLarge, match="limit of 1000 bytes"):
        await make_service(http, max_response_bytes=1000).forward(
            ProxyCall(url="https://api.test/big")
        )


async def test_a_streamed_body_stops_being_read_at_the_cap(
    http: HttpxOutboundHttp, mock: Any
) -> None:
    produced: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        for index in range(10_000):  # bounded: 1 MB if nobody stops reading
            produced.append(index)
            yield b"y" * 100

    mock.get("https://api.test/stream").mock(
        side_effect=lambda request: httpx.Response(200, content=endless())
    )
    with pytest.raises(ProxyResponseTooLarge):
        await make_service(http, max_response_bytes=1000).forward(
            ProxyCall(url="https://api.test/stream")
        )
    assert len(produced) <= 12
    # a body right at the cap is fine
    mock.get("https://api.test/exact").respond(200, content=b"z" * 1000)
    result = await make_service(http, max_response_bytes=1000).forward(
        ProxyCall(url="https://api.test/exact")
    )
    assert result.data == "z" * 1000


async def test_a_redirect_chain_that_ends_on_a_private_address_is_refused(
    http: HttpxOutboundHttp, mock: Any
) -> None:
    first = mock.get("https://api.test/a").respond(302, headers={"Location": "https://cdn.test/b"})
    second = mock.get("https://cdn.test/b").respond(
        307, headers={"Location": "http://intranet.test/admin"}
    )
    private = mock.get("http://intranet.test/admin").respond(200, text="secret")
    with pytest.raises(ProxyRefused, match=r"10\.1\.2\.3 is in a blocked range \(private\)"):
        await make_service(http).forward(ProxyCall(url="https://api.test/a"))
    assert (first.call_count, second.call_count, private.call_count) == (1, 1, 0)


async def test_a_redirect_to_a_numeric_loopback_spelling_is_refused(
    http: HttpxOutboundHttp, mock: Any
) -> None:
    mock.get("https://api.test/a").respond(
        301, headers={"Location": "http://0x7f.1:2375/containers/json"}
    )
    with pytest.raises(ProxyRefused, match="loopback"):
        await make_service(http).forward(ProxyCall(url="https://api.test/a"))


async def test_upstream_cookies_are_never_stored_or_replayed(
    http: HttpxOutboundHttp, mock: Any
) -> None:
    mock.get("https://api.test/login").respond(
        200, headers={"Set-Cookie": "session=victim; Path=/"}
    )
    other = mock.get("https://api.test/me").respond(200)
    service = make_service(http)
    result = await service.forward(ProxyCall(url="https://api.test/login"))
    assert result.headers["set-cookie"].startswith("session=victim")
    await service.forward(ProxyCall(url="https://api.test/me"))
    assert "cookie" not in other.calls.last.request.headers


# -- the pinning network backend (below respx: exercised here with a fake inner backend) ----


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Records connection attempts; refuses the addresses it is told to."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.attempts: list[tuple[str, int]] = []
        self.refuse = refuse

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> Any:
        self.attempts.append((host, port))
        if host in self.refuse:
            raise httpcore.ConnectError("refused")
        return object()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def test_the_backend_connects_only_to_the_pinned_addresses_in_order() -> None:
    inner = RecordingBackend(refuse=frozenset({PUBLIC_V6}))
    backend = PinnedNetworkBackend(inner)
    token = _PINS.set({"api.test": (PUBLIC_V6, PUBLIC_V4)})
    try:
        await backend.connect_tcp("API.test", 443)
    finally:
        _PINS.reset(token)
    assert inner.attempts == [(PUBLIC_V6, 443), (PUBLIC_V4, 443)]


async def test_the_backend_refuses_an_unpinned_host_before_any_connection_attempt() -> None:
    inner = RecordingBackend()
    backend = PinnedNetworkBackend(inner)
    token = _PINS.set({"api.test": (PUBLIC_V4,)})
    try:
        with pytest.raises(ProxyRefused, match="no vetted address"):
            await backend.connect_tcp("evil.test", 80)
    finally:
        _PINS.reset(token)
    with pytest.raises(ProxyRefused):
        await backend.connect_tcp("api.test", 80)  # outside a proxied request: nothing pinned
    with pytest.raises(ProxyRefused):
        await backend.connect_unix_socket("/var/run/docker.sock")
    assert inner.attempts == []


async def test_the_adapter_refuses_to_connect_when_no_address_was_vetted() -> None:
    inner = RecordingBackend()
    adapter = HttpxOutboundHttp(backend=inner)
    request = OutboundRequest("GET", "http://api.test/", (), None, (), 1.0, 1000)
    try:
        with pytest.raises(ProxyRefused, match="no vetted address"):
            await adapter.send(request)
    finally:
        await adapter.aclose()
    assert inner.attempts == []
