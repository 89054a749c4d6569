"""Counts and times the REST calls every exchange gateway makes (a decorator of the port).

The composition root wraps the backend registry's factory with ``instrumented_factory``, so
every gateway the instance cache creates reports to the Metrics port; nothing in the domain
or in the backends knows about metrics. Watch calls pass straight through: their volume is
counted by the stream metrics instead.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from app.domain.config import ExchangeConfig
from app.domain.errors import DomainError
from app.ports.exchange_gateway import ExchangeGateway
from app.ports.metrics import Metrics

TIMED_METHODS = frozenset(
    {
        "load_markets",
        "capabilities",
        "fetch_ticker",
        "fetch_order_book",
        "fetch_trades",
        "fetch_ohlcv",
        "fetch_balance",
    }
)


def instrumented_factory(
    factory: Callable[[ExchangeConfig], ExchangeGateway], metrics: Metrics
) -> Callable[[ExchangeConfig], ExchangeGateway]:
    """``factory`` whose gateways report each REST call to ``metrics``."""

    def create(config: ExchangeConfig) -> ExchangeGateway:
        gateway = factory(config)
        return InstrumentedGateway(gateway, metrics, config.exchange_id)

    return create


def outcome_of(error: BaseException) -> str:
    """A bounded outcome word: the domain class name, or ``error`` for anything else."""
    return type(error).__name__ if isinstance(error, DomainError) else "error"


class InstrumentedGateway:
    """Forwards everything to ``inner``; the REST methods in ``TIMED_METHODS`` are timed.

    ``metrics.exchange_call(exchange, method, outcome, seconds)`` per call, plus
    ``metrics.market_load(exchange, outcome)`` for each ``load_markets``.
    """

    def __init__(self, inner: ExchangeGateway, metrics: Metrics, exchange_id: str) -> None:
        self._inner = inner
        self._metrics = metrics
        self._exchange = exchange_id
        self._timed: dict[str, Callable[..., Awaitable[Any]]] = {}

    @property
    def inner(self) -> ExchangeGateway:
        return self._inner

    def __getattr__(self, name: str) -> Any:
        if name in TIMED_METHODS:
            wrapped = self._timed.get(name)
            if wrapped is None:
                wrapped = self._timed[name] = self._timing(name, getattr(self._inner, name))
            return wrapped
        return getattr(self._inner, name)

    async def load_markets(self, *, share_from: Any = None) -> None:
        # Shared markets come from the other instance: unwrap it so the backend sees its type.
        if isinstance(share_from, InstrumentedGateway):
            share_from = share_from.inner
        started = time.perf_counter()
        outcome = "ok"
        try:
            await self._inner.load_markets(share_from=share_from)
        except BaseException as exc:
            outcome = outcome_of(exc)
            raise
        finally:
            seconds = time.perf_counter() - started
            if share_from is None or not getattr(share_from, "markets_loaded", False):
                self._metrics.market_load(self._exchange, outcome)
                self._metrics.exchange_call(self._exchange, "load_markets", outcome, seconds)

    def _timing(
        self, method: str, call: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        metrics, exchange = self._metrics, self._exchange

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            outcome = "ok"
            try:
                return await call(*args, **kwargs)
            except BaseException as exc:
                outcome = outcome_of(exc)
                raise
            finally:
                metrics.exchange_call(exchange, method, outcome, time.perf_counter() - started)

        return timed
