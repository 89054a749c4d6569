"""The simulated ticker: last from the trades, bid/ask from the book, 24h stats from candles."""

from __future__ import annotations

from app.ports.exchange_gateway import Json

from .book import order_book
from .history import MarketView, iso
from .path import combine

HOUR_MS = 3_600_000


def ticker(view: MarketView, seed: int, now: int) -> Json:
    """The 24h figures cover the current hour and the 23 before it (hourly granularity)."""
    last = view.price(view.last_trade(now).price)
    book = order_book(view, seed, now, 1)
    (bid, bid_volume), (ask, ask_volume) = book["bids"][0], book["asks"][0]
    current = now // HOUR_MS * HOUR_MS
    hours = [view.candle("1h", current - i * HOUR_MS, now) for i in range(23, -1, -1)]
    day = combine([h for h in hours if h is not None])
    open_ = view.price(day.open)
    base_volume = day.volume * view.volume_factor
    quote_volume = sum(
        h.volume * view.volume_factor * view.price((h.high + h.low + h.close) / 3)
        for h in hours
        if h is not None
    )
    change = round(last - open_, 10)
    return {
        "symbol": view.symbol,
        "timestamp": now,
        "datetime": iso(now),
        "high": view.price(day.high),
        "low": view.price(day.low),
        "bid": bid,
        "bidVolume": bid_volume,
        "ask": ask,
        "askVolume": ask_volume,
        "vwap": quote_volume / base_volume if base_volume else None,
        "open": open_,
        "close": last,
        "last": last,
        "previousClose": None,
        "change": change,
        "percentage": change / open_ * 100 if open_ else None,
        "average": (open_ + last) / 2,
        "baseVolume": base_volume,
        "quoteVolume": quote_volume,
        "info": {"simulated": True},
    }
