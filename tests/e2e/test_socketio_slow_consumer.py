"""A client that stops reading: bounded server memory, and other clients are not held up."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from typing import Any
from urllib.parse import urlsplit

from app.adapters.socketio.publisher import SocketIOPublisher
from app.entrypoints.asgi import Application
from app.testing import eventually
from app.testing.fakes import FakeBackend
from tests.e2e.socketio_client import EventClient
from tests.support.app import TOKEN

TICKER = {
    "exchangeId": "fake",
    "symbol": "BTC/USDT",
    "dataType": "ticker",
    "config": {"exchangeId": "fake", "ccxtType": "pro"},
}


def ws_frame(text: str) -> bytes:
    """One masked websocket text frame (client to server)."""
    payload = text.encode()
    mask = os.urandom(4)
    header = bytes([0x81])
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    else:
        header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


async def stalled_client(url: str) -> asyncio.StreamWriter:
    """Connects, authenticates, subscribes, and then never reads a byte again."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
            f"Host: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.write(ws_frame("40" + json.dumps({"token": TOKEN})))
    writer.write(ws_frame("42" + json.dumps(["subscribe", TICKER])))
    await writer.drain()
    return writer


async def test_stalled_client_is_bounded_and_does_not_delay_others(
    server_url: str, fake_backend: FakeBackend, application: Application
) -> None:
    publisher: SocketIOPublisher = application.container.stream_publisher()
    hub = application.container.stream_service()
    stalled = await stalled_client(server_url)
    fast = EventClient()
    await fast.connect(server_url, auth={"token": TOKEN})
    try:
        await fast.emit("subscribe", TICKER)
        await fast.expect("subscribed")
        await eventually(lambda: hub.stats()["subscriptions"] == 2, message="both subscribed")
        gw = fake_backend.created[0]
        big = {"symbol": "BTC/USDT", "info": {"padding": "x" * 20_000}}
        # Push until the stalled socket's buffers are full and its updates are being parked.
        sent = 0
        for sent in range(1, 3001):
            await gw.wait_for_watchers("ticker", "BTC/USDT")
            gw.push("ticker", "BTC/USDT", {**big, "last": sent})
            latest: Any = None
            while latest is None or latest["data"]["last"] != sent:  # the fast client keeps up
                latest = await fast.expect("data", timeout=2)
            if publisher.parked_updates > 100:
                break
        assert publisher.parked_updates > 100, "the stalled client never fell behind"
        # Bounded: at most 64 packets queued and one pending update for the stalled socket.
        queues = [s.queue.qsize() for s in application_sockets(application)]
        assert max(queues) <= 64
        assert publisher.parked_count() <= 1
        # After all that, a fresh update still reaches the fast client at once.
        await gw.wait_for_watchers("ticker", "BTC/USDT")
        gw.push("ticker", "BTC/USDT", {"last": -1})
        assert (await fast.expect("data", timeout=1))["data"] == {"last": -1}
    finally:
        await fast.close()
        stalled.close()


def application_sockets(application: Application) -> list[Any]:
    sio = application.container.stream_publisher()._sio
    return list(sio.eio.sockets.values())
