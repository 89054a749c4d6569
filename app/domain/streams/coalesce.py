"""Slow-consumer policy: how pending updates for one subscription are combined.

ticker, orderbook, balance: latest wins (each update is a full state).
trades: concatenated, oldest dropped beyond MAX_TRADES.
ohlcv: merged by candle open time, the latest version of a candle wins, at most MAX_CANDLES.
"""

from __future__ import annotations

from typing import Any

LATEST_WINS: frozenset[str] = frozenset({"ticker", "orderbook", "balance"})
MAX_TRADES = 1000
MAX_CANDLES = 500


def snapshot(data_type: str, data: Any) -> Any:
    """A copy that later in-place changes by the exchange library cannot alter."""
    if data_type == "trades" and isinstance(data, list):
        return list(data[-MAX_TRADES:])
    if data_type == "ohlcv" and isinstance(data, list):
        return [list(row) if isinstance(row, list) else row for row in data[-MAX_CANDLES:]]
    return data


def merge(data_type: str, older: Any, newer: Any) -> Any:
    """Combine a pending update with a newer one into what the subscriber will receive."""
    if data_type in LATEST_WINS or not isinstance(older, list) or not isinstance(newer, list):
        return snapshot(data_type, newer)
    if data_type == "trades":
        combined = older + list(newer)
        return combined[-MAX_TRADES:]
    if data_type == "ohlcv":
        by_open: dict[Any, Any] = {}
        for row in (*older, *newer):
            if isinstance(row, list) and row:
                by_open[row[0]] = list(row)
        rows = sorted(by_open.values(), key=_open_time)
        return rows[-MAX_CANDLES:]
    return snapshot(data_type, newer)


def _open_time(row: list[Any]) -> float:
    value = row[0]
    return float(value) if isinstance(value, int | float) else 0.0
