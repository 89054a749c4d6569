"""Issue 13 in the domain: a watch stays armed during delivery, last value on join, status."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from app.adapters.cache.memory import InMemoryInstanceCache
from app.domain.config import ExchangeConfig
from app.domain.streams import (
    StreamHub,
    StreamRequest,
    StreamService,
    StreamUpdate,
    Subscriber,
    SubscriptionRegistry,
)
from app.settings import CacheSettings, StreamSettings
from app.testing.fakes import FakeBackend, FakeExchangeGateway
from app.testing.waiting import eventually


class Publisher:
    """Records every call in one ordered list; ``on_publish`` runs during a delivery."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any, tuple[Subscriber, ...]]] = []
        self.on_publish: Callable[[StreamUpdate], None] | None = None

    def publish(self, update: StreamUpdate, subscribers: Any) -> None:
        self.events.append(("data", update, tuple(subscribers)))
        if self.on_publish is not None:
            self.on_publish(update)

    def publish_error(self, message: str, subscribers: Any) -> None:
        self.events.append(("error", message, tuple(subscribers)))

    def publish_status(self, state: str, reason: str, subscribers: Any) -> None:
        self.events.append(("status", (state, reason), tuple(subscribers)))

    def discard(self, subscriber: Subscriber) -> None: ...

    def forget_connection(self, connection_id: str) -> None: ...

    def data(self) -> list[StreamUpdate]:
        return [item for kind, item, _ in self.events if kind == "data"]

    def kinds(self) -> list[str]:
        return [kind if kind != "status" else f"status:{item[0]}" for kind, item, _ in self.events]


def request(data_type: str = "ticker") -> StreamRequest:
    return StreamRequest(
        config=ExchangeConfig(exchange_id="fake", ccxt_type="pro"),
        data_type=data_type,
        symbol="BTC/USDT",
        timeframe="1m" if data_type == "ohlcv" else None,
    )


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def publisher() -> Publisher:
    return Publisher()


@pytest.fixture
async def cache(backend: FakeBackend) -> AsyncIterator[InMemoryInstanceCache]:
    cache = InMemoryInstanceCache(backend.create, CacheSettings())
    yield cache
    await cache.aclose()


def make(
    cache: InMemoryInstanceCache, publisher: Publisher, settings: StreamSettings | None = None
) -> tuple[StreamHub, StreamService]:
    registry = SubscriptionRegistry()
    settings = settings or StreamSettings(retry_initial_seconds=0.01, retry_jitter=0.0)
    hub = StreamHub(cache, publisher, settings, on_subscribers_ended=registry.forget_ended)
    return hub, StreamService(hub, registry, StreamSettings())


@pytest.fixture
async def streams(
    cache: InMemoryInstanceCache, publisher: Publisher
) -> AsyncIterator[StreamService]:
    hub, service = make(cache, publisher)
    yield service
    await hub.aclose()


async def test_an_update_pushed_during_delivery_is_not_lost(
    streams: StreamService, backend: FakeBackend, publisher: Publisher
) -> None:
    """ccxt resolves an update only to a watch already waiting (the fake gateway does the
    same: ``push`` with nobody waiting returns 0 and the update is gone). The exchange pushes
    the second update while the first is being delivered: a watch must be armed then."""
    await streams.subscribe("c1", request())
    gw: FakeExchangeGateway = backend.created[0]
    await gw.wait_for_watchers("ticker", "BTC/USDT")
    armed_during_delivery: list[int] = []

    def exchange_pushes_again(update: StreamUpdate) -> None:
        if update.data == {"last": 1}:
            armed_during_delivery.append(gw.push("ticker", "BTC/USDT", {"last": 2}))

    publisher.on_publish = exchange_pushes_again
    assert gw.push("ticker", "BTC/USDT", {"last": 1}) == 1
    await eventually(lambda: len(publisher.data()) == 2)
    assert armed_during_delivery == [1]  # the old order (deliver, then watch) gives [0]
    assert [u.data for u in publisher.data()] == [{"last": 1}, {"last": 2}]
    await gw.wait_for_watchers("ticker", "BTC/USDT")  # and armed again after that
    assert gw.pending_watchers("ticker", "BTC/USDT") == 1


async def test_many_updates_in_a_row_during_delivery_all_arrive(
    streams: StreamService, backend: FakeBackend, publisher: Publisher
) -> None:
    await streams.subscribe("c1", request())
    gw: FakeExchangeGateway = backend.created[0]
    await gw.wait_for_watchers("ticker", "BTC/USDT")
    lost: list[int] = []

    def chain(update: StreamUpdate) -> None:
        n = update.data["last"]
        if n < 100 and gw.push("ticker", "BTC/USDT", {"last": n + 1}) == 0:
            lost.append(n + 1)

    publisher.on_publish = chain
    gw.push("ticker", "BTC/USDT", {"last": 1})
    await eventually(lambda: len(publisher.data()) == 100 or lost)
    assert lost == []
    assert [u.data["last"] for u in publisher.data()] == list(range(1, 101))


async def test_stopping_cancels_the_armed_watch(
    cache: InMemoryInstanceCache, backend: FakeBackend, publisher: Publisher
) -> None:
    hub, streams = make(cache, publisher)
    made = await streams.subscribe("c1", request())
    gw: FakeExchangeGateway = backend.created[0]
    await gw.wait_for_watchers("ticker", "BTC/USDT")
    gw.push("ticker", "BTC/USDT", {"last": 1})
    await gw.wait_for_watchers("ticker", "BTC/USDT")
    assert streams.unsubscribe("c1", made.subscription_id)
    await hub.idle()
    assert gw.pending_watchers("ticker", "BTC/USDT") == 0
    assert gw.un_watched == [("ticker", "BTC/USDT", None)]
    await hub.aclose()


async def test_a_joiner_gets_the_latest_update_at_once_marked_cached(
    streams: StreamService, backend: FakeBackend, publisher: Publisher
) -> None:
    first = await streams.subscribe("c1", request())
    gw: FakeExchangeGateway = backend.created[0]
    await gw.wait_for_watchers("ticker", "BTC/USDT")
    await streams.greet("c1", first.subscription_id)
    assert publisher.data() == []  # nothing yet to replay: positive control below
    gw.push("ticker", "BTC/USDT", {"last": 7})
    await eventually(lambda: len(publisher.data()) == 1)
    live = publisher.data()[0]
    assert not live.cached

    joiner = await streams.subscribe("c2", request())
    await streams.greet("c2", joiner.subscription_id)
    cached = publisher.data()[1]  # at once, no new exchange event
    assert cached.cached and cached.data == {"last": 7}
    assert cached.timestamp == live.timestamp  # when it was first delivered
    assert publisher.events[-1][2] == (Subscriber("c2", joiner.subscription_id),)
    await streams.greet("c2", joiner.subscription_id)  # once only
    assert len(publisher.data()) == 2


async def test_a_joiner_that_already_got_a_live_update_gets_no_older_cached_one(
    streams: StreamService, backend: FakeBackend, publisher: Publisher
) -> None:
    await streams.subscribe("c1", request())
    gw: FakeExchangeGateway = backend.created[0]
    await gw.wait_for_watchers("ticker", "BTC/USDT")
    gw.push("ticker", "BTC/USDT", {"last": 1})
    await gw.wait_for_watchers("ticker", "BTC/USDT")
    joiner = await streams.subscribe("c2", request())
    gw.push("ticker", "BTC/USDT", {"last": 2})  # reaches c2 before its greeting
    await eventually(lambda: len(publisher.data()) == 2)
    await streams.greet("c2", joiner.subscription_id)
    assert [u.data["last"] for u in publisher.data()] == [1, 2]


async def test_status_stale_recovering_then_live_around_a_silence(
    cache: InMemoryInstanceCache, backend: FakeBackend, publisher: Publisher
) -> None:
    settings = StreamSettings(watchdog_seconds={"ticker": 0.05})
    hub, streams = make(cache, publisher, settings)
    try:
        await streams.subscribe("c1", request())
        await eventually(lambda: "status:recovering" in publisher.kinds())
        gw: FakeExchangeGateway = backend.created[0]
        await gw.wait_for_watchers("ticker", "BTC/USDT")
        gw.push("ticker", "BTC/USDT", {"last": 3})
        await eventually(lambda: "data" in publisher.kinds())
        kinds = publisher.kinds()
        # the existing error event stays, between stale and recovering
        assert kinds[:3] == ["status:stale", "error", "status:recovering"]
        assert kinds[kinds.index("data") - 1] == "status:live"
        stale = next(item for kind, item, _ in publisher.events if kind == "status")
        assert "No data from the exchange for 0.05s" in stale[1]
    finally:
        await hub.aclose()


async def test_status_recovering_once_per_outage_on_errors_then_live(
    streams: StreamService, backend: FakeBackend, publisher: Publisher
) -> None:
    from app.domain.errors import ExchangeUnreachable

    await streams.subscribe("c1", request())
    gw: FakeExchangeGateway = backend.created[0]
    await gw.wait_for_watchers("ticker", "BTC/USDT")
    gw.push("ticker", "BTC/USDT", {"last": 1})
    await eventually(lambda: len(publisher.data()) == 1)
    assert "status:live" not in publisher.kinds()  # live from the start: no event
    gw.fail_next("watch_ticker", ExchangeUnreachable("down"), times=3)
    await gw.wait_for_watchers("ticker", "BTC/USDT")  # pending is the one armed earlier
    gw.push("ticker", "BTC/USDT", {"last": 2})
    await eventually(lambda: len(publisher.data()) == 2)
    await gw.wait_for_watchers("ticker", "BTC/USDT", timeout=5)
    gw.push("ticker", "BTC/USDT", {"last": 3})
    await eventually(lambda: len(publisher.data()) == 3)
    kinds = publisher.kinds()
    assert kinds.count("error") == 3
    assert kinds.count("status:recovering") == 1
    assert kinds.index("status:recovering") < kinds.index("status:live")
    assert kinds[kinds.index("status:live") + 1] == "data"


async def test_a_joiner_of_a_stale_stream_is_told_its_status(
    cache: InMemoryInstanceCache, backend: FakeBackend, publisher: Publisher
) -> None:
    settings = StreamSettings(watchdog_seconds={"ticker": 0.05})
    hub, streams = make(cache, publisher, settings)
    try:
        await streams.subscribe("c1", request())
        await eventually(lambda: "status:recovering" in publisher.kinds())
        joiner = await streams.subscribe("c2", request())
        before = len(publisher.events)
        await streams.greet("c2", joiner.subscription_id)
        kind, item, who = publisher.events[before]
        assert kind == "status" and item[0] in ("recovering", "stale")
        assert who == (Subscriber("c2", joiner.subscription_id),)
    finally:
        await hub.aclose()


STEP = 60_000
LAST_OPEN = 1_700_000_000_000 // STEP * STEP
"""The fake exchange's current 1m candle (``app.testing.fakes.NOW_MS``)."""


def candle(open_ms: int, close: float) -> list[float]:
    return [open_ms, 1.0, 2.0, 0.5, close, 3.0]


async def test_history_comes_first_then_live_candles(
    streams: StreamService, backend: FakeBackend, publisher: Publisher
) -> None:
    from app.domain.streams.model import Echo, View

    await streams.subscribe("c1", request("ohlcv"))
    gw: FakeExchangeGateway = backend.created[0]
    await gw.wait_for_watchers("ohlcv", "BTC/USDT", timeframe="1m")
    gw.push("ohlcv", "BTC/USDT", [candle(LAST_OPEN, 42.0)], timeframe="1m")
    await gw.wait_for_watchers("ohlcv", "BTC/USDT", timeframe="1m")
    made = await streams.subscribe("c2", request("ohlcv"), Echo("BTC/USDT", "1m", View(history=5)))
    joiner = Subscriber("c2", made.subscription_id)
    gw.push("ohlcv", "BTC/USDT", [candle(LAST_OPEN, 43.0)], timeframe="1m")
    await eventually(lambda: len(publisher.data()) == 2)
    assert all(joiner not in who for kind, _, who in publisher.events)  # held until history
    await streams.greet("c2", made.subscription_id)
    kind, first, who = publisher.events[-1]
    assert kind == "data" and who == (joiner,) and first.cached
    opens = [row[0] for row in first.data]
    assert opens == [LAST_OPEN - i * STEP for i in range(5, -1, -1)]  # 5 closed + current
    assert first.data[-1][4] == 43.0  # the live version of the current candle
    assert gw.last_args["fetch_ohlcv"][3] == 6
    gw.push("ohlcv", "BTC/USDT", [candle(LAST_OPEN, 44.0)], timeframe="1m")
    await eventually(lambda: joiner in publisher.events[-1][2])  # live updates follow


async def test_after_a_restart_the_missed_candles_are_delivered_in_order(
    streams: StreamService, backend: FakeBackend, publisher: Publisher
) -> None:
    from app.domain.errors import ExchangeUnreachable

    await streams.subscribe("c1", request("ohlcv"))
    gw: FakeExchangeGateway = backend.created[0]
    before = LAST_OPEN - 4 * STEP
    await gw.wait_for_watchers("ohlcv", "BTC/USDT", timeframe="1m")
    gw.fail_next("watch_ohlcv", ExchangeUnreachable("socket dropped"))
    gw.push("ohlcv", "BTC/USDT", [candle(before, 1.0)], timeframe="1m")
    await gw.wait_for_watchers("ohlcv", "BTC/USDT", timeframe="1m", timeout=5)
    assert gw.calls["fetch_ohlcv"] == 0  # positive control below: only after a restart
    gw.push("ohlcv", "BTC/USDT", [candle(LAST_OPEN, 9.0)], timeframe="1m")
    await eventually(lambda: len(publisher.data()) == 2)
    after = publisher.data()[1]
    assert after.restarted
    opens = [row[0] for row in after.data]
    assert opens == [before + i * STEP for i in range(5)]  # no gap, no duplicate
    assert after.data[-1][4] == 9.0
    assert gw.calls["fetch_ohlcv"] == 1


def cap_fetch_ohlcv(gw: FakeExchangeGateway, cap: int = 1000) -> list[tuple[Any, Any]]:
    """Make the fake exchange answer at most ``cap`` candles per request (binance spot:
    1,000); returns the list of (since, limit) it is asked for."""
    real_fetch = gw.fetch_ohlcv
    asked: list[tuple[Any, Any]] = []

    async def capped(symbol: str, timeframe: str = "1m", since: Any = None, limit: Any = None,
                     params: Any = None) -> Any:  # fmt: skip
        asked.append((since, limit))
        return await real_fetch(symbol, timeframe, since, min(limit or 500, cap), params)

    gw.fetch_ohlcv = capped  # type: ignore[method-assign]
    return asked


async def restart_after(gw: FakeExchangeGateway, before: int, publisher: Publisher) -> StreamUpdate:
    """Deliver the candle ``before``, drop the watch, then deliver the current candle: the
    update after the restart (with the gap filled as far as the stream could)."""
    from app.domain.errors import ExchangeUnreachable

    await gw.wait_for_watchers("ohlcv", "BTC/USDT", timeframe="1m")
    gw.fail_next("watch_ohlcv", ExchangeUnreachable("socket dropped"))
    gw.push("ohlcv", "BTC/USDT", [candle(before, 1.0)], timeframe="1m")
    await gw.wait_for_watchers("ohlcv", "BTC/USDT", timeframe="1m", timeout=5)
    gw.push("ohlcv", "BTC/USDT", [candle(LAST_OPEN, 9.0)], timeframe="1m")
    await eventually(lambda: len(publisher.data()) == 2)
    return publisher.data()[1]


async def test_a_gap_of_2500_candles_is_filled_in_pages_without_gap_or_duplicate(
    streams: StreamService, backend: FakeBackend, publisher: Publisher
) -> None:
    """Before ADR 0161 one request of 1,000 rows: 1,500 candles stayed missing."""
    await streams.subscribe("c1", request("ohlcv"))
    gw: FakeExchangeGateway = backend.created[0]
    asked = cap_fetch_ohlcv(gw)
    before = LAST_OPEN - 2500 * STEP
    after = await restart_after(gw, before, publisher)
    opens = [row[0] for row in after.data]
    assert opens == [before + i * STEP for i in range(2501)]  # equally spaced, each once
    assert after.data[-1][4] == 9.0  # the live version of the current candle
    assert len(asked) == 3


async def test_a_restart_within_the_same_candle_asks_rest_for_nothing(
    streams: StreamService, backend: FakeBackend, publisher: Publisher
) -> None:
    """Nothing was missed; the positive control is the 2,500-candle gap above (3 requests)."""
    from app.domain.errors import ExchangeUnreachable

    await streams.subscribe("c1", request("ohlcv"))
    gw: FakeExchangeGateway = backend.created[0]
    await gw.wait_for_watchers("ohlcv", "BTC/USDT", timeframe="1m")
    gw.fail_next("watch_ohlcv", ExchangeUnreachable("socket dropped"))
    gw.push("ohlcv", "BTC/USDT", [candle(LAST_OPEN, 1.0)], timeframe="1m")
    await gw.wait_for_watchers("ohlcv", "BTC/USDT", timeframe="1m", timeout=5)
    gw.push("ohlcv", "BTC/USDT", [candle(LAST_OPEN, 9.0)], timeframe="1m")
    await eventually(lambda: len(publisher.data()) == 2)
    after = publisher.data()[1]
    assert after.restarted and [row[0] for row in after.data] == [LAST_OPEN]
    assert after.data[0][4] == 9.0
    assert gw.calls["fetch_ohlcv"] == 0


async def test_the_gap_fill_stops_at_its_configured_bound_and_says_so(
    cache: InMemoryInstanceCache, backend: FakeBackend, publisher: Publisher
) -> None:
    """``[streams] gap_fill_max_pages``: the oldest missed candles continue the series, the
    rest stays a gap (logged); still no duplicate, still in order."""
    from structlog.testing import capture_logs

    settings = StreamSettings(retry_initial_seconds=0.01, retry_jitter=0.0, gap_fill_max_pages=2)
    hub, streams = make(cache, publisher, settings)
    try:
        await streams.subscribe("c1", request("ohlcv"))
        gw: FakeExchangeGateway = backend.created[0]
        asked = cap_fetch_ohlcv(gw)
        before = LAST_OPEN - 2500 * STEP
        with capture_logs() as logs:
            after = await restart_after(gw, before, publisher)
        opens = [row[0] for row in after.data]
        assert opens == [before + i * STEP for i in range(2000)] + [LAST_OPEN]
        assert len(asked) == 2
        [event] = [e for e in logs if e["event"] == "ohlcv_gap_fill_incomplete"]
        assert event["candles"] == 2000 and event["max_pages"] == 2
    finally:
        await hub.aclose()


# -- known bugs of issue 13 (each test failed before its fix) ----------------------------


async def test_a_silence_that_lasts_tells_stale_and_recovering_once_then_live_once(
    cache: InMemoryInstanceCache, backend: FakeBackend, publisher: Publisher
) -> None:
    """The watchdog restarts a silent stream every period; the status says so once."""
    settings = StreamSettings(watchdog_seconds={"ticker": 0.03}, retry_jitter=0.0)
    hub, streams = make(cache, publisher, settings)
    try:
        await streams.subscribe("c1", request())
        gw: FakeExchangeGateway = backend.created[0]
        await eventually(lambda: publisher.kinds().count("error") >= 4, timeout=5)  # 4 cycles
        gw.push("ticker", "BTC/USDT", {"last": 1})
        await eventually(lambda: "data" in publisher.kinds(), timeout=5)
        await gw.wait_for_watchers("ticker", "BTC/USDT")
        gw.push("ticker", "BTC/USDT", {"last": 2})
        await eventually(lambda: publisher.kinds().count("data") == 2, timeout=5)
        statuses = [k for k in publisher.kinds() if k.startswith("status")]
        assert statuses == ["status:stale", "status:recovering", "status:live"]
        assert publisher.kinds().count("error") >= 4  # one per failed attempt, as before
    finally:
        await hub.aclose()


async def test_a_second_outage_is_told_again(
    cache: InMemoryInstanceCache, backend: FakeBackend, publisher: Publisher
) -> None:
    """Positive control of the test above: once per outage, not once per stream."""
    settings = StreamSettings(watchdog_seconds={"ticker": 0.05}, retry_jitter=0.0)
    hub, streams = make(cache, publisher, settings)
    try:
        await streams.subscribe("c1", request())
        gw: FakeExchangeGateway = backend.created[0]
        for n in (1, 2):
            await eventually(lambda: publisher.kinds().count("status:recovering") == n)  # noqa: B023
            await gw.wait_for_watchers("ticker", "BTC/USDT")
            gw.push("ticker", "BTC/USDT", {"last": n})
            await eventually(lambda: publisher.kinds().count("status:live") == n)  # noqa: B023
        statuses = [k for k in publisher.kinds() if k.startswith("status")]
        assert statuses == ["status:stale", "status:recovering", "status:live"] * 2
    finally:
        await hub.aclose()


async def test_history_1000_is_1000_closed_candles_and_the_current_one(
    streams: StreamService, backend: FakeBackend, publisher: Publisher
) -> None:
    """The exchange answers at most 1,000 rows per request (binance spot, the simulator):
    the older ones come from a second page, and the last row is the live candle."""
    from app.domain.streams.model import Echo, View

    await streams.subscribe("c1", request("ohlcv"))
    gw: FakeExchangeGateway = backend.created[0]
    real_fetch = gw.fetch_ohlcv
    asked: list[tuple[Any, Any]] = []

    async def capped(symbol: str, timeframe: str = "1m", since: Any = None, limit: Any = None,
                     params: Any = None) -> Any:  # fmt: skip
        asked.append((since, limit))
        return await real_fetch(symbol, timeframe, since, min(limit or 500, 1000), params)

    gw.fetch_ohlcv = capped  # type: ignore[method-assign]
    await gw.wait_for_watchers("ohlcv", "BTC/USDT", timeframe="1m")
    gw.push("ohlcv", "BTC/USDT", [candle(LAST_OPEN, 77.0)], timeframe="1m")
    await eventually(lambda: len(publisher.data()) == 1)
    made = await streams.subscribe(
        "c2", request("ohlcv"), Echo("BTC/USDT", "1m", View(history=1000))
    )
    await streams.greet("c2", made.subscription_id)
    first = publisher.data()[-1]
    opens = [row[0] for row in first.data]
    assert len(opens) == 1001
    assert opens == [LAST_OPEN - i * STEP for i in range(1000, -1, -1)]  # equally spaced
    assert first.data[-1][4] == 77.0  # the live candle, not REST's version of it
    assert asked == [(None, 1001), (LAST_OPEN - 1000 * STEP, 1)]


async def test_history_50_is_51_rows_ending_with_the_live_candle(
    streams: StreamService, backend: FakeBackend, publisher: Publisher
) -> None:
    from app.domain.streams.model import Echo, View

    await streams.subscribe("c1", request("ohlcv"))
    gw: FakeExchangeGateway = backend.created[0]
    await gw.wait_for_watchers("ohlcv", "BTC/USDT", timeframe="1m")
    gw.push("ohlcv", "BTC/USDT", [candle(LAST_OPEN, 55.0)], timeframe="1m")
    await eventually(lambda: len(publisher.data()) == 1)
    made = await streams.subscribe("c2", request("ohlcv"), Echo("BTC/USDT", "1m", View(history=50)))
    await streams.greet("c2", made.subscription_id)
    first = publisher.data()[-1]
    assert [row[0] for row in first.data] == [LAST_OPEN - i * STEP for i in range(50, -1, -1)]
    assert first.data[-1][4] == 55.0
    assert gw.calls["fetch_ohlcv"] == 1  # one page is enough below the cap


async def test_history_on_a_fresh_stream_is_not_cached_on_a_running_one_it_is(
    streams: StreamService, backend: FakeBackend, publisher: Publisher
) -> None:
    """``cached: true`` marks a first event that replays what the stream already delivered
    (issue 13: a joiner of a running stream). A history on a stream that has delivered
    nothing yet is all fresh: not marked."""
    from app.domain.streams.model import Echo, View

    made = await streams.subscribe("c1", request("ohlcv"), Echo("BTC/USDT", "1m", View(history=5)))
    await streams.greet("c1", made.subscription_id)
    fresh = publisher.data()[-1]
    assert len(fresh.data) == 6 and not fresh.cached
    gw: FakeExchangeGateway = backend.created[0]
    await gw.wait_for_watchers("ohlcv", "BTC/USDT", timeframe="1m")
    gw.push("ohlcv", "BTC/USDT", [candle(LAST_OPEN, 5.0)], timeframe="1m")
    await eventually(lambda: len(publisher.data()) == 2)
    joined = await streams.subscribe(
        "c2", request("ohlcv"), Echo("BTC/USDT", "1m", View(history=5))
    )
    await streams.greet("c2", joined.subscription_id)
    running = publisher.data()[-1]
    assert len(running.data) == 6 and running.cached


async def test_a_history_subscriber_whose_greeting_is_cancelled_still_gets_live_updates(
    streams: StreamService, backend: FakeBackend, publisher: Publisher
) -> None:
    import asyncio

    from app.domain.streams.model import Echo, View

    await streams.subscribe("c1", request("ohlcv"))
    gw: FakeExchangeGateway = backend.created[0]
    entered = asyncio.Event()

    async def hangs(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        await asyncio.Event().wait()

    gw.fetch_ohlcv = hangs  # type: ignore[method-assign]
    made = await streams.subscribe("c2", request("ohlcv"), Echo("BTC/USDT", "1m", View(history=5)))
    greeting = asyncio.ensure_future(streams.greet("c2", made.subscription_id))
    await entered.wait()
    greeting.cancel()  # e.g. the server stops the handler's task
    await asyncio.gather(greeting, return_exceptions=True)
    await gw.wait_for_watchers("ohlcv", "BTC/USDT", timeframe="1m")
    gw.push("ohlcv", "BTC/USDT", [candle(LAST_OPEN, 1.0)], timeframe="1m")
    joiner = Subscriber("c2", made.subscription_id)
    # not held: the live update reaches it (before the fix it reached c1 only)
    await eventually(lambda: any(joiner in who for kind, _, who in publisher.events))


async def test_a_history_subscriber_that_leaves_during_the_fetch_leaves_nothing_held(
    cache: InMemoryInstanceCache, backend: FakeBackend, publisher: Publisher
) -> None:
    import asyncio

    from app.domain.streams.model import Echo, View

    hub, streams = make(cache, publisher)
    try:
        await streams.subscribe("c1", request("ohlcv"))
        gw: FakeExchangeGateway = backend.created[0]
        release = asyncio.Event()
        real_fetch = gw.fetch_ohlcv

        async def slow(*args: Any, **kwargs: Any) -> Any:
            await release.wait()
            return await real_fetch(*args, **kwargs)

        gw.fetch_ohlcv = slow  # type: ignore[method-assign]
        made = await streams.subscribe(
            "c2", request("ohlcv"), Echo("BTC/USDT", "1m", View(history=5))
        )
        stream = next(iter(hub._streams.values()))
        assert len(stream.held) == 1  # positive control
        greeting = asyncio.ensure_future(streams.greet("c2", made.subscription_id))
        assert streams.unsubscribe("c2", made.subscription_id)
        release.set()
        await greeting
        assert stream.held == set() and len(stream.subscribers) == 1
        assert all(kind != "data" for kind, _, _ in publisher.events)  # nothing sent to it
    finally:
        await hub.aclose()


async def test_one_socket_holds_a_full_and_a_delta_view_of_one_book(
    streams: StreamService, backend: FakeBackend, publisher: Publisher
) -> None:
    """Different format/depth of one stream on one connection: two subscriptions, two ids
    (the original id for the view a seed-era client gets), each its own data."""
    from app.domain.streams.book import BookFrame
    from app.domain.streams.model import Echo, View

    full = await streams.subscribe("c1", request("orderbook"))
    delta = await streams.subscribe(
        "c1", request("orderbook"), Echo("BTC/USDT", None, View("delta", 20))
    )
    depth = await streams.subscribe(
        "c1", request("orderbook"), Echo("BTC/USDT", None, View(depth=5))
    )
    assert full.subscription_id == "c1:fake:BTC/USDT:orderbook"
    assert delta.subscription_id == "c1:fake:BTC/USDT:orderbook:delta:depth=20"
    assert depth.subscription_id == "c1:fake:BTC/USDT:orderbook:depth=5"
    gw: FakeExchangeGateway = backend.created[0]
    await gw.wait_for_watchers("orderbook", "BTC/USDT")
    book = {
        "symbol": "BTC/USDT",
        "timestamp": 1,
        "bids": [[100 - i, 1.0] for i in range(30)],
        "asks": [[101 + i, 1.0] for i in range(30)],
    }
    gw.push("orderbook", "BTC/USDT", book)
    await eventually(lambda: len(publisher.data()) == 3)
    got = {who[0].subscription_id: update.data for _, update, who in publisher.events}
    assert got[full.subscription_id] is book
    assert isinstance(got[delta.subscription_id], BookFrame)
    assert len(got[delta.subscription_id].bids) == 20
    assert len(got[depth.subscription_id]["bids"]) == 5
    with pytest.raises(Exception, match="Subscription already exists"):  # same view twice
        await streams.subscribe(
            "c1", request("orderbook"), Echo("BTC/USDT", None, View("delta", 20))
        )
    assert streams.unsubscribe("c1", "fake:BTC/USDT:orderbook:delta:depth=20")  # short form
    assert streams.subscription_count("c1") == 2
