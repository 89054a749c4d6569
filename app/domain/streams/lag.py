"""How far behind the exchange an update is: server time minus the exchange's timestamp."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def exchange_lag_seconds(data_type: str, data: Any, now_ms: int) -> float | None:
    """Seconds from the exchange's event time to ``now_ms``, or None when it is unknown.

    Tickers and order books carry ``timestamp`` (ms, ccxt unified); trades are a list whose
    last trade is the newest. Candles carry their *open* time, not an event time, and balances
    no time at all: None for both. A negative value (clocks apart) is reported as 0.
    """
    stamp: Any = None
    if data_type in ("ticker", "orderbook") and isinstance(data, Mapping):
        stamp = data.get("timestamp")
    elif data_type == "trades" and isinstance(data, list) and data:
        last = data[-1]
        stamp = last.get("timestamp") if isinstance(last, Mapping) else None
    if not isinstance(stamp, int | float) or isinstance(stamp, bool) or stamp <= 0:
        return None
    return max(0.0, (now_ms - stamp) / 1000)
