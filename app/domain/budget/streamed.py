"""Turning a live stream's latest update into the answer a REST read would have given.

Only what REST would have answered: a ticker without bid or ask (binance ccxt.pro's default
``miniTicker`` channel) does not stand in for fetchTicker; a book is cut to the asked limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.domain.streams.events import plain_copy

TICKER_REQUIRED = ("symbol", "last", "bid", "ask")
"""Fields a REST ticker always has on exchanges that publish a full ticker channel."""


def ticker_from_stream(data: Any) -> dict[str, Any] | None:
    """A plain copy of a streamed ticker, or None when it lacks a field of ``TICKER_REQUIRED``."""
    if not isinstance(data, Mapping):
        return None
    if any(data.get(field) is None for field in TICKER_REQUIRED):
        return None
    copied: dict[str, Any] = plain_copy(data)
    return copied


def book_from_stream(data: Any, limit: int | None) -> dict[str, Any] | None:
    """A copy of a streamed order book, each side cut to ``limit`` levels; None if unusable.

    A book with fewer than ``limit`` levels on a side is unusable: the stream keeps only the
    depth it subscribed (ccxt.pro binance: 1,000 levels, the simulator: 50) and the REST call
    would have answered up to ``limit`` (binance: 5,000), so answering the stream's shorter
    book would cut the client's depth without a word; the exchange answers instead.

    Cut first, then copied: only the levels answered are copied (the library's book objects
    are changed in place by later updates, so nothing of theirs is kept).
    """
    if not isinstance(data, Mapping):
        return None
    bids, asks = data.get("bids"), data.get("asks")
    if not isinstance(bids, list) or not isinstance(asks, list) or not (bids or asks):
        return None
    if limit is not None and (len(bids) < limit or len(asks) < limit):
        return None
    sides = {"bids": bids, "asks": asks}
    return {
        key: [list(level) for level in sides[key][:limit]] if key in sides else plain_copy(value)
        for key, value in data.items()
    }
