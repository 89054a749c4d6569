"""An upstream the proxy cannot reach or cannot decode is not our bug: 502 "Proxy request
failed" (issue 10 items 5 and 4).

Every target is on 127.0.0.1 or exists only in a stub resolver; nothing leaves the machine.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from dependency_injector import providers

from app.entrypoints.asgi import Application, create_app
from app.testing.fakes import FakeBackend
from tests.support.app import AUTH, http_client, make_container, make_settings
from tests.unit.test_proxy_guard import StubResolver

LOOPBACK = "127.0.0.1"


def proxy_app(table: dict[str, list[str]]) -> Application:
    settings = make_settings(proxy={"allow": [LOOPBACK]})
    container = make_container(settings, [FakeBackend()])
    container.resolver.override(providers.Object(StubResolver(table)))
    return create_app(settings, container)


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def resetting_server() -> Iterator[int]:
    """Accepts connections and resets each at once (SO_LINGER 0), in a bounded thread."""
    server = socket.socket()
    server.bind((LOOPBACK, 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.recv(1024)
            conn.close()

    thread = threading.Thread(target=serve, name="resetter", daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        server.close()


async def post(client: Any, url: str) -> Any:
    return await client.post("/api/proxy/request", json={"url": url}, headers=AUTH)


async def assert_bad_gateway(response: Any, details: str) -> None:
    assert response.status_code == 502, response.text
    body = response.json()
    assert body["error"] == "Proxy request failed"
    assert body["errorType"] == "ProxyFailed"
    assert details in body["details"]


async def test_a_host_that_does_not_resolve_answers_502() -> None:
    async with http_client(proxy_app({})) as client:
        response = await post(client, "http://nowhere.test/")
    await assert_bad_gateway(response, "Could not resolve host nowhere.test")


async def test_a_refused_connection_answers_502() -> None:
    port = closed_port()
    async with http_client(proxy_app({"refused.test": [LOOPBACK]})) as client:
        response = await post(client, f"http://refused.test:{port}/")
    await assert_bad_gateway(response, "")


async def test_a_reset_connection_answers_502(resetting_server: int) -> None:
    async with http_client(proxy_app({"reset.test": [LOOPBACK]})) as client:
        response = await post(client, f"http://reset.test:{resetting_server}/")
    await assert_bad_gateway(response, "")


async def test_positive_control_the_same_app_reaches_a_live_loopback_target() -> None:
    """The 502s above are about the targets: the app itself forwards to a listening port."""
    server = socket.socket()
    server.bind((LOOPBACK, 0))
    server.listen(1)
    port = server.getsockname()[1]

    def answer() -> None:
        conn, _ = server.accept()
        conn.recv(4096)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
            b"Connection: close\r\n\r\nok"
        )
        conn.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        async with http_client(proxy_app({"live.test": [LOOPBACK]})) as client:
            response = await post(client, f"http://live.test:{port}/")
    finally:
        thread.join(5)
        server.close()
    assert response.status_code == 200 and response.json()["data"] == "ok"


def one_answer_server(body: bytes) -> tuple[socket.socket, threading.Thread]:
    """A loopback server that answers one request with ``body`` as application/json."""
    server = socket.socket()
    server.bind((LOOPBACK, 0))
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        conn.recv(4096)
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        conn.sendall(head + body)
        conn.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return server, thread


@pytest.mark.parametrize(("levels", "status"), [(64, 200), (65, 502), (100_000, 502)])
async def test_upstream_json_deeper_than_the_limit_is_502_not_a_crash(
    levels: int, status: int
) -> None:
    body = ("[" * levels + "]" * levels).encode()
    server, thread = one_answer_server(body)
    port = server.getsockname()[1]
    try:
        async with http_client(proxy_app({"deep.test": [LOOPBACK]})) as client:
            response = await post(client, f"http://deep.test:{port}/")
    finally:
        thread.join(5)
        server.close()
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["data"] == json.loads(body)
    else:
        assert response.json() == {
            "error": "Proxy request failed",
            "details": "The upstream answer is JSON nested deeper than 64 levels",
            "errorType": "NestingTooDeep",
        }
