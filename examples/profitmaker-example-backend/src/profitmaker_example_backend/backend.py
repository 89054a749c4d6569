"""ExampleBackend: the plugin object profitmaker-server's registry builds from the entry point."""

from __future__ import annotations

from app.plugin import BackendContext, ExchangeConfig

from .dataset import load_recording
from .gateway import ExampleGateway

EXCHANGE_ID = "example"


class ExampleBackend:
    """Serves exchange id ``example``; option ``interval`` (seconds between stream updates)."""

    name = "example"

    def __init__(self, context: BackendContext | None = None) -> None:
        options = (context or BackendContext()).options(EXCHANGE_ID)
        self.interval = float(options.get("interval", 0.05))
        if not 0 < self.interval <= 60:
            raise ValueError("example option interval must be in (0, 60] seconds")
        self._recording = load_recording()  # fail at start-up, not at the first request

    def exchange_ids(self) -> frozenset[str]:
        return frozenset({EXCHANGE_ID})

    def create(self, config: ExchangeConfig) -> ExampleGateway:
        return ExampleGateway(self._recording, config, self.interval)

    async def aclose(self) -> None:
        """Nothing backend-wide to release."""
