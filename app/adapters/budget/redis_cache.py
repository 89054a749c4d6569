"""RedisFreshnessCache: the FreshnessCache port shared by a cluster's nodes (issue 12, ADR 0146).

Two levels: the node's own bounded copy (``get``/``put``, no I/O, what the read path asks
first) and Redis (``load``/``store``, the cluster's latest answer per read key). An answer
is stored in Redis with its arrival time, serialized with msgspec's MessagePack (ccxt answers
are plain dicts, lists, strings, numbers, None), under ``pm:read:<exchange>:<method>:<hash>``
where the hash (BLAKE2b, 128 bit) covers the whole read key: the private scope (an HMAC of
the credentials, never a credential) and the arguments never appear in Redis keys.

Bounds: each Redis entry expires after ``ttl_s`` (a small multiple of the largest configured
max age: older answers are never served), so Redis holds at most what the cluster read in
that time; the node's copy holds ``max_entries``, least recently stored out first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
from redis.exceptions import RedisError

from app.adapters.budget.background import Background
from app.adapters.budget.cache import InMemoryFreshnessCache
from app.ports.budget import CachedRead

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = structlog.get_logger(__name__)

PREFIX = "pm:read"
TTL_MAX_AGES = 4
"""A Redis entry lives this many times the largest configured max age (at least 1 s)."""
REDIS_FAILURES = (RedisError, OSError, TimeoutError)

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


def read_key_id(text: str) -> str:
    """``<exchange>:<method>:<hash>`` of a ``ReadKey.text`` (``exchange|market|mode|scope|
    method|args``): readable enough to see what is cached, nothing of scope or arguments."""
    parts = text.split("|", 5)
    digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    if len(parts) == 6:
        return f"{parts[0]}:{parts[4]}:{digest}"
    return digest


def ttl_for(max_age_ms: Mapping[str, int]) -> float:
    """Seconds an entry is kept in Redis: ``TTL_MAX_AGES`` x the largest max age, >= 1 s."""
    largest = max((ms for ms in max_age_ms.values()), default=0)
    return max(1.0, TTL_MAX_AGES * largest / 1000.0)


class RedisFreshnessCache:
    """The FreshnessCache port on Redis, with the node's own bounded copy in front.

    Args:
        redis: the process's client.
        max_entries: the node's copy's bound (``[budget] cache_max_entries``).
        ttl_s: how long Redis keeps an entry (seconds; see ``ttl_for``).
    """

    def __init__(self, redis: Redis, *, max_entries: int = 10_000, ttl_s: float = 4.0) -> None:
        self._redis = redis
        self._near = InMemoryFreshnessCache(max_entries)
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._writes = Background("freshness_cache")
        self._away = False

    @staticmethod
    def redis_key(text: str) -> str:
        """The Redis key of an answer to the read ``text``."""
        return f"{PREFIX}:{read_key_id(text)}"

    def get(self, key: str) -> CachedRead | None:
        return self._near.get(key)

    def put(self, key: str, entry: CachedRead) -> None:
        self._near.put(key, entry)
        self._writes.spawn(self._write(key, entry))

    def size(self) -> int:
        return self._near.size()

    async def load(self, key: str) -> CachedRead | None:
        try:
            raw = await self._redis.get(self.redis_key(key))
        except REDIS_FAILURES as error:
            self._went_away(error)
            return self._near.get(key)
        self._came_back()
        if raw is None:
            return self._near.get(key)
        return self.adopt(key, raw) or self._near.get(key)

    def adopt(self, key: str, raw: bytes | str) -> CachedRead | None:
        """Decode an answer read from Redis (``redis_key(key)``) and keep it as this node's
        copy unless the node holds a newer one; None if it cannot be decoded."""
        try:
            stored_at, value = _decoder.decode(raw.encode() if isinstance(raw, str) else raw)
            entry = CachedRead(value, float(stored_at))
        except (msgspec.DecodeError, TypeError, ValueError):
            return None
        near = self._near.get(key)
        if near is not None and near.stored_at >= entry.stored_at:
            return near
        self._near.put(key, entry)
        return entry

    async def store(self, key: str, entry: CachedRead) -> None:
        self._near.put(key, entry)
        await self._write(key, entry)

    async def _write(self, key: str, entry: CachedRead) -> None:
        try:
            raw = _encoder.encode((entry.stored_at, entry.value))
        except (TypeError, ValueError, OverflowError):
            return  # not plain data: kept on this node only
        try:
            await self._redis.set(self.redis_key(key), raw, px=self._ttl_ms)
        except REDIS_FAILURES as error:
            self._went_away(error)
        else:
            self._came_back()

    async def drain(self) -> None:
        """Wait for the background writes of ``put`` (tests, shutdown)."""
        await self._writes.drain()

    def _went_away(self, error: BaseException) -> None:
        if not self._away:
            self._away = True
            log.warning("freshness_cache_redis_away", error=type(error).__name__)

    def _came_back(self) -> None:
        if self._away:
            self._away = False
            log.info("freshness_cache_redis_back")


def encoded_size(value: Any) -> int:
    """Bytes one answer takes in Redis (benchmarks, the ADR's sizing note)."""
    return len(_encoder.encode((0.0, value)))
