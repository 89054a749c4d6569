"""SocketIOPublisher and the coalescing policy: encode once, bounded memory for slow readers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from app.adapters.socketio import publisher as publisher_module
from app.adapters.socketio.publisher import SocketIOPublisher
from app.domain.streams.coalesce import MAX_CANDLES, MAX_TRADES, merge
from app.domain.streams.model import StreamUpdate, Subscriber
from app.testing import eventually


class FakeEioSocket:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = False
        self.upgraded = True  # a websocket (long-polling is tested end to end)

    def drain(self) -> list[Any]:
        """Decode every queued socket.io packet: [event, payload]."""
        packets = []
        while not self.queue.empty():
            packet = self.queue.get_nowait()
            assert packet.data[0] == "2"
            packets.append(json.loads(packet.data[1:]))
        return packets


class FakeSio:
    """Just what the publisher touches: the sid map and engine.io's socket table."""

    def __init__(self, sids: list[str]) -> None:
        self.sockets = {f"eio-{sid}": FakeEioSocket() for sid in sids}
        self.manager = self
        self.eio = self

    def eio_sid_from_sid(self, sid: str, namespace: str) -> str | None:
        return f"eio-{sid}" if f"eio-{sid}" in self.sockets else None


def update(data: Any, data_type: str = "ticker", timeframe: str | None = None) -> StreamUpdate:
    return StreamUpdate("fake", data_type, "BTC/USDT", timeframe, data, 1_700_000_000_123)


@pytest.fixture
def sio() -> FakeSio:
    return FakeSio(["fast", "slow"])


@pytest.fixture
async def publisher(sio: FakeSio) -> Any:
    pub = SocketIOPublisher(max_queued=4, flush_interval=0.005)
    pub.bind(sio)
    yield pub
    await pub.aclose()


FAST = Subscriber("fast", "fast:fake:BTC/USDT:ticker")
SLOW = Subscriber("slow", "slow:fake:BTC/USDT:ticker")


async def test_data_event_matches_the_contract(publisher: SocketIOPublisher, sio: FakeSio) -> None:
    publisher.publish(update({"last": 1.5}, "ohlcv", "1m"), [FAST])
    [[event, payload]] = sio.sockets["eio-fast"].drain()
    assert event == "data"
    assert list(payload) == [
        "subscriptionId",
        "dataType",
        "exchange",
        "symbol",
        "timeframe",
        "data",
        "timestamp",
    ]
    assert payload["subscriptionId"] == FAST.subscription_id
    assert payload["exchange"] == "fake" and payload["data"] == {"last": 1.5}
    publisher.publish(update({"last": 2}), [FAST])
    [[_, payload]] = sio.sockets["eio-fast"].drain()
    assert "timeframe" not in payload


async def test_update_is_serialised_once_for_all_subscribers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = 0
    original = publisher_module.encode_data_tail

    def counting(u: StreamUpdate) -> str:
        nonlocal calls
        calls += 1
        return original(u)

    monkeypatch.setattr(publisher_module, "encode_data_tail", counting)
    sio = FakeSio([f"c{i}" for i in range(100)])
    publisher = SocketIOPublisher()
    publisher.bind(sio)
    many = [Subscriber(f"c{i}", f"c{i}:fake:BTC/USDT:ticker") for i in range(100)]
    publisher.publish(update({"last": 1}), many)
    assert calls == 1
    for i in range(100):
        [[_, payload]] = sio.sockets[f"eio-c{i}"].drain()
        assert payload["subscriptionId"] == f"c{i}:fake:BTC/USDT:ticker"


async def test_slow_consumer_is_bounded_latest_wins_and_does_not_delay_others(
    publisher: SocketIOPublisher, sio: FakeSio
) -> None:
    for i in range(1000):
        publisher.publish(update({"last": i}), [SLOW, FAST])
        fast = sio.sockets["eio-fast"].drain()  # the fast client reads everything at once
        assert [p[1]["data"] for p in fast] == [{"last": i}]
    slow = sio.sockets["eio-slow"]
    assert slow.queue.qsize() == 4  # the cap
    assert publisher.parked_count() == 1  # one pending update per subscription
    delivered = [p[1]["data"]["last"] for p in slow.drain()]
    assert delivered == [0, 1, 2, 3]
    # The flusher moves the newest pending update on once the queue has room.
    await eventually(lambda: publisher.parked_count() == 0, message="the flusher ran")
    assert [p[1]["data"]["last"] for p in slow.drain()] == [999]


async def test_slow_trades_are_concatenated_and_candles_merged(
    publisher: SocketIOPublisher, sio: FakeSio
) -> None:
    trades_sub = Subscriber("slow", "slow:trades")
    candles_sub = Subscriber("slow", "slow:ohlcv")
    for i in range(4):  # fill the queue
        publisher.publish(update({"last": i}), [SLOW])
    sio.sockets["eio-slow"].drain()
    for i in range(4):
        publisher.publish(update({"last": i}), [SLOW])
    publisher.publish(update([{"id": 1}], "trades"), [trades_sub])
    publisher.publish(update([{"id": 2}, {"id": 3}], "trades"), [trades_sub])
    publisher.publish(update([[60, 1, 1, 1, 1, 1]], "ohlcv", "1m"), [candles_sub])
    publisher.publish(
        update([[60, 1, 2, 1, 2, 3], [120, 2, 2, 2, 2, 1]], "ohlcv", "1m"), [candles_sub]
    )
    sio.sockets["eio-slow"].drain()
    await eventually(lambda: publisher.parked_count() == 0, message="the flusher ran")
    by_id = {p[1]["subscriptionId"]: p[1]["data"] for p in sio.sockets["eio-slow"].drain()}
    assert by_id["slow:trades"] == [{"id": 1}, {"id": 2}, {"id": 3}]
    assert by_id["slow:ohlcv"] == [[60, 1, 2, 1, 2, 3], [120, 2, 2, 2, 2, 1]]


async def test_discard_drops_pending_updates(publisher: SocketIOPublisher, sio: FakeSio) -> None:
    for i in range(10):
        publisher.publish(update({"last": i}), [SLOW])
    assert publisher.parked_count() == 1
    publisher.discard(SLOW)
    assert publisher.parked_count() == 0


async def test_gone_socket_is_skipped_and_errors_are_scrubbed(
    publisher: SocketIOPublisher, sio: FakeSio
) -> None:
    publisher.publish(update({"last": 1}), [Subscriber("ghost", "ghost:1")])
    publisher.publish_error("failed: https://x/?apiKey=SECRETVALUE", [FAST])
    [[event, payload]] = sio.sockets["eio-fast"].drain()
    assert event == "error" and payload["subscriptionId"] == FAST.subscription_id
    assert "SECRETVALUE" not in payload["error"]


def test_merge_policy_bounds() -> None:
    assert merge("ticker", {"a": 1}, {"a": 2}) == {"a": 2}
    trades = merge("trades", [{"id": i} for i in range(MAX_TRADES)], [{"id": "new"}])
    assert len(trades) == MAX_TRADES and trades[-1] == {"id": "new"}
    candles = merge("ohlcv", [[i, 0] for i in range(MAX_CANDLES)], [[MAX_CANDLES, 1], [0, 9]])
    assert len(candles) == MAX_CANDLES and candles[-1] == [MAX_CANDLES, 1]
    assert candles[0][0] == 1  # oldest dropped, sorted by open time
