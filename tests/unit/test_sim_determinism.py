"""The simulator's history is a pure function of (seed, symbol, time) and self-consistent."""

from __future__ import annotations

import math

import pytest

from app.adapters.sim import ManualClock, SimBackend, SimGateway
from app.domain.config import ExchangeConfig
from app.settings import ExchangeSettings, Settings

NOW = 1_700_000_000_000
PAST = NOW - 30 * 86_400_000  # a month before "now"
DAY = 86_400_000


def make(seed: int = 42, now: int = NOW, **options: object) -> tuple[SimGateway, ManualClock]:
    clock = ManualClock(now)
    settings = Settings(exchanges={"sim": ExchangeSettings(options={"seed": seed, **options})})
    gateway = SimBackend(settings, clock=clock).create(ExchangeConfig("sim", ccxt_type="pro"))
    return gateway, clock


def aggregate(rows: list[list[float]]) -> list[float]:
    return [
        rows[0][0],
        rows[0][1],
        max(r[2] for r in rows),
        min(r[3] for r in rows),
        rows[-1][4],
        sum(r[5] for r in rows),
    ]


def assert_same_candle(actual: list[float], expected: list[float]) -> None:
    assert actual[:5] == expected[:5]
    assert math.isclose(actual[5], expected[5], rel_tol=1e-9)


@pytest.mark.parametrize("timeframe", ["1m", "5m", "1h", "4h", "1d", "1w"])
async def test_same_seed_gives_the_same_past_candles_in_fresh_instances(timeframe: str) -> None:
    first, _ = make()
    second, _ = make(now=NOW + 7 * DAY)  # a later "now" must not rewrite the past
    since = NOW - 400 * DAY  # 50 weeks, all complete
    a = await first.fetch_ohlcv("BTC/USDT", timeframe, since, 50)
    b = await second.fetch_ohlcv("BTC/USDT", timeframe, since, 50)
    assert len(a) == 50 and a == b


async def test_same_seed_gives_the_same_past_trades() -> None:
    first, _ = make()
    second, _ = make(now=NOW + DAY)
    a = await first.fetch_trades("ETH/USDT", PAST, 500)
    b = await second.fetch_trades("ETH/USDT", PAST, 500)
    assert len(a) == 500 and a == b
    assert [t["id"] for t in a] == sorted({t["id"] for t in a}, key=int)


async def test_a_different_seed_gives_a_different_history() -> None:
    first, _ = make(seed=42)
    second, _ = make(seed=43)
    a = await first.fetch_ohlcv("BTC/USDT", "1h", PAST, 24)
    b = await second.fetch_ohlcv("BTC/USDT", "1h", PAST, 24)
    assert [r[0] for r in a] == [r[0] for r in b]
    assert sum(1 for x, y in zip(a, b, strict=True) if x[1:] != y[1:]) == 24


async def test_symbols_follow_different_paths_and_a_swap_tracks_its_spot_pair() -> None:
    gateway, _ = make()
    btc = await gateway.fetch_ohlcv("BTC/USDT", "1d", PAST, 10)
    eth = await gateway.fetch_ohlcv("ETH/USDT", "1d", PAST, 10)
    swap = await gateway.fetch_ohlcv("BTC/USDT:USDT", "1d", PAST, 10)
    ratios = [e[4] / b[4] for b, e in zip(btc, eth, strict=True)]
    assert max(ratios) - min(ratios) > 1e-4  # not one path scaled
    for spot_row, swap_row in zip(btc, swap, strict=True):
        assert swap_row[4] == pytest.approx(spot_row[4] * 1.0003, abs=0.1)


@pytest.mark.parametrize(
    ("big", "small", "count"),
    [
        ("1w", "1d", 7),
        ("1d", "4h", 6),
        ("1d", "1h", 24),
        ("4h", "15m", 16),
        ("1h", "1m", 60),
        ("12h", "2h", 6),
        ("30m", "5m", 6),
        ("15m", "3m", 5),
        ("5m", "1m", 5),
    ],
)
async def test_higher_timeframes_aggregate_the_lower_ones_exactly(
    big: str, small: str, count: int
) -> None:
    gateway, _ = make()
    bigs = await gateway.fetch_ohlcv("BTC/USDT", big, PAST, 3)
    for candle in bigs:
        parts = await gateway.fetch_ohlcv("BTC/USDT", small, candle[0], count)
        assert len(parts) == count
        assert parts[-1][0] < candle[0] + (bigs[1][0] - bigs[0][0])
        assert_same_candle(candle, aggregate(parts))


async def test_weekly_candles_open_on_monday() -> None:
    gateway, _ = make()
    rows = await gateway.fetch_ohlcv("BTC/USDT", "1w", None, 5)
    assert all((row[0] // DAY + 3) % 7 == 0 for row in rows)  # day 0 (1970-01-01) was Thursday


async def test_a_minute_of_trades_aggregates_to_its_1m_candle() -> None:
    gateway, _ = make()
    minute = PAST // 60_000 * 60_000
    trades = await gateway.fetch_trades("SOL/USDT", minute, 1000)
    inside = [t for t in trades if t["timestamp"] < minute + 60_000]
    assert len(inside) >= 240  # at least one trade every 250 ms
    [candle] = await gateway.fetch_ohlcv("SOL/USDT", "1m", minute, 1)
    prices = [t["price"] for t in inside]
    assert candle[1:5] == [prices[0], max(prices), min(prices), prices[-1]]
    assert candle[5] == pytest.approx(sum(t["amount"] for t in inside), rel=1e-9)


async def test_the_open_candle_grows_from_the_trades_so_far_and_ends_as_history() -> None:
    gateway, clock = make(now=NOW - NOW % 3_600_000 + 90_000)  # 1.5 min into an hour
    [early] = await gateway.fetch_ohlcv("BTC/USDT", "1h", None, 1)
    clock.advance(3600)
    later = await gateway.fetch_ohlcv("BTC/USDT", "1h", early[0], 1)
    assert later[0][0] == early[0] and later[0][1] == early[1]
    assert later[0][2] >= early[2] and later[0][3] <= early[3] and later[0][5] > early[5]
    fresh, _ = make(now=NOW + DAY)
    assert await fresh.fetch_ohlcv("BTC/USDT", "1h", early[0], 1) == later


async def test_candles_never_come_from_the_future() -> None:
    gateway, clock = make()
    minute = NOW // 60_000 * 60_000
    rows = await gateway.fetch_ohlcv("BTC/USDT", "1m", minute - 120_000, 100)
    assert [r[0] for r in rows] == [minute - 120_000, minute - 60_000, minute]
    trades = await gateway.fetch_trades("BTC/USDT", NOW - 1000, 1000)
    assert trades and all(t["timestamp"] <= clock.now_ms() for t in trades)
    assert await gateway.fetch_trades("BTC/USDT", NOW + 5000) == []


async def test_ticker_24h_figures_come_from_the_hourly_candles_and_last_from_trades() -> None:
    gateway, _ = make(now=NOW + 1234)
    ticker = await gateway.fetch_ticker("ETH/USDT")
    hours = await gateway.fetch_ohlcv("ETH/USDT", "1h", None, 24)
    day = aggregate(hours)
    assert (ticker["open"], ticker["high"], ticker["low"]) == (day[1], day[2], day[3])
    assert ticker["baseVolume"] == pytest.approx(day[5], rel=1e-9)
    [last_trade] = await gateway.fetch_trades("ETH/USDT", None, 1)
    assert ticker["last"] == ticker["close"] == last_trade["price"] == hours[-1][4]
    book = await gateway.fetch_order_book("ETH/USDT", 1)
    assert (ticker["bid"], ticker["ask"]) == (book["bids"][0][0], book["asks"][0][0])
