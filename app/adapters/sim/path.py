"""PricePath: one market's price history as a pure function of (seed, market, time).

The history is generated top-down, so any instant can be computed without replaying the
past. A day's open and close come from multi-scale value noise over day indices (a random
walk's statistics without summing from the epoch); the day's high and low are drawn around
them. Each candle is then split into its children (1d > 6x4h > 4x1h > 4x15m > 3x5m > 5x1m)
by a Brownian bridge clamped into the parent's range: one child reaches the parent's high,
one its low, and the parent's volume is shared out among them. A 1m candle is finally split
into trades (first at the open, last at the close, one at the high and one at the low).
So every candle is exactly the aggregate of its children, at every level, by construction.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, NamedTuple, TypeVar

from .markets import Scale
from .rng import gauss, keyed_rng, pick

DAY_MS = 86_400_000
LEVELS: tuple[tuple[int, int], ...] = (
    (DAY_MS, 6),
    (14_400_000, 4),
    (3_600_000, 4),
    (900_000, 3),
    (300_000, 5),
    (60_000, 0),
)
"""(duration ms, children per candle) from the root (1d) to the leaf (1m)."""
LEAF = len(LEVELS) - 1
SUB_BUCKET_MS = 250
"""Every 250 ms of a minute holds at least one trade, so any window of 500 ms or more (a
stream at up to 2 Hz) holds at least one."""

DAILY_SIGMA = 0.02
OCTAVES = 10


class Candle(NamedTuple):
    open: float
    high: float
    low: float
    close: float
    volume: float


class Trade(NamedTuple):
    timestamp: int
    price: float
    amount: float
    buy: bool
    position: int
    """Position inside its minute; with the minute it makes a stable trade id."""


K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, make: Callable[[], V]) -> V:
        value = self._data.get(key)
        if value is None:
            value = make()
            self._data[key] = value
            if len(self._data) > self._size:
                self._data.popitem(last=False)
        else:
            self._data.move_to_end(key)
        return value


def combine(candles: list[Candle]) -> Candle:
    """The candle that spans consecutive candles."""
    return Candle(
        candles[0].open,
        max(c.high for c in candles),
        min(c.low for c in candles),
        candles[-1].close,
        sum(c.volume for c in candles),
    )


class PricePath:
    """The full history of one price path (a spot pair; swaps reuse their pair's path)."""

    def __init__(self, seed: int, key: str, scale: Scale) -> None:
        self._seed = seed
        self._key = key
        self._scale = scale
        self._children: _Lru[tuple[int, int], list[Candle]] = _Lru(4096)
        self._trades: _Lru[int, list[Trade]] = _Lru(128)
        self._days: _Lru[int, Candle] = _Lru(16384)
        self._noise: _Lru[tuple[int, int], float] = _Lru(65536)
        self._day_prices: _Lru[int, float] = _Lru(16384)

    def _cell(self, octave: int, cell: int) -> float:
        return self._noise.get(
            (octave, cell), lambda: gauss(self._seed, self._key, "day", octave, cell)
        )

    def _day_price(self, day: int) -> float:
        return self._day_prices.get(day, lambda: self._make_day_price(day))

    def _make_day_price(self, day: int) -> float:
        """Price at the start of a day: value noise over 1, 2, 4 ... 512-day cells."""
        log_price = math.log(self._scale.price)
        for octave in range(OCTAVES):
            cell_days = 1 << octave
            cell, rest = divmod(day, cell_days)
            frac = rest / cell_days
            left, right = self._cell(octave, cell), self._cell(octave, cell + 1)
            amplitude = DAILY_SIGMA * math.sqrt(cell_days) / 1.3
            log_price += amplitude * (left + (right - left) * frac)
        return math.exp(log_price)

    def node(self, level: int, index: int) -> Candle:
        """The complete candle ``index`` (counted from the epoch) of a chain level."""
        if level == 0:
            return self._days.get(index, lambda: self._day(index))
        ratio = LEVELS[level - 1][0] // LEVELS[level][0]
        parent, position = divmod(index, ratio)
        return self.children(level - 1, parent)[position]

    def _day(self, day: int) -> Candle:
        rng = keyed_rng(self._seed, self._key, "day-range", day)
        open_, close = self._day_price(day), self._day_price(day + 1)
        high = max(open_, close) * math.exp(0.004 + 0.012 * abs(rng.gauss(0.0, 1.0)))
        low = min(open_, close) * math.exp(-0.004 - 0.012 * abs(rng.gauss(0.0, 1.0)))
        volume = self._scale.daily_volume * math.exp(0.3 * rng.gauss(0.0, 1.0))
        return Candle(open_, high, low, close, volume)

    def children(self, level: int, index: int) -> list[Candle]:
        """The child candles of one candle; they aggregate back to it exactly."""
        return self._children.get((level, index), lambda: self._split(level, index))

    def _split(self, level: int, index: int) -> list[Candle]:
        parent = self.node(level, index)
        k = LEVELS[level][1]
        rng = keyed_rng(self._seed, self._key, "split", level, index)
        bounds = _bridge(rng, parent, k + 1)
        at_high, at_low = pick(rng, k), pick(rng, k)
        weights = [0.3 + rng.random() for _ in range(k)]
        total = sum(weights)
        children = []
        for i in range(k):
            o, c = bounds[i], bounds[i + 1]
            top, bottom = max(o, c), min(o, c)
            reach_up, reach_down = rng.random() ** 2 * 0.8, rng.random() ** 2 * 0.8
            high = parent.high if i == at_high else top + (parent.high - top) * reach_up
            low = parent.low if i == at_low else bottom - (bottom - parent.low) * reach_down
            children.append(Candle(o, high, low, c, parent.volume * weights[i] / total))
        return children

    def trades(self, minute: int) -> list[Trade]:
        """Every trade of one minute, oldest first; they aggregate to its 1m candle."""
        return self._trades.get(minute, lambda: self._make_trades(minute))

    def _make_trades(self, minute: int) -> list[Trade]:
        candle = self.node(LEAF, minute)
        rng = keyed_rng(self._seed, self._key, "trades", minute)
        start = minute * 60_000
        offsets = [0]
        for bucket in range(60_000 // SUB_BUCKET_MS):
            base = bucket * SUB_BUCKET_MS
            if bucket:
                offsets.append(base + pick(rng, SUB_BUCKET_MS))
            if rng.random() < 0.3:
                offsets.append(base + pick(rng, SUB_BUCKET_MS))
        offsets.sort()
        n = len(offsets)
        prices = _bridge(rng, candle, n)
        at_high = 1 + pick(rng, n - 2)
        at_low = 1 + pick(rng, n - 3)
        if at_low >= at_high:
            at_low += 1
        prices[at_high], prices[at_low] = candle.high, candle.low
        weights = [-math.log(1.0 - rng.random() * 0.999) for _ in range(n)]
        total = sum(weights)
        first_buy = rng.random() < 0.5
        trades: list[Trade] = []
        for i in range(n):
            if i == 0 or prices[i] == prices[i - 1]:
                buy = first_buy if i == 0 else trades[-1].buy
            else:
                buy = prices[i] > prices[i - 1]
            amount = candle.volume * weights[i] / total
            trades.append(Trade(start + offsets[i], prices[i], amount, buy, i))
        return trades


def _bridge(rng: random.Random, span: Candle, points: int) -> list[float]:
    """``points`` prices from span.open to span.close, a Brownian bridge kept in its range."""
    lo, hi = math.log(span.low), math.log(span.high)
    steps = points - 1
    sigma = (hi - lo) / (2.0 * math.sqrt(steps))
    logs = [math.log(span.open)]
    target = math.log(span.close)
    for i in range(1, steps):
        remaining = steps - i + 1
        mean = logs[-1] + (target - logs[-1]) / remaining
        spread = sigma * math.sqrt((remaining - 1) / remaining)
        logs.append(min(hi, max(lo, mean + spread * rng.gauss(0.0, 1.0))))
    inner = [min(span.high, max(span.low, math.exp(x))) for x in logs[1:]]
    return [span.open, *inner, span.close]
