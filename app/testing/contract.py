"""ExchangeGatewayContract: the test suite every ExchangeGateway implementation must pass.

Subclass it in a test module and provide the fixtures::

    class TestMyGateway(ExchangeGatewayContract):
        @pytest.fixture
        async def contract_gateway(self):          # required: markets loaded
            gateway = MyBackend(...).create(ExchangeConfig("my"))
            await gateway.load_markets()
            yield gateway
            await gateway.close()

        @pytest.fixture
        def contract_symbol(self):                 # required
            return "BTC/USDT"

Optional fixtures: ``contract_timeframe`` (default "1m"), ``contract_credentialed_gateway``
(default None: balance tests are skipped) and ``contract_stream_trigger``: an async callable
``(gateway, data_type, symbol, timeframe) -> None`` that makes the backend emit the next
update once a watch is waiting (None: the backend produces updates on its own).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from itertools import pairwise
from typing import Any

import pytest

from app.domain.errors import (
    AuthenticationFailed,
    BadSymbol,
    CredentialsRequired,
    DomainError,
    NotSupported,
)
from app.ports.exchange_gateway import WATCH_METHODS, Capabilities, ExchangeGateway
from app.testing.waiting import eventually

StreamTrigger = Callable[[Any, str, str, "str | None"], Awaitable[None]]
WAIT_SECONDS = 10.0
STREAM_TYPES = ("ticker", "trades", "orderbook", "ohlcv")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def assert_ticker(ticker: Any, symbol: str) -> None:
    """A CCXT unified ticker of ``symbol``."""
    assert isinstance(ticker, dict), f"ticker must be a dict, got {type(ticker).__name__}"
    assert ticker["symbol"] == symbol
    timestamp = ticker.get("timestamp")
    assert timestamp is None or (isinstance(timestamp, int) and timestamp > 0)
    if timestamp is not None:
        assert isinstance(ticker.get("datetime"), str) and ticker["datetime"]
    for field in ("bid", "ask", "last", "high", "low", "open", "close", "baseVolume"):
        assert field in ticker, f"ticker lacks {field}"
        assert ticker[field] is None or _number(ticker[field]), f"{field}={ticker[field]!r}"
    assert any(_number(ticker[f]) for f in ("last", "bid", "ask", "close")), "no price at all"
    if _number(ticker["bid"]) and _number(ticker["ask"]):
        assert ticker["bid"] <= ticker["ask"], "ticker bid above ask"
    if _number(ticker["high"]) and _number(ticker["low"]):
        assert ticker["low"] <= ticker["high"]


def assert_order_book(book: Any, symbol: str) -> None:
    """Bids descending, asks ascending, levels ``[price, amount, ...]``, not crossed."""
    assert isinstance(book, dict)
    assert book.get("symbol") in (symbol, None)
    bids, asks = book["bids"], book["asks"]
    for side in (bids, asks):
        assert isinstance(side, list)
        for level in side:
            assert len(level) >= 2 and _number(level[0]) and _number(level[1]), level
            assert level[0] > 0 and level[1] >= 0
    bid_prices = [level[0] for level in bids]
    ask_prices = [level[0] for level in asks]
    assert bid_prices == sorted(bid_prices, reverse=True), "bids not descending"
    assert ask_prices == sorted(ask_prices), "asks not ascending"
    if bids and asks:
        assert bids[0][0] < asks[0][0], "order book crossed"


def assert_trades(trades: Any, symbol: str) -> None:
    """Unified trades of ``symbol``, oldest first."""
    assert isinstance(trades, list)
    for trade in trades:
        assert trade["symbol"] == symbol
        assert isinstance(trade["timestamp"], int)
        assert isinstance(trade.get("datetime"), str)
        assert trade.get("side") in ("buy", "sell", None)
        assert _number(trade["price"]) and trade["price"] > 0
        assert _number(trade["amount"]) and trade["amount"] > 0
        assert "id" in trade
    stamps = [trade["timestamp"] for trade in trades]
    assert stamps == sorted(stamps), "trades not oldest first"


def assert_ohlcv(rows: Any) -> None:
    """Rows of six numbers, timestamps strictly ascending, high/low bounding open/close."""
    assert isinstance(rows, list)
    for row in rows:
        assert len(row) == 6, row
        assert all(_number(value) for value in row), row
        _, open_, high, low, close, volume = row
        assert low <= min(open_, close) and high >= max(open_, close), row
        assert volume >= 0
    stamps = [row[0] for row in rows]
    assert all(a < b for a, b in pairwise(stamps)), "candles not ascending"


def assert_balance(balance: Any) -> None:
    """free + used == total for every currency, and the free/used/total maps agree."""
    assert isinstance(balance, dict)
    for part in ("free", "used", "total"):
        assert isinstance(balance[part], dict)
    for currency, total in balance["total"].items():
        entry = balance[currency]
        if None in (entry["free"], entry["used"], entry["total"]):
            continue
        assert math.isclose(entry["free"] + entry["used"], entry["total"], abs_tol=1e-9)
        assert entry["total"] == total


async def _watch(gateway: ExchangeGateway, data_type: str, symbol: str, timeframe: str) -> Any:
    if data_type == "ticker":
        return await gateway.watch_ticker(symbol)
    if data_type == "trades":
        return await gateway.watch_trades(symbol)
    if data_type == "orderbook":
        return await gateway.watch_order_book(symbol)
    if data_type == "ohlcv":
        return await gateway.watch_ohlcv(symbol, timeframe)
    return await gateway.watch_balance()


class ExchangeGatewayContract:
    """Behaviour every ExchangeGateway must show. Test methods only; no state."""

    # -- optional fixtures with defaults -----------------------------------------------

    @pytest.fixture
    def contract_timeframe(self) -> str:
        return "1m"

    @pytest.fixture
    def contract_credentialed_gateway(self) -> ExchangeGateway | None:
        return None

    @pytest.fixture
    def contract_stream_trigger(self) -> StreamTrigger | None:
        return None

    # -- shape and capabilities --------------------------------------------------------

    async def test_satisfies_the_port_with_markets_loaded(self, contract_gateway: Any) -> None:
        assert isinstance(contract_gateway, ExchangeGateway)
        assert isinstance(contract_gateway.exchange_id, str) and contract_gateway.exchange_id
        assert contract_gateway.markets_loaded is True

    async def test_capabilities_list_the_symbol_and_agree_with_has(
        self, contract_gateway: Any, contract_symbol: str, contract_timeframe: str
    ) -> None:
        caps = await contract_gateway.capabilities()
        assert isinstance(caps, Capabilities)
        assert contract_symbol in caps.symbols
        assert isinstance(caps.has, dict) and isinstance(caps.fees, dict)
        for method in ("fetchTicker", "fetchOrderBook", "fetchTrades", "fetchOHLCV"):
            assert contract_gateway.has(method) is bool(caps.has.get(method))
        if caps.timeframes:
            assert contract_timeframe in caps.timeframes
        assert contract_gateway.has("noSuchMethodAnywhere") is False

    # -- REST ------------------------------------------------------------------------

    async def test_fetch_ticker_is_a_unified_ticker(
        self, contract_gateway: Any, contract_symbol: str
    ) -> None:
        assert_ticker(await contract_gateway.fetch_ticker(contract_symbol), contract_symbol)

    async def test_order_book_is_sorted_uncrossed_and_honours_limit(
        self, contract_gateway: Any, contract_symbol: str
    ) -> None:
        book = await contract_gateway.fetch_order_book(contract_symbol)
        assert_order_book(book, contract_symbol)
        assert book["bids"] and book["asks"], "empty order book"
        limited = await contract_gateway.fetch_order_book(contract_symbol, 5)
        assert_order_book(limited, contract_symbol)
        assert 0 < len(limited["bids"]) <= 5 and 0 < len(limited["asks"]) <= 5

    async def test_trades_are_unified_and_oldest_first(
        self, contract_gateway: Any, contract_symbol: str
    ) -> None:
        trades = await contract_gateway.fetch_trades(contract_symbol)
        assert trades, "no trades"
        assert_trades(trades, contract_symbol)

    async def test_trades_honour_since_and_limit(
        self, contract_gateway: Any, contract_symbol: str
    ) -> None:
        recent = await contract_gateway.fetch_trades(contract_symbol, None, 20)
        assert 0 < len(recent) <= 20
        since = recent[len(recent) // 2]["timestamp"]
        later = await contract_gateway.fetch_trades(contract_symbol, since, 3)
        assert 0 < len(later) <= 3
        assert_trades(later, contract_symbol)
        assert all(trade["timestamp"] >= since for trade in later)

    async def test_ohlcv_rows_are_six_numbers_ascending_and_honour_limit(
        self, contract_gateway: Any, contract_symbol: str, contract_timeframe: str
    ) -> None:
        rows = await contract_gateway.fetch_ohlcv(contract_symbol, contract_timeframe, None, 10)
        assert 0 < len(rows) <= 10
        assert_ohlcv(rows)

    async def test_ohlcv_honours_since(
        self, contract_gateway: Any, contract_symbol: str, contract_timeframe: str
    ) -> None:
        rows = await contract_gateway.fetch_ohlcv(contract_symbol, contract_timeframe, None, 10)
        since = rows[len(rows) // 2][0]
        later = await contract_gateway.fetch_ohlcv(contract_symbol, contract_timeframe, since, 3)
        assert 0 < len(later) <= 3
        assert_ohlcv(later)
        assert later[0][0] == since and all(row[0] >= since for row in later)

    async def test_unknown_symbol_raises_bad_symbol(self, contract_gateway: Any) -> None:
        with pytest.raises(BadSymbol) as caught:
            await contract_gateway.fetch_ticker("NOSUCHCOIN/NOSUCHQUOTE")
        assert isinstance(caught.value, DomainError) and caught.value.error_type

    async def test_balance_without_credentials_is_a_domain_error(
        self, contract_gateway: Any
    ) -> None:
        if getattr(getattr(contract_gateway, "config", None), "has_credentials", False):
            pytest.skip("contract_gateway has credentials")
        with pytest.raises((CredentialsRequired, AuthenticationFailed, NotSupported)):
            await contract_gateway.fetch_balance()

    async def test_balance_free_plus_used_is_total(
        self, contract_credentialed_gateway: Any
    ) -> None:
        if contract_credentialed_gateway is None:
            pytest.skip("no contract_credentialed_gateway fixture")
        assert_balance(await contract_credentialed_gateway.fetch_balance())

    # -- streams -----------------------------------------------------------------------

    @pytest.mark.parametrize("data_type", STREAM_TYPES)
    async def test_watch_yields_an_update_or_is_not_supported(
        self,
        contract_gateway: Any,
        contract_symbol: str,
        contract_timeframe: str,
        contract_stream_trigger: StreamTrigger | None,
        data_type: str,
    ) -> None:
        if not contract_gateway.has(WATCH_METHODS[data_type]):
            with pytest.raises(NotSupported):
                await asyncio.wait_for(
                    _watch(contract_gateway, data_type, contract_symbol, contract_timeframe),
                    WAIT_SECONDS,
                )
            return
        update = await self._next_update(
            contract_gateway, data_type, contract_symbol, contract_timeframe,
            contract_stream_trigger,
        )  # fmt: skip
        if data_type == "ticker":
            assert_ticker(update, contract_symbol)
        elif data_type == "orderbook":
            assert_order_book(update, contract_symbol)
        elif data_type == "trades":
            assert update, "empty trades update"
            assert_trades(update, contract_symbol)
        else:
            assert update, "empty candles update"
            assert_ohlcv(update)

    async def test_watch_balance_yields_a_balance(
        self, contract_credentialed_gateway: Any, contract_stream_trigger: StreamTrigger | None
    ) -> None:
        gateway = contract_credentialed_gateway
        if gateway is None or not gateway.has("watchBalance"):
            pytest.skip("no credentialed gateway with watchBalance")
        assert_balance(
            await self._next_update(gateway, "balance", "", "1m", contract_stream_trigger)
        )

    async def test_un_watch_and_close_leave_no_task_behind(
        self,
        contract_gateway: Any,
        contract_symbol: str,
        contract_timeframe: str,
        contract_stream_trigger: StreamTrigger | None,
    ) -> None:
        before = asyncio.all_tasks()
        if contract_gateway.has("watchTicker"):
            await self._next_update(
                contract_gateway, "ticker", contract_symbol, contract_timeframe,
                contract_stream_trigger,
            )  # fmt: skip
            pending = asyncio.create_task(contract_gateway.watch_ticker(contract_symbol))
            # Not a synchronisation: any moment after the watch has started is a valid moment
            # to cancel it; waiting (at most 50 ms) only guarantees that it has started.
            await asyncio.wait({pending}, timeout=0.05)
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
        await contract_gateway.un_watch("ticker", contract_symbol)
        await contract_gateway.un_watch("ohlcv", contract_symbol, contract_timeframe)
        await contract_gateway.close()
        await eventually(
            lambda: not asyncio.all_tasks() - before,
            timeout=WAIT_SECONDS,
            message="tasks left running after close()",
        )

    async def test_close_is_idempotent(self, contract_gateway: Any) -> None:
        before = asyncio.all_tasks()
        await contract_gateway.close()
        await contract_gateway.close()
        # The second close neither raises nor starts anything that outlives it.
        await eventually(
            lambda: not asyncio.all_tasks() - before,
            timeout=WAIT_SECONDS,
            message="tasks left running after a second close()",
        )
        # `closed` is optional in the port; BaseGateway and the built-ins provide it.
        assert getattr(contract_gateway, "closed", True) is True

    @staticmethod
    async def _next_update(
        gateway: Any,
        data_type: str,
        symbol: str,
        timeframe: str,
        trigger: StreamTrigger | None,
    ) -> Any:
        task = asyncio.create_task(_watch(gateway, data_type, symbol, timeframe))
        try:
            if trigger is not None:
                await asyncio.wait_for(
                    trigger(
                        gateway, data_type, symbol, timeframe if data_type == "ohlcv" else None
                    ),
                    WAIT_SECONDS,
                )
            return await asyncio.wait_for(task, WAIT_SECONDS)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
