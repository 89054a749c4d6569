"""Which budget adapters a node uses: Redis ones in a cluster, in-process ones alone.

The container calls these with its ``redis`` client (None without ``[cluster] redis_url``);
the Redis adapters are imported only in cluster mode, so a single process never loads redis-py
(ADR 0135, ADR 0145).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.adapters.budget.limiter import InMemoryRateBudget
from app.ports.budget import RateBudget
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
