"""BackendRegistry: discovers exchange backends through entry points and routes exchange ids.

Built-in backends (ccxt, sim) are registered through the same entry-point group as
third-party ones. A backend that fails to import or construct is logged and skipped: one
broken plugin never takes the others down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import structlog

from app.domain.config import ExchangeConfig
from app.domain.errors import UnknownExchange
from app.observability import scrub_text
from app.plugin import ENTRY_POINT_GROUP, BackendContext
from app.ports.exchange_backend import ExchangeBackend
from app.ports.exchange_gateway import ExchangeGateway
from app.settings import Settings

DEFAULT_BACKEND = "ccxt"

BackendFactory = Callable[[BackendContext], ExchangeBackend]
"""What an entry point of the group names (plugin API v1, docs/adr/0081)."""

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PluginFailure:
    name: str
    error: str


class BackendRegistry:
    """Which backend serves which exchange id, honouring the operator's config."""

    def __init__(
        self,
        backends: Iterable[ExchangeBackend],
        settings: Settings,
        failures: Iterable[PluginFailure] = (),
    ) -> None:
        self._backends: dict[str, ExchangeBackend] = {b.name: b for b in backends}
        self._settings = settings
        self._failures = list(failures)
        self._allowed = (
            frozenset(settings.allowed_exchanges)
            if settings.allowed_exchanges is not None
            else None
        )
        self._routes = self._build_routes()

    @classmethod
    def discover(cls, settings: Settings, group: str = ENTRY_POINT_GROUP) -> BackendRegistry:
        """Load every backend of the entry-point group; report and skip broken ones."""
        backends: list[ExchangeBackend] = []
        failures: list[PluginFailure] = []
        context = BackendContext.from_settings(settings)  # plugins never see the whole Settings
        for point in sorted(entry_points(group=group), key=lambda p: p.name):
            if point.name in settings.disabled_plugins:
                log.info("backend_plugin_disabled", plugin=point.name)
                continue
            try:
                factory = point.load()
                backend = factory(context)
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the server
                # Scrubbed like a log line: /api/backends shows this text to API clients.
                error = scrub_text(f"{type(exc).__name__}: {exc}")
                failures.append(PluginFailure(point.name, error))
                log.warning(
                    "backend_plugin_failed", plugin=point.name, target=point.value, error=error
                )
                continue
            backends.append(backend)
            log.info("backend_plugin_loaded", plugin=point.name)
        return cls(backends, settings, failures)

    def _build_routes(self) -> dict[str, ExchangeBackend]:
        routes: dict[str, ExchangeBackend] = {}
        # The default backend first, so that a specialised backend declaring an id wins.
        ordered = sorted(self._backends.values(), key=lambda b: b.name != DEFAULT_BACKEND)
        for backend in ordered:
            for exchange_id in backend.exchange_ids():
                routes[exchange_id] = backend
        for exchange_id, exchange_settings in self._settings.exchanges.items():
            chosen = exchange_settings.backend
            if chosen is None:
                continue
            configured = self._backends.get(chosen)
            if configured is None:
                log.warning("backend_for_exchange_missing", exchange=exchange_id, backend=chosen)
                routes.pop(exchange_id, None)
                continue
            routes[exchange_id] = configured
        return routes

    def is_known(self, exchange_id: str) -> bool:
        if self._allowed is not None and exchange_id not in self._allowed:
            return False
        return exchange_id in self._routes

    def exchange_ids(self) -> list[str]:
        return sorted(e for e in self._routes if self.is_known(e))

    def backend_for(self, exchange_id: str) -> ExchangeBackend:
        if not self.is_known(exchange_id):
            raise UnknownExchange(f"Unknown exchange id: {exchange_id[:64]}")
        return self._routes[exchange_id]

    def create(self, config: ExchangeConfig) -> ExchangeGateway:
        return self.backend_for(config.exchange_id).create(config)

    def describe(self) -> list[dict[str, Any]]:
        """What is loaded, for the introspection endpoint and start-up logs."""
        served: dict[str, int] = {}
        for exchange_id, backend in self._routes.items():
            if self.is_known(exchange_id):
                served[backend.name] = served.get(backend.name, 0) + 1
        loaded = [
            {"name": name, "status": "loaded", "exchanges": served.get(name, 0), "error": None}
            for name in sorted(self._backends)
        ]
        failed = [
            {"name": f.name, "status": "failed", "exchanges": 0, "error": f.error}
            for f in self._failures
        ]
        return loaded + failed

    async def aclose(self) -> None:
        for backend in self._backends.values():
            try:
                await backend.aclose()
            except Exception as exc:  # noqa: BLE001 - shutdown goes on for the others
                log.warning("backend_close_failed", backend=backend.name, error=str(exc))


def registry_from_backends(
    backends: Mapping[str, ExchangeBackend] | Iterable[ExchangeBackend], settings: Settings
) -> BackendRegistry:
    """A registry over explicit backends (tests, embedding) instead of entry points."""
    values = backends.values() if isinstance(backends, Mapping) else backends
    return BackendRegistry(list(values), settings)
