"""Which budget adapters a node uses: Redis ones in a cluster, in-process ones alone.

The container calls these with its ``redis`` client (None without ``[cluster] redis_url``);
the Redis adapters are imported only in cluster mode, so a single process never loads redis-py
(ADR 0135, ADR 0145).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.adapters.budget.cache import InMemoryFreshnessCache
from app.adapters.budget.limiter import InMemoryRateBudget
from app.ports.budget import FreshnessCache, RateBudget, ReadFlights
from app.ports.clock import Clock
from app.settings import BudgetSettings

if TYPE_CHECKING:
    from redis.asyncio import Redis


def rate_budget(redis: Redis | None, clock: Clock, settings: BudgetSettings) -> RateBudget:
    """``RedisRateBudget`` (one budget for the cluster) when ``redis`` is given, else the
    in-process ``InMemoryRateBudget``; both built from ``[budget]``."""
    if redis is None:
        return InMemoryRateBudget.from_settings(clock, settings)
    from app.adapters.budget.redis_limiter import RedisRateBudget

    return RedisRateBudget.from_settings(redis, clock, settings)


def freshness_cache(redis: Redis | None, settings: BudgetSettings) -> FreshnessCache:
    """``RedisFreshnessCache`` (answers shared by the nodes, the node's own copy in front)
    when ``redis`` is given, else ``InMemoryFreshnessCache``; ``cache_max_entries`` bounds
    the node's copy either way, the largest ``max_age_ms`` sets the Redis entries' lifetime."""
    if redis is None:
        return InMemoryFreshnessCache(max_entries=settings.cache_max_entries)
    from app.adapters.budget.redis_cache import RedisFreshnessCache, ttl_for

    return RedisFreshnessCache(
        redis, max_entries=settings.cache_max_entries, ttl_s=ttl_for(settings.max_age_ms)
    )


def read_flights(redis: Redis | None, cache: FreshnessCache, clock: Clock) -> ReadFlights | None:
    """``RedisReadFlights`` (one exchange call per identical read for the cluster) when
    ``redis`` is given and the cache is the shared one; None in a single process."""
    if redis is None:
        return None
    from app.adapters.budget.redis_cache import RedisFreshnessCache
    from app.adapters.budget.redis_flights import RedisReadFlights

    if not isinstance(cache, RedisFreshnessCache):
        return None
    return RedisReadFlights(redis, cache, clock)
