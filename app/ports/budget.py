"""Ports of the exchange read budget: the shared limiter, the freshness cache, stream snapshots.

The in-process adapters live in ``app.adapters.budget``; the Redis pair (several processes
on one IP sharing one budget and one cache, issue 12) implements the same protocols: the
synchronous methods act on the node's own copy at once and reach Redis in the background
(ADR 0145); ``refresh`` brings that copy up to date.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from app.domain.budget.rules import ExchangeRules
from app.domain.config import ExchangeConfig


@runtime_checkable
class RateBudget(Protocol):
    """One weight budget per exchange and API family, shared by every instance of the exchange.

    Weights are the exchange's own units (binance REQUEST_WEIGHT); times are seconds.
    """

    def configure(self, rules: ExchangeRules) -> None:
        """Register an exchange's rules; a later call for the same exchange is ignored."""
        ...

    async def acquire(self, exchange_id: str, family: str, weight: float) -> None:
        """Wait for room for ``weight`` (bounded by the configured queue wait), then take it.

        Raises:
            BudgetExhausted: the exchange stopped us (429/418 Retry-After still running), or
                no room appears within the queue wait. Nothing is sent then.
        """
        ...

    def set_published_limit(self, exchange_id: str, family: str, weight_per_minute: float) -> None:
        """The limit the exchange publishes (binance exchangeInfo ``rateLimits``); an operator
        override in the rules wins over it."""
        ...

    def observe_used(self, exchange_id: str, family: str, used: float) -> None:
        """The exchange's own count of weight used in the current window (a response header)."""
        ...

    def stop(self, exchange_id: str, status: int, retry_after_s: float) -> None:
        """The exchange answered 429 or 418: refuse every request to it for ``retry_after_s``."""
        ...

    async def refresh(self) -> None:
        """Finish this node's pending writes and re-read the shared figures (Redis), so that
        ``snapshot`` shows the cluster's count; the in-process adapter has nothing to do."""
        ...

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per exchange (as of the last ``refresh`` or request, for a shared budget): ``{"stoppedUntil", "stoppedSeconds", "stops", "families": {name:
        {"weightPerMinute", "weightUsed", "weightLeft", "requests", "waited", "refused"}}}``."""
        ...


@dataclass(frozen=True, slots=True)
class CachedRead:
    """A stored answer and the wall-clock time (s) it arrived from the exchange."""

    value: Any
    stored_at: float


@runtime_checkable
class FreshnessCache(Protocol):
    """Recent read answers by read key (keys carry no credential: see ReadKey)."""

    def get(self, key: str) -> CachedRead | None:
        """The latest answer stored under ``key``, however old (the caller judges its age)."""
        ...

    def put(self, key: str, entry: CachedRead) -> None:
        """Store an answer; bounded in entries, the least recently stored go first."""
        ...

    def size(self) -> int:
        """Entries held now."""
        ...


@dataclass(frozen=True, slots=True)
class StreamSnapshot:
    """The latest update of a live stream and when it arrived (wall clock, s)."""

    data: Any
    received_at: float


@runtime_checkable
class StreamSnapshots(Protocol):
    """Latest updates of running streams (Socket.IO subscriptions, REST watches)."""

    def latest(self, config: ExchangeConfig, data_type: str, symbol: str) -> StreamSnapshot | None:
        """The newest update of a live stream of this data that the reader may see: one of
        the same exchange, market type and sandbox subscribed without credentials, or with
        the reader's own; None if none runs or none has delivered yet."""
        ...


@runtime_checkable
class BudgetObserver(Protocol):
    """Hook for metrics: told of every read answered and its source (no credential)."""

    def read_served(self, exchange_id: str, data_type: str, source: str) -> None: ...


class NoBudgetObserver:
    """The default observer: does nothing (the metrics adapter replaces it)."""

    def read_served(self, exchange_id: str, data_type: str, source: str) -> None:
        return None
