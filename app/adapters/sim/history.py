"""MarketView: one listed market's candles and trades in CCXT's shapes, at any instant.

A view reads its PricePath (shared by a spot pair and its swap), applies the swap's basis and
volume factor, and rounds prices to the market's tick. Rounding is monotone, so rounded
candles still aggregate exactly (max of rounded highs == rounded max high).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from app.domain.errors import BadInput
from app.ports.exchange_gateway import Json

from .markets import TIMEFRAMES, scale_for, swap_premium
from .path import LEAF, LEVELS, Candle, PricePath, Trade, combine

MAX_LIMIT = 1000
DEFAULT_OHLCV_LIMIT = 100
DEFAULT_TRADES_LIMIT = 100
WEEK_OFFSET_MS = 4 * 86_400_000
"""Weekly candles open on Monday 00:00 UTC, as on most exchanges (1970-01-01 was a Thursday)."""


def iso(ms: int) -> str:
    stamp = datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def timeframe_ms(timeframe: object) -> int:
    if not isinstance(timeframe, str) or timeframe not in TIMEFRAMES:
        raise BadInput(f"sim does not support timeframe {str(timeframe)[:16]!r}")
    return TIMEFRAMES[timeframe]


def bounded_limit(limit: int | None, default: int) -> int:
    if limit is None:
        return default
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise BadInput("limit must be a non-negative integer")
    return min(limit, MAX_LIMIT)


class MarketView:
    """Candles and trades of one market symbol, for any ``now``."""

    def __init__(self, symbol: str, path: PricePath) -> None:
        self.symbol = symbol
        self.path = path
        scale = scale_for(symbol)
        self.tick = scale.tick
        self._decimals = max(0, -math.floor(math.log10(scale.tick)))
        self._premium = swap_premium(symbol)
        self.volume_factor = 2.5 if ":" in symbol else 1.0
        self.path_daily_volume = scale.daily_volume * self.volume_factor

    def price(self, raw: float) -> float:
        return round(round(raw * self._premium / self.tick) * self.tick, self._decimals)

    def price_from_ticks(self, ticks: int) -> float:
        return round(ticks * self.tick, self._decimals)

    def _row(self, start: int, candle: Candle) -> list[float]:
        p = self.price
        volume = candle.volume * self.volume_factor
        return [start, p(candle.open), p(candle.high), p(candle.low), p(candle.close), volume]

    # -- candles -------------------------------------------------------------------------

    def _chain_candle(self, level: int, index: int, now: int) -> Candle | None:
        duration = LEVELS[level][0]
        start = index * duration
        if start > now:
            return None
        if start + duration <= now:
            return self.path.node(level, index)
        if level == LEAF:
            return _aggregate([t for t in self.path.trades(index) if t.timestamp <= now])
        ratio = LEVELS[level][1]
        parts = []
        for i in range(ratio):
            part = self._chain_candle(level + 1, index * ratio + i, now)
            if part is None:
                break
            parts.append(part)
        return combine(parts)

    def candle(self, timeframe: str, start: int, now: int) -> Candle | None:
        """The candle opening at ``start`` as known at ``now`` (partial while it is open)."""
        duration = timeframe_ms(timeframe)
        offset = WEEK_OFFSET_MS if timeframe == "1w" else 0
        # The coarsest chain level that tiles this timeframe (3m from 1m, 30m from 15m...).
        level = min(i for i, (d, _) in enumerate(LEVELS) if duration % d == 0 and offset % d == 0)
        base = LEVELS[level][0]
        parts = []
        for j in range(duration // base):
            part = self._chain_candle(level, start // base + j, now)
            if part is None:
                break
            parts.append(part)
        return combine(parts) if parts else None

    def ohlcv(
        self, timeframe: str, since: int | None, limit: int | None, now: int
    ) -> list[list[float]]:
        duration = timeframe_ms(timeframe)
        count = bounded_limit(limit, DEFAULT_OHLCV_LIMIT)
        offset = WEEK_OFFSET_MS if timeframe == "1w" else 0
        current = (now - offset) // duration
        first = current - count + 1 if since is None else -(-(since - offset) // duration)
        rows = []
        for bucket in range(first, min(current, first + count - 1) + 1):
            start = bucket * duration + offset
            candle = self.candle(timeframe, start, now)
            if candle is not None:
                rows.append(self._row(start, candle))
        return rows

    # -- trades --------------------------------------------------------------------------

    def trades_between(self, after: int, upto: int) -> list[Trade]:
        """Trades with ``after < timestamp <= upto`` (a stream window), oldest first."""
        found: list[Trade] = []
        for minute in range(after // 60_000, upto // 60_000 + 1):
            found.extend(t for t in self.path.trades(minute) if after < t.timestamp <= upto)
        return found

    def last_trade(self, now: int) -> Trade:
        # Every minute opens with a trade at its first millisecond, so this never comes up empty.
        return [t for t in self.path.trades(now // 60_000) if t.timestamp <= now][-1]

    def trades(self, since: int | None, limit: int | None, now: int) -> list[Trade]:
        count = bounded_limit(limit, DEFAULT_TRADES_LIMIT)
        found: list[Trade] = []
        if since is None:
            minute = now // 60_000
            while len(found) < count:  # >= 240 trades a minute: at most 6 rounds
                older = [t for t in self.path.trades(minute) if t.timestamp <= now]
                found = older + found
                minute -= 1
            return found[len(found) - count :] if count else []
        minute = max(since, 0) // 60_000
        while len(found) < count and minute <= now // 60_000:
            found.extend(t for t in self.path.trades(minute) if since <= t.timestamp <= now)
            minute += 1
        return found[:count]

    def trade_json(self, trade: Trade) -> Json:
        price = self.price(trade.price)
        amount = trade.amount * self.volume_factor
        return {
            "id": str(trade.timestamp // 60_000 * 1000 + trade.position),
            "order": None,
            "info": {},
            "timestamp": trade.timestamp,
            "datetime": iso(trade.timestamp),
            "symbol": self.symbol,
            "type": None,
            "side": "buy" if trade.buy else "sell",
            "takerOrMaker": "taker",
            "price": price,
            "amount": amount,
            "cost": price * amount,
            "fee": None,
            "fees": [],
        }


def _aggregate(trades: list[Trade]) -> Candle:
    prices = [t.price for t in trades]
    return Candle(prices[0], max(prices), min(prices), prices[-1], sum(t.amount for t in trades))
