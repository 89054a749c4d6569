"""Ports of the exchange read budget: the shared limiter, the freshness cache, stream snapshots.

The in-process adapters live in ``app.adapters.budget``; the Redis pair (several processes
on one IP sharing one budget and one cache, issue 12) implements the same protocols: the
synchronous methods act on the node's own copy at once and reach Redis in the background
(ADR 0145); ``refresh`` brings that copy up to date.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

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
    """Recent read answers by read key (keys carry no credential: see ReadKey).

    ``get``/``put`` are this node's copy, without I/O (the read path asks them first);
    ``load``/``store`` are the answer every node sees (Redis in a cluster; the same copy in a
    single process). Times are wall-clock seconds.
    """

    def get(self, key: str) -> CachedRead | None:
        """The latest answer this node holds under ``key``, however old (the caller judges
        its age)."""
        ...

    def put(self, key: str, entry: CachedRead) -> None:
        """Store an answer; bounded in entries, the least recently stored go first. A shared
        cache also sends it to the other nodes, in the background."""
        ...

    async def load(self, key: str) -> CachedRead | None:
        """The newest answer any node stored under ``key`` and still kept (it becomes this
        node's copy too); this node's copy when the shared store cannot be reached."""
        ...

    async def store(self, key: str, entry: CachedRead) -> None:
        """``put``, finished: when it returns, other nodes' ``load`` see the answer (unless
        the shared store is unreachable or the value is not plain data: then this node only)."""
        ...

    def size(self) -> int:
        """Entries this node holds now."""
        ...


FlightSource = Literal["exchange", "coalesced", "cache"]
"""Where a cluster flight's answer came from: this node's call, another node's call in
flight, or another node's recent answer."""


@dataclass(frozen=True, slots=True)
class FlightResult:
    """A cluster flight's answer, its arrival time (wall clock, s) and its source."""

    value: Any
    stored_at: float
    source: FlightSource


@runtime_checkable
class ReadFlights(Protocol):
    """One exchange call per identical read across the cluster's nodes (issue 12).

    The read budget coalesces identical reads on one node; this port makes the node's
    leader wait for another node's identical call instead of making its own.
    """

    async def run(
        self, key: str, max_age_s: float, fetch: Callable[[], Awaitable[Any]]
    ) -> FlightResult:
        """An answer for the read ``key``: another node's answer younger than ``max_age_s``
        (or arriving after this call began), the answer of another node's call in flight,
        else ``fetch()`` here (stored for the others).

        Never waits for a node that has died longer than a lock's time to live, and calls
        ``fetch`` itself when the shared store is unreachable.

        Raises whatever ``fetch`` raises here, or the same domain error another node's call
        of this read raised meanwhile.
        """
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
