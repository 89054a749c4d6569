"""CcxtBackend: builds ccxt.async_support / ccxt.pro instances from an ExchangeConfig."""

from __future__ import annotations

import copy
import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from app.adapters.ccxt.gateway import CcxtGateway
from app.domain.config import ExchangeConfig
from app.domain.errors import NotSupported, UnknownExchange
from app.plugin.context import BackendContext
from app.settings import Settings


def ccxt_module(name: str) -> ModuleType:
    """``ccxt.async_support`` or ``ccxt.pro``, imported on first use (~0.5 s, 100 MB).

    Python's own module cache makes later calls cheap; no state of ours is kept.
    """
    return importlib.import_module(name)


def deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: ``override`` on top of ``base``, merging nested dicts key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(dict(merged[key]), value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class CcxtBackend:
    """The default backend: every exchange CCXT knows."""

    name = "ccxt"

    def __init__(self, context: BackendContext | Settings | None = None) -> None:
        """``context``: what the registry passes; Settings or None are accepted for tests."""
        self._context = BackendContext.of(context)
        self._exchange_ids: frozenset[str] | None = None

    def exchange_ids(self) -> frozenset[str]:
        if self._exchange_ids is None:
            self._exchange_ids = frozenset(ccxt_module("ccxt.async_support").exchanges)
        return self._exchange_ids

    def constructor_config(self, config: ExchangeConfig) -> dict[str, Any]:
        """What the ccxt constructor receives: our defaults, then the operator's overrides."""
        params: dict[str, Any] = {
            "enableRateLimit": self._context.enable_rate_limit,
            "timeout": self._context.timeout_ms,
        }
        credentials = config.credentials
        params.update(
            {
                key: value
                for key, value in (
                    ("apiKey", credentials.api_key),
                    ("secret", credentials.secret),
                    ("password", credentials.password),
                )
                if value
            }
        )
        if config.market_type == "futures":
            # Inside options: a top-level defaultType is ignored by ccxt.
            params["options"] = {"defaultType": "swap"}
        overrides = self._context.ccxt_overrides_for(config.exchange_id)
        if overrides:
            params = deep_merge(params, overrides)
        return params

    def create(self, config: ExchangeConfig) -> CcxtGateway:
        exchange_id = config.exchange_id
        if exchange_id not in self.exchange_ids():
            raise UnknownExchange(f"Unknown exchange id: {exchange_id[:64]}")
        pro = config.ccxt_type == "pro"
        module = ccxt_module("ccxt.pro" if pro else "ccxt.async_support")
        if exchange_id not in getattr(module, "exchanges", ()):
            raise NotSupported(f"{exchange_id} has no CCXT Pro implementation")
        exchange = getattr(module, exchange_id)(self.constructor_config(config))
        if config.sandbox:
            if not exchange.urls.get("test"):
                # Many ccxt classes declare urls['test'] = None; set_sandbox_mode then fails
                # with a TypeError instead of NotSupported.
                raise NotSupported(f"{exchange_id} has no sandbox (testnet)")
            try:
                exchange.set_sandbox_mode(True)
            except Exception as exc:  # noqa: BLE001 - any failure means "no sandbox"
                # Never fall back to the live exchange: a sandbox request must fail instead.
                # No session is open yet (ccxt opens it on the first request): nothing to close.
                raise NotSupported(
                    f"{exchange_id} has no sandbox (testnet)",
                    error_type=type(exc).__name__,
                ) from None
        return CcxtGateway(exchange, config, pro=pro)

    async def aclose(self) -> None:
        """Instances are closed by the cache that owns them; nothing backend-wide to release."""
