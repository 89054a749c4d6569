"""The simulated order book: built around the last trade, so trades visibly move it.

The last trade consumed the best level on its side: after a buy at p the best ask is p,
after a sell the best bid is p; the spread is 1 to 3 ticks. Levels sit on the tick grid and
each level's size is keyed on its absolute grid price and a slow, level-specific time bucket,
so consecutive snapshots differ by a few sizes and a shift, like real incremental updates.
Bids strictly descend, asks strictly ascend, best bid < best ask: sorted and never crossed.
"""

from __future__ import annotations

from app.ports.exchange_gateway import Json

from .history import MarketView, bounded_limit, iso
from .rng import key_int, unit

DEFAULT_DEPTH = 50
MAX_DEPTH = 500


def order_book(view: MarketView, seed: int, now: int, limit: int | None) -> Json:
    depth = min(bounded_limit(limit, DEFAULT_DEPTH), MAX_DEPTH)
    trade = view.last_trade(now)
    tick = view.tick
    last = round(view.price(trade.price) / tick)  # in ticks
    spread = 1 + key_int(seed, view.symbol, "spread", trade.timestamp, trade.position) % 3
    best_bid, best_ask = (last - spread, last) if trade.buy else (last, last + spread)
    unit_size = view.path_daily_volume / 86_400 * 3  # about three seconds of volume per level

    def level(ticks: int) -> list[float]:
        # Keyed on the level's absolute price and its own time bucket only (not on its distance
        # from the best price): a level keeps its size while the book shifts around it, as on a
        # real exchange, so an update changes a few sizes and the edges, not every level.
        period = 1000 * (1 + key_int(seed, view.symbol, "period", ticks) % 8)
        phase = key_int(seed, view.symbol, "phase", ticks) % period
        bucket = (now + phase) // period
        size = unit_size * (0.1 + 1.9 * unit(seed, view.symbol, "size", ticks, bucket))
        return [view.price_from_ticks(ticks), round(size, 6)]

    bids = [level(best_bid - i) for i in range(depth)]
    asks = [level(best_ask + i) for i in range(depth)]
    return {
        "symbol": view.symbol,
        "bids": bids,
        "asks": asks,
        "timestamp": now,
        "datetime": iso(now),
        "nonce": now,
    }
