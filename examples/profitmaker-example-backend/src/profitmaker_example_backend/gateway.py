"""ExampleGateway: profitmaker-server's ExchangeGateway port over a fixed recording.

Fetches answer as of the end of the recording. Streams replay the recorded trades in order,
one per ``interval`` seconds, and the ticker, current candle and book follow the replayed
trade. There is no account: balances are not supported.
"""

from __future__ import annotations

import asyncio
from typing import Any

from app.plugin import (
    BadInput,
    BadSymbol,
    BaseGateway,
    Capabilities,
    ExchangeConfig,
    ExchangeGateway,
    ExchangeUnreachable,
    Json,
)

from .dataset import Recording, iso, trade_json

HAS: dict[str, Any] = {
    "fetchTicker": True,
    "fetchOrderBook": True,
    "fetchTrades": True,
    "fetchOHLCV": True,
    "fetchBalance": False,
    "watchTicker": True,
    "watchOrderBook": True,
    "watchTrades": True,
    "watchOHLCV": True,
    "watchBalance": False,
    "createOrder": False,
}


class ExampleGateway(BaseGateway):
    """BaseGateway supplies config, exchange_id, markets_loaded, has(), closed, close() and
    NotSupported for fetch_balance/watch_balance; this class adds the recorded data."""

    HAS = HAS

    def __init__(self, recording: Recording, config: ExchangeConfig, interval: float) -> None:
        super().__init__(config)
        self._recording = recording
        self._interval = interval
        self._cursors: dict[tuple[str, str], int] = {}

    async def load_markets(self, *, share_from: ExchangeGateway | None = None) -> None:
        self._markets = {
            symbol: {"symbol": symbol, "type": "spot", "spot": True, "active": True}
            for symbol in self._recording.symbols
        }

    async def capabilities(self) -> Capabilities:
        return Capabilities(
            has=dict(HAS),
            symbols=list(self._recording.symbols),
            timeframes={"1m": "1m"},
            fees={"trading": {"maker": 0.001, "taker": 0.001, "percentage": True}},
        )

    def _data(self, symbol: str) -> Json:
        data = self._recording.symbols.get(symbol)
        if data is None:
            raise BadSymbol(f"example does not have market symbol {str(symbol)[:64]}")
        return data

    def _ticker(self, symbol: str, last: float, timestamp: int) -> Json:
        recorded = self._data(symbol)["ticker"]
        return {
            **dict.fromkeys(("vwap", "previousClose", "change", "percentage", "average")),
            **recorded,
            "symbol": symbol,
            "timestamp": timestamp,
            "datetime": iso(timestamp),
            "last": last,
            "close": last,
            "high": max(recorded["high"], last),
            "low": min(recorded["low"], last),
            "quoteVolume": None,
            "info": {},
        }

    async def fetch_ticker(self, symbol: str, params: Json | None = None) -> Json:
        data = self._data(symbol)
        return self._ticker(symbol, data["ticker"]["last"], self._recording.recorded_until)

    async def fetch_order_book(
        self, symbol: str, limit: int | None = None, params: Json | None = None
    ) -> Json:
        book = self._data(symbol)["book"]
        depth = len(book["bids"]) if limit is None else max(0, limit)
        stamp = self._recording.recorded_until
        return {
            "symbol": symbol,
            "bids": [list(level) for level in book["bids"][:depth]],
            "asks": [list(level) for level in book["asks"][:depth]],
            "timestamp": stamp,
            "datetime": iso(stamp),
            "nonce": None,
        }

    async def fetch_trades(
        self,
        symbol: str,
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[Json]:
        rows = list(enumerate(self._data(symbol)["trades"]))
        if since is not None:
            rows = [(i, row) for i, row in rows if row[0] >= since]
        if limit is not None:
            rows = rows[:limit] if since is not None else rows[-limit:] if limit else []
        return [trade_json(symbol, row, i) for i, row in rows]

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[list[float]]:
        rows = self._data(symbol)["ohlcv_1m"]
        if timeframe != "1m":
            raise BadInput(f"example only records 1m candles, not {str(timeframe)[:16]}")
        if since is not None:
            rows = [row for row in rows if row[0] >= since]
        if limit is not None:
            rows = rows[:limit] if since is not None else rows[-limit:] if limit else []
        return [list(row) for row in rows]

    async def _replay(self, stream: str, symbol: str) -> tuple[int, list[Any]]:
        """Wait one interval, then move this stream's cursor to the next recorded trade."""
        if self.closed:
            raise ExchangeUnreachable("example connection is closed")
        trades = self._data(symbol)["trades"]
        await asyncio.sleep(self._interval)
        key = (stream, symbol)
        index = self._cursors.get(key, -1) + 1
        self._cursors[key] = index % len(trades)
        return index % len(trades), trades[index % len(trades)]

    async def watch_ticker(self, symbol: str, params: Json | None = None) -> Json:
        _, row = await self._replay("ticker", symbol)
        return self._ticker(symbol, row[1], row[0])

    async def watch_order_book(
        self, symbol: str, limit: int | None = None, params: Json | None = None
    ) -> Json:
        await self._replay("orderbook", symbol)
        return await self.fetch_order_book(symbol, limit)

    async def watch_trades(
        self,
        symbol: str,
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[Json]:
        index, row = await self._replay("trades", symbol)
        return [trade_json(symbol, row, index)]

    async def watch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[list[float]]:
        if timeframe != "1m":
            raise BadInput(f"example only records 1m candles, not {str(timeframe)[:16]}")
        _, row = await self._replay("ohlcv", symbol)
        candles = self._data(symbol)["ohlcv_1m"]
        return [list(next(c for c in candles if c[0] <= row[0] < c[0] + 60_000))]

    async def un_watch(self, data_type: str, symbol: str, timeframe: str | None = None) -> None:
        self._cursors.pop((data_type, symbol), None)

    async def on_close(self) -> None:
        self._cursors.clear()
