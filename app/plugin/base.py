"""BaseGateway: an optional base class for ExchangeGateway implementations (plugin API v1).

The port (``ExchangeGateway``) is a Protocol: a gateway need not inherit anything. This base
carries what every implementation otherwise repeats: the config and exchange id, the
``closed`` and ``markets_loaded`` state, ``has()`` from a class-level table, an idempotent
``close()``, the credentials rule, a no-op ``un_watch`` and ``NotSupported`` for the balance
and streaming methods. A subclass implements the six data methods and may override the rest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from app.domain.config import ExchangeConfig
from app.domain.errors import CredentialsRequired, NotSupported
from app.ports.exchange_gateway import Capabilities, ExchangeGateway, Json


class BaseGateway(ABC):
    """Shared state and defaults of an ExchangeGateway; see the module docstring.

    Class attributes:
        HAS: the exchange's CCXT ``has`` map (``{"fetchTicker": True, ...}``); ``has()``
            answers from it. A missing method counts as unsupported.

    Subclasses set ``self._markets`` (symbol -> market dict) in ``load_markets``.
    """

    HAS: ClassVar[Mapping[str, Any]] = MappingProxyType({})

    def __init__(self, config: ExchangeConfig) -> None:
        self._config = config
        self._markets: dict[str, Json] | None = None
        self._closed = False

    # -- state --------------------------------------------------------------------------

    @property
    def config(self) -> ExchangeConfig:
        """The config this gateway was built for (exchange id, market type, credentials)."""
        return self._config

    @property
    def exchange_id(self) -> str:
        return self._config.exchange_id

    @property
    def markets(self) -> dict[str, Json] | None:
        """The loaded markets by symbol, or None before ``load_markets``."""
        return self._markets

    @property
    def markets_loaded(self) -> bool:
        return self._markets is not None

    @property
    def closed(self) -> bool:
        """True once ``close()`` has been called."""
        return self._closed

    def has(self, method: str) -> bool:
        return bool(self.HAS.get(method))

    def require_credentials(self) -> None:
        """Raise the contract's error when the config carries no API credentials.

        Raises:
            CredentialsRequired: "API credentials required for balance" (the contract's text).
        """
        if not self._config.has_credentials:
            raise CredentialsRequired("API credentials required for balance")

    def not_supported(self, method: str) -> NotSupported:
        """The error for a CCXT method (camelCase name) this exchange does not offer."""
        return NotSupported(f"{self.exchange_id} does not support {method}")

    # -- what every gateway must implement ---------------------------------------------

    @abstractmethod
    async def load_markets(self, *, share_from: ExchangeGateway | None = None) -> None:
        """Set ``self._markets``; may reuse ``share_from``'s markets (see the port)."""

    @abstractmethod
    async def capabilities(self) -> Capabilities: ...

    @abstractmethod
    async def fetch_ticker(self, symbol: str, params: Json | None = None) -> Json: ...

    @abstractmethod
    async def fetch_order_book(
        self, symbol: str, limit: int | None = None, params: Json | None = None
    ) -> Json: ...

    @abstractmethod
    async def fetch_trades(
        self,
        symbol: str,
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[Json]: ...

    @abstractmethod
    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[list[float]]: ...

    # -- defaults: not supported --------------------------------------------------------

    async def fetch_balance(self, params: Json | None = None) -> Json:
        raise self.not_supported("fetchBalance")

    async def watch_ticker(self, symbol: str, params: Json | None = None) -> Json:
        raise self.not_supported("watchTicker")

    async def watch_order_book(
        self, symbol: str, limit: int | None = None, params: Json | None = None
    ) -> Json:
        raise self.not_supported("watchOrderBook")

    async def watch_trades(
        self,
        symbol: str,
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[Json]:
        raise self.not_supported("watchTrades")

    async def watch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: Json | None = None,
    ) -> list[list[float]]:
        raise self.not_supported("watchOHLCV")

    async def watch_balance(self, params: Json | None = None) -> Json:
        raise self.not_supported("watchBalance")

    # -- lifecycle ----------------------------------------------------------------------

    async def un_watch(  # noqa: B027 - an optional override, a no-op by design
        self, data_type: str, symbol: str, timeframe: str | None = None
    ) -> None:
        """No-op: an exchange without un-watch just stops being read."""

    async def close(self) -> None:
        """Idempotent: the first call marks the gateway closed and runs ``on_close``."""
        if self._closed:
            return
        self._closed = True
        await self.on_close()

    async def on_close(self) -> None:  # noqa: B027 - an optional hook, a no-op by design
        """Release connections and wake pending watchers; called once by ``close()``."""
