"""ExchangeGateway: the operations on one exchange instance (one config, one set of credentials)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

Json = dict[str, Any]

DATA_TYPES: tuple[str, ...] = ("ticker", "trades", "orderbook", "ohlcv", "balance")
"""Stream kinds, as the Socket.IO contract names them."""

WATCH_METHODS: dict[str, str] = {
    "ticker": "watchTicker",
    "trades": "watchTrades",
    "orderbook": "watchOrderBook",
    "ohlcv": "watchOHLCV",
    "balance": "watchBalance",
}
UNWATCH_METHODS: dict[str, str] = {
    "ticker": "unWatchTicker",
    "trades": "unWatchTrades",
    "orderbook": "unWatchOrderBook",
    "ohlcv": "unWatchOHLCV",
    "balance": "unWatchBalance",
}


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an exchange offers, in CCXT's vocabulary."""

    has: dict[str, Any]
    symbols: list[str]
    timeframes: dict[str, Any] = field(default_factory=dict)
    fees: dict[str, Any] = field(default_factory=dict)
    symbol_ids: dict[str, str] = field(default_factory=dict)
    """Other names the backend's own calls accept for a listed symbol (ccxt: market ids such
    as ``BTCUSDT``), mapped to that symbol; streams use it to share one upstream per market."""


@runtime_checkable
class ExchangeGateway(Protocol):
    """One exchange instance. Results are CCXT unified structures (plain dicts and lists).

    Every method raises ``app.domain.errors.DomainError`` subclasses, never a library's own
    exception, so the domain can tell bad input from an exchange outage.
    """

    @property
    def exchange_id(self) -> str:
        """The exchange id this gateway talks to."""
        ...

    @property
    def markets_loaded(self) -> bool:
        """True once markets are available (loaded or shared)."""
        ...

    async def load_markets(self, *, share_from: ExchangeGateway | None = None) -> None:
        """Make the market list available.

        Args:
            share_from: a gateway of the same backend, exchange, market type and sandbox mode
                whose markets are already loaded. An implementation should reuse its markets
                without copying them (instances differing only in credentials share one list);
                it may ignore the hint and load its own.
        """
        ...

    def has(self, method: str) -> bool:
        """Whether the exchange offers a CCXT method, by its camelCase name (``watchTicker``)."""
        ...

    async def capabilities(self) -> Capabilities:
        """The exchange's ``has`` map, symbols, timeframes and fees."""
        ...

    async def fetch_ticker(self, symbol: str, params: Json | None = None) -> Json:
        """The ticker of one symbol."""
        ...

    async def fetch_order_book(
        self, symbol: str, limit: int | None = None, params: Json | None = None
    ) -> Json:
        """The order book of one symbol: bids descending, asks ascending."""
        ...

    async def fetch_trades(
        self,
        symbol: str,
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[Json]:
        """Public trades, oldest first, none before ``since`` (ms) and at most ``limit``."""
        ...

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[list[float]]:
        """Candles ``[ms, open, high, low, close, volume]``, oldest first."""
        ...

    async def fetch_balance(self, params: Json | None = None) -> Json:
        """The account balance; needs credentials."""
        ...

    async def watch_ticker(self, symbol: str, params: Json | None = None) -> Json:
        """Wait for the next ticker update."""
        ...

    async def watch_order_book(
        self, symbol: str, limit: int | None = None, params: Json | None = None
    ) -> Json:
        """Wait for the next order book update; returns the full current book."""
        ...

    async def watch_trades(
        self,
        symbol: str,
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[Json]:
        """Wait for new trades."""
        ...

    async def watch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[list[float]]:
        """Wait for candle updates."""
        ...

    async def watch_balance(self, params: Json | None = None) -> Json:
        """Wait for the next balance update; needs credentials."""
        ...

    async def un_watch(self, data_type: str, symbol: str, timeframe: str | None = None) -> None:
        """Tell the exchange we no longer want a stream (no-op where it has no un_watch)."""
        ...

    async def close(self) -> None:
        """Release every connection. Idempotent."""
        ...
