"""The candles missed during an upstream restart, paged forward from REST within bounds
(``app.domain.streams.candles.fetch_gap``; ADR 0161)."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.errors import ExchangeUnreachable
from app.domain.streams.candles import GapFillBounds, fetch_gap

STEP = 60_000
T0 = 1_700_000_000_000 // STEP * STEP


class CappedExchange:
    """An exchange with 1m candles from ``T0`` to ``T0 + last * STEP`` that answers at most
    ``cap`` rows per ``fetch_ohlcv`` (as binance spot does: 1,000); records each request."""

    def __init__(self, last: int, cap: int = 1000, fail_at: int | None = None) -> None:
        self.last = T0 + last * STEP
        self.cap = cap
        self.fail_at = fail_at
        self.asked: list[tuple[Any, Any]] = []

    async def fetch_ohlcv(
        self, symbol: str, timeframe: str = "1m", since: Any = None, limit: Any = None
    ) -> list[list[Any]]:
        self.asked.append((since, limit))
        if self.fail_at == len(self.asked):
            raise ExchangeUnreachable("socket dropped")
        first = -(-since // STEP) * STEP  # the first open time >= since, as exchanges do
        count = min(limit, self.cap)
        return [[t, 1.0, 2.0, 0.5, 1.5, 3.0] for t in range(first, self.last + 1, STEP)][:count]


def opens(rows: dict[Any, list[Any]]) -> list[Any]:
    return sorted(rows)


async def test_a_gap_longer_than_one_page_is_paged_up_to_the_live_candle() -> None:
    exchange = CappedExchange(last=2500)
    gap = await fetch_gap(exchange, "BTC/USDT", "1m", T0, T0 + 2500 * STEP, GapFillBounds())  # type: ignore[arg-type]
    assert opens(gap.rows)[:2500] == [T0 + i * STEP for i in range(2500)]  # no gap, no repeat
    assert gap.complete and gap.pages == 3
    # each page starts after the newest row so far: the exchange's cap sets the page size
    assert exchange.asked == [(T0, 1000), (T0 + 999 * STEP + 1, 1000), (T0 + 1999 * STEP + 1, 1000)]


async def test_one_page_is_enough_for_a_short_gap() -> None:
    """Positive control of the paging above: no request more than needed."""
    exchange = CappedExchange(last=5)
    gap = await fetch_gap(exchange, "BTC/USDT", "1m", T0, T0 + 5 * STEP, GapFillBounds())  # type: ignore[arg-type]
    assert opens(gap.rows) == [T0 + i * STEP for i in range(6)]
    assert gap.complete and exchange.asked == [(T0, 1000)]


async def test_the_pages_are_bounded_and_the_oldest_missed_candles_come_first() -> None:
    exchange = CappedExchange(last=2500)
    bounds = GapFillBounds(max_pages=2, max_candles=10_000)
    gap = await fetch_gap(exchange, "BTC/USDT", "1m", T0, T0 + 2500 * STEP, bounds)  # type: ignore[arg-type]
    assert opens(gap.rows) == [T0 + i * STEP for i in range(2000)]  # continues the series
    assert not gap.complete and gap.pages == 2 and len(exchange.asked) == 2


async def test_the_candles_are_bounded_the_last_request_asks_only_for_the_rest() -> None:
    exchange = CappedExchange(last=2500)
    bounds = GapFillBounds(max_pages=10, max_candles=1500)
    gap = await fetch_gap(exchange, "BTC/USDT", "1m", T0, T0 + 2500 * STEP, bounds)  # type: ignore[arg-type]
    assert len(gap.rows) == 1500 and not gap.complete
    assert [limit for _since, limit in exchange.asked] == [1000, 500]


async def test_without_a_live_candle_it_pages_until_the_exchange_has_nothing_newer() -> None:
    exchange = CappedExchange(last=1200)
    gap = await fetch_gap(exchange, "BTC/USDT", "1m", T0, None, GapFillBounds())  # type: ignore[arg-type]
    assert opens(gap.rows) == [T0 + i * STEP for i in range(1201)]
    assert gap.complete and gap.pages == 3  # the third page brought nothing newer


async def test_an_exchange_that_stops_short_of_the_live_candle_leaves_the_gap_marked() -> None:
    exchange = CappedExchange(last=1200)
    gap = await fetch_gap(exchange, "BTC/USDT", "1m", T0, T0 + 2000 * STEP, GapFillBounds())  # type: ignore[arg-type]
    assert len(gap.rows) == 1201 and not gap.complete


async def test_a_later_page_failing_keeps_what_was_fetched() -> None:
    exchange = CappedExchange(last=2500, fail_at=2)
    gap = await fetch_gap(exchange, "BTC/USDT", "1m", T0, T0 + 2500 * STEP, GapFillBounds())  # type: ignore[arg-type]
    assert opens(gap.rows) == [T0 + i * STEP for i in range(1000)] and not gap.complete


async def test_the_first_page_failing_raises() -> None:
    exchange = CappedExchange(last=2500, fail_at=1)
    with pytest.raises(ExchangeUnreachable):
        await fetch_gap(exchange, "BTC/USDT", "1m", T0, T0 + 2500 * STEP, GapFillBounds())  # type: ignore[arg-type]
