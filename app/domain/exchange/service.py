"""ExchangeService: the REST use cases, on gateways from the instance cache."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from app.domain.budget.model import ReadReceipt
from app.domain.budget.reads import ReadBudget, ReadKey, StreamSource
from app.domain.budget.requests import optional_max_age_ms
from app.domain.budget.streamed import book_from_stream, ticker_from_stream
from app.domain.config import ExchangeConfig, parse_exchange_config
from app.domain.validation import (
    check_params,
    check_timeframe_supported,
    optional_limit,
    optional_since,
    require_credentials,
    require_symbol,
    timeframe_or_default,
)
from app.ports.exchange_gateway import ExchangeGateway, Json
from app.ports.instance_cache import InstanceCache

T = TypeVar("T")


class ExchangeService:
    """Validates client input, resolves the cached gateway and calls it.

    With a ReadBudget (issue 9) every read is coalesced with identical reads, reused while
    fresh, or answered from a live stream; ``receipt`` then tells the caller where the answer
    came from, and ``max_age_ms`` is the client's optional ``maxAgeMs``.
    """

    def __init__(
        self,
        cache: InstanceCache,
        is_known_exchange: Callable[[str], bool],
        reads: ReadBudget | None = None,
    ) -> None:
        self._cache = cache
        self._is_known_exchange = is_known_exchange
        self._reads = reads

    def parse_config(self, raw: Any) -> ExchangeConfig:
        return parse_exchange_config(raw, is_known_exchange=self._is_known_exchange)

    async def _gateway(self, raw_config: Any) -> ExchangeGateway:
        return await self._cache.get(self.parse_config(raw_config))

    async def _read(
        self,
        config: ExchangeConfig,
        data_type: str,
        method: str,
        args: dict[str, Any],
        call: Callable[[ExchangeGateway], Awaitable[T]],
        *,
        max_age_ms: Any = None,
        receipt: ReadReceipt | None = None,
        stream: StreamSource | None = None,
    ) -> T:
        max_age = optional_max_age_ms(max_age_ms)

        async def fetch() -> T:
            # Resolved inside the shared call: a herd of API keys asking for public data
            # creates one instance, not one each.
            return await call(await self._cache.get(config))

        if self._reads is None:
            return await fetch()
        scope = self._cache.key_for(config) if data_type == "balance" else None
        key = ReadKey.of(config, data_type, method, args, private_scope=scope)
        return await self._reads.read(
            key, fetch, max_age_ms=max_age, receipt=receipt, stream=stream
        )

    async def instance(self, raw_config: Any) -> ExchangeConfig:
        """Create or reuse the instance for a config, markets loaded."""
        config = self.parse_config(raw_config)
        await self._cache.get(config)
        return config

    async def fetch_ticker(
        self,
        raw_config: Any,
        symbol: Any,
        params: Any = None,
        *,
        max_age_ms: Any = None,
        receipt: ReadReceipt | None = None,
    ) -> Json:
        symbol = require_symbol(symbol)
        params = check_params(params)
        config = self.parse_config(raw_config)
        return await self._read(
            config,
            "ticker",
            "fetchTicker",
            {"symbol": symbol, "params": params},
            lambda gateway: gateway.fetch_ticker(symbol, params),
            max_age_ms=max_age_ms,
            receipt=receipt,
            stream=None if params else StreamSource(config, symbol, ticker_from_stream),
        )

    async def fetch_order_book(
        self,
        raw_config: Any,
        symbol: Any,
        limit: Any = None,
        params: Any = None,
        *,
        max_age_ms: Any = None,
        receipt: ReadReceipt | None = None,
    ) -> Json:
        symbol = require_symbol(symbol)
        book_limit = optional_limit(limit)
        params = check_params(params)
        config = self.parse_config(raw_config)
        return await self._read(
            config,
            "orderbook",
            "fetchOrderBook",
            {"symbol": symbol, "limit": book_limit, "params": params},
            lambda gateway: gateway.fetch_order_book(symbol, book_limit, params),
            max_age_ms=max_age_ms,
            receipt=receipt,
            stream=(
                None
                if params
                else StreamSource(config, symbol, lambda data: book_from_stream(data, book_limit))
            ),
        )

    async def fetch_trades(
        self,
        raw_config: Any,
        symbol: Any,
        since: Any = None,
        limit: Any = None,
        params: Any = None,
        *,
        max_age_ms: Any = None,
        receipt: ReadReceipt | None = None,
    ) -> list[Json]:
        symbol = require_symbol(symbol)
        since = optional_since(since)
        limit = optional_limit(limit)
        params = check_params(params)
        config = self.parse_config(raw_config)
        return await self._read(
            config,
            "trades",
            "fetchTrades",
            {"symbol": symbol, "since": since, "limit": limit, "params": params},
            lambda gateway: gateway.fetch_trades(symbol, since, limit, params),
            max_age_ms=max_age_ms,
            receipt=receipt,
        )

    async def fetch_ohlcv(
        self,
        raw_config: Any,
        symbol: Any,
        timeframe: Any = None,
        since: Any = None,
        limit: Any = None,
        params: Any = None,
        *,
        max_age_ms: Any = None,
        receipt: ReadReceipt | None = None,
    ) -> list[list[float]]:
        symbol = require_symbol(symbol)
        timeframe = timeframe_or_default(timeframe)
        since = optional_since(since)
        limit = optional_limit(limit)
        params = check_params(params)
        config = self.parse_config(raw_config)
        args = {
            "symbol": symbol,
            "timeframe": timeframe,
            "since": since,
            "limit": limit,
            "params": params,
        }

        async def call(gateway: ExchangeGateway) -> list[list[float]]:
            # The shared rule the watch and subscribe paths apply too (issue 10 item 2).
            caps = await gateway.capabilities()
            check_timeframe_supported(gateway.exchange_id, timeframe, caps.timeframes)
            return await gateway.fetch_ohlcv(symbol, timeframe, since, limit, params)

        return await self._read(
            config, "ohlcv", "fetchOHLCV", args, call, max_age_ms=max_age_ms, receipt=receipt
        )

    async def fetch_balance(
        self,
        raw_config: Any,
        params: Any = None,
        *,
        max_age_ms: Any = None,
        receipt: ReadReceipt | None = None,
    ) -> Json:
        config = self.parse_config(raw_config)
        require_credentials(config, "API credentials required for balance")
        params = check_params(params, sets=frozenset())
        return await self._read(
            config,
            "balance",
            "fetchBalance",
            {"params": params},
            lambda gateway: gateway.fetch_balance(params),
            max_age_ms=max_age_ms,
            receipt=receipt,
        )

    async def capabilities(
        self,
        raw_config: Any,
        *,
        max_age_ms: Any = None,
        receipt: ReadReceipt | None = None,
    ) -> dict[str, Any]:
        config = self.parse_config(raw_config)
        caps = await self._read(
            config,
            "capabilities",
            "capabilities",
            {},
            lambda gateway: gateway.capabilities(),
            max_age_ms=max_age_ms,
            receipt=receipt,
        )
        return {
            "has": caps.has,
            "markets": caps.symbols,
            "symbols": caps.symbols,
            "timeframes": caps.timeframes,
            "fees": caps.fees,
        }
