"""Updates written straight to the websocket by the publisher (ADR 0130) arrive whole, in order.

The server runs under uvicorn's websockets-sansio protocol, as the CLI configures it, so the
publisher's ``BoundedSocket.write_now`` path is the one taken for an idle websocket; a spy
proves it was taken (and the unit tests in tests/unit/test_socketio_poll.py prove when not).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.adapters.socketio.engine import BoundedSocket
from app.testing.fakes import FakeBackend
from tests.support.app import TOKEN

Connect = Callable[..., Any]
TICKER = {
    "exchangeId": "fake",
    "symbol": "BTC/USDT",
    "dataType": "ticker",
    "config": {"exchangeId": "fake", "ccxtType": "pro"},
}


async def test_updates_written_at_once_arrive_in_order(
    connect: Connect, fake_backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes: list[bool] = []
    write_now = BoundedSocket.write_now

    def spy(self: BoundedSocket, text: str) -> bool:
        done = write_now(self, text)
        outcomes.append(done)
        return done

    monkeypatch.setattr(BoundedSocket, "write_now", spy)
    clients = [await connect() for _ in range(3)]
    for client in clients:
        await client.authenticate(TOKEN)
        await client.emit("subscribe", TICKER)
        await client.expect("subscribed")
    gateway = await fake_backend.watching_gateway("ticker", "BTC/USDT")
    for n in range(1, 21):
        await gateway.wait_for_watchers("ticker", "BTC/USDT")  # the loop has re-armed
        gateway.push("ticker", "BTC/USDT", {**gateway.ticker_for("BTC/USDT"), "n": n})
    for client in clients:
        received = []
        while len(received) < 20:
            event = await client.expect("data")
            if not event.get("cached"):
                received.append(event["data"]["n"])
        assert received == list(range(1, 21))
    assert outcomes.count(True) >= 20  # the direct path carried most of the 60
