"""ExchangeService: the REST use cases, on gateways from the instance cache."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from app.domain.budget.model import ReadReceipt
from app.domain.budget.reads import ReadBudget, ReadKey, StreamSource
from app.domain.budget.requests import optional_max_age_ms
from app.domain.budget.streamed import book_from_stream, ticker_from_stream
from app.domain.config import ExchangeConfig, exchange_config
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

BALANCE_CREDENTIALS = "API credentials required for balance"
"""The contract's fixed text (section 2) when fetchBalance has no apiKey/secret."""

NO_MARKET_ARGUMENTS: frozenset[str] = frozenset()


class ExchangeService:
    """The one-shot REST use cases: typed values in, ccxt unified structures out.

    Every method applies the shared rules of ``app.domain.validation`` (the same the watch and
    subscribe paths apply) and raises ``app.domain.errors.DomainError`` subclasses only.

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

    def is_known_exchange(self, exchange_id: str) -> bool:
        """True when some backend serves ``exchange_id``."""
        return bool(self._is_known_exchange(exchange_id))

    def config(
        self,
        exchange_id: str | None,
        *,
        market_type: str | None = None,
        ccxt_type: str | None = None,
        sandbox: bool | None = None,
        api_key: str | None = None,
        secret: str | None = None,
        password: str | None = None,
    ) -> ExchangeConfig:
        """The edge's config fields as an ``ExchangeConfig`` (``app.domain.config`` rules).

        Raises:
            BadInput: a missing id or a bad choice. UnknownExchange: no backend serves the id.
        """
        return exchange_config(
            exchange_id=exchange_id,
            market_type=market_type,
            ccxt_type=ccxt_type,
            sandbox=sandbox,
            api_key=api_key,
            secret=secret,
            password=password,
            is_known_exchange=self._is_known_exchange,
        )

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

    async def instance(self, config: ExchangeConfig) -> ExchangeConfig:
        """Create or reuse the instance for a config, markets loaded."""
        await self._cache.get(config)
        return config

    async def fetch_ticker(
        self,
        config: ExchangeConfig,
        symbol: str,
        params: Json | None = None,
        *,
        max_age_ms: Any = None,
        receipt: ReadReceipt | None = None,
    ) -> Json:
        symbol = require_symbol(symbol)
        params = check_params(params)
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
        config: ExchangeConfig,
        symbol: str,
        limit: int | None = None,
        params: Json | None = None,
        *,
        max_age_ms: Any = None,
        receipt: ReadReceipt | None = None,
    ) -> Json:
        symbol = require_symbol(symbol)
        book_limit = optional_limit(limit)
        params = check_params(params)
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
        config: ExchangeConfig,
        symbol: str,
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
        *,
        max_age_ms: Any = None,
        receipt: ReadReceipt | None = None,
    ) -> list[Json]:
        symbol = require_symbol(symbol)
        since = optional_since(since)
        limit = optional_limit(limit)
        params = check_params(params)
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
        config: ExchangeConfig,
        symbol: str,
        timeframe: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
        *,
        max_age_ms: Any = None,
        receipt: ReadReceipt | None = None,
    ) -> list[list[float]]:
        symbol = require_symbol(symbol)
        timeframe = timeframe_or_default(timeframe)
        since = optional_since(since)
        limit = optional_limit(limit)
        params = check_params(params)
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
        config: ExchangeConfig,
        params: Json | None = None,
        *,
        max_age_ms: Any = None,
        receipt: ReadReceipt | None = None,
    ) -> Json:
        require_credentials(config, BALANCE_CREDENTIALS)
        params = check_params(params, sets=NO_MARKET_ARGUMENTS)
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
        config: ExchangeConfig,
        *,
        max_age_ms: Any = None,
        receipt: ReadReceipt | None = None,
    ) -> dict[str, Any]:
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
