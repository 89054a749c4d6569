"""Order book ``format: "delta"`` and ``depth`` end to end in-process: fake exchange, the hub,
the Socket.IO publisher over fake engine.io sockets (issue 13)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.adapters.cache.memory import InMemoryInstanceCache
from app.adapters.socketio.publisher import SocketIOPublisher
from app.domain.config import ExchangeConfig
from app.domain.streams import (
    StreamHub,
    StreamRequest,
    StreamService,
    SubscriptionRegistry,
    SubscriptionRejected,
)
from app.domain.streams.book import BookFrame, BookTracker, merge_frames
from app.domain.streams.model import Echo, View
from app.domain.streams.requests import parse_view
from app.settings import CacheSettings, StreamSettings
from app.testing.fakes import FakeBackend, FakeExchangeGateway
from app.testing.waiting import eventually
from tests.unit.test_stream_hub_publisher import FakeSio

SYMBOL = "BTC/USDT"
REQUEST = StreamRequest(ExchangeConfig(exchange_id="fake", ccxt_type="pro"), "orderbook", SYMBOL)


class MovingBook:
    """A 50-level book whose levels change, appear and vanish at random each step."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.bids = {100.0 - i * 0.5: 1.0 + i for i in range(50)}
        self.asks = {101.0 + i * 0.5: 1.0 + i for i in range(50)}
        self.n = 0

    def step(self) -> dict[str, Any]:
        self.n += 1
        for side, sign in ((self.bids, -1), (self.asks, 1)):
            for _ in range(self.rng.randint(1, 6)):
                price = (100.0 if sign < 0 else 101.0) + sign * 0.5 * self.rng.randint(0, 60)
                if self.rng.random() < 0.2 and price in side and len(side) > 30:
                    del side[price]
                else:
                    side[price] = round(self.rng.uniform(0.1, 9.9), 3)
        return {
            "symbol": SYMBOL,
            "timestamp": 1_700_000_000_000 + self.n,
            "nonce": self.n,
            "bids": [[p, a] for p, a in sorted(self.bids.items(), reverse=True)],
            "asks": [[p, a] for p, a in sorted(self.asks.items())],
        }


class Rebuilt:
    """What a browser does with delta events: apply them in order, checking seq."""

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.seq = 0
        self.kinds: list[str] = []

    def apply(self, data: dict[str, Any]) -> None:
        assert data["seq"] == self.seq + 1
        self.kinds.append(data["type"])
        if data["type"] == "snapshot":
            assert data["prevSeq"] is None
            self.bids, self.asks = {}, {}
        else:
            assert data["prevSeq"] == self.seq
        for side, levels in ((self.bids, data["bids"]), (self.asks, data["asks"])):
            for price, amount in levels:
                if amount == 0:
                    side.pop(price, None)
                else:
                    side[price] = amount
        self.seq = data["seq"]

    def book(self) -> tuple[list[list[float]], list[list[float]]]:
        return (
            [[p, a] for p, a in sorted(self.bids.items(), reverse=True)],
            [[p, a] for p, a in sorted(self.asks.items())],
        )


@pytest.fixture
async def rig() -> AsyncIterator[tuple[StreamService, FakeSio, FakeBackend]]:
    backend = FakeBackend()
    cache = InMemoryInstanceCache(backend.create, CacheSettings())
    sio = FakeSio(["full", "full20", "delta", "delta20", "slow20"])
    publisher = SocketIOPublisher(max_queued=4, flush_interval=0.005)
    publisher.bind(sio)
    registry = SubscriptionRegistry()
    hub = StreamHub(cache, publisher, StreamSettings(), on_subscribers_ended=registry.forget_ended)
    yield StreamService(hub, registry, StreamSettings()), sio, backend
    await hub.aclose()
    await publisher.aclose()
    await cache.aclose()


def drain(sio: FakeSio, sid: str) -> list[dict[str, Any]]:
    return [payload for event, payload in sio.sockets[f"eio-{sid}"].drain() if event == "data"]


async def test_deltas_rebuild_exactly_the_full_book_at_every_step(
    rig: tuple[StreamService, FakeSio, FakeBackend],
) -> None:
    streams, sio, backend = rig
    views = {
        "full": View(),
        "full20": View(depth=20),
        "delta": View("delta"),
        "delta20": View("delta", 20),
        "slow20": View("delta", 20),
    }
    for sid, view in views.items():
        made = await streams.subscribe(sid, REQUEST, Echo(SYMBOL, None, view))
        await streams.greet(sid, made.subscription_id)
    gw: FakeExchangeGateway = backend.created[0]
    book = MovingBook(seed=13)
    rebuilt = {sid: Rebuilt() for sid in ("delta", "delta20", "slow20")}
    sizes = dict.fromkeys(views, 0)
    for step in range(150):
        await gw.wait_for_watchers("orderbook", SYMBOL)
        gw.push("orderbook", SYMBOL, book.step())
        await gw.wait_for_watchers("orderbook", SYMBOL)
        [full] = drain(sio, "full")
        [full20] = drain(sio, "full20")
        assert full20["data"]["bids"] == full["data"]["bids"][:20]
        assert full20["data"]["asks"] == full["data"]["asks"][:20]
        assert full20["data"]["nonce"] == full["data"]["nonce"]  # the rest of the book as is
        for sid, expected in (("delta", full), ("delta20", full20)):
            [event] = drain(sio, sid)
            assert event["timestamp"] == expected["timestamp"]
            rebuilt[sid].apply(event["data"])
            bids, asks = rebuilt[sid].book()
            assert (bids, asks) == (expected["data"]["bids"], expected["data"]["asks"]), step
            assert len(event["data"]["bids"]) <= (20 if sid == "delta20" else 100)
            sizes[sid] += len(str(event["data"]))
        sizes["full"] += len(str(full["data"]))
        sizes["full20"] += len(str(full20["data"]))
    assert rebuilt["delta20"].kinds[0] == "snapshot" and set(rebuilt["delta20"].kinds[1:]) == {
        "delta"
    }
    assert sizes["delta20"] * 2 < sizes["full20"]  # the point of it
    # The slow reader never drained: 4 queued, the rest combined in one slot, still exact.
    await eventually(lambda: sio.sockets["eio-slow20"].queue.qsize() == 4)
    events = drain(sio, "slow20")
    await eventually(lambda: sio.sockets["eio-slow20"].queue.qsize() > 0)
    events += drain(sio, "slow20")
    assert len(events) == 5
    for event in events:
        rebuilt["slow20"].apply(event["data"])
    assert rebuilt["slow20"].book() == rebuilt["delta20"].book()
    assert rebuilt["slow20"].seq == 5


async def test_a_joiner_gets_a_cached_snapshot_then_deltas_and_resync_sends_a_snapshot(
    rig: tuple[StreamService, FakeSio, FakeBackend],
) -> None:
    streams, sio, backend = rig
    full = await streams.subscribe("full", REQUEST, Echo(SYMBOL, None, View(depth=20)))
    gw: FakeExchangeGateway = backend.created[0]
    book = MovingBook(seed=5)
    await gw.wait_for_watchers("orderbook", SYMBOL)
    gw.push("orderbook", SYMBOL, book.step())
    await gw.wait_for_watchers("orderbook", SYMBOL)
    made = await streams.subscribe("delta20", REQUEST, Echo(SYMBOL, None, View("delta", 20)))
    await streams.greet("delta20", made.subscription_id)
    [first] = drain(sio, "delta20")  # at once, from the latest book
    assert first["cached"] is True and first["data"]["type"] == "snapshot"
    client = Rebuilt()
    client.apply(first["data"])
    for _ in range(3):
        gw.push("orderbook", SYMBOL, book.step())
        await gw.wait_for_watchers("orderbook", SYMBOL)
        [event] = drain(sio, "delta20")
        assert "cached" not in event
        client.apply(event["data"])
    assert streams.resync("delta20", made.subscription_id)
    [again] = drain(sio, "delta20")
    assert again["data"]["type"] == "snapshot" and again["data"]["seq"] == 5
    client.apply(again["data"])
    last_full = drain(sio, "full")[-1]
    assert client.book() == (last_full["data"]["bids"], last_full["data"]["asks"])
    assert not streams.resync("full", full.subscription_id)  # not a delta subscription
    assert not streams.resync("delta20", "nope")


async def test_an_upstream_restart_sends_a_snapshot_by_itself(
    rig: tuple[StreamService, FakeSio, FakeBackend],
) -> None:
    from app.domain.errors import ExchangeUnreachable

    streams, sio, backend = rig
    await streams.subscribe("delta20", REQUEST, Echo(SYMBOL, None, View("delta", 20)))
    gw: FakeExchangeGateway = backend.created[0]
    book = MovingBook(seed=7)
    for _ in range(2):
        await gw.wait_for_watchers("orderbook", SYMBOL)
        gw.push("orderbook", SYMBOL, book.step())
    await gw.wait_for_watchers("orderbook", SYMBOL)
    gw.fail_next("watch_order_book", ExchangeUnreachable("dropped"))
    gw.push("orderbook", SYMBOL, book.step())  # the re-armed watch fails: a restart
    await gw.wait_for_watchers("orderbook", SYMBOL, timeout=5)
    gw.push("orderbook", SYMBOL, book.step())
    seen: list[Any] = []

    def arrived() -> bool:
        seen.extend(sio.sockets["eio-delta20"].drain())  # a reader keeps up (queue cap 4)
        return len(seen) >= 7

    await eventually(arrived)
    kinds = [p["data"]["type"] if e == "data" else e for e, p in seen]
    assert kinds == ["snapshot", "delta", "delta", "error", "status", "status", "snapshot"]


def test_frames_merge_like_sending_both_and_stay_bounded() -> None:
    tracker = BookTracker(5)
    book = MovingBook(seed=3)
    frames = [tracker.advance(book.step(), restarted=i == 0) for i in range(4)]
    merged: BookFrame = merge_frames(frames[1], frames[2])
    merged = merge_frames(merged, frames[3])
    client = Rebuilt()
    client.apply(
        {
            "type": "snapshot",
            "seq": 1,
            "prevSeq": None,
            "bids": frames[0].bids,
            "asks": frames[0].asks,
        }
    )
    client.apply(
        {
            "type": "delta",
            "seq": 2,
            "prevSeq": 1,
            "bids": merged.delta_bids,
            "asks": merged.delta_asks,
        }
    )
    assert client.book() == (frames[3].bids, frames[3].asks)
    assert not merge_frames(frames[0], frames[1]).has_delta  # frames[0] is a snapshot


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"format": "diff"}, 'format must be "full" or "delta"'),
        (
            {"format": "delta", "dataType": "ticker"},
            'format "delta" is for orderbook subscriptions only',
        ),
        ({"depth": 0}, "depth must be >= 1"),
        ({"depth": "20"}, "depth must be an integer"),
        ({"depth": True}, "depth must be an integer"),
        ({"depth": 10**9}, "depth must be <= 5000"),
        ({"history": 50}, "history is for ohlcv subscriptions only"),
        ({"history": 50, "dataType": "ohlcv"}, None),
        ({"history": 0, "dataType": "ohlcv"}, "history must be >= 1"),
        ({"depth": 20, "format": "delta"}, None),
        ({}, None),
    ],
)
def test_view_fields_are_validated(payload: dict[str, Any], error: str | None) -> None:
    data_type = payload.pop("dataType", "orderbook")
    if error is None:
        view = parse_view(payload, data_type)
        assert view.format == payload.get("format", "full")
        assert view.depth == payload.get("depth") and view.history == payload.get("history")
        return
    with pytest.raises(SubscriptionRejected) as caught:
        parse_view(payload, data_type)
    assert caught.value.details == error
