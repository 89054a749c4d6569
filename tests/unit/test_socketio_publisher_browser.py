"""SocketIOPublisher additions of issue 13: ``cached`` on a join's first data, ``status``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from app.adapters.socketio.publisher import SocketIOPublisher
from app.domain.streams.model import StreamUpdate, Subscriber
from tests.unit.test_stream_hub_publisher import FakeSio

SUB = Subscriber("fast", "fast:fake:BTC/USDT:ticker")


@pytest.fixture
def sio() -> FakeSio:
    return FakeSio(["fast"])


@pytest.fixture
async def publisher(sio: FakeSio) -> AsyncIterator[SocketIOPublisher]:
    pub = SocketIOPublisher(max_queued=4, flush_interval=0.005)
    pub.bind(sio)
    yield pub
    await pub.aclose()


async def test_cached_is_only_on_a_replayed_update(
    publisher: SocketIOPublisher, sio: FakeSio
) -> None:
    live = StreamUpdate("fake", "ticker", "BTC/USDT", None, {"last": 1}, 1_700_000_000_123)
    publisher.publish(live, [SUB])
    publisher.publish(replace(live, cached=True), [SUB])
    [[_, plain], [_, cached]] = sio.sockets["eio-fast"].drain()
    assert "cached" not in plain  # seed-era clients see the payload they always saw
    assert cached["cached"] is True and cached["timestamp"] == 1_700_000_000_123
    assert list(cached)[-2:] == ["timestamp", "cached"]


async def test_status_event_shape(publisher: SocketIOPublisher, sio: FakeSio) -> None:
    publisher.publish_status("stale", "No data from the exchange for 5s", [SUB])
    [[event, payload]] = sio.sockets["eio-fast"].drain()
    assert event == "status"
    assert payload == {
        "subscriptionId": SUB.subscription_id,
        "state": "stale",
        "reason": "No data from the exchange for 5s",
    }
