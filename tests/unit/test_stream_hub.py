"""StreamService over StreamHub: one upstream per stream, fan-out, stop on last leave, recovery,
watchdog, leaks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.adapters.cache.memory import InMemoryInstanceCache
from app.domain.config import Credentials, ExchangeConfig
from app.domain.errors import BadSymbol, ExchangeTimeout, ExchangeUnreachable, ServerShuttingDown
from app.domain.streams import (
    StreamHub,
    StreamRequest,
    StreamService,
    Subscriber,
    SubscriptionRegistry,
    SubscriptionRejected,
)
from app.settings import CacheSettings, StreamSettings
from app.testing import eventually
from app.testing.fakes import FakeBackend, FakeExchangeGateway


class RecordingPublisher:
    """A StreamPublisher that remembers every call."""

    def __init__(self) -> None:
        self.updates: list[tuple[Any, tuple[Subscriber, ...]]] = []
        self.errors: list[tuple[str, tuple[Subscriber, ...]]] = []
        self.statuses: list[tuple[str, str, tuple[Subscriber, ...]]] = []
        self.discarded: list[Subscriber] = []
        self.forgotten: list[str] = []

    def publish(self, update: Any, subscribers: Any) -> None:
        self.updates.append((update, tuple(subscribers)))

    def publish_error(self, message: str, subscribers: Any) -> None:
        self.errors.append((message, tuple(subscribers)))

    def publish_status(self, state: str, reason: str, subscribers: Any) -> None:
        self.statuses.append((state, reason, tuple(subscribers)))

    def discard(self, subscriber: Subscriber) -> None:
        self.discarded.append(subscriber)

    def forget_connection(self, connection_id: str) -> None:
        self.forgotten.append(connection_id)


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


def request(data_type: str = "ticker", symbol: str = "BTC/USDT", **config: Any) -> StreamRequest:
    return StreamRequest(
        config=ExchangeConfig(exchange_id="fake", ccxt_type="pro", **config),
        data_type=data_type,
        symbol=symbol,
        timeframe="1m" if data_type == "ohlcv" else None,
    )


def sub(conn: str = "c1", data_type: str = "ticker") -> Subscriber:
    """The subscriber the service makes for ``request(data_type)`` on connection ``conn``."""
    timeframe = ":1m" if data_type == "ohlcv" else ""
    return Subscriber(conn, f"{conn}:fake:BTC/USDT:{data_type}{timeframe}")


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def settings() -> StreamSettings:
    return StreamSettings(retry_initial_seconds=0.01, retry_max_seconds=1.0, retry_jitter=0.0)


@pytest.fixture
async def cache(backend: FakeBackend) -> AsyncIterator[InMemoryInstanceCache]:
    cache = InMemoryInstanceCache(backend.create, CacheSettings())
    yield cache
    await cache.aclose()


@pytest.fixture
async def hub(
    cache: InMemoryInstanceCache,
    publisher: RecordingPublisher,
    settings: StreamSettings,
    sleep: RecordingSleep,
    registry: SubscriptionRegistry,
) -> AsyncIterator[StreamHub]:
    hub = StreamHub(
        cache, publisher, settings, sleep=sleep, on_subscribers_ended=registry.forget_ended
    )
    yield hub
    await hub.aclose()


@pytest.fixture
def registry() -> SubscriptionRegistry:
    return SubscriptionRegistry()


@pytest.fixture
def streams(hub: StreamHub, registry: SubscriptionRegistry) -> StreamService:
    return StreamService(hub, registry, StreamSettings())


def make_streams(
    cache: Any, publisher: Any, settings: StreamSettings
) -> tuple[StreamHub, StreamService]:
    """A hub and the service over it, wired as the container wires them."""
    registry = SubscriptionRegistry()
    hub = StreamHub(cache, publisher, settings, on_subscribers_ended=registry.forget_ended)
    return hub, StreamService(hub, registry, StreamSettings())


def gateway(backend: FakeBackend, index: int = 0) -> FakeExchangeGateway:
    return backend.created[index]


def waiting_readers(hub: StreamHub) -> int:
    """REST readers parked in next_update, over all streams."""
    return sum(stream.waiters for stream in hub.snapshot())


async def test_fifty_subscribers_share_one_upstream_loop(
    hub: StreamHub, streams: StreamService, backend: FakeBackend, publisher: RecordingPublisher
) -> None:
    subscribers = [sub(f"c{i}") for i in range(50)]
    await asyncio.gather(*(streams.subscribe(s.connection_id, request()) for s in subscribers))
    gw = gateway(backend)
    await gw.wait_for_watchers("ticker", "BTC/USDT")
    assert len(backend.created) == 1
    assert hub.loops_started == 1
    assert gw.pending_watchers("ticker", "BTC/USDT") == 1
    gw.push("ticker", "BTC/USDT", {"last": 1})
    await gw.wait_for_watchers("ticker", "BTC/USDT")
    assert gw.calls["watch_ticker"] == 2
    assert len(publisher.updates) == 1  # handed over once, for all 50
    update, targets = publisher.updates[0]
    assert update.data == {"last": 1} and update.restarted
    assert set(targets) == set(subscribers)


async def test_last_unsubscribe_stops_loop_and_unwatches(
    hub: StreamHub,
    streams: StreamService,
    backend: FakeBackend,
    cache: InMemoryInstanceCache,
    publisher: RecordingPublisher,
) -> None:
    a = (await streams.subscribe("a", request())).subscription_id
    b = (await streams.subscribe("b", request())).subscription_id
    gw = gateway(backend)
    await gw.wait_for_watchers("ticker", "BTC/USDT")
    assert cache.held() == 1
    assert streams.unsubscribe("a", a)
    # The loop keeps serving b: the next update reaches b alone and the loop watches again.
    assert gw.push("ticker", "BTC/USDT", {"last": 2}) == 1
    await eventually(lambda: publisher.updates)
    assert publisher.updates[-1][1] == (Subscriber("b", b),)
    await gw.wait_for_watchers("ticker", "BTC/USDT")
    assert gw.un_watched == [] and hub.stats()["loops"] == 1
    # Positive control: the last one leaving is seen as an un_watch.
    assert streams.unsubscribe("b", b)
    await hub.idle()
    assert gw.un_watched == [("ticker", "BTC/USDT", None)]
    assert gw.pending_watchers("ticker", "BTC/USDT") == 0
    assert cache.held() == 0
    assert streams.stats() == {"streams": 0, "loops": 0, "subscriptions": 0, "connections": 0}
    assert not streams.unsubscribe("b", b)  # unknown: answered, nothing happens


async def test_disconnect_drops_every_subscription_of_the_connection(
    hub: StreamHub, streams: StreamService, backend: FakeBackend, publisher: RecordingPublisher
) -> None:
    await streams.subscribe("c", request("ticker"))
    await streams.subscribe("c", request("orderbook"))
    await streams.subscribe("other", request("ticker"))
    assert streams.disconnect("c") == 2
    await hub.idle()
    gw = gateway(backend)
    assert gw.un_watched == [("orderbook", "BTC/USDT", None)]
    assert hub.stats()["streams"] == 1 and streams.subscription_count("other") == 1
    assert publisher.forgotten == ["c"]  # the publisher hears of it from the service


async def test_duplicate_subscription_is_refused_even_when_concurrent(
    streams: StreamService,
) -> None:
    results = await asyncio.gather(
        streams.subscribe("c1", request()),
        streams.subscribe("c1", request()),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, SubscriptionRejected)]
    assert len(errors) == 1 and errors[0].details == "Subscription already exists"
    assert streams.subscription_count("c1") == 1


async def test_permanent_errors_are_refused_before_subscribed_and_leave_nothing(
    hub: StreamHub, streams: StreamService, backend: FakeBackend, cache: InMemoryInstanceCache
) -> None:
    backend.gateway_kwargs["has"] = {"watchTrades": False}
    with pytest.raises(SubscriptionRejected, match="fake does not support watchTrades"):
        await streams.subscribe("c1", request("trades"))
    with pytest.raises(BadSymbol, match="does not have market symbol NOPE/USDT"):
        await streams.subscribe("c1", request("ticker", "NOPE/USDT"))
    await hub.idle()
    assert streams.stats() == {"streams": 0, "loops": 0, "subscriptions": 0, "connections": 0}
    assert cache.held() == 0
    # Nothing registered: the same subscription can be made once the problem is gone.
    await streams.subscribe("c1", request("ticker"))
    assert streams.subscription_count("c1") == 1


async def test_permanent_error_from_upstream_ends_stream_once(
    hub: StreamHub, streams: StreamService, backend: FakeBackend, publisher: RecordingPublisher
) -> None:
    await streams.subscribe("c1", request())
    gw = gateway(backend)
    await gw.wait_for_watchers("ticker", "BTC/USDT")
    gw.fail_next("watch_ticker", BadSymbol("symbol delisted"))
    gw.push("ticker", "BTC/USDT", {"last": 1})
    await eventually(lambda: hub.stats()["loops"] == 0)
    assert [e[0] for e in publisher.errors] == ["symbol delisted"]
    assert streams.subscription_count("c1") == 0
    assert sub() in publisher.discarded


async def test_failing_stream_retries_with_growing_delays_then_heals(
    streams: StreamService,
    backend: FakeBackend,
    publisher: RecordingPublisher,
    sleep: RecordingSleep,
) -> None:
    await streams.subscribe("c1", request())
    gw = gateway(backend)
    await gw.wait_for_watchers("ticker", "BTC/USDT")
    gw.fail_next("watch_ticker", ExchangeUnreachable("connection reset"), times=4)
    gw.push("ticker", "BTC/USDT", {"last": 1})
    await gw.wait_for_watchers("ticker", "BTC/USDT")
    assert [e[0] for e in publisher.errors] == ["connection reset"] * 4
    assert sleep.delays == [0.01, 0.02, 0.04, 0.08]
    gw.push("ticker", "BTC/USDT", {"last": 2})
    await eventually(lambda: len(publisher.updates) == 2)
    assert publisher.updates[-1][0].data == {"last": 2}
    assert publisher.updates[-1][0].restarted  # first update after a restart: a full snapshot
    # A success resets the backoff.
    gw.fail_next("watch_ticker", ExchangeUnreachable("again"))
    await gw.wait_for_watchers("ticker", "BTC/USDT")
    gw.push("ticker", "BTC/USDT", {"last": 3})
    await eventually(lambda: len(sleep.delays) == 5)
    assert sleep.delays[-1] == 0.01


async def test_backoff_is_capped_and_jittered() -> None:
    from app.domain.streams.backoff import Backoff

    delays = [Backoff(1, 60, 2, 0.2, rand=lambda: 1.0).delay(n) for n in range(10)]
    assert delays[:3] == [1.2, 2.4, 4.8] and max(delays) == 60
    low = Backoff(1, 60, 2, 0.2, rand=lambda: 0.0).delay(0)
    assert low == pytest.approx(0.8)


async def test_orderbook_after_reconnect_delivers_full_book_first(
    streams: StreamService, backend: FakeBackend, publisher: RecordingPublisher
) -> None:
    await streams.subscribe("c1", request("orderbook"))
    gw = gateway(backend)
    await gw.wait_for_watchers("orderbook", "BTC/USDT")
    gw.push("orderbook", "BTC/USDT", {"bids": [[1, 1]], "asks": [[2, 1]], "nonce": 1})
    await gw.wait_for_watchers("orderbook", "BTC/USDT")
    # The next watch call fails (the exchange dropped the socket), then the loop reconnects.
    gw.fail_next("watch_order_book", ExchangeUnreachable("socket closed"))
    gw.push("orderbook", "BTC/USDT", {"bids": [[1, 1]], "asks": [], "nonce": 2})
    await gw.wait_for_watchers("orderbook", "BTC/USDT")
    assert [e[0] for e in publisher.errors] == ["socket closed"]
    full = {"bids": [[1, 2], [0.5, 1]], "asks": [[2, 3]], "nonce": 3}
    gw.push("orderbook", "BTC/USDT", full)
    await eventually(lambda: len(publisher.updates) == 3)
    assert not publisher.updates[1][0].restarted
    first_after = publisher.updates[2][0]
    assert first_after.restarted and first_after.data == full


async def test_silent_stream_is_restarted_by_watchdog_and_subscribers_told(
    cache: InMemoryInstanceCache, backend: FakeBackend, publisher: RecordingPublisher
) -> None:
    settings = StreamSettings(watchdog_seconds={"ticker": 0.05})
    hub, streams = make_streams(cache, publisher, settings)
    try:
        await streams.subscribe("c1", request())
        gw = gateway(backend)
        await eventually(lambda: len(publisher.errors) >= 1, timeout=2)
        assert "No data from the exchange for 0.05s" in publisher.errors[0][0]
        assert ("ticker", "BTC/USDT", None) in gw.un_watched
        await gw.wait_for_watchers("ticker", "BTC/USDT")  # resubscribed by itself
        assert gw.calls["watch_ticker"] >= 2
        gw.push("ticker", "BTC/USDT", {"last": 9})
        await eventually(lambda: len(publisher.updates) == 1)
        assert publisher.updates[0][0].restarted
    finally:
        await hub.aclose()


async def test_thousand_subscribe_cycles_leave_nothing_behind(
    hub: StreamHub,
    streams: StreamService,
    registry: SubscriptionRegistry,
    backend: FakeBackend,
    cache: InMemoryInstanceCache,
) -> None:
    await asyncio.sleep(0)
    tasks_before = len(asyncio.all_tasks())
    for i in range(1000):
        connection = f"c{i % 7}"
        made = await streams.subscribe(connection, request("ticker" if i % 2 else "trades"))
        if i % 3 == 0:
            streams.disconnect(connection)
        else:
            assert streams.unsubscribe(connection, made.subscription_id)
    await hub.idle()
    await eventually(lambda: len(asyncio.all_tasks()) == tasks_before, message="no task left")
    assert streams.stats() == {"streams": 0, "loops": 0, "subscriptions": 0, "connections": 0}
    assert hub._streams == {} and registry._by_connection == {} and hub._stopping == {}
    assert len(asyncio.all_tasks()) == tasks_before
    assert cache.held() == 0
    assert gateway(backend).pending_watchers("ticker", "BTC/USDT") == 0
    assert hub.loops_started == 1000


async def test_balance_streams_are_not_shared_between_credentials(
    hub: StreamHub, streams: StreamService, backend: FakeBackend, publisher: RecordingPublisher
) -> None:
    alice = request("balance", "", credentials=Credentials(api_key="alice-key", secret="s1"))
    bob = request("balance", "", credentials=Credentials(api_key="alice-key", secret="s2"))
    a_bal = await streams.subscribe("a", alice)
    await streams.subscribe("b", bob)
    assert hub.loops_started == 2 and len(backend.created) == 2
    gw_alice = next(g for g in backend.created if g.config.credentials.secret == "s1")
    await gw_alice.wait_for_watchers("balance", "")
    gw_alice.push("balance", "", {"total": {"BTC": 1}})
    await eventually(lambda: len(publisher.updates) == 1)
    assert publisher.updates[0][1] == (Subscriber("a", a_bal.subscription_id),)
    for update, _ in publisher.updates:
        assert "alice-key" not in repr(update) and "s1" not in repr(hub.stats())


async def test_next_update_shares_the_stream_and_times_out(
    hub: StreamHub, streams: StreamService, backend: FakeBackend, publisher: RecordingPublisher
) -> None:
    await streams.subscribe("c1", request())
    gw = gateway(backend)
    await gw.wait_for_watchers("ticker", "BTC/USDT")
    waiting = asyncio.gather(*(hub.next_update(request(), timeout=2) for _ in range(3)))
    await eventually(lambda: waiting_readers(hub) == 3, message="three readers parked")
    gw.push("ticker", "BTC/USDT", {"last": 5})
    assert await waiting == [{"last": 5}] * 3
    assert hub.loops_started == 1 and len(publisher.updates) == 1
    with pytest.raises(ExchangeTimeout):
        await hub.next_update(request("orderbook"), timeout=0.05)
    await hub.idle()
    assert hub.stats()["streams"] == 1  # only the socket subscriber's stream remains


async def test_aclose_stops_every_loop_and_releases_instances(
    cache: InMemoryInstanceCache, backend: FakeBackend, publisher: RecordingPublisher
) -> None:
    hub, streams = make_streams(cache, publisher, StreamSettings())
    await streams.subscribe("a", request("ticker"))
    await streams.subscribe("b", request("trades"))
    waiter = asyncio.create_task(hub.next_update(request("orderbook"), timeout=5))
    await gateway(backend).wait_for_watchers("orderbook", "BTC/USDT")
    # The upstream watch starts before the REST reader has parked: wait for the reader itself,
    # or aclose() can overtake it ("Stream ended" instead of the shutdown error).
    await eventually(lambda: waiting_readers(hub) == 1, message="the REST reader parked")
    await hub.aclose()
    with pytest.raises(ServerShuttingDown):  # 503 to a REST watch, not a timeout
        await waiter
    assert streams.stats() == {"streams": 0, "loops": 0, "subscriptions": 0, "connections": 0}
    assert cache.held() == 0
    assert sorted(gateway(backend).un_watched) == [
        ("orderbook", "BTC/USDT", None),
        ("ticker", "BTC/USDT", None),
        ("trades", "BTC/USDT", None),
    ]


class SlowUnwatchGateway(FakeExchangeGateway):
    """un_watch takes a while, as a real exchange round trip does."""

    events: list[str]

    async def un_watch(self, data_type: str, symbol: str, timeframe: str | None = None) -> None:
        self.events.append("un_watch started")
        await asyncio.sleep(0.05)
        await super().un_watch(data_type, symbol, timeframe)
        self.events.append("un_watch done")

    async def watch_ticker(self, symbol: str, params: Any = None) -> Any:
        self.events.append("watch")
        return await super().watch_ticker(symbol, params)


async def test_resubscribe_during_unwatch_waits_for_the_old_loop(
    publisher: RecordingPublisher, settings: StreamSettings
) -> None:
    gw = SlowUnwatchGateway()
    gw.events = []
    cache = InMemoryInstanceCache(lambda _config: gw, CacheSettings())
    hub, streams = make_streams(cache, publisher, settings)
    try:
        made = await streams.subscribe("c1", request())
        await gw.wait_for_watchers("ticker", "BTC/USDT")
        streams.unsubscribe("c1", made.subscription_id)
        await eventually(lambda: "un_watch started" in gw.events)  # the old loop is un-watching
        await streams.subscribe("c1", request())
        await gw.wait_for_watchers("ticker", "BTC/USDT")
        assert gw.events == ["watch", "un_watch started", "un_watch done", "watch"]
        assert hub.stats()["loops"] == 1
    finally:
        await hub.aclose()
        await cache.aclose()


async def test_stream_logs_carry_no_credentials(
    hub: StreamHub, streams: StreamService, backend: FakeBackend
) -> None:
    from structlog.testing import capture_logs

    secret_request = request(
        "balance", "", credentials=Credentials(api_key="AKIA-visible-key", secret="s3cr3t-value")
    )
    with capture_logs() as logs:
        made = await streams.subscribe("a", secret_request)
        gw = gateway(backend)
        await gw.wait_for_watchers("balance", "")
        gw.fail_next("watch_balance", ExchangeUnreachable("reset"))
        gw.push("balance", "", {"total": {}})
        await gw.wait_for_watchers("balance", "")
        streams.unsubscribe("a", made.subscription_id)
        await hub.idle()
    events = [entry["event"] for entry in logs]
    assert {"stream_started", "stream_retrying", "stream_stopped"} <= set(events)
    assert "AKIA-visible-key" not in repr(logs) and "s3cr3t-value" not in repr(logs)


async def test_latest_and_snapshot_report_a_live_streams_last_update_and_counts(
    hub: StreamHub, streams: StreamService, backend: FakeBackend
) -> None:
    """The read-only queries budget (latest) and metrics (snapshot) build on."""
    assert streams.latest(request()) is None  # no stream yet
    await streams.subscribe("c1", request())
    gw = gateway(backend)
    await gw.wait_for_watchers("ticker", "BTC/USDT")
    assert streams.latest(request()) is None  # live, nothing delivered yet
    waiter = asyncio.create_task(streams.read_next(request(), timeout=2))
    await eventually(lambda: hub.snapshot()[0].waiters == 1)
    (before,) = hub.snapshot()
    assert (before.data_type, before.symbol, before.subscribers, before.latest_age_seconds) == (
        "ticker",
        "BTC/USDT",
        1,
        None,
    )
    gw.push("ticker", "BTC/USDT", {"last": 7})
    assert await waiter == {"last": 7}
    latest = streams.latest(request())
    assert latest is not None and latest.data == {"last": 7} and 0 <= latest.age_seconds < 1
    (after,) = hub.snapshot()
    assert after.waiters == 0 and after.latest_age_seconds is not None
    assert streams.latest(request("orderbook")) is None  # another stream: not live
