"""ReadBudget: coalesced, cached and stream-backed exchange reads.

One call of an identical read runs at a time; everyone asking meanwhile shares its answer
(errors too). Answers younger than the data type's max age are reused. A live stream of the
same data answers tickers and books without any REST call. Nothing here knows HTTP or ccxt.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from app.domain.budget.model import DATA_SOURCES, DataSource, ReadReceipt
from app.domain.config import ExchangeConfig
from app.ports.budget import (
    BudgetObserver,
    CachedRead,
    FreshnessCache,
    NoBudgetObserver,
    ReadFlights,
    StreamSnapshots,
)
from app.ports.clock import Clock

T = TypeVar("T")

DEFAULT_MAX_AGE_MS: Mapping[str, int] = {
    "ticker": 500,
    "orderbook": 250,
    "trades": 500,
    "ohlcv": 1000,
    "balance": 0,
    "capabilities": 0,
}
"""Defaults of ``[budget.max_age_ms]`` (issue 9); balance 0: private data is only coalesced."""

PRIVATE_DATA_TYPES = frozenset({"balance"})


@dataclass(frozen=True, slots=True)
class ReadKey:
    """What makes two reads identical.

    Public data: exchange, market type, sandbox, method and arguments, whoever asks.
    Private data (balance): also ``scope``, the instance cache's HMAC key of the credential
    tuple, so two accounts never share an answer and no secret is ever part of a key.
    """

    exchange_id: str
    market_type: str
    sandbox: bool
    data_type: str
    method: str
    args: str
    scope: str = "public"

    @classmethod
    def of(
        cls,
        config: ExchangeConfig,
        data_type: str,
        method: str,
        args: Mapping[str, Any],
        *,
        private_scope: str | None = None,
    ) -> ReadKey:
        """Build a key; ``private_scope`` (the credential HMAC key) is required for private data."""
        scope = "public"
        if data_type in PRIVATE_DATA_TYPES:
            if not private_scope:
                raise ValueError("a private read needs the credential scope")
            scope = private_scope
        text = json.dumps(args, sort_keys=True, separators=(",", ":"), default=repr)
        return cls(
            config.exchange_id, config.market_type, config.sandbox, data_type, method, text, scope
        )

    @property
    def text(self) -> str:
        mode = "sandbox" if self.sandbox else "live"
        return (
            f"{self.exchange_id}|{self.market_type}|{mode}|{self.scope}|{self.method}|{self.args}"
        )


StreamAdapter = Callable[[Any], Any]
"""Turns a stream update into the REST answer (e.g. a book sliced to ``limit``), or None when
the update cannot stand in for it (a ticker without bid/ask)."""


@dataclass(frozen=True, slots=True)
class StreamSource:
    """Which stream may answer a read (the reader's config, the symbol), and how its update
    becomes the answer."""

    config: ExchangeConfig
    symbol: str
    adapt: StreamAdapter


class ReadBudget:
    """Serves reads from a stream, the freshness cache, an identical call in flight, or the
    exchange, in that order, and counts each per exchange.

    Args:
        cache: the freshness cache port.
        clock: the wall clock (seconds).
        max_age_ms: per data type, the oldest answer still reused (ms); unknown types: 0.
        enabled: False serves every read from its own exchange call (the original's way).
        streams: latest updates of live streams, if stream-backed reads are on.
        observer: metrics hook, told of every answer's source.
        flights: in a cluster, makes this node's call of a public cacheable read wait for
            another node's identical call or answer (ADR 0146); None in a single process.
            Private reads (balance) and reads with no max age are coalesced per node only.
    """

    def __init__(
        self,
        cache: FreshnessCache,
        clock: Clock,
        max_age_ms: Mapping[str, int] | None = None,
        *,
        enabled: bool = True,
        streams: StreamSnapshots | None = None,
        observer: BudgetObserver | None = None,
        flights: ReadFlights | None = None,
    ) -> None:
        self._cache = cache
        self._flights = flights
        self._clock = clock
        self._max_age_ms = {**DEFAULT_MAX_AGE_MS, **(max_age_ms or {})}
        self._enabled = enabled
        self._streams = streams
        self._observer: BudgetObserver = observer or NoBudgetObserver()
        self._inflight: dict[str, asyncio.Task[Any]] = {}
        self._served: dict[str, Counter[str]] = {}

    @property
    def enabled(self) -> bool:
        return self._enabled

    def max_age_ms(self, data_type: str, requested: int | None = None) -> int:
        """The max age for a read: the configured one, or the request's if it is fresher."""
        configured = self._max_age_ms.get(data_type, 0)
        if requested is None:
            return configured
        return max(0, min(configured, requested))

    async def read(
        self,
        key: ReadKey,
        fetch: Callable[[], Awaitable[T]],
        *,
        max_age_ms: int | None = None,
        receipt: ReadReceipt | None = None,
        stream: StreamSource | None = None,
    ) -> T:
        """The answer to ``key``: from a fresh stream, the cache, a shared call, or ``fetch``.

        Args:
            key: what makes reads identical.
            fetch: makes the exchange call (resolving the instance inside it, so coalesced
                public reads of many credentials create no instance each).
            max_age_ms: the client's ``maxAgeMs`` (0: ask the exchange, but still share an
                identical call in flight); never raises the configured age.
            receipt: filled with the source and age of the answer.
            stream: if given, a live stream of this symbol may answer.

        Raises whatever ``fetch`` raises (every waiter of a shared call gets the same error).
        """
        receipt = receipt if receipt is not None else ReadReceipt()
        if not self._enabled:
            value = await fetch()
            self._count(key, "exchange", receipt, 0.0)
            return value
        limit_ms = self.max_age_ms(key.data_type, max_age_ms)
        now = self._clock.time()
        if stream is not None and self._streams is not None and limit_ms > 0:
            snap = self._streams.latest(stream.config, key.data_type, stream.symbol)
            if snap is not None and (now - snap.received_at) * 1000.0 <= limit_ms:
                adapted = stream.adapt(snap.data)
                if adapted is not None:
                    self._count(key, "stream", receipt, now - snap.received_at)
                    return adapted  # type: ignore[no-any-return]
        if limit_ms > 0:
            cached = self._cache.get(key.text)
            if cached is not None and (now - cached.stored_at) * 1000.0 <= limit_ms:
                self._count(key, "cache", receipt, now - cached.stored_at)
                return cached.value  # type: ignore[no-any-return]
        task = self._inflight.get(key.text)
        source: DataSource = "coalesced"
        if task is None:
            source = "exchange"
            task = asyncio.ensure_future(self._lead(key, fetch, limit_ms))
            self._inflight[key.text] = task
            task.add_done_callback(functools.partial(self._finish, key.text))
        # Shielded: a client that goes away must not cancel the call others share.
        value, arrived, led = await asyncio.shield(task)
        if source == "exchange":
            source = led  # another node's call or answer (cluster), else our own call
        self._count(key, source, receipt, self._clock.time() - arrived)
        return value

    async def _lead(
        self, key: ReadKey, fetch: Callable[[], Awaitable[T]], limit_ms: int
    ) -> tuple[T, float, DataSource]:
        keep = self._max_age_ms.get(key.data_type, 0) > 0  # balances (0) are never kept
        if self._flights is not None and keep and key.scope == "public":
            flight = await self._flights.run(key.text, limit_ms / 1000.0, fetch)
            return flight.value, flight.stored_at, flight.source
        value = await fetch()
        arrived = self._clock.time()
        if keep:
            self._cache.put(key.text, CachedRead(value, arrived))
        return value, arrived, "exchange"

    def _finish(self, text: str, task: asyncio.Task[Any]) -> None:
        if self._inflight.get(text) is task:
            del self._inflight[text]
        if not task.cancelled():
            task.exception()  # retrieved: a shared error nobody awaited any more is not "lost"

    def _count(self, key: ReadKey, source: DataSource, receipt: ReadReceipt, age_s: float) -> None:
        receipt.source = source
        receipt.age_ms = max(0, round(age_s * 1000.0))
        counter = self._served.get(key.exchange_id)
        if counter is None:
            counter = self._served[key.exchange_id] = Counter()
        counter[source] += 1
        self._observer.read_served(key.exchange_id, key.data_type, source)

    def in_flight(self) -> int:
        """Distinct exchange calls running now."""
        return len(self._inflight)

    def served(self) -> dict[str, dict[str, int]]:
        """Per exchange, answers by source: ``{"binance": {"exchange": 3, "coalesced": 47,
        "cache": 0, "stream": 0}}``."""
        return {
            exchange: {source: counter.get(source, 0) for source in DATA_SOURCES}
            for exchange, counter in self._served.items()
        }
