"""CcxtGateway: the ExchangeGateway port over one ccxt (async or pro) exchange instance."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from app.adapters.ccxt.errors import map_error, scrub
from app.domain.config import ExchangeConfig
from app.domain.errors import DomainError, NotSupported
from app.plugin.base import BaseGateway
from app.ports.exchange_gateway import UNWATCH_METHODS, WATCH_METHODS, Capabilities, Json

log = structlog.get_logger(__name__)


class CcxtGateway(BaseGateway):
    """Wraps a ccxt exchange; every error leaves as a DomainError with scrubbed details.

    BaseGateway carries config, exchange_id, closed and the idempotent close(); markets and
    ``has`` come from the ccxt instance itself.
    """

    def __init__(self, exchange: Any, config: ExchangeConfig, *, pro: bool) -> None:
        super().__init__(config)
        self._exchange = exchange
        self._pro = pro
        credentials = config.credentials
        self._secrets = (credentials.api_key, credentials.secret, credentials.password)

    @property
    def exchange(self) -> Any:
        """The underlying ccxt instance (for diagnostics and tests)."""
        return self._exchange

    @property
    def is_pro(self) -> bool:
        return self._pro

    @property
    def markets(self) -> dict[str, Json] | None:
        """ccxt's own market table (shared between instances that share markets)."""
        markets: dict[str, Json] | None = self._exchange.markets or None
        return markets

    @property
    def markets_loaded(self) -> bool:
        return bool(self._exchange.markets)

    async def _call(self, method: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        try:
            return await method(*args)
        except DomainError:
            raise
        except Exception as exc:  # noqa: BLE001 - map_error turns anything into a DomainError
            # from None: the ccxt exception's text may hold secrets; the mapped one does not.
            raise map_error(exc, self._secrets) from None

    async def load_markets(self, *, share_from: Any = None) -> None:
        if (
            isinstance(share_from, CcxtGateway)
            and share_from is not self
            and share_from.markets_loaded
            and share_from.exchange_id == self.exchange_id
        ):
            try:
                self._exchange.set_markets_from_exchange(share_from.exchange)
                return
            except Exception as exc:  # noqa: BLE001 - fall back to a load of our own
                log.warning(
                    "share_markets_failed",
                    exchange=self.exchange_id,
                    error=scrub(str(exc), self._secrets),
                )
        await self._call(self._exchange.load_markets)

    def has(self, method: str) -> bool:
        return bool(self._exchange.has.get(method))

    async def capabilities(self) -> Capabilities:
        if not self.markets_loaded:
            await self.load_markets()
        exchange = self._exchange
        return Capabilities(
            has=dict(exchange.has),
            symbols=list(exchange.symbols or []),
            timeframes=dict(exchange.timeframes or {}),
            fees=dict(exchange.fees or {}),
            # ccxt's market() also resolves a market id ("BTCUSDT") to its first market.
            symbol_ids={
                market_id: markets[0]["symbol"]
                for market_id, markets in (exchange.markets_by_id or {}).items()
                if markets and isinstance(markets[0], dict) and markets[0].get("symbol")
            },
        )

    async def fetch_ticker(self, symbol: str, params: Json | None = None) -> Json:
        result: Json = await self._call(self._exchange.fetch_ticker, symbol, params or {})
        return result

    async def fetch_order_book(
        self, symbol: str, limit: int | None = None, params: Json | None = None
    ) -> Json:
        result: Json = await self._call(
            self._exchange.fetch_order_book, symbol, limit, params or {}
        )
        return result

    async def fetch_trades(
        self,
        symbol: str,
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[Json]:
        result: list[Json] = await self._call(
            self._exchange.fetch_trades, symbol, since, limit, params or {}
        )
        return result

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[list[float]]:
        result: list[list[float]] = await self._call(
            self._exchange.fetch_ohlcv, symbol, timeframe, since, limit, params or {}
        )
        return result

    async def fetch_balance(self, params: Json | None = None) -> Json:
        self.require_credentials()
        result: Json = await self._call(self._exchange.fetch_balance, params or {})
        return result

    async def watch_ticker(self, symbol: str, params: Json | None = None) -> Json:
        method = self._watch_method("ticker")
        result: Json = await self._call(method, symbol, params or {})
        return result

    async def watch_order_book(
        self, symbol: str, limit: int | None = None, params: Json | None = None
    ) -> Json:
        method = self._watch_method("orderbook")
        result: Json = await self._call(method, symbol, limit, params or {})
        return result

    async def watch_trades(
        self,
        symbol: str,
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[Json]:
        method = self._watch_method("trades")
        result: list[Json] = await self._call(method, symbol, since, limit, params or {})
        return result

    async def watch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[list[float]]:
        method = self._watch_method("ohlcv")
        result: list[list[float]] = await self._call(
            method, symbol, timeframe, since, limit, params or {}
        )
        return result

    async def watch_balance(self, params: Json | None = None) -> Json:
        method = self._watch_method("balance")
        self.require_credentials()
        result: Json = await self._call(method, params or {})
        return result

    async def un_watch(self, data_type: str, symbol: str, timeframe: str | None = None) -> None:
        has_name = UNWATCH_METHODS.get(data_type)
        if not self._pro or has_name is None or not self.has(has_name):
            return
        method = getattr(self._exchange, _snake(has_name), None)
        if method is None:
            return
        args: tuple[Any, ...] = () if data_type == "balance" else (symbol,)
        if data_type == "ohlcv":
            args = (symbol, timeframe or "1m")
        try:
            await method(*args)
        except Exception as exc:  # noqa: BLE001 - the stream is gone either way; best effort
            log.warning(
                "un_watch_failed",
                exchange=self.exchange_id,
                data_type=data_type,
                symbol=symbol,
                error_type=type(exc).__name__,
                error=scrub(str(exc), self._secrets),
            )

    async def on_close(self) -> None:
        try:
            await self._exchange.close()
        except Exception as exc:  # noqa: BLE001 - closing must not fail shutdown
            log.warning(
                "exchange_close_failed",
                exchange=self.exchange_id,
                error=scrub(str(exc), self._secrets),
            )

    def _watch_method(self, data_type: str) -> Callable[..., Awaitable[Any]]:
        has_name = WATCH_METHODS[data_type]
        if not self._pro:
            raise NotSupported("WebSocket requires CCXT Pro")
        method = getattr(self._exchange, _snake(has_name), None)
        if method is None or not self.has(has_name):
            raise NotSupported(f"{self.exchange_id} does not support {has_name}")
        return method  # type: ignore[no-any-return]


def _snake(camel: str) -> str:
    """ccxt's Python names: watchOHLCV -> watch_ohlcv, unWatchOrderBook -> un_watch_order_book."""
    special = {"OHLCV": "Ohlcv"}
    for upper, title in special.items():
        camel = camel.replace(upper, title)
    return "".join("_" + ch.lower() if ch.isupper() else ch for ch in camel)
