"""BackendContext: what the server tells a backend plugin when it builds it (plugin API v1)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.settings import Settings

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _frozen(table: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
    """A read-only deep copy: a plugin cannot change the server's settings through it."""
    return MappingProxyType(
        {key: MappingProxyType(copy.deepcopy(dict(value))) for key, value in table.items()}
    )


@dataclass(frozen=True, slots=True)
class BackendContext:
    """The operator's settings a backend may read; the factory's only argument.

    A backend's entry point (group ``profitmaker_server.backends.v1``) is called as
    ``factory(context: BackendContext) -> ExchangeBackend``. New fields may be added in v1
    (with defaults); none is removed or changes meaning (docs/adr/0081).

    Attributes:
        exchange_options: ``[exchanges.<id>] options`` per exchange id: free-form settings for
            non-ccxt backends (the simulator's ``seed``, the example's ``interval``).
        ccxt_overrides: ``[exchanges.<id>] ccxt`` per exchange id: deep-merged into the
            constructor config of every ccxt instance of that exchange.
        timeout_ms: ``[ccxt] timeout_ms``, the per-request timeout towards an exchange (ms).
        enable_rate_limit: ``[ccxt] enable_rate_limit``, ccxt's own request throttle.
    """

    exchange_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    ccxt_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    timeout_ms: int = 30_000
    enable_rate_limit: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "exchange_options", _frozen(self.exchange_options))
        object.__setattr__(self, "ccxt_overrides", _frozen(self.ccxt_overrides))

    def options(self, exchange_id: str) -> Mapping[str, Any]:
        """The options of one exchange id (empty when the operator gave none)."""
        return self.exchange_options.get(exchange_id, _EMPTY)

    def ccxt_overrides_for(self, exchange_id: str) -> Mapping[str, Any]:
        """The ccxt constructor overrides of one exchange id (empty when none)."""
        return self.ccxt_overrides.get(exchange_id, _EMPTY)

    @classmethod
    def from_settings(cls, settings: Settings) -> BackendContext:
        """The narrow view of the server's settings that plugins get."""
        return cls(
            exchange_options={
                exchange_id: exchange.options
                for exchange_id, exchange in settings.exchanges.items()
                if exchange.options
            },
            ccxt_overrides={
                exchange_id: exchange.ccxt
                for exchange_id, exchange in settings.exchanges.items()
                if exchange.ccxt
            },
            timeout_ms=settings.ccxt.timeout_ms,
            enable_rate_limit=settings.ccxt.enable_rate_limit,
        )

    @classmethod
    def of(cls, source: BackendContext | Settings | None) -> BackendContext:
        """A context from a context, the server's Settings (built-ins, tests) or None."""
        if source is None:
            return cls()
        if isinstance(source, BackendContext):
            return source
        return cls.from_settings(source)
