"""SimBackend: the offline simulated exchange ``sim`` as an ExchangeBackend plugin.

Sandbox: the simulator has no live money to protect, so ``sandbox: true`` is accepted and
served by a *separate* simulated world (its own seed, hence its own prices and balances),
the way a real testnet differs from its live exchange; it never silently equals "live".
"""

from __future__ import annotations

from app.domain.config import ExchangeConfig
from app.plugin.context import BackendContext
from app.settings import Settings

from .clock import Clock, SystemClock
from .gateway import SimGateway
from .options import EXCHANGE_ID, SimOptions
from .rng import key_int
from .world import SimWorld


class SimBackend:
    """Serves exchange id ``sim``; options come from ``[exchanges.sim] options``."""

    name = "sim"

    def __init__(
        self, context: BackendContext | Settings | None = None, *, clock: Clock | None = None
    ) -> None:
        """``context``: what the registry passes; Settings or None are accepted for tests."""
        self.options = SimOptions.from_mapping(BackendContext.of(context).options(EXCHANGE_ID))
        self.clock: Clock = clock or SystemClock()
        self._worlds: dict[bool, SimWorld] = {}

    def exchange_ids(self) -> frozenset[str]:
        return frozenset({EXCHANGE_ID})

    def world(self, sandbox: bool = False) -> SimWorld:
        world = self._worlds.get(sandbox)
        if world is None:
            seed = self.options.seed
            if sandbox:
                seed = key_int("sandbox", seed) % 2**31
            world = self._worlds[sandbox] = SimWorld(seed, self.options.symbols)
        return world

    def create(self, config: ExchangeConfig) -> SimGateway:
        return SimGateway(self.world(config.sandbox), config, self.clock, self.options.tick_hz)

    async def aclose(self) -> None:
        """Gateways are closed by the cache that owns them; worlds hold no resources."""
        self._worlds.clear()
