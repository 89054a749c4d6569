"""InstanceCache: reuse of exchange gateways across requests and streams."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

from app.domain.config import ExchangeConfig
from app.ports.exchange_gateway import ExchangeGateway


@runtime_checkable
class InstanceCache(Protocol):
    """Hands out one gateway per distinct config, markets loaded."""

    def key_for(self, config: ExchangeConfig) -> str:
        """A stable key for the config that reveals no part of any credential."""
        ...

    async def get(self, config: ExchangeConfig) -> ExchangeGateway:
        """The cached gateway for the config, created and its markets loaded if needed.

        Concurrent calls for one cold key create one gateway and load markets once.
        """
        ...

    def hold(self, config: ExchangeConfig) -> AbstractAsyncContextManager[ExchangeGateway]:
        """Like ``get``, but the gateway is not closed by eviction while the hold lasts."""
        ...

    async def sweep(self) -> int:
        """Evict expired entries now; returns how many were evicted."""
        ...

    def size(self) -> int:
        """Number of cached gateways."""
        ...

    async def aclose(self) -> None:
        """Close every cached gateway (shutdown)."""
        ...
