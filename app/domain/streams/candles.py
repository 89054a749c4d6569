"""Candle history for ``history: N`` subscriptions: REST pages merged with the live candles.

Exchanges cap one ``fetch_ohlcv`` (binance spot and the simulator: 1,000 rows), while
``history: 1000`` asks for 1,000 closed candles plus the current one. The newest page comes
first; older pages are fetched from ``since`` until the count is reached, the exchange has no
more, or ``MAX_PAGES`` requests were made (issue 13).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from app.ports.exchange_gateway import ExchangeGateway

MAX_PAGES = 3
"""Requests per history at most (``history`` <= 1,000: two pages at a 1,000-row cap)."""

_TIMEFRAME = re.compile(r"^([1-9][0-9]*)([smhdwMy])$")
_UNIT_MS = {
    "s": 1_000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
    "M": 2_592_000_000,
    "y": 31_536_000_000,
}
"""ccxt's ``parse_timeframe`` units (a month is 30 days, a year 365: used only to page)."""


def timeframe_ms(timeframe: str) -> int | None:
    """Length of one candle in ms (``"1m"`` -> 60,000), None for a form ccxt does not use."""
    match = _TIMEFRAME.match(timeframe)
    if match is None:
        return None
    return int(match[1]) * _UNIT_MS[match[2]]


def by_open_time(rows: Iterable[Any]) -> dict[Any, list[Any]]:
    """Rows keyed by open time (plain list copies); rows that are not lists are skipped."""
    return {row[0]: list(row) for row in rows if isinstance(row, list | tuple) and row}


async def fetch_history(
    source: ExchangeGateway, symbol: str, timeframe: str, count: int
) -> dict[Any, list[Any]]:
    """The newest ``count`` candles from REST (fewer if the exchange has fewer), by open time.

    The first request asks for ``count`` rows with no ``since`` (the newest); when the
    exchange answers fewer (its cap), older pages are asked for from the oldest row back.

    Raises:
        whatever ``fetch_ohlcv`` raises on the first page (a later page's failure keeps
        what was fetched).
    """
    rows = by_open_time(await source.fetch_ohlcv(symbol, timeframe, None, count))
    step = timeframe_ms(timeframe)
    pages = 1
    while rows and step is not None and len(rows) < count and pages < MAX_PAGES:
        oldest = min(rows)
        if not isinstance(oldest, int):
            break
        missing = count - len(rows)
        try:
            older = await source.fetch_ohlcv(symbol, timeframe, oldest - missing * step, missing)
        except Exception:  # noqa: BLE001 - the newest page alone is still a history
            break
        pages += 1
        new = {t: row for t, row in by_open_time(older).items() if t < oldest}
        if not new:
            break  # the exchange has nothing older
        rows.update(new)
    return rows


def merge_history(
    rest: Mapping[Any, list[Any]], live: Mapping[Any, list[Any]], count: int
) -> list[list[Any]]:
    """The newest ``count`` candles of REST and live rows by open time, live versions winning
    (the live candle is newer than REST's view of the same open time)."""
    merged = dict(rest)
    merged.update(live)
    return [merged[t] for t in sorted(merged)][-count:]
