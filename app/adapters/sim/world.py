"""SimWorld: the markets and price paths of one seed, shared by every gateway built on it."""

from __future__ import annotations

from app.ports.exchange_gateway import Json

from .account import currencies_of
from .history import MarketView
from .markets import build_market, path_key, scale_for
from .path import PricePath


class SimWorld:
    """Pure functions of (seed, symbol, time), plus caches; safe to share."""

    def __init__(self, seed: int, symbols: tuple[str, ...]) -> None:
        self.seed = seed
        self.symbols = list(symbols)
        self.markets: dict[str, Json] = {s: build_market(s) for s in symbols}
        self.currencies = currencies_of(symbols)
        paths: dict[str, PricePath] = {}
        for symbol in symbols:
            key = path_key(symbol)
            if key not in paths:
                paths[key] = PricePath(seed, key, scale_for(key))
        self.views = {s: MarketView(s, paths[path_key(s)]) for s in symbols}
