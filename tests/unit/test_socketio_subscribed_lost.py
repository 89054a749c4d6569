"""Issue 13: a subscription whose ``subscribed`` answer could not be sent is not kept (its
client cannot know its id), and a ``history`` subscriber is not left held out of updates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.adapters.cache.memory import InMemoryInstanceCache
from app.domain.streams import StreamHub, StreamService, SubscriptionRegistry
from app.entrypoints.socketio.server import create_socketio_server
from app.settings import CacheSettings, StreamSettings
from app.testing.fakes import FakeBackend
from tests.support.app import TOKEN, make_settings
from tests.unit.test_stream_browser import Publisher


@pytest.fixture
async def service() -> AsyncIterator[tuple[StreamService, StreamHub]]:
    backend = FakeBackend()
    cache = InMemoryInstanceCache(backend.create, CacheSettings())
    registry = SubscriptionRegistry()
    hub = StreamHub(
        cache, Publisher(), StreamSettings(), on_subscribers_ended=registry.forget_ended
    )
    yield StreamService(hub, registry, StreamSettings()), hub
    await hub.aclose()
    await cache.aclose()


class Lost(Exception):
    pass


async def subscribe_while_subscribed_is_lost(
    streams: StreamService, payload: dict[str, Any], *, lose: bool
) -> list[str]:
    sio = create_socketio_server(streams, make_settings(), lambda exchange_id: True)
    sent: list[str] = []

    async def emit(event: str, *args: Any, **kwargs: Any) -> None:
        sent.append(event)
        if event == "subscribed" and lose:
            raise Lost  # e.g. the handler's task is cancelled, or the transport fails here

    sio.emit = emit  # type: ignore[method-assign]
    handlers = sio.handlers["/"]
    await handlers["connect"]("s1", {}, {"token": TOKEN})
    if lose:
        with pytest.raises(Lost):
            await handlers["subscribe"]("s1", payload)
    else:
        await handlers["subscribe"]("s1", payload)
    return sent


PAYLOAD = {
    "exchangeId": "fake",
    "symbol": "BTC/USDT",
    "dataType": "ohlcv",
    "timeframe": "1m",
    "history": 5,
    "config": {"exchangeId": "fake"},
}


async def test_a_subscription_whose_subscribed_is_lost_is_not_kept(
    service: tuple[StreamService, StreamHub],
) -> None:
    streams, hub = service
    sent = await subscribe_while_subscribed_is_lost(streams, PAYLOAD, lose=True)
    assert sent == ["subscribed"]
    assert streams.subscription_count("s1") == 0
    await hub.idle()
    assert hub.stats()["streams"] == 0  # and its stream, unused, stopped


async def test_positive_control_a_delivered_subscribed_keeps_the_subscription(
    service: tuple[StreamService, StreamHub],
) -> None:
    streams, hub = service
    sent = await subscribe_while_subscribed_is_lost(streams, PAYLOAD, lose=False)
    assert sent == ["subscribed"]  # (data goes through the publisher, not emit)
    assert streams.subscription_count("s1") == 1
    assert hub.stats()["streams"] == 1
