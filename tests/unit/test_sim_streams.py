"""The simulator's streams: paced by the clock, shared by watchers, consistent with the market."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from app.adapters.sim import ManualClock, SimBackend, SimGateway, SystemClock
from app.domain.config import Credentials, ExchangeConfig
from app.domain.errors import CredentialsRequired, ExchangeUnreachable
from app.settings import ExchangeSettings, Settings
from app.testing import eventually

NOW = 1_700_000_000_000


def make(
    tick_hz: float = 2, clock: ManualClock | SystemClock | None = None, **config: object
) -> tuple[SimGateway, ManualClock | SystemClock]:
    clock = clock or ManualClock(NOW)
    settings = Settings(exchanges={"sim": ExchangeSettings(options={"tick_hz": tick_hz})})
    gateway = SimBackend(settings, clock=clock).create(
        ExchangeConfig("sim", ccxt_type="pro", **config)  # type: ignore[arg-type]
    )
    return gateway, clock


@pytest.mark.parametrize("tick_hz", [0.5, 2, 3, 10])
async def test_each_watch_returns_the_next_tick_of_the_configured_rate(tick_hz: float) -> None:
    gateway, clock = make(tick_hz)
    stamps = []
    for _ in range(20):
        stamps.append((await gateway.watch_ticker("BTC/USDT"))["timestamp"])
        assert clock.now_ms() == stamps[-1]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(abs(gap - 1000 / tick_hz) <= 1 for gap in gaps), gaps


@pytest.mark.parametrize(
    ("data_type", "tick_hz"),
    [("ticker", 20), ("orderbook", 20), ("ohlcv", 20), ("balance", 20), ("trades", 2)],
)
async def test_streams_keep_their_rate_on_the_wall_clock(data_type: str, tick_hz: float) -> None:
    """Real time: N updates after the first span N periods, within 30 %.

    Trades are measured at 2 Hz, the rate up to which every tick carries trades (above it
    a tick without trades is skipped, as an exchange sends nothing when nothing traded).
    """
    gateway, _ = make(tick_hz, SystemClock(), credentials=Credentials(api_key="k", secret="s"))
    watch = {
        "ticker": lambda: gateway.watch_ticker("BTC/USDT"),
        "orderbook": lambda: gateway.watch_order_book("BTC/USDT", 10),
        "ohlcv": lambda: gateway.watch_ohlcv("BTC/USDT", "1m"),
        "balance": gateway.watch_balance,
        "trades": lambda: gateway.watch_trades("BTC/USDT"),
    }[data_type]
    updates = 9 if tick_hz > 2 else 2
    await asyncio.wait_for(watch(), 2)
    started = time.monotonic()
    for _ in range(updates):
        await asyncio.wait_for(watch(), 2)
    elapsed = time.monotonic() - started
    expected = updates / tick_hz
    assert 0.7 * expected <= elapsed <= 1.3 * expected, f"{updates} in {elapsed:.3f}s"
    await gateway.close()


async def test_trade_updates_at_two_hertz_never_skip_a_tick() -> None:
    gateway, clock = make(2)
    for _ in range(200):
        before = clock.now_ms()
        assert await gateway.watch_trades("ETH/USDT")
        assert clock.now_ms() - before <= 500


async def test_concurrent_watchers_of_one_stream_get_the_same_update() -> None:
    gateway, _ = make(5, SystemClock())
    updates = await asyncio.wait_for(
        asyncio.gather(*(gateway.watch_order_book("ETH/USDT") for _ in range(5))), 2
    )
    assert all(update is updates[0] for update in updates)
    await gateway.close()


async def test_order_book_stays_sorted_and_uncrossed_over_many_updates() -> None:
    gateway, _ = make(4)
    previous = None
    changed = 0
    for _ in range(400):
        book = await gateway.watch_order_book("BTC/USDT:USDT", 20)
        bids, asks = [p for p, _ in book["bids"]], [p for p, _ in book["asks"]]
        assert len(bids) == len(asks) == 20
        assert all(a > b for a, b in itertools.pairwise(bids)), "bids not strictly descending"
        assert all(a < b for a, b in itertools.pairwise(asks)), "asks not strictly ascending"
        assert bids[0] < asks[0], "crossed book"
        assert all(size > 0 for _, size in book["bids"] + book["asks"])
        if previous is not None and previous != (book["bids"], book["asks"]):
            changed += 1
        previous = (book["bids"], book["asks"])
    assert changed > 300  # the book evolves


async def test_trades_move_the_book_and_the_ticker() -> None:
    """After a buy the best ask is the trade price; after a sell the best bid is."""
    gateway, _ = make(4)
    seen_buy = seen_sell = False
    for _ in range(100):
        trades = await gateway.watch_trades("BTC/USDT")
        last = trades[-1]
        book = await gateway.fetch_order_book("BTC/USDT", 1)
        ticker = await gateway.fetch_ticker("BTC/USDT")
        assert ticker["last"] == last["price"]
        assert (ticker["bid"], ticker["ask"]) == (book["bids"][0][0], book["asks"][0][0])
        if last["side"] == "buy":
            seen_buy = True
            assert book["asks"][0][0] == last["price"]
        else:
            seen_sell = True
            assert book["bids"][0][0] == last["price"]
    assert seen_buy and seen_sell


async def test_trade_updates_are_contiguous_without_gaps_or_repeats() -> None:
    gateway, clock = make(2)
    start = clock.now_ms()
    streamed: list[dict[str, object]] = []
    for _ in range(30):
        streamed.extend(await gateway.watch_trades("SOL/USDT"))
    fetched = await gateway.fetch_trades("SOL/USDT", start + 1, 1000)
    assert [t["id"] for t in streamed] == [t["id"] for t in fetched]


async def test_watch_ohlcv_reports_the_open_candle_of_its_timeframe() -> None:
    gateway, clock = make(2)
    [candle] = await gateway.watch_ohlcv("ETH/USDT", "15m")
    assert candle[0] == clock.now_ms() // 900_000 * 900_000
    assert candle == (await gateway.fetch_ohlcv("ETH/USDT", "15m", None, 1))[0]


async def test_balance_streams_need_credentials_and_keep_totals() -> None:
    anonymous, _ = make(2)
    with pytest.raises(CredentialsRequired):
        await anonymous.watch_balance()
    gateway, _ = make(2, credentials=Credentials(api_key="alice", secret="s"))
    first, second = await gateway.watch_balance(), await gateway.watch_balance()
    assert first["total"] == second["total"]
    assert first["timestamp"] < second["timestamp"]


async def test_un_watch_wakes_pending_watchers_and_the_stream_can_restart() -> None:
    gateway, _ = make(0.5, SystemClock())  # a tick every 2 s: the watcher is still waiting
    pending = asyncio.create_task(gateway.watch_ticker("BTC/USDT"))
    await eventually(lambda: gateway.active_streams == 1)  # the watch waits for its tick
    await gateway.un_watch("ticker", "BTC/USDT")
    with pytest.raises(ExchangeUnreachable) as caught:
        await asyncio.wait_for(pending, 1)
    assert caught.value.error_type == "UnsubscribeError"
    assert gateway.active_streams == 0
    await gateway.un_watch("ticker", "NOT/LISTED")  # harmless
    restarted = asyncio.create_task(gateway.watch_ticker("BTC/USDT"))
    await eventually(lambda: gateway.active_streams == 1, message="the stream restarted")
    restarted.cancel()
    await asyncio.gather(restarted, return_exceptions=True)
    await gateway.close()


async def test_close_ends_every_stream_and_leaves_no_task() -> None:
    gateway, _ = make(0.5, SystemClock(), credentials=Credentials(api_key="k", secret="s"))
    before = asyncio.all_tasks()
    pending = [
        asyncio.create_task(gateway.watch_ticker("BTC/USDT")),
        asyncio.create_task(gateway.watch_trades("ETH/USDT")),
        asyncio.create_task(gateway.watch_ohlcv("SOL/USDT", "1h")),
        asyncio.create_task(gateway.watch_balance()),
    ]
    await eventually(lambda: gateway.active_streams == 4)  # all four wait for their tick
    await gateway.close()
    results = await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 1)
    assert all(isinstance(r, ExchangeUnreachable) for r in results)
    await asyncio.sleep(0)
    assert asyncio.all_tasks() - before == set()
    with pytest.raises(ExchangeUnreachable):
        await gateway.watch_ticker("BTC/USDT")
    await gateway.close()  # idempotent


async def test_a_cancelled_watcher_leaves_no_sleeper_behind() -> None:
    gateway, _ = make(0.5, SystemClock())
    before = asyncio.all_tasks()
    pending = asyncio.create_task(gateway.watch_ticker("BTC/USDT"))
    await eventually(lambda: gateway.active_streams == 1)  # the watch sleeps until its tick
    pending.cancel()
    await asyncio.gather(pending, return_exceptions=True)
    assert asyncio.all_tasks() - before == set()
    await gateway.close()
