"""Realistic CCXT unified structures used as OpenAPI examples (documentation only)."""

from __future__ import annotations

from typing import Any

TICKER: dict[str, Any] = {
    "symbol": "BTC/USDT",
    "timestamp": 1735689600000,
    "datetime": "2025-01-01T00:00:00.000Z",
    "high": 94500.0,
    "low": 92800.1,
    "bid": 93650.2,
    "bidVolume": 1.25,
    "ask": 93650.3,
    "askVolume": 0.8,
    "vwap": 93620.4,
    "open": 93100.0,
    "close": 93650.3,
    "last": 93650.3,
    "previousClose": None,
    "change": 550.3,
    "percentage": 0.591,
    "average": 93375.15,
    "baseVolume": 15234.2,
    "quoteVolume": 1426500000.0,
    "info": {},
}
ORDER_BOOK: dict[str, Any] = {
    "symbol": "BTC/USDT",
    "bids": [[93650.2, 1.25], [93650.1, 0.4]],
    "asks": [[93650.3, 0.8], [93650.5, 2.1]],
    "timestamp": 1735689600000,
    "datetime": "2025-01-01T00:00:00.000Z",
    "nonce": 5793412345,
}
TRADES: list[dict[str, Any]] = [
    {
        "id": "4217859331",
        "timestamp": 1735689600123,
        "datetime": "2025-01-01T00:00:00.123Z",
        "symbol": "BTC/USDT",
        "order": None,
        "type": None,
        "side": "buy",
        "takerOrMaker": None,
        "price": 93650.3,
        "amount": 0.015,
        "cost": 1404.75,
        "fee": None,
        "fees": [],
        "info": {},
    },
]
OHLCV: list[list[float]] = [
    [1735689600000, 93100.0, 93800.0, 93050.5, 93650.3, 512.33],
    [1735693200000, 93650.3, 94100.0, 93500.0, 93990.1, 498.01],
]
BALANCE: dict[str, Any] = {
    "free": {"BTC": 0.5, "USDT": 1200.0},
    "used": {"BTC": 0.1, "USDT": 300.0},
    "total": {"BTC": 0.6, "USDT": 1500.0},
    "BTC": {"free": 0.5, "used": 0.1, "total": 0.6},
    "USDT": {"free": 1200.0, "used": 300.0, "total": 1500.0},
    "timestamp": None,
    "datetime": None,
    "info": {},
}
