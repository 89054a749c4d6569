"""ExchangeService: the REST use cases, on gateways from the instance cache."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.domain.config import ExchangeConfig, parse_exchange_config
from app.domain.validation import (
    check_params,
    optional_limit,
    optional_since,
    require_credentials,
    require_symbol,
    timeframe_or_default,
)
from app.ports.exchange_gateway import ExchangeGateway, Json
from app.ports.instance_cache import InstanceCache


class ExchangeService:
    """Validates client input, resolves the cached gateway and calls it."""

    def __init__(self, cache: InstanceCache, is_known_exchange: Callable[[str], bool]) -> None:
        self._cache = cache
        self._is_known_exchange = is_known_exchange

    def parse_config(self, raw: Any) -> ExchangeConfig:
        return parse_exchange_config(raw, is_known_exchange=self._is_known_exchange)

    async def _gateway(self, raw_config: Any) -> ExchangeGateway:
        return await self._cache.get(self.parse_config(raw_config))

    async def instance(self, raw_config: Any) -> ExchangeConfig:
        """Create or reuse the instance for a config, markets loaded."""
        config = self.parse_config(raw_config)
        await self._cache.get(config)
        return config

    async def fetch_ticker(self, raw_config: Any, symbol: Any, params: Any = None) -> Json:
        symbol = require_symbol(symbol)
        params = check_params(params)
        return await (await self._gateway(raw_config)).fetch_ticker(symbol, params)

    async def fetch_order_book(
        self, raw_config: Any, symbol: Any, limit: Any = None, params: Any = None
    ) -> Json:
        symbol = require_symbol(symbol)
        limit = optional_limit(limit)
        params = check_params(params)
        return await (await self._gateway(raw_config)).fetch_order_book(symbol, limit, params)

    async def fetch_trades(
        self, raw_config: Any, symbol: Any, since: Any = None, limit: Any = None, params: Any = None
    ) -> list[Json]:
        symbol = require_symbol(symbol)
        since = optional_since(since)
        limit = optional_limit(limit)
        params = check_params(params)
        gateway = await self._gateway(raw_config)
        return await gateway.fetch_trades(symbol, since, limit, params)

    async def fetch_ohlcv(
        self,
        raw_config: Any,
        symbol: Any,
        timeframe: Any = None,
        since: Any = None,
        limit: Any = None,
        params: Any = None,
    ) -> list[list[float]]:
        symbol = require_symbol(symbol)
        timeframe = timeframe_or_default(timeframe)
        since = optional_since(since)
        limit = optional_limit(limit)
        params = check_params(params)
        gateway = await self._gateway(raw_config)
        return await gateway.fetch_ohlcv(symbol, timeframe, since, limit, params)

    async def fetch_balance(self, raw_config: Any, params: Any = None) -> Json:
        config = self.parse_config(raw_config)
        require_credentials(config, "API credentials required for balance")
        params = check_params(params, sets=frozenset())
        return await (await self._cache.get(config)).fetch_balance(params)

    async def capabilities(self, raw_config: Any) -> dict[str, Any]:
        caps = await (await self._gateway(raw_config)).capabilities()
        return {
            "has": caps.has,
            "markets": caps.symbols,
            "symbols": caps.symbols,
            "timeframes": caps.timeframes,
            "fees": caps.fees,
        }

