"""In-process InstanceCache: TTL, LRU cap, single-flight creation, shared markets."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import structlog

from app.adapters.cache.keys import CacheKeyer
from app.domain.config import ExchangeConfig
from app.ports.exchange_gateway import ExchangeGateway
from app.settings import CacheSettings

log = structlog.get_logger(__name__)

GatewayFactory = Callable[[ExchangeConfig], ExchangeGateway]
MarketsKey = tuple[str, str, bool]


@dataclass(slots=True, eq=False)
class _Entry:
    key: str
    config: ExchangeConfig
    gateway: ExchangeGateway
    expires_at: float
    holds: int = 0
    evicted: bool = False
    loading: asyncio.Task[None] | None = field(default=None, repr=False)


class InMemoryInstanceCache:
    """One gateway per distinct config for the life of the process (bounded by TTL and size).

    - Creation is single-flight: concurrent cold requests for one key share one gateway and
      one ``load_markets``.
    - Markets are loaded once per (exchange, marketType, sandbox) and shared, not copied, with
      every instance that differs only in credentials or ccxtType.
    - A gateway whose markets failed to load stays for ``failed_markets_ttl_seconds`` only; each
      request in that time retries the load.
    - Evicted gateways are closed, unless a stream holds them: then the last release closes.
    """

    def __init__(
        self,
        factory: GatewayFactory,
        settings: CacheSettings,
        *,
        keyer: CacheKeyer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = factory
        self._settings = settings
        self._keyer = keyer or CacheKeyer()
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._market_sources: dict[MarketsKey, ExchangeGateway] = {}
        self._market_locks: dict[MarketsKey, asyncio.Lock] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self.evictions: dict[str, int] = {}
        """Evictions so far by reason (``expired``, ``lru``), read by the metrics at scrape."""

    # -- port -----------------------------------------------------------------------------

    def key_for(self, config: ExchangeConfig) -> str:
        return self._keyer.key_for(config)

    async def get(self, config: ExchangeConfig) -> ExchangeGateway:
        return (await self._ready_entry(config)).gateway

    @asynccontextmanager
    async def hold(self, config: ExchangeConfig) -> AsyncIterator[ExchangeGateway]:
        entry = await self._ready_entry(config)
        entry.holds += 1
        try:
            yield entry.gateway
        finally:
            entry.holds -= 1
            if entry.evicted and entry.holds == 0:
                await self._close(entry)

    async def sweep(self) -> int:
        now = self._clock()
        expired = [e for e in self._entries.values() if e.expires_at <= now and e.loading is None]
        for entry in expired:
            self._evict(entry, reason="expired")
        await self._drain_closing()
        return len(expired)

    def size(self) -> int:
        return len(self._entries)

    def held(self) -> int:
        """How many cached gateways a stream holds right now."""
        return sum(1 for e in self._entries.values() if e.holds)

    async def aclose(self) -> None:
        await self.stop_sweeper()
        entries = list(self._entries.values())
        self._entries.clear()
        self._market_sources.clear()
        for entry in entries:
            if entry.loading is not None:
                entry.loading.cancel()
                # wait, not await: the load's own CancelledError is not ours to raise, and
                # a cancellation of this shutdown must not be swallowed either.
                await asyncio.wait({entry.loading})
            entry.evicted = True
            await self._close(entry)
        await self._drain_closing()

    # -- lifecycle ------------------------------------------------------------------------

    def start_sweeper(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="instance-cache-sweep")

    async def stop_sweeper(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._settings.sweep_interval_seconds)
            try:
                evicted = await self.sweep()
                if evicted:
                    log.info("instance_cache_swept", evicted=evicted, size=self.size())
            except Exception:  # the sweeper must outlive one bad close
                log.exception("instance_cache_sweep_failed")

    # -- internals ------------------------------------------------------------------------

    async def _ready_entry(self, config: ExchangeConfig) -> _Entry:
        key = self.key_for(config)
        entry = self._entries.get(key)
        now = self._clock()
        if entry is not None and entry.expires_at <= now and entry.loading is None:
            self._evict(entry, reason="expired")
            entry = None
        if entry is None:
            gateway = self._factory(config)  # no I/O: may raise UnknownExchange/NotSupported
            entry = _Entry(key, config, gateway, expires_at=now + self._settings.ttl_seconds)
            self._entries[key] = entry
            log.info("instance_created", instance=key)
            self._enforce_cap()
        else:
            self._entries.move_to_end(key)
        if not entry.gateway.markets_loaded:
            await self._ensure_markets(entry)
        return entry

    async def _ensure_markets(self, entry: _Entry) -> None:
        if entry.loading is None:
            entry.loading = asyncio.create_task(self._load_markets(entry))
        task = entry.loading
        try:
            # Shielded: a cancelled request must not cancel the load other requests wait on.
            await asyncio.shield(task)
        finally:
            if task.done() and entry.loading is task:
                entry.loading = None

    async def _load_markets(self, entry: _Entry) -> None:
        markets_key = entry.config.markets_key
        lock = self._market_locks.setdefault(markets_key, asyncio.Lock())
        try:
            async with lock:
                source = self._market_sources.get(markets_key)
                if source is not None and source.markets_loaded:
                    await entry.gateway.load_markets(share_from=source)
                else:
                    await entry.gateway.load_markets()
                    self._market_sources[markets_key] = entry.gateway
        except Exception:
            entry.expires_at = self._clock() + self._settings.failed_markets_ttl_seconds
            log.warning("instance_markets_failed", instance=entry.key)
            raise
        entry.expires_at = self._clock() + self._settings.ttl_seconds

    def _enforce_cap(self) -> None:
        while len(self._entries) > max(self._settings.max_size, 1):
            oldest = next(iter(self._entries.values()))
            self._evict(oldest, reason="lru")

    def _evict(self, entry: _Entry, *, reason: str) -> None:
        if self._entries.get(entry.key) is entry:
            del self._entries[entry.key]
        markets_key = entry.config.markets_key
        if self._market_sources.get(markets_key) is entry.gateway:
            # Next load refreshes markets; sharers keep their reference to the old list.
            del self._market_sources[markets_key]
        entry.evicted = True
        self.evictions[reason] = self.evictions.get(reason, 0) + 1
        log.info("instance_evicted", instance=entry.key, reason=reason, held=entry.holds > 0)
        if entry.holds == 0:
            task = asyncio.get_running_loop().create_task(self._close(entry))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def _close(self, entry: _Entry) -> None:
        try:
            await entry.gateway.close()
        except Exception as exc:  # noqa: BLE001 - one failing close must not stop the sweep
            log.warning("instance_close_failed", instance=entry.key, error=type(exc).__name__)

    async def _drain_closing(self) -> None:
        if self._closing:
            await asyncio.gather(*list(self._closing), return_exceptions=True)
