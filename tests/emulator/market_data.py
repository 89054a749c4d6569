"""Deterministic binance payloads (exchangeInfo, ticker, depth, trades, klines, account)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

NOW_MS = 1_700_000_000_000
TRADE_STEP_MS = 1_000
DEFAULT_BASES = ("BTC", "ETH", "SOL", "XRP", "BNB")
COIN_M_BASES = 5  # COIN-M lists few contracts: the first bases only
INTERVALS_MS = {
    "1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000,
    "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000,
    "1w": 604_800_000,
}  # fmt: skip
_FILTERS = [
    {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000", "tickSize": "0.01"},
    {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "9000", "stepSize": "0.001"},
    {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "maxQty": "9000", "stepSize": "0.001"},
    {"filterType": "NOTIONAL", "minNotional": "5", "maxNotional": "9000000"},
]
_ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"]


def bases(symbols: int | Sequence[str]) -> list[str]:
    """Base currencies: the first of DEFAULT_BASES, then T0005, T0006... (all against USDT)."""
    if isinstance(symbols, int):
        return [DEFAULT_BASES[i] if i < len(DEFAULT_BASES) else f"T{i:04d}" for i in range(symbols)]
    return [symbol.split("/")[0] for symbol in symbols]


def base_for(known: list[str], section: str, symbol_id: str | None) -> str | None:
    if not symbol_id:
        return None
    suffix = "USD_PERP" if section == "dapi" else "USDT"
    if not symbol_id.endswith(suffix):
        return None
    base = symbol_id[: -len(suffix)]
    allowed = known[:COIN_M_BASES] if section == "dapi" else known
    return base if base in allowed else None


def price(base: str) -> float:
    return float(10 + sum(ord(ch) * (i + 7) for i, ch in enumerate(base)) % 5000)


def _f(value: float) -> str:
    return f"{value:.8f}"


def spot_exchange_info(known: list[str]) -> dict[str, Any]:
    symbols = [
        {
            "symbol": f"{base}USDT",
            "status": "TRADING",
            "baseAsset": base,
            "baseAssetPrecision": 8,
            "quoteAsset": "USDT",
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "orderTypes": _ORDER_TYPES,
            "icebergAllowed": True,
            "ocoAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": _FILTERS,
            "permissions": [],
            "permissionSets": [["SPOT"]],
        }
        for base in known
    ]
    return {"timezone": "UTC", "serverTime": NOW_MS, "rateLimits": [], "symbols": symbols}


def _contract(base: str, quote: str, symbol: str, pair: str, margin: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "pair": pair,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "contractStatus": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": base,
        "quoteAsset": quote,
        "marginAsset": margin,
        "pricePrecision": 2,
        "quantityPrecision": 3,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "triggerProtect": "0.0500",
        "filters": _FILTERS,
        "orderTypes": ["LIMIT", "MARKET", "STOP", "TAKE_PROFIT"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }


def fapi_exchange_info(known: list[str]) -> dict[str, Any]:
    symbols = [_contract(b, "USDT", f"{b}USDT", f"{b}USDT", "USDT") for b in known]
    return {
        "timezone": "UTC",
        "serverTime": NOW_MS,
        "rateLimits": [],
        "assets": [],
        "symbols": symbols,
    }


def dapi_exchange_info(known: list[str]) -> dict[str, Any]:
    symbols = []
    for b in known[:COIN_M_BASES]:
        contract = _contract(b, "USD", f"{b}USD_PERP", f"{b}USD", b)
        contract["contractSize"] = 100
        symbols.append(contract)
    return {"timezone": "UTC", "serverTime": NOW_MS, "rateLimits": [], "symbols": symbols}


def ticker(symbol_id: str, base: str, now: int, section: str) -> dict[str, Any]:
    p = price(base)
    row = {
        "symbol": symbol_id,
        "priceChange": _f(p * 0.01),
        "priceChangePercent": "1.000",
        "weightedAvgPrice": _f(p),
        "prevClosePrice": _f(p * 0.99),
        "lastPrice": _f(p),
        "lastQty": "0.50000000",
        "bidPrice": _f(p - 0.01),
        "bidQty": "1.50000000",
        "askPrice": _f(p + 0.01),
        "askQty": "2.50000000",
        "openPrice": _f(p * 0.99),
        "highPrice": _f(p * 1.05),
        "lowPrice": _f(p * 0.95),
        "volume": "1234.50000000",
        "quoteVolume": _f(1234.5 * p),
        "openTime": now - 86_400_000,
        "closeTime": now,
        "firstId": 1,
        "lastId": 1000,
        "count": 1000,
    }
    if section != "api":
        # Futures tickers carry no book top; ccxt tells spot from swap rows by these keys.
        for key in ("bidPrice", "bidQty", "askPrice", "askQty"):
            del row[key]
    return row


def depth(base: str, limit: int | None, now: int) -> dict[str, Any]:
    p = price(base)
    n = max(1, min(limit or 100, 5000))
    return {
        "lastUpdateId": 1000,
        "E": now,
        "T": now,
        "bids": [[_f(p - 0.01 * (i + 1)), _f(1 + i)] for i in range(n)],
        "asks": [[_f(p + 0.01 * (i + 1)), _f(1 + i)] for i in range(n)],
    }


def _window(step: int, start: int | None, end: int | None, limit: int, now: int) -> range:
    last = min(end if end is not None else now, now) // step * step
    first = max(0, last - (limit - 1) * step) if start is None else -(-start // step) * step
    stop = min(last, first + (limit - 1) * step)
    return range(first, stop + 1, step) if stop >= first else range(0)


def trades(
    base: str, start: int | None, end: int | None, limit: int, now: int, *, aggregated: bool
) -> list[dict[str, Any]]:
    p = price(base)
    rows = []
    for ts in _window(TRADE_STEP_MS, start, end, limit, now):
        n = ts // TRADE_STEP_MS
        px, qty = _f(p + (n % 5 - 2) * 0.01), _f(0.1 + n % 7 * 0.1)
        if aggregated:
            rows.append(
                {"a": n, "p": px, "q": qty, "f": n, "l": n, "T": ts, "m": n % 2 == 0, "M": True}
            )
        else:
            rows.append(
                {"id": n, "price": px, "qty": qty, "quoteQty": _f(float(px) * float(qty)),
                 "time": ts, "isBuyerMaker": n % 2 == 0, "isBestMatch": True}
            )  # fmt: skip
    return rows


def klines(
    base: str, interval: str, start: int | None, end: int | None, limit: int, now: int
) -> list[list[Any]] | None:
    step = INTERVALS_MS.get(interval)
    if step is None:
        return None
    p = price(base)
    rows = []
    for ts in _window(step, start, end, limit, now):
        drift = ((ts // step) % 11 - 5) * 0.01
        o, c = p + drift, p - drift
        rows.append(
            [ts, _f(o), _f(max(o, c) + 0.05), _f(min(o, c) - 0.05), _f(c), "10.00000000",
             ts + step - 1, _f(10 * p), 10, "5.00000000", _f(5 * p), "0"]
        )  # fmt: skip
    return rows


def account(now: int) -> dict[str, Any]:
    return {
        "makerCommission": 10,
        "takerCommission": 10,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "updateTime": now,
        "accountType": "SPOT",
        "balances": [
            {"asset": "BTC", "free": "1.00000000", "locked": "0.50000000"},
            {"asset": "USDT", "free": "1000.00000000", "locked": "250.00000000"},
        ],
        "permissions": ["SPOT"],
    }
