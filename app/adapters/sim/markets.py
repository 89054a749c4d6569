"""The simulator's market list, symbol resolution, capabilities and per-symbol scales."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from app.domain.errors import BadSymbol
from app.ports.exchange_gateway import Json

from .rng import unit

TIMEFRAMES: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "1w": 604_800_000,
}

FEE = 0.001
FEES: dict[str, Any] = {
    "trading": {"tierBased": False, "percentage": True, "maker": FEE, "taker": FEE},
}

HAS: dict[str, Any] = {
    **dict.fromkeys(
        (
            "loadMarkets",
            "fetchMarkets",
            "fetchTicker",
            "fetchOrderBook",
            "fetchTrades",
            "fetchOHLCV",
            "fetchBalance",
        ),
        True,
    ),
    **{
        f"{prefix}{kind}": True
        for prefix in ("watch", "unWatch")
        for kind in ("Ticker", "OrderBook", "Trades", "OHLCV", "Balance")
    },
    **dict.fromkeys(
        (
            "createOrder",
            "cancelOrder",
            "editOrder",
            "fetchOrder",
            "fetchOrders",
            "fetchOpenOrders",
            "fetchMyTrades",
            "fetchTickers",
            "watchTickers",
            "fetchCurrencies",
            "fetchDeposits",
            "fetchWithdrawals",
            "withdraw",
            "fetchFundingRate",
            "fetchPositions",
        ),
        False,
    ),
    "ws": True,
    "spot": True,
    "swap": True,
    "future": False,
    "option": False,
    "margin": False,
    "sandbox": True,  # a separate simulated world, see SimBackend
    "CORS": None,
    "publicAPI": True,
    "privateAPI": False,
}

_ANCHORS: dict[str, float] = {"BTC": 60_000.0, "ETH": 3_000.0, "SOL": 150.0}


@dataclass(frozen=True, slots=True)
class Scale:
    """Per-market constants: the price the path starts around, the tick, typical volume."""

    price: float
    tick: float
    daily_volume: float


def scale_for(symbol: str) -> Scale:
    """Anchored for well-known bases, otherwise derived from the base name."""
    base = symbol.partition("/")[0]
    price = _ANCHORS.get(base) or round(1.0 + 999.0 * unit("anchor", base), 2)
    tick = 10.0 ** (math.floor(math.log10(price)) - 5)
    # About $1e9 a day for BTC, less for smaller coins.
    daily_volume = 2e9 / price / (1 if base == "BTC" else 3)
    return Scale(price=price, tick=tick, daily_volume=daily_volume)


def path_key(symbol: str) -> str:
    """Which price path a market follows: a linear swap tracks its spot pair's path."""
    return symbol.partition(":")[0]


def swap_premium(symbol: str) -> float:
    """Multiplier of a swap over its spot path (a small, fixed basis)."""
    return 1.0003 if ":" in symbol else 1.0


def build_market(symbol: str) -> Json:
    """A CCXT unified market structure for ``BASE/QUOTE`` or ``BASE/QUOTE:SETTLE``."""
    pair, _, settle = symbol.partition(":")
    base, _, quote = pair.partition("/")
    swap = bool(settle)
    tick = scale_for(symbol).tick
    return {
        "id": f"{base}{quote}{'_PERP' if swap else ''}",
        "symbol": symbol,
        "base": base,
        "quote": quote,
        "settle": settle or None,
        "baseId": base,
        "quoteId": quote,
        "settleId": settle or None,
        "type": "swap" if swap else "spot",
        "spot": not swap,
        "margin": False,
        "swap": swap,
        "future": False,
        "option": False,
        "contract": swap,
        "linear": (settle == quote) if swap else None,
        "inverse": (settle == base) if swap else None,
        "contractSize": 1.0 if swap else None,
        "expiry": None,
        "active": True,
        "taker": FEE,
        "maker": FEE,
        "precision": {"amount": 1e-6, "price": tick},
        "limits": {
            "amount": {"min": 1e-6, "max": None},
            "price": {"min": tick, "max": None},
            "cost": {"min": 5.0, "max": None},
        },
        "info": {"simulated": True},
    }


def resolve_symbol(symbol: object, markets: dict[str, Json], market_type: str) -> str:
    """The listed symbol a request means, as ccxt resolves it with ``defaultType: swap``.

    With ``marketType: futures`` a bare ``BASE/QUOTE`` selects the linear swap
    ``BASE/QUOTE:QUOTE`` when it is listed (else the spot pair), exactly as ccxt's exchanges
    do for a futures default type. Unknown symbols raise BadSymbol.
    """
    if not isinstance(symbol, str) or not symbol:
        raise BadSymbol("symbol must be a non-empty string")
    if market_type == "futures" and ":" not in symbol:
        quote = symbol.partition("/")[2]
        swap = f"{symbol}:{quote}"
        if swap in markets:
            return swap
    if symbol in markets:
        return symbol
    raise BadSymbol(f"sim does not have market symbol {symbol[:64]}")
