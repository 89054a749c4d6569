"""Candles from REST around the live ones: ``history: N`` and the gap after a restart.

Exchanges cap one ``fetch_ohlcv`` (binance spot and the simulator: 1,000 rows), while
``history: 1000`` asks for 1,000 closed candles plus the current one. The newest page comes
first; older pages are fetched from ``since`` until the count is reached, the exchange has no
more, or ``MAX_PAGES`` requests were made (issue 13). The gap after an upstream restart is
paged forward from the last candle delivered up to the first live one, within
``GapFillBounds`` (ADR 0161).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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


GAP_PAGE_LIMIT = 1000
"""Rows asked for per gap-fill request (binance spot's and the simulator's cap)."""


@dataclass(frozen=True, slots=True)
class GapFillBounds:
    """How much REST one gap fill after an upstream restart may use (``[streams]``
    ``gap_fill_max_pages``, ``gap_fill_max_candles``; ADR 0161). The default, 10 pages of
    at most 1,000 rows, covers about a week of 1m candles."""

    max_pages: int = 10
    max_candles: int = 10_000


@dataclass(frozen=True, slots=True)
class Gap:
    """A gap fill's REST rows by open time; ``complete`` is False when the bounds or a
    failed later page stopped the paging before the live candles (a gap remains)."""

    rows: dict[Any, list[Any]]
    complete: bool
    pages: int


async def fetch_gap(
    source: ExchangeGateway,
    symbol: str,
    timeframe: str,
    since: Any,
    until: Any,
    bounds: GapFillBounds,
) -> Gap:
    """The candles from open time ``since`` (included) up to the live ones, paged forward.

    ``until`` is the open time of the oldest live candle (None: unknown, page until the
    exchange has nothing newer). Each request asks from the newest row fetched so far, so
    an exchange that answers fewer rows than asked (its own cap) is paged all the same.
    Stops when the rows reach ``until``, when a page brings nothing newer, or at the
    bounds: ``bounds.max_pages`` requests, ``bounds.max_candles`` rows.

    Raises:
        whatever ``fetch_ohlcv`` raises on the first page (a later page's failure keeps
        what was fetched, marked incomplete).
    """
    step = timeframe_ms(timeframe) or 1  # unknown form: only "newer than" is known
    rows: dict[Any, list[Any]] = {}
    cursor, pages = since, 0
    while True:
        if until is not None and rows and max(rows) + step >= until:
            return Gap(rows, True, pages)  # the next candle is a live one
        room = bounds.max_candles - len(rows)
        if pages >= bounds.max_pages or room <= 0:
            return Gap(rows, False, pages)
        try:
            page = await source.fetch_ohlcv(symbol, timeframe, cursor, min(GAP_PAGE_LIMIT, room))
        except Exception:
            if not pages:
                raise
            return Gap(rows, False, pages)  # a later page's failure keeps what was fetched
        pages += 1
        newest = max(rows) if rows else None
        new = {
            t: row
            for t, row in by_open_time(page).items()
            if isinstance(t, int) and t >= since and (newest is None or t > newest)
        }
        if not new:
            return Gap(rows, until is None, pages)  # the exchange has nothing newer
        rows.update(new)
        cursor = max(rows) + 1
