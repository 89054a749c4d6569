"""RedisReadFlights: one exchange call per identical read for the whole cluster (ADR 0146).

The read budget already shares one call among identical reads on a node; its leader asks
this adapter, which makes the nodes' leaders share one call too:

1. another node's answer in the shared cache, fresh enough: served from it (``cache``);
2. else ``SET pm:flight:<read id> <token> NX PX 3000``: the node that takes the lock calls
   the exchange, renews the lock every second while the call runs, stores the answer with
   its arrival time (``FreshnessCache.store``), or a shareable error under
   ``pm:flight:<read id>:error`` for 2 s, then deletes the lock if it is still its own;
3. the others poll (2 ms, growing to 25 ms) one pipelined round trip: the answer (stored after
   they began waiting, or fresh), the error, and whether the lock is still held. An answer:
   ``coalesced``. An error of a plain domain class: raised here too, as on one node. No lock
   and nothing stored (its holder died: the lock expired; or its error was not shareable):
   try to take the lock. Waiting never passes ``max_wait_s``; then the node calls itself.

Redis unreachable: the node calls the exchange itself (its own coalescing still holds).
Polling, not pub/sub: no dedicated connection per waiting read, nothing to resubscribe after
a Redis restart, and the lock holder needs no second write path; the cost is one small round
trip per waiter per poll while an exchange call runs (tens of ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from app.adapters.budget.redis_cache import REDIS_FAILURES, RedisFreshnessCache, read_key_id
from app.domain import errors
from app.ports.budget import CachedRead, FlightResult
from app.ports.clock import Clock

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = structlog.get_logger(__name__)

PREFIX = "pm:flight"
LOCK_TTL_S = 3.0
"""A lock lives this long unless its holder renews it: the longest a dead holder blocks."""
RENEW_EVERY_S = 1.0
ERROR_TTL_S = 2.0
MAX_WAIT_S = 15.0
"""The longest a node waits for another node's call (ccxt's timeout is 10 s) before its own."""
POLL_FIRST_S = 0.002
POLL_MAX_S = 0.025

SHAREABLE_ERRORS: dict[str, type[errors.DomainError]] = {
    cls.__name__: cls
    for cls in (
        errors.BadInput,
        errors.BadSymbol,
        errors.NotSupported,
        errors.RateLimited,
        errors.ExchangeUnavailable,
        errors.ExchangeUnreachable,
        errors.ExchangeTimeout,
        errors.ExchangeError,
    )
}
"""Domain errors another node's waiters raise too (exactly these classes, whose details the
gateway has already scrubbed); any other error makes each waiting node try the call itself
(a 429's stop is shared by the rate budget, so those calls are refused before sending)."""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
"""Release and renew only a lock still held under our token (an expired one may be another's)."""

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


class RedisReadFlights:
    """The ReadFlights port on Redis locks and the shared freshness cache.

    Args:
        redis: the process's client.
        cache: the shared freshness cache (answers travel through it).
        clock: wall clock (arrival times, waits).
        lock_ttl_s, max_wait_s: see ``LOCK_TTL_S`` and ``MAX_WAIT_S``.
    """

    def __init__(
        self,
        redis: Redis,
        cache: RedisFreshnessCache,
        clock: Clock,
        *,
        lock_ttl_s: float = LOCK_TTL_S,
        max_wait_s: float = MAX_WAIT_S,
    ) -> None:
        self._redis = redis
        self._cache = cache
        self._clock = clock
        self._lock_ttl_ms = max(100, round(lock_ttl_s * 1000))
        self._renew_s = min(RENEW_EVERY_S, lock_ttl_s / 3)
        self._max_wait_s = max_wait_s
        self._release = redis.register_script(RELEASE)
        self._renew = redis.register_script(RENEW)
        self.calls_here = 0
        """Exchange calls this node made through ``run`` (tests, benchmarks)."""

    async def run(
        self, key: str, max_age_s: float, fetch: Callable[[], Awaitable[Any]]
    ) -> FlightResult:
        began = self._clock.time()
        entry = await self._cache.load(key)  # this node's copy when Redis is away
        if entry is not None and began - entry.stored_at <= max_age_s:
            return FlightResult(entry.value, entry.stored_at, "cache")
        lock = f"{PREFIX}:{read_key_id(key)}"
        deadline = began + self._max_wait_s
        while True:
            token = uuid.uuid4().hex
            try:
                taken = await self._redis.set(lock, token, nx=True, px=self._lock_ttl_ms)
            except REDIS_FAILURES:
                return await self._call(key, fetch, None, token)
            if taken:
                return await self._call(key, fetch, lock, token)
            result = await self._wait(key, lock, began, max_age_s, deadline)
            if result is not None:
                return result
            if self._clock.time() >= deadline:
                log.warning("read_flight_wait_exceeded", read=read_key_id(key))
                return await self._call(key, fetch, None, token)

    async def _call(
        self, key: str, fetch: Callable[[], Awaitable[Any]], lock: str | None, token: str
    ) -> FlightResult:
        renewer = asyncio.ensure_future(self._keep(lock, token)) if lock is not None else None
        try:
            self.calls_here += 1
            try:
                value = await fetch()
            except errors.DomainError as error:
                if lock is not None and type(error).__name__ in SHAREABLE_ERRORS:
                    await self._share_error(lock, error)
                raise
            arrived = self._clock.time()
            await self._cache.store(key, CachedRead(value, arrived))
            return FlightResult(value, arrived, "exchange")
        finally:
            if renewer is not None:
                renewer.cancel()
            if lock is not None:
                with contextlib.suppress(*REDIS_FAILURES):  # else it expires by itself
                    await self._release(keys=[lock], args=[token])

    async def _keep(self, lock: str, token: str) -> None:
        while True:
            await asyncio.sleep(self._renew_s)
            try:
                await self._renew(keys=[lock], args=[token, str(self._lock_ttl_ms)])
            except REDIS_FAILURES:
                return

    async def _share_error(self, lock: str, error: errors.DomainError) -> None:
        payload = (self._clock.time(), type(error).__name__, error.details, error.error_type)
        with contextlib.suppress(*REDIS_FAILURES):
            await self._redis.set(
                f"{lock}:error", _encoder.encode(payload), px=round(ERROR_TTL_S * 1000)
            )

    async def _wait(
        self, key: str, lock: str, began: float, max_age_s: float, deadline: float
    ) -> FlightResult | None:
        """Poll until an answer, a shared error, the lock gone (None) or the deadline (None)."""
        delay = POLL_FIRST_S
        answer_key = RedisFreshnessCache.redis_key(key)
        while self._clock.time() < deadline:
            await self._clock.sleep(delay)
            delay = min(POLL_MAX_S, delay * 1.5)
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.get(answer_key)
                    pipe.get(f"{lock}:error")
                    pipe.exists(lock)
                    raw, failed, held = await pipe.execute()
            except REDIS_FAILURES:
                return None
            now = self._clock.time()
            if raw is not None:
                entry = self._cache.adopt(key, raw)
                if entry is not None and (
                    entry.stored_at >= began or now - entry.stored_at <= max_age_s
                ):
                    return FlightResult(entry.value, entry.stored_at, "coalesced")
            if failed is not None:
                error = _rebuild(failed, began)
                if error is not None:
                    raise error
            if not held:
                return None
        return None


def _rebuild(raw: bytes, began: float) -> errors.DomainError | None:
    """The error another node's call raised after ``began``, if its class is shareable."""
    try:
        at, name, details, error_type = _decoder.decode(raw)
    except (msgspec.DecodeError, TypeError, ValueError):
        return None
    cls = SHAREABLE_ERRORS.get(str(name))
    if cls is None or float(at) < began:
        return None
    try:
        return cls(str(details), error_type=str(error_type))
    except TypeError:
        return None
