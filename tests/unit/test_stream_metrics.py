"""The stream hub reports updates (with their exchange lag), restarts and watchdog firings."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.adapters.cache.memory import InMemoryInstanceCache
from app.adapters.metrics import RecordingMetrics
from app.domain.config import ExchangeConfig
from app.domain.errors import ExchangeUnreachable
from app.domain.streams import StreamHub, StreamRequest, StreamService, SubscriptionRegistry
from app.domain.streams.lag import exchange_lag_seconds
from app.settings import CacheSettings, StreamSettings
from app.testing import eventually
from app.testing.fakes import FakeBackend

NOW_MS = 1_750_000_000_000


def test_lag_comes_from_the_exchange_timestamp_where_the_data_has_one() -> None:
    assert exchange_lag_seconds("ticker", {"timestamp": NOW_MS - 250}, NOW_MS) == 0.25
    assert exchange_lag_seconds("orderbook", {"timestamp": NOW_MS}, NOW_MS) == 0.0
    trades = [{"timestamp": NOW_MS - 5000}, {"timestamp": NOW_MS - 100}]
    assert exchange_lag_seconds("trades", trades, NOW_MS) == 0.1  # the newest trade
    assert exchange_lag_seconds("ticker", {"timestamp": NOW_MS + 50}, NOW_MS) == 0.0  # skew
    for data_type, data in (
        ("ticker", {"timestamp": None}),
        ("ticker", {}),
        ("trades", []),
        ("ohlcv", [[NOW_MS, 1, 2, 0.5, 1.5, 10]]),
        ("balance", {"free": {}}),
        ("ticker", {"timestamp": True}),
        ("ticker", "text"),
    ):
        assert exchange_lag_seconds(data_type, data, NOW_MS) is None


class _Publisher:
    def publish(self, update: object, subscribers: object) -> None: ...
    def publish_error(self, message: str, subscribers: object) -> None: ...
    def discard(self, subscriber: object) -> None: ...
    def forget_connection(self, connection_id: str) -> None: ...


@pytest.fixture
async def wired() -> AsyncIterator[tuple[StreamHub, StreamService, FakeBackend, RecordingMetrics]]:
    backend = FakeBackend()
    metrics = RecordingMetrics()
    cache = InMemoryInstanceCache(backend.create, CacheSettings())
    settings = StreamSettings(retry_initial_seconds=0.01, retry_jitter=0.0)
    registry = SubscriptionRegistry()

    async def no_sleep(_: float) -> None:
        return None

    hub = StreamHub(
        cache,
        _Publisher(),
        settings,
        on_subscribers_ended=registry.forget_ended,
        sleep=no_sleep,
        clock_ms=lambda: NOW_MS,
        metrics=metrics,
    )
    yield hub, StreamService(hub, registry, settings), backend, metrics
    await hub.aclose()
    await cache.aclose()


async def test_updates_restarts_and_lag_reach_the_metrics(
    wired: tuple[StreamHub, StreamService, FakeBackend, RecordingMetrics],
) -> None:
    hub, streams, backend, metrics = wired
    request = StreamRequest(ExchangeConfig(exchange_id="fake"), "ticker", "BTC/USDT")
    await streams.subscribe("c1", request)
    gw = await backend.watching_gateway("ticker", "BTC/USDT")
    gw.push("ticker", "BTC/USDT", {"symbol": "BTC/USDT", "timestamp": NOW_MS - 400})
    await eventually(lambda: metrics.counts[("stream_update", "ticker")] == 1)
    assert metrics.observed[("stream_update", "ticker")] == [0.4]
    snap = hub.snapshot()[0]
    assert snap.latest_lag_seconds == 0.4 and snap.subscribers == 1
    assert metrics.counts[("stream_restarted", "ticker")] == 0  # positive control below
    gw.fail_next("watch_ticker", ExchangeUnreachable("down"))
    gw.push("ticker", "BTC/USDT", {"symbol": "BTC/USDT", "timestamp": NOW_MS})
    await eventually(lambda: metrics.counts[("stream_restarted", "ticker")] == 1)
    assert metrics.counts[("watchdog_fired", "ticker")] == 0


async def test_a_silent_stream_counts_a_watchdog_firing() -> None:
    backend = FakeBackend()
    metrics = RecordingMetrics()
    cache = InMemoryInstanceCache(backend.create, CacheSettings())
    settings = StreamSettings(watchdog_seconds={"ticker": 0.05})
    registry = SubscriptionRegistry()
    hub = StreamHub(
        cache, _Publisher(), settings, on_subscribers_ended=registry.forget_ended, metrics=metrics
    )
    try:
        request = StreamRequest(ExchangeConfig(exchange_id="fake"), "ticker", "BTC/USDT")
        await StreamService(hub, registry, settings).subscribe("c1", request)
        await eventually(lambda: metrics.counts[("watchdog_fired", "ticker")] >= 1)
        assert metrics.counts[("stream_restarted", "ticker")] >= 1
        assert metrics.counts[("stream_update", "ticker")] == 0  # it was silent
    finally:
        await hub.aclose()
        await cache.aclose()
