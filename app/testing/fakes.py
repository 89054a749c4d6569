"""In-memory test doubles for the ExchangeGateway and ExchangeBackend ports.

``FakeExchangeGateway`` answers every fetch with deterministic CCXT unified structures and
makes every ``watch_*`` call wait until a test calls ``push``. It records calls so tests can
assert on reuse (``calls["load_markets"]``) and on the arguments that reached the gateway
(``last_args["fetch_trades"] == (symbol, since, limit, params)``).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from app.domain.config import ExchangeConfig
from app.domain.errors import (
    BadInput,
    BadSymbol,
    CredentialsRequired,
    ExchangeUnreachable,
    NotSupported,
)
from app.ports.exchange_gateway import DATA_TYPES, Capabilities, Json
from app.testing.waiting import eventually

DEFAULT_SYMBOLS: tuple[str, ...] = ("BTC/USDT", "ETH/USDT", "BTC/USDT:USDT")
NOW_MS = 1_700_000_000_000
"""The fake's clock: data never has a timestamp after this (deterministic across runs)."""
TRADE_INTERVAL_MS = 1_000
DEFAULT_LIMIT = 50

TIMEFRAMES: dict[str, int] = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}

DEFAULT_HAS: dict[str, Any] = {
    "loadMarkets": True,
    "fetchTicker": True,
    "fetchOrderBook": True,
    "fetchTrades": True,
    "fetchOHLCV": True,
    "fetchBalance": True,
    "watchTicker": True,
    "watchOrderBook": True,
    "watchTrades": True,
    "watchOHLCV": True,
    "watchBalance": True,
    "unWatchTicker": True,
    "unWatchOrderBook": True,
    "unWatchTrades": True,
    "unWatchOHLCV": True,
    "unWatchBalance": False,
    "sandbox": True,
}

_HAS_NAME: dict[str, str] = {
    "fetch_ticker": "fetchTicker",
    "fetch_order_book": "fetchOrderBook",
    "fetch_trades": "fetchTrades",
    "fetch_ohlcv": "fetchOHLCV",
    "fetch_balance": "fetchBalance",
    "watch_ticker": "watchTicker",
    "watch_order_book": "watchOrderBook",
    "watch_trades": "watchTrades",
    "watch_ohlcv": "watchOHLCV",
    "watch_balance": "watchBalance",
}

StreamKey = tuple[str, str, str | None]


def _iso(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _base_price(symbol: str) -> float:
    """A stable, symbol-specific price (no hash(): it is salted per process)."""
    return float(100 + sum(ord(ch) for ch in symbol) % 900)


def build_market(symbol: str) -> Json:
    """A CCXT unified market structure for a ``BASE/QUOTE[:SETTLE]`` symbol."""
    pair, _, settle = symbol.partition(":")
    base, _, quote = pair.partition("/")
    swap = bool(settle)
    return {
        "id": (base + quote) if not swap else f"{base}{quote}_PERP",
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
        "active": True,
        "taker": 0.001,
        "maker": 0.001,
        "precision": {"amount": 0.0001, "price": 0.01},
        "limits": {
            "amount": {"min": 0.0001, "max": None},
            "price": {"min": 0.01, "max": None},
            "cost": {"min": 5.0, "max": None},
        },
        "info": {},
    }


class FakeExchangeGateway:
    """An ExchangeGateway held entirely in memory, for unit tests and the contract kit."""

    def __init__(
        self,
        exchange_id: str = "fake",
        *,
        symbols: Iterable[str] = DEFAULT_SYMBOLS,
        has: dict[str, Any] | None = None,
        config: ExchangeConfig | None = None,
        load_markets_delay: float = 0.0,
    ) -> None:
        self._exchange_id = exchange_id
        self._symbols = tuple(symbols)
        self._has: dict[str, Any] = {**DEFAULT_HAS, **(has or {})}
        self.config = config if config is not None else ExchangeConfig(exchange_id=exchange_id)
        self.load_markets_delay = load_markets_delay
        self.markets: dict[str, Json] | None = None
        self.calls: collections.Counter[str] = collections.Counter()
        self.last_args: dict[str, tuple[Any, ...]] = {}
        self.un_watched: list[StreamKey] = []
        self.closed = False
        self._failures: dict[str, collections.deque[BaseException]] = {}
        self._watchers: dict[StreamKey, list[asyncio.Future[Any]]] = {}

    # -- test controls -------------------------------------------------------------------

    def fail_next(self, method: str, error: BaseException, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` (snake_case name) raise ``error``."""
        queue = self._failures.setdefault(method, collections.deque())
        queue.extend([error] * times)

    def push(self, data_type: str, symbol: str, data: Any, timeframe: str | None = None) -> int:
        """Resolve every pending watch of one stream with ``data``; returns how many waited."""
        waiting = self._watchers.pop(self._key(data_type, symbol, timeframe), [])
        delivered = 0
        for future in waiting:
            if not future.done():
                future.set_result(data)
                delivered += 1
        return delivered

    def pending_watchers(self, data_type: str, symbol: str, timeframe: str | None = None) -> int:
        """How many watch calls currently wait on one stream."""
        waiting = self._watchers.get(self._key(data_type, symbol, timeframe), [])
        return sum(1 for future in waiting if not future.done())

    async def wait_for_watchers(
        self,
        data_type: str,
        symbol: str,
        n: int = 1,
        timeout: float = 2.0,
        timeframe: str | None = None,
    ) -> int:
        """Wait until at least ``n`` watch calls wait on a stream; TimeoutError otherwise."""

        def count() -> int:
            return self.pending_watchers(data_type, symbol, timeframe)

        try:
            await eventually(lambda: count() >= n, timeout=timeout, interval=0.005)
        except AssertionError:
            raise TimeoutError(
                f"{count()} of {n} watchers on {data_type} {symbol!r} after {timeout}s"
            ) from None
        return count()

    def ticker_for(self, symbol: str, timestamp: int = NOW_MS) -> Json:
        """The ticker fetch_ticker would return; handy as a ``push`` payload."""
        return self._ticker(symbol, timestamp)

    def sample(self, data_type: str, symbol: str = "", timeframe: str | None = None) -> Any:
        """A valid payload for ``push``: what the matching fetch returns (latest few items)."""
        if data_type == "ticker":
            return self._ticker(symbol, NOW_MS)
        if data_type == "orderbook":
            return self._order_book(symbol, None)
        if data_type == "trades":
            return self._trades(symbol, None, 3)
        if data_type == "ohlcv":
            return self._ohlcv(symbol, timeframe or "1m", None, 2)
        if data_type == "balance":
            return self._balance()
        raise ValueError(f"unknown data type {data_type!r}")

    # -- ExchangeGateway -----------------------------------------------------------------

    @property
    def exchange_id(self) -> str:
        return self._exchange_id

    @property
    def markets_loaded(self) -> bool:
        return self.markets is not None

    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    async def load_markets(self, *, share_from: Any = None) -> None:
        if (
            isinstance(share_from, FakeExchangeGateway)
            and share_from is not self
            and share_from.markets is not None
        ):
            self.calls["share_markets"] += 1
            self.markets = share_from.markets  # the same object: shared, not copied
            return
        self._enter("load_markets", (share_from,))
        if self.load_markets_delay:
            await asyncio.sleep(self.load_markets_delay)
        self.markets = {symbol: build_market(symbol) for symbol in self._symbols}

    def has(self, method: str) -> bool:
        return bool(self._has.get(method))

    async def capabilities(self) -> Capabilities:
        self._enter("capabilities", ())
        return Capabilities(
            has=dict(self._has),
            symbols=list(self._symbols),
            timeframes={name: name for name in TIMEFRAMES},
            fees={"trading": {"maker": 0.001, "taker": 0.001, "percentage": True}},
        )

    async def fetch_ticker(self, symbol: str, params: Json | None = None) -> Json:
        self._enter("fetch_ticker", (symbol, params), symbol=symbol)
        return self._ticker(symbol, NOW_MS)

    async def fetch_order_book(
        self, symbol: str, limit: int | None = None, params: Json | None = None
    ) -> Json:
        self._enter("fetch_order_book", (symbol, limit, params), symbol=symbol)
        return self._order_book(symbol, limit)

    async def fetch_trades(
        self,
        symbol: str,
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[Json]:
        self._enter("fetch_trades", (symbol, since, limit, params), symbol=symbol)
        return self._trades(symbol, since, limit)

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[list[float]]:
        self._enter("fetch_ohlcv", (symbol, timeframe, since, limit, params), symbol=symbol)
        return self._ohlcv(symbol, timeframe, since, limit)

    async def fetch_balance(self, params: Json | None = None) -> Json:
        self._enter("fetch_balance", (params,), needs_credentials=True)
        return self._balance()

    async def watch_ticker(self, symbol: str, params: Json | None = None) -> Json:
        self._enter("watch_ticker", (symbol, params), symbol=symbol)
        result: Json = await self._wait(("ticker", symbol, None))
        return result

    async def watch_order_book(
        self, symbol: str, limit: int | None = None, params: Json | None = None
    ) -> Json:
        self._enter("watch_order_book", (symbol, limit, params), symbol=symbol)
        result: Json = await self._wait(("orderbook", symbol, None))
        return result

    async def watch_trades(
        self,
        symbol: str,
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[Json]:
        self._enter("watch_trades", (symbol, since, limit, params), symbol=symbol)
        result: list[Json] = await self._wait(("trades", symbol, None))
        return result

    async def watch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[list[float]]:
        self._enter("watch_ohlcv", (symbol, timeframe, since, limit, params), symbol=symbol)
        self._check_timeframe(timeframe)
        result: list[list[float]] = await self._wait(("ohlcv", symbol, timeframe))
        return result

    async def watch_balance(self, params: Json | None = None) -> Json:
        self._enter("watch_balance", (params,), needs_credentials=True)
        result: Json = await self._wait(("balance", "", None))
        return result

    async def un_watch(self, data_type: str, symbol: str, timeframe: str | None = None) -> None:
        self._enter("un_watch", (data_type, symbol, timeframe))
        self.un_watched.append((data_type, symbol, timeframe))

    async def close(self) -> None:
        self.calls["close"] += 1
        if self.closed:
            return
        self.closed = True
        for waiting in self._watchers.values():
            for future in waiting:
                if not future.done():
                    future.set_exception(ExchangeUnreachable("connection closed"))
        self._watchers.clear()

    # -- internals ------------------------------------------------------------------------

    def _enter(
        self,
        method: str,
        args: tuple[Any, ...],
        *,
        symbol: str | None = None,
        needs_credentials: bool = False,
    ) -> None:
        """Count and record a call, then raise what the call should raise, if anything."""
        self.calls[method] += 1
        self.last_args[method] = args
        queue = self._failures.get(method)
        if queue:
            raise queue.popleft()
        has_name = _HAS_NAME.get(method)
        if has_name is not None and not self.has(has_name):
            raise NotSupported(f"{self._exchange_id} does not support {has_name}")
        if needs_credentials and not self.config.has_credentials:
            raise CredentialsRequired("API credentials required")
        if symbol is not None and symbol not in self._symbols:
            raise BadSymbol(f"{self._exchange_id} does not have market symbol {symbol}")

    def _key(self, data_type: str, symbol: str, timeframe: str | None) -> StreamKey:
        if data_type not in DATA_TYPES:
            raise ValueError(f"unknown data type {data_type!r}")
        return (data_type, symbol, timeframe if data_type == "ohlcv" else None)

    async def _wait(self, key: StreamKey) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._watchers.setdefault(key, []).append(future)
        try:
            return await future
        finally:
            waiting = self._watchers.get(key)
            if waiting is not None and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del self._watchers[key]

    @staticmethod
    def _check_timeframe(timeframe: str) -> int:
        if timeframe not in TIMEFRAMES:
            raise BadInput(f"unsupported timeframe {timeframe!r}")
        return TIMEFRAMES[timeframe]

    def _ticker(self, symbol: str, timestamp: int) -> Json:
        price = _base_price(symbol)
        bid, ask = price - 0.5, price + 0.5
        return {
            "symbol": symbol,
            "timestamp": timestamp,
            "datetime": _iso(timestamp),
            "high": price * 1.05,
            "low": price * 0.95,
            "bid": bid,
            "bidVolume": 1.5,
            "ask": ask,
            "askVolume": 2.5,
            "vwap": price,
            "open": price * 0.99,
            "close": price,
            "last": price,
            "previousClose": None,
            "change": price * 0.01,
            "percentage": 1.0,
            "average": price * 0.995,
            "baseVolume": 1234.5,
            "quoteVolume": 1234.5 * price,
            "info": {},
        }

    def _order_book(self, symbol: str, limit: int | None) -> Json:
        price = _base_price(symbol)
        depth = 20 if limit is None else max(0, min(limit, 100))
        bids = [[price - 0.5 - i * 0.5, 1.0 + i] for i in range(depth)]
        asks = [[price + 0.5 + i * 0.5, 1.0 + i] for i in range(depth)]
        return {
            "symbol": symbol,
            "bids": bids,
            "asks": asks,
            "timestamp": NOW_MS,
            "datetime": _iso(NOW_MS),
            "nonce": 1,
        }

    def _trades(self, symbol: str, since: int | None, limit: int | None) -> list[Json]:
        count = DEFAULT_LIMIT if limit is None else max(0, limit)
        if since is None:
            first = NOW_MS - (count - 1) * TRADE_INTERVAL_MS
        else:
            first = -(-since // TRADE_INTERVAL_MS) * TRADE_INTERVAL_MS  # ceil to the grid
        price = _base_price(symbol)
        trades: list[Json] = []
        for i in range(count):
            ts = first + i * TRADE_INTERVAL_MS
            if ts > NOW_MS:
                break
            amount = 0.1 + (ts // TRADE_INTERVAL_MS) % 7 * 0.1
            trade_price = price + ((ts // TRADE_INTERVAL_MS) % 5 - 2) * 0.1
            trades.append(
                {
                    "id": str(ts // TRADE_INTERVAL_MS),
                    "order": None,
                    "symbol": symbol,
                    "timestamp": ts,
                    "datetime": _iso(ts),
                    "type": None,
                    "side": "buy" if (ts // TRADE_INTERVAL_MS) % 2 else "sell",
                    "takerOrMaker": "taker",
                    "price": trade_price,
                    "amount": amount,
                    "cost": trade_price * amount,
                    "fee": None,
                    "fees": [],
                    "info": {},
                }
            )
        return trades

    def _ohlcv(
        self, symbol: str, timeframe: str, since: int | None, limit: int | None
    ) -> list[list[float]]:
        step = self._check_timeframe(timeframe)
        count = DEFAULT_LIMIT if limit is None else max(0, limit)
        last_open = NOW_MS // step * step
        first = last_open - (count - 1) * step if since is None else -(-since // step) * step
        price = _base_price(symbol)
        rows: list[list[float]] = []
        for i in range(count):
            ts = first + i * step
            if ts > last_open:
                break
            drift = ((ts // step) % 11 - 5) * 0.1
            open_, close = price + drift, price - drift
            rows.append(
                [ts, open_, max(open_, close) + 0.5, min(open_, close) - 0.5, close, 10.0 + i]
            )
        return rows

    def _balance(self) -> Json:
        holdings = {"BTC": (1.0, 0.5), "USDT": (1000.0, 250.0), "ETH": (0.0, 0.0)}
        balance: Json = {"info": {}, "timestamp": None, "datetime": None}
        for part in ("free", "used", "total"):
            balance[part] = {}
        for currency, (free, used) in holdings.items():
            balance[currency] = {"free": free, "used": used, "total": free + used}
            balance["free"][currency] = free
            balance["used"][currency] = used
            balance["total"][currency] = free + used
        return balance


class FakeBackend:
    """An ExchangeBackend that builds FakeExchangeGateways and remembers them."""

    def __init__(
        self,
        name: str = "fake",
        exchange_ids: frozenset[str] = frozenset({"fake"}),
        **gateway_kwargs: Any,
    ) -> None:
        self.name = name
        self._exchange_ids = frozenset(exchange_ids)
        self.gateway_kwargs = gateway_kwargs
        self.created: list[FakeExchangeGateway] = []
        self.closed = False

    def exchange_ids(self) -> frozenset[str]:
        return self._exchange_ids

    def create(self, config: ExchangeConfig) -> FakeExchangeGateway:
        gateway = FakeExchangeGateway(config.exchange_id, config=config, **self.gateway_kwargs)
        self.created.append(gateway)
        return gateway

    async def watching_gateway(
        self,
        data_type: str,
        symbol: str,
        timeframe: str | None = None,
        timeout: float = 5.0,
    ) -> FakeExchangeGateway:
        """The gateway a watch call is waiting on for one stream (the server's upstream read).

        Raises:
            AssertionError: no created gateway had such a watcher within ``timeout`` seconds.
        """

        def find() -> FakeExchangeGateway | None:
            return next(
                (g for g in self.created if g.pending_watchers(data_type, symbol, timeframe)),
                None,
            )

        gateway: FakeExchangeGateway = await eventually(
            find, timeout=timeout, message=f"a watcher on {data_type} {symbol!r}"
        )
        return gateway

    async def aclose(self) -> None:
        self.closed = True
