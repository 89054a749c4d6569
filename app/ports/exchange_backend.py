"""ExchangeBackend: a plugin that turns an ExchangeConfig into an ExchangeGateway."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from app.domain.config import ExchangeConfig
from app.ports.exchange_gateway import ExchangeGateway


@runtime_checkable
class ExchangeBackend(Protocol):
    """A source of exchange gateways: CCXT, the simulator, or a third-party plugin."""

    name: str
    """Short unique name, used in the config file (``backend = "ccxt"``)."""

    def exchange_ids(self) -> frozenset[str]:
        """The exchange ids this backend can serve."""
        ...

    def create(self, config: ExchangeConfig) -> ExchangeGateway:
        """Build a gateway for one config. Must not do network I/O (the cache loads markets)."""
        ...

    async def aclose(self) -> None:
        """Release backend-wide resources at shutdown."""
        ...
