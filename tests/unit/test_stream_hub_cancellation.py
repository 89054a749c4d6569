"""Stopping a stream is never lost, even when it races the watchdog's restart (Python 3.11)."""

from __future__ import annotations

import asyncio
import random

from app.adapters.cache.memory import InMemoryInstanceCache
from app.domain.config import ExchangeConfig
from app.domain.streams import StreamHub, StreamRequest, StreamService, SubscriptionRegistry
from app.settings import CacheSettings, StreamSettings
from app.testing import eventually
from app.testing.fakes import FakeBackend


class NullPublisher:
    def publish(self, update: object, subscribers: object) -> None: ...
    def publish_error(self, message: str, subscribers: object) -> None: ...
    def publish_status(self, state: str, reason: str, subscribers: object) -> None: ...
    def discard(self, subscriber: object) -> None: ...
    def forget_connection(self, connection_id: str) -> None: ...


async def test_unsubscribe_during_constant_watchdog_restarts_always_stops_the_loop() -> None:
    """A 1 ms watchdog restarts (and un-watches) all the time; every stop must still land."""
    backend = FakeBackend()
    cache = InMemoryInstanceCache(backend.create, CacheSettings())
    registry = SubscriptionRegistry()
    settings = StreamSettings(watchdog_seconds={"ticker": 0.001})
    hub = StreamHub(cache, NullPublisher(), settings, on_subscribers_ended=registry.forget_ended)
    streams = StreamService(hub, registry, settings)
    request = StreamRequest(
        config=ExchangeConfig(exchange_id="fake", ccxt_type="pro"),
        data_type="ticker",
        symbol="BTC/USDT",
        timeframe=None,
    )
    rng = random.Random(7)
    tasks_before = len(asyncio.all_tasks())
    try:
        for i in range(150):
            made = await streams.subscribe(f"c{i}", request)
            # Not a synchronisation: a random point inside the watchdog's restart cycle.
            await asyncio.sleep(rng.random() * 0.004)
            assert streams.unsubscribe(f"c{i}", made.subscription_id)
        async with asyncio.timeout(10):
            await hub.idle()
        assert hub.stats()["loops"] == 0
        assert cache.held() == 0
        await eventually(lambda: len(asyncio.all_tasks()) == tasks_before, message="no task left")
    finally:
        async with asyncio.timeout(15):
            await hub.aclose()
            await cache.aclose()
